// Volume rendering along rays (NeRF; CIPS-3D renders features rather than colours, paper notes A.5).
//
// For sorted depths t_1 < … < t_K on a ray, with densities σ_k and per-sample values f_k (features or colours):
//   Δ_k = t_{k+1} − t_k,  Δ_K = FAR_DELTA (the last sample takes whatever light is left)
//   α_k = 1 − exp(−Δ_k · relu(σ_k))
//   T_k = ∏_{j<k} (1 − α_j) = exp(−Σ_{j<k} Δ_j relu(σ_j))
//   w_k = α_k T_k,  F = Σ_k w_k f_k,  depth = Σ_k w_k t_k,  opacity = Σ_k w_k.
// T is computed from the exclusive cumulative sum of the optical depths rather than a product of (1 − α): the same
// numbers (CIPS-3D adds 1e-10 inside its product, which changes nothing measurable), one op, and a gradient that does
// not divide by (1 − α). Density noise (N(0, n²) added to σ before relu) is drawn from the caller's Rng, so renders
// are reproducible.
//
// Sample depths: `stratifiedDepths` (K bins between near and far, each sample jittered inside its bin) for the coarse
// pass, and `importanceDepths` (inverse-CDF sampling of the coarse weights as a piecewise-constant pdf over the bins
// between the coarse samples' midpoints) for the fine pass. Both return plain arrays: sample positions carry no
// gradient, as in NeRF.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { Rng } from '../engine/random.js';

/** Δ of the last sample on each ray: effectively infinite, so α_K = 1 wherever σ_K > 0. */
export const FAR_DELTA = 1e10;

export interface VolumeRenderInput {
  /** Raw densities [R, K] (relu is applied here). */
  sigma: tf.Tensor2D;
  /** Values to integrate [R, K, C]. */
  values: tf.Tensor3D;
  /** Sample depths [R, K], sorted increasingly along each ray. */
  depths: tf.Tensor2D;
  /** Length of each ray's direction [R] when `depths` are not distances (z-depths along K⁻¹[u, v, 1]: rays.ts): Δ is
   *  multiplied by it so density integrates over distance. Default 1. */
  rayLengths?: tf.Tensor1D;
  /** Std of the Gaussian noise added to σ before relu (0: none). */
  densityNoise?: number;
  /** Draws the density noise; required when densityNoise > 0. */
  rng?: Rng;
}

export interface VolumeRendered {
  /** Σ w_k f_k: [R, C]. */
  values: tf.Tensor2D;
  /** Σ w_k t_k: [R]. */
  depth: tf.Tensor1D;
  /** Σ w_k = 1 − the light that passes every sample: [R]. */
  opacity: tf.Tensor1D;
  /** w_k: [R, K] (the fine pass samples from these). */
  weights: tf.Tensor2D;
}

/** Integrates `values` along each ray by the volume rendering weights (see the file comment). Differentiable in σ and
 *  the values; the depths are treated as constants. */
export function volumeRender(input: VolumeRenderInput): VolumeRendered {
  const { sigma, values, depths } = input;
  const [R, K] = sigma.shape;
  if (sigma.rank !== 2 || depths.rank !== 2 || depths.shape[0] !== R || depths.shape[1] !== K) {
    throw new Gan3dError(`volumeRender: sigma [${sigma.shape}] and depths [${depths.shape}] must both be [rays, samples].`, 'BAD_SHAPE');
  }
  if (input.rayLengths && (input.rayLengths.rank !== 1 || input.rayLengths.shape[0] !== R)) {
    throw new Gan3dError(`volumeRender: rayLengths [${input.rayLengths.shape}] must be [${R}].`, 'BAD_SHAPE');
  }
  if (values.rank !== 3 || values.shape[0] !== R || values.shape[1] !== K) {
    throw new Gan3dError(`volumeRender: values [${values.shape}] must be [${R}, ${K}, channels].`, 'BAD_SHAPE');
  }
  const noise = input.densityNoise ?? 0;
  if (!(noise >= 0)) throw new Gan3dError(`volumeRender: densityNoise must be ≥ 0, got ${noise}.`, 'BAD_ARGUMENT');
  if (noise > 0 && !input.rng) throw new Gan3dError('volumeRender: densityNoise > 0 needs an rng.', 'BAD_ARGUMENT');
  return tf.tidy(() => {
    const t = depths;
    const gaps = tf.sub(t.slice([0, 1], [R, K - 1]), t.slice([0, 0], [R, K - 1]));
    const steps = tf.concat([gaps, tf.fill([R, 1], FAR_DELTA)], 1);
    const deltas = input.rayLengths ? tf.mul(steps, tf.expandDims(input.rayLengths, 1)) : steps;
    const noisy = noise > 0 ? tf.add(sigma, tf.tensor2d(input.rng!.normalArray(R * K, noise), [R, K])) : sigma;
    const opticalDepth = tf.mul(deltas, tf.relu(noisy));
    const alpha = tf.sub(1, tf.exp(tf.neg(opticalDepth)));
    const transmittance = tf.exp(tf.neg(tf.cumsum(opticalDepth, 1, true)));
    const weights = tf.mul(alpha, transmittance) as tf.Tensor2D;
    const w3 = tf.expandDims(weights, 2);
    return {
      values: tf.sum(tf.mul(w3, values), 1) as tf.Tensor2D,
      depth: tf.sum(tf.mul(weights, t), 1) as tf.Tensor1D,
      opacity: tf.sum(weights, 1) as tf.Tensor1D,
      weights,
    };
  });
}

