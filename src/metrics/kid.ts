// Kernel Inception Distance (Bińkowski et al. 2018) on any features: the unbiased estimate of the squared MMD with
// the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets:
//   MMD²ᵤ = Σ_{i≠j} k(xᵢ,xⱼ) / (m(m−1)) + Σ_{i≠j} k(yᵢ,yⱼ) / (m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ) / m²
// per subset of m vectors of each set drawn without replacement (m = min(subsetSize, N₁, N₂)), as in their code and
// StyleGAN2-ADA's metric (100 subsets of 1000). Unbiased: it can be slightly negative when the sets match.
// The subsets are drawn from a seeded Rng, so the same seed gives the same number.
import { Gan3dError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import { featureCount } from './fid.js';

export interface KidOptions {
  /** Number of subsets averaged (default 100). */
  subsets?: number;
  /** Vectors per subset from each set (default 1000; fewer when a set is smaller). */
  subsetSize?: number;
  /** Seed of the subset draws (default 0). */
  seed?: number;
}

export const KID_DEFAULTS = { subsets: 100, subsetSize: 1000, seed: 0 } as const;

export interface KidResult {
  /** Mean of the subsets' MMD² estimates. */
  kid: number;
  /** Their standard deviation (over subsets, divided by the count). */
  std: number;
  subsets: number;
  subsetSize: number;
}

/** Both sets' pairwise kernel values are cached when the two sets hold at most this many vectors together. */
const CACHE_LIMIT = 3000;

/** m distinct indices of [0, n) (partial Fisher–Yates). */
function drawSubset(rng: Rng, n: number, m: number): Uint32Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx.slice(0, m);
}

/** KID between two feature sets ([N₁, dim] and [N₂, dim], row-major). */
export function kid(features1: ArrayLike<number>, features2: ArrayLike<number>, dim: number, options: KidOptions = {}): KidResult {
  const subsets = options.subsets ?? KID_DEFAULTS.subsets;
  const subsetSize = options.subsetSize ?? KID_DEFAULTS.subsetSize;
  if (!(Number.isInteger(subsets) && subsets >= 1)) throw new Gan3dError(`KID subsets must be a whole number ≥ 1, got ${subsets}.`, 'BAD_ARGUMENT');
  if (!(Number.isInteger(subsetSize) && subsetSize >= 2)) throw new Gan3dError(`KID subset size must be a whole number ≥ 2, got ${subsetSize}.`, 'BAD_ARGUMENT');
  const n1 = featureCount(features1, dim, 'KID, first set');
  const n2 = featureCount(features2, dim, 'KID, second set');
  const m = Math.min(subsetSize, n1, n2);
  if (m < 2) throw new Gan3dError(`KID needs at least 2 feature vectors in each set, got ${n1} and ${n2}.`, 'NO_DATA');

  // One float64 matrix of both sets: rows [0, n1) the first, [n1, n1 + n2) the second.
  const n = n1 + n2;
  const all = new Float64Array(n * dim);
  for (let i = 0; i < n1 * dim; i++) all[i] = features1[i];
  for (let i = 0; i < n2 * dim; i++) all[n1 * dim + i] = features2[i];
  const k = (i: number, j: number) => {
    let s = 0;
    const a = i * dim;
    const b = j * dim;
    for (let t = 0; t < dim; t++) s += all[a + t] * all[b + t];
    return (s / dim + 1) ** 3;
  };
  let kernel = k;
  if (n <= CACHE_LIMIT) {
    const cache = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = k(i, j);
        cache[i * n + j] = v;
        cache[j * n + i] = v;
      }
    }
    kernel = (i, j) => cache[i * n + j];
  }

  const rng = new Rng(options.seed ?? KID_DEFAULTS.seed);
  const values = new Float64Array(subsets);
  for (let s = 0; s < subsets; s++) {
    const x = drawSubset(rng, n1, m);
    const y = drawSubset(rng, n2, m).map((j) => j + n1);
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let i = 0; i < m; i++) {
      for (let j = i + 1; j < m; j++) {
        xx += kernel(x[i], x[j]);
        yy += kernel(y[i], y[j]);
      }
      for (let j = 0; j < m; j++) xy += kernel(x[i], y[j]);
    }
    values[s] = (2 * (xx + yy)) / (m * (m - 1)) - (2 * xy) / (m * m);
  }
  let mean = 0;
  for (const v of values) mean += v;
  mean /= subsets;
  let varSum = 0;
  for (const v of values) varSum += (v - mean) ** 2;
  return { kid: mean, std: Math.sqrt(varSum / subsets), subsets, subsetSize: m };
}
