// SIDE and MAD, the BFM/synface depth metrics of Unsup3d and GAN2Shape (PART D.1), on plain S×S depth maps.
//
//   M    = erode(d_gt < max d_gt) · erode(d_v < 1.2)            (1-pixel erosion, see mask.ts)
//   Δ    = log d_v − log d_gt
//   SIDE = sqrt(mean_M[(Δ − mean_M Δ)²])                         (a global scale of d_v cancels, a shift does not)
//   MAD  = mean_M arccos(clamp(n_v · n_gt, −1, 1)) in degrees    (normals by B.5 from each depth map)
//
// max d_gt is taken per image (Unsup3d takes it over the batch; with synface's shared background value 1.1 the
// two agree). An image whose mask is empty gets NaN scores and `pixels: 0`; `summarize` leaves NaNs out and
// counts them, so one degenerate image neither crashes an evaluation nor skews its mean.
import { Gan3dError } from '../engine/errors.js';
import { depthNormals, type NormalScaling } from '../geometry/depth-grid.js';
import { erodeMask, maskBelow } from './mask.js';
import { summarize, type Summary } from './summary.js';

/** Input-view depths at or beyond this are "no surface" (B.4: clamped to max + (max − min)/2 = 1.2). */
export const VALID_DEPTH_MAX = 1.2;

export interface SideMadOptions {
  /** Field of view of the camera the depth maps were rendered with (default 10°). */
  fovDeg?: number;
  /** Predicted depths ≥ this are outside the object (default 1.2). */
  validDepthMax?: number;
  /**
   * Normal scaling (see NormalScaling in geometry/depth-grid.ts). Default 'reference', the published code's
   * n/(‖n‖ + 1e-7): at fov 10° its normals are ~0.3% short, which puts a floor of ≈ 6.5° (S = 64, d ≈ 1) under
   * MAD even for identical depths — published MADs include it. 'unit' gives true angles (identical depths → 0°).
   */
  normals?: NormalScaling;
}

export interface SideMadResult {
  /** Scale-invariant depth error (raw; papers print it ×10⁻²). NaN when the mask is empty. */
  side: number;
  /** Mean angle deviation in degrees. NaN when the mask is empty. */
  mad: number;
  /** Pixels in the evaluation mask. */
  pixels: number;
}

function squareSide(length: number, what: string): number {
  const S = Math.round(Math.sqrt(length));
  if (S * S !== length || S < 3) {
    throw new Gan3dError(`SIDE/MAD: ${what} has ${length} values, not a square depth map of at least 3×3.`, 'METRIC_BAD_INPUT');
  }
  return S;
}

function checkFinite(depth: Float32Array, what: string): void {
  for (let k = 0; k < depth.length; k++) {
    if (!Number.isFinite(depth[k])) {
      throw new Gan3dError(`SIDE/MAD: ${what} has a non-finite value (${depth[k]}) at index ${k}.`, 'METRIC_BAD_INPUT');
    }
  }
}

/** The evaluation mask of D.1: erode(d_gt < max d_gt) · erode(d_v < validDepthMax). */
export function sideMadMask(predDepth: Float32Array, gtDepth: Float32Array, size: number, validDepthMax = VALID_DEPTH_MAX): Uint8Array {
  let gtMax = -Infinity;
  for (const d of gtDepth) gtMax = Math.max(gtMax, d);
  const gtMask = erodeMask(maskBelow(gtDepth, gtMax), size, size);
  const predMask = erodeMask(maskBelow(predDepth, validDepthMax), size, size);
  return gtMask.map((m, k) => m & predMask[k]);
}

/** SIDE over a mask: sqrt of the masked variance of log d_v − log d_gt (NaN for an empty mask). */
export function scaleInvariantDepthError(predDepth: Float32Array, gtDepth: Float32Array, mask: Uint8Array): number {
  let n = 0;
  let sum = 0;
  for (let k = 0; k < mask.length; k++) {
    if (!mask[k]) continue;
    sum += Math.log(predDepth[k]) - Math.log(gtDepth[k]);
    n++;
  }
  if (n === 0) return Number.NaN;
  const mean = sum / n;
  let squares = 0;
  for (let k = 0; k < mask.length; k++) {
    if (mask[k]) squares += (Math.log(predDepth[k]) - Math.log(gtDepth[k]) - mean) ** 2;
  }
  return Math.sqrt(squares / n);
}

/** MAD over a mask: mean angle in degrees between two normal maps (xyz per pixel; NaN for an empty mask). */
export function meanAngleDeviation(predNormals: Float64Array, gtNormals: Float64Array, mask: Uint8Array): number {
  let n = 0;
  let sum = 0;
  for (let k = 0; k < mask.length; k++) {
    if (!mask[k]) continue;
    const dot =
      predNormals[3 * k] * gtNormals[3 * k] + predNormals[3 * k + 1] * gtNormals[3 * k + 1] + predNormals[3 * k + 2] * gtNormals[3 * k + 2];
    sum += Math.acos(Math.min(1, Math.max(-1, dot)));
    n++;
  }
  return n === 0 ? Number.NaN : (sum / n) * (180 / Math.PI);
}

/**
 * SIDE and MAD of one image: `predDepth` is the predicted input-view depth d_v, `gtDepth` the ground truth, both
 * S×S row-major. Depths must be finite, and positive inside the mask.
 */
export function evaluateSideMad(predDepth: Float32Array, gtDepth: Float32Array, options: SideMadOptions = {}): SideMadResult {
  const S = squareSide(gtDepth.length, 'ground-truth depth');
  if (predDepth.length !== gtDepth.length) {
    throw new Gan3dError(`SIDE/MAD: predicted depth has ${predDepth.length} values, ground truth ${gtDepth.length}.`, 'METRIC_BAD_INPUT');
  }
  checkFinite(predDepth, 'predicted depth');
  checkFinite(gtDepth, 'ground-truth depth');
  const mask = sideMadMask(predDepth, gtDepth, S, options.validDepthMax ?? VALID_DEPTH_MAX);
  let pixels = 0;
  for (let k = 0; k < mask.length; k++) {
    if (!mask[k]) continue;
    pixels++;
    if (predDepth[k] <= 0 || gtDepth[k] <= 0) {
      throw new Gan3dError(`SIDE/MAD: depth at index ${k} is not positive (pred ${predDepth[k]}, gt ${gtDepth[k]}).`, 'METRIC_BAD_INPUT');
    }
  }
  const camera = { size: S, fovDeg: options.fovDeg };
  const scaling = options.normals ?? 'reference';
  const side = scaleInvariantDepthError(predDepth, gtDepth, mask);
  const mad = meanAngleDeviation(depthNormals(predDepth, camera, scaling), depthNormals(gtDepth, camera, scaling), mask);
  return { side, mad, pixels };
}

export interface SideMadSummary {
  side: Summary;
  mad: Summary;
  perImage: SideMadResult[];
}

/** Evaluates image pairs and reports mean ± population std of each metric (empty-mask images excluded, counted). */
export function evaluateSideMadSet(
  pairs: Iterable<{ pred: Float32Array; gt: Float32Array }>,
  options: SideMadOptions = {},
): SideMadSummary {
  const perImage: SideMadResult[] = [];
  for (const { pred, gt } of pairs) perImage.push(evaluateSideMad(pred, gt, options));
  return { side: summarize(perImage.map((r) => r.side)), mad: summarize(perImage.map((r) => r.mad)), perImage };
}