/** K depths per ray between near and far: bin k is [near + k·h, near + (k+1)·h) with h = (far − near)/K; the sample
 *  sits at the bin's centre, moved uniformly within ±h/2 when `rng` is given (stratified sampling). [rays·K]. */
export function stratifiedDepths(rays: number, samples: number, near: number, far: number, rng?: Rng): Float32Array {
  if (!(near > 0 && far > near)) throw new Gan3dError(`stratifiedDepths: need 0 < near < far, got ${near}, ${far}.`, 'BAD_ARGUMENT');
  if (!Number.isInteger(samples) || samples < 2) throw new Gan3dError(`stratifiedDepths: need ≥ 2 samples per ray, got ${samples}.`, 'BAD_ARGUMENT');
  const h = (far - near) / samples;
  const out = new Float32Array(rays * samples);
  for (let r = 0; r < rays; r++) {
    for (let k = 0; k < samples; k++) out[r * samples + k] = near + (k + 0.5) * h + (rng ? (rng.uniform() - 0.5) * h : 0);
  }
  return out;
}

/**
 * The fine pass's depths: `count` draws per ray from the piecewise-constant pdf that puts mass ∝ (weight + 1e-5) of
 * each inner coarse sample between the midpoints around it (NeRF's hierarchical sampling; the first and last samples'
 * weights are left out, as there). Uniform draws from `rng`, or evenly spaced quantiles (u = (i + ½)/count) without.
 * `depths` and `weights` are [rays·K] row-major, depths sorted per ray. Returns [rays·count], sorted per ray.
 */
export function importanceDepths(depths: Float32Array, weights: Float32Array, samples: number, count: number, rng?: Rng): Float32Array {
  if (samples < 3) throw new Gan3dError(`importanceDepths: need ≥ 3 coarse samples per ray, got ${samples}.`, 'BAD_ARGUMENT');
  if (depths.length !== weights.length || depths.length % samples !== 0) {
    throw new Gan3dError(`importanceDepths: ${depths.length} depths and ${weights.length} weights do not make rays of ${samples}.`, 'BAD_SHAPE');
  }
  const rays = depths.length / samples;
  const bins = samples - 1; // midpoints between consecutive samples: bins - 1 intervals
  const cdf = new Float64Array(bins);
  const edges = new Float64Array(bins);
  const out = new Float32Array(rays * count);
  const u = new Float64Array(count);
  for (let r = 0; r < rays; r++) {
    const base = r * samples;
    for (let b = 0; b < bins; b++) edges[b] = 0.5 * (depths[base + b] + depths[base + b + 1]);
    // Interval b (edges[b]..edges[b+1]) holds inner sample b + 1.
    let total = 0;
    cdf[0] = 0;
    for (let b = 0; b < bins - 1; b++) {
      total += Math.max(0, weights[base + b + 1]) + 1e-5;
      cdf[b + 1] = total;
    }
    for (let i = 0; i < count; i++) u[i] = rng ? rng.uniform() : (i + 0.5) / count;
    if (rng) u.sort();
    let b = 0;
    for (let i = 0; i < count; i++) {
      const target = u[i] * total;
      while (b < bins - 2 && cdf[b + 1] <= target) b++;
      const span = cdf[b + 1] - cdf[b];
      const frac = span > 0 ? (target - cdf[b]) / span : 0;
      out[r * count + i] = edges[b] + frac * (edges[b + 1] - edges[b]);
    }
  }
  return out;
}

/**
 * Per-ray merge of two sorted depth lists, a [rays·perRayA] and b [rays·perRayB], into one sorted list
 * [rays·(perRayA + perRayB)], with `order`: for each merged slot its index into concat(a, b) (the same layout as values
 * concatenated from the two passes, so a gather by `order` puts them in depth order).
 */
export function mergeSortedDepths(a: Float32Array, perRayA: number, b: Float32Array, perRayB: number): { merged: Float32Array; order: Int32Array } {
  const rays = a.length / perRayA;
  if (b.length !== rays * perRayB) throw new Gan3dError(`mergeSortedDepths: ${a.length / perRayA} and ${b.length / perRayB} rays.`, 'BAD_SHAPE');
  const n = perRayA + perRayB;
  const merged = new Float32Array(rays * n);
  const order = new Int32Array(rays * n);
  for (let r = 0; r < rays; r++) {
    let i = 0;
    let j = 0;
    for (let k = 0; k < n; k++) {
      const takeA = j >= perRayB || (i < perRayA && a[r * perRayA + i] <= b[r * perRayB + j]);
      const from = takeA ? r * perRayA + i++ : a.length + r * perRayB + j++;
      order[r * n + k] = from;
      merged[r * n + k] = from < a.length ? a[from] : b[from - a.length];
    }
  }
  return { merged, order };
}
