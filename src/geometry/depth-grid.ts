// Depth maps on plain typed arrays: checks, back-projection and normals, for code that needs no tensors (mesh
// building, metrics, dataset rendering). The camera is camera.ts's; normals.ts has the tensor form of the normals.
import { Gan3dError } from '../engine/errors.js';
import { CAMERA_DEFAULTS, type CameraConfig, intrinsics } from './camera.js';

/** A depth map: positive distance along +z for each pixel, row-major, `data.length === width * height`. */
export interface DepthMap {
  data: Float32Array;
  width: number;
  height: number;
}

/** The part of a {@link CameraConfig} the depth-grid math reads; `fovDeg` defaults to CAMERA_DEFAULTS.fovDeg (10°). */
export type GridCamera = Pick<CameraConfig, 'size'> & Partial<Pick<CameraConfig, 'fovDeg'>>;

/** `camera` with its field of view filled in. */
export function gridCamera(camera: GridCamera): Pick<CameraConfig, 'size' | 'fovDeg'> {
  return { size: camera.size, fovDeg: camera.fovDeg ?? CAMERA_DEFAULTS.fovDeg };
}

/** Checks that a depth map is square, matches the camera and holds only finite positive values. */
export function checkDepthMap(depth: DepthMap, camera: GridCamera, label: string): void {
  const { data, width, height } = depth;
  if (data.length !== width * height) {
    throw new Gan3dError(`${label}: depth map has ${data.length} values but is declared ${width}×${height}.`, 'IO_BAD_SHAPE');
  }
  if (width !== height || width !== camera.size) {
    throw new Gan3dError(
      `${label}: depth map is ${width}×${height} but the camera is ${camera.size}×${camera.size}; pass a square depth map of the camera's size.`,
      'IO_BAD_SHAPE',
    );
  }
  if (width < 2) throw new Gan3dError(`${label}: depth map must be at least 2×2.`, 'IO_BAD_SHAPE');
  let bad = 0;
  let first = -1;
  for (let k = 0; k < data.length; k++) {
    const d = data[k];
    if (!Number.isFinite(d) || d <= 0) {
      bad++;
      if (first < 0) first = k;
    }
  }
  if (bad > 0) {
    const d = data[first];
    throw new Gan3dError(
      `${label}: depth map has ${bad} value(s) that are NaN, infinite or not positive ` +
        `(first at row ${Math.floor(first / width)}, column ${first % width}: ${d}); depth must be finite and > 0.`,
      'IO_BAD_DEPTH',
    );
  }
}

/** P(i, j) = d(i, j) K^-1 [j, i, 1] = (d (j - c) / f, d (i - c) / f, d) per pixel, row-major [S * S * 3], float64. */
export function backProject(depth: ArrayLike<number>, camera: GridCamera): Float64Array {
  const s = camera.size;
  const { f, c } = intrinsics(gridCamera(camera));
  const points = new Float64Array(s * s * 3);
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < s; j++) {
      const k = i * s + j;
      const d = depth[k];
      points[3 * k] = (d * (j - c)) / f;
      points[3 * k + 1] = (d * (i - c)) / f;
      points[3 * k + 2] = d;
    }
  }
  return points;
}

/**
 * How a normal is scaled after the cross product.
 * - 'reference': n / (|n| + 1e-7), as Unsup3d and GAN2Shape (and depthToNormals) compute it. At fov 10° the cross
 *   product is tiny (|n| ≈ (2d/f)² ≈ 3e-5 at S = 64, d = 1), so these normals are about 0.3% short of unit length and
 *   two identical normals meet at ≈ 6.5° instead of 0°. Published MAD numbers carry this floor.
 * - 'unit': n / |n| (and (0, 0, 1) where |n| = 0): true unit normals, for meshes and analytic checks.
 */
export type NormalScaling = 'reference' | 'unit';

/** Added to the normal's length by the 'reference' scaling, so flat or degenerate spots do not divide by zero. */
export const NORMAL_EPS = 1e-7;

/**
 * Normals [S * S * 3] of the depth map `depth` [S * S]: n = t_u x t_v with t_u = P(i, j+1) - P(i, j-1) and
 * t_v = P(i+1, j) - P(i-1, j) on the back-projected grid P, scaled by `scaling`. The 1-pixel border gets (0, 0, 1).
 * A fronto-parallel plane gives +z, pointing away from the camera. Written into `out` when given (float64 otherwise).
 */
export function depthNormals(depth: ArrayLike<number>, camera: GridCamera, scaling?: NormalScaling): Float64Array;
export function depthNormals<T extends Float32Array | Float64Array>(depth: ArrayLike<number>, camera: GridCamera, scaling: NormalScaling, out: T): T;
export function depthNormals(
  depth: ArrayLike<number>,
  camera: GridCamera,
  scaling: NormalScaling = 'reference',
  out: Float32Array | Float64Array = new Float64Array(camera.size * camera.size * 3),
): Float32Array | Float64Array {
  const s = camera.size;
  const { f, c } = intrinsics(gridCamera(camera));
  const unit = scaling === 'unit';
  out.fill(0);
  for (let k = 2; k < out.length; k += 3) out[k] = 1;
  for (let i = 1; i < s - 1; i++) {
    const y = i - c;
    const yUp = i - 1 - c;
    const yDown = i + 1 - c;
    for (let j = 1; j < s - 1; j++) {
      const k = i * s + j;
      const dl = depth[k - 1];
      const dr = depth[k + 1];
      const du = depth[k - s];
      const dd = depth[k + s];
      // Each term is a back-projected coordinate exactly as backProject computes it.
      const ux = (dr * (j + 1 - c)) / f - (dl * (j - 1 - c)) / f;
      const uy = (dr * y) / f - (dl * y) / f;
      const uz = dr - dl;
      const vx = (dd * (j - c)) / f - (du * (j - c)) / f;
      const vy = (dd * yDown) / f - (du * yUp) / f;
      const vz = dd - du;
      const nx = uy * vz - uz * vy;
      const ny = uz * vx - ux * vz;
      const nz = ux * vy - uy * vx;
      const length = Math.sqrt(nx * nx + ny * ny + nz * nz);
      if (unit && length === 0) continue; // keeps (0, 0, 1)
      const divisor = unit ? length : length + NORMAL_EPS;
      const o = 3 * k;
      out[o] = nx / divisor;
      out[o + 1] = ny / divisor;
      out[o + 2] = nz / divisor;
    }
  }
  return out;
}
