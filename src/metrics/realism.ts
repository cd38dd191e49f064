// The realism score of a set of images against real ones: FID and KID (fid.ts, kid.ts) on feature vectors, together.
// The features come from the SynFace feature network (src/models/features; src/pipelines/features-bundle.ts reads
// folders): these numbers are NOT comparable to Inception FID/KID. Read them beside the floor, the score of two
// disjoint halves of real images, which is what a perfect generator would get at that sample size.
import { fid } from './fid.js';
import { kid, type KidOptions } from './kid.js';

export type RealismOptions = KidOptions;

export interface RealismScore {
  fid: number;
  kid: number;
  kid_std: number;
  kid_subsets: number;
  kid_subset_size: number;
}

/** FID and KID between two feature sets ([N₁, dim] and [N₂, dim], row-major). */
export function realismScore(real: ArrayLike<number>, fake: ArrayLike<number>, dim: number, options: RealismOptions = {}): RealismScore {
  const k = kid(real, fake, dim, options);
  return { fid: fid(real, fake, dim), kid: k.kid, kid_std: k.std, kid_subsets: k.subsets, kid_subset_size: k.subsetSize };
}
