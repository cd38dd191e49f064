// Fréchet distance between two feature sets (the "FID" of Heusel et al. 2017, on whatever features it is given):
//   d² = ‖μ₁ − μ₂‖² + tr C₁ + tr C₂ − 2 tr √(C₁ C₂)
// with the sample means and the unbiased (n − 1) covariances, all in float64. The trace of the root is computed
// stably as tr √(√C₁ C₂ √C₁) from two symmetric eigendecompositions (linalg.ts).
// Which features: in this project, the penultimate layer of the SynFace feature network (src/models/features), so
// the numbers are not comparable to Inception FID.
import { Gan3dError } from '../engine/errors.js';
import { traceSqrtProduct } from './linalg.js';

/** Mean and covariance of a feature set. */
export interface FeatureStats {
  dim: number;
  count: number;
  mean: Float64Array;
  /** Row-major dim×dim, unbiased (divided by count − 1). */
  cov: Float64Array;
}

/** Checks a flat [N, dim] feature array and returns N. */
export function featureCount(features: ArrayLike<number>, dim: number, what = 'features'): number {
  if (!Number.isInteger(dim) || dim < 1) throw new Gan3dError(`${what}: the feature dimension must be a whole number ≥ 1, got ${dim}.`, 'BAD_ARGUMENT');
  if (features.length % dim !== 0) throw new Gan3dError(`${what}: ${features.length} values are not a whole number of ${dim}-d vectors.`, 'BAD_SHAPE');
  const n = features.length / dim;
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) throw new Gan3dError(`${what}: value ${i} is ${features[i]}; features must be finite.`, 'BAD_DATA');
  }
  return n;
}

/** Mean and unbiased covariance of `features` ([N, dim] row-major); N ≥ 2. */
export function featureStats(features: ArrayLike<number>, dim: number): FeatureStats {
  const n = featureCount(features, dim);
  if (n < 2) throw new Gan3dError(`A covariance needs at least 2 feature vectors, got ${n}.`, 'NO_DATA');
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      for (let b = a; b < dim; b++) cov[a * dim + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      cov[a * dim + b] /= n - 1;
      cov[b * dim + a] = cov[a * dim + b];
    }
  }
  return { dim, count: n, mean, cov };
}

/** Fréchet distance between two Gaussians given by their means and covariances. Never negative. */
export function frechetDistance(mean1: ArrayLike<number>, cov1: ArrayLike<number>, mean2: ArrayLike<number>, cov2: ArrayLike<number>): number {
  const d = mean1.length;
  if (mean2.length !== d || cov1.length !== d * d || cov2.length !== d * d) {
    throw new Gan3dError(`frechetDistance: means of ${mean1.length} and ${mean2.length}, covariances of ${cov1.length} and ${cov2.length} values do not match.`, 'BAD_SHAPE');
  }
  let dm = 0;
  for (let j = 0; j < d; j++) dm += (mean1[j] - mean2[j]) ** 2;
  let tr = 0;
  for (let j = 0; j < d; j++) tr += cov1[j * d + j] + cov2[j * d + j];
  return Math.max(0, dm + tr - 2 * traceSqrtProduct(cov1, cov2, d));
}

/** FID between two feature sets ([N₁, dim] and [N₂, dim], row-major). */
export function fid(features1: ArrayLike<number>, features2: ArrayLike<number>, dim: number): number {
  const a = featureStats(features1, dim);
  const b = featureStats(features2, dim);
  return frechetDistance(a.mean, a.cov, b.mean, b.cov);
}
