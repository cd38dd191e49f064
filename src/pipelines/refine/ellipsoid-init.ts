// The ellipsoid initialisation of the depth net (C.8): the object mask → GAN2Shape's ellipsoid prior → Adam on the
// depth net alone, MSE between its canonical depth (before the border overwrite) and the prior.
//
// Depth range. The paper builds the prior in Unsup3d's range [0.9, 1.1]: near 0.91, far 1.02, sphere radius 0.4.
// gan3d's SynFace models use a tighter canonical range (models/photogeo: [0.96, 1.04], because a wide range leaves the
// relief up to the bas-relief ambiguity; see README). The prior is mapped into the model's range by the affine map
// that takes [0.9, 1.1] onto [min, max]: near, far and the radius are scaled by s = (max − min) / 0.2 about the range
// minimum, so the cap keeps its shape in normalised units and — because the depth decoder is
// min + (max − min)·(tanh(·) + 1)/2 — the fit's target in the net's pre-tanh space is exactly the paper's. For
// [0.96, 1.04]: near 0.964, far 1.008, radius 0.16 (relief 0.044; SynFace faces span about 0.954–1.032).
//
// Mask. BiSeNet's synface labels 1–14 exclude the hair, so the paper extends the box upward by a sixth. gan3d's parser
// predicts SynFace's foreground mask, which includes the hair: no extension by default (config.ellipsoid.extendUp).
import * as tf from '@tensorflow/tfjs';
import { ellipsoidPrior, type EllipsoidPriorConfig } from '../../geometry/ellipsoid.js';
import type { PhotoGeoModel } from '../../models/photogeo/model.js';
import type { RefineConfig } from './config.js';
import { depthBeforeBorder, netVariables } from './nets.js';
import { AdamPhase } from './optim.js';

/** The paper's prior numbers (C.8) in Unsup3d's depth range. */
export const PAPER_ELLIPSOID = { minDepth: 0.9, maxDepth: 1.1, near: 0.91, far: 1.02, radius: 0.4 } as const;

/** The prior's near, far and radius mapped affinely from [0.9, 1.1] into [minDepth, maxDepth]. */
export function ellipsoidForRange(minDepth: number, maxDepth: number, mask: { threshold: number; extendUp: number }): EllipsoidPriorConfig {
  const p = PAPER_ELLIPSOID;
  const s = (maxDepth - minDepth) / (p.maxDepth - p.minDepth);
  return {
    threshold: mask.threshold,
    extendUp: mask.extendUp,
    near: minDepth + (p.near - p.minDepth) * s,
    far: minDepth + (p.far - p.minDepth) * s,
    radius: p.radius * s,
  };
}

/** The ellipsoid prior [S·S] for an object mask [S·S] in [0, 1], in the model's depth range. */
export function ellipsoidTarget(model: PhotoGeoModel, mask: ArrayLike<number>, config: RefineConfig): Float32Array {
  const c = model.config;
  return ellipsoidPrior(mask, c.imageSize, ellipsoidForRange(c.minDepth, c.maxDepth, config.ellipsoid));
}

export interface EllipsoidFitResult {
  prior: Float32Array;
  /** MSE per Adam step (before each update). */
  losses: number[];
}

/** Fits the depth net to the prior of `mask` on the input `image` [1, S, S, 3]; `onIter` after every step. */
export async function fitEllipsoid(
  model: PhotoGeoModel,
  image: tf.Tensor4D,
  mask: ArrayLike<number>,
  config: RefineConfig,
  onIter?: (iter: number, loss: number) => void,
): Promise<EllipsoidFitResult> {
  const s = model.config.imageSize;
  const prior = ellipsoidTarget(model, mask, config);
  const phase = new AdamPhase({
    variables: netVariables(model, ['depth']),
    lr: config.ellipsoid.lr,
    weightDecay: config.weightDecay,
    loss: (x) => tf.tidy(() => tf.mean(tf.square(tf.sub(depthBeforeBorder(model, x.image as tf.Tensor4D), x.prior))) as tf.Scalar),
  });
  const batch = { image: { data: image.dataSync() as Float32Array, shape: [1, s, s, 3] }, prior: { data: prior, shape: [1, s, s, 1] } };
  const losses: number[] = [];
  for (let i = 0; i < config.ellipsoid.steps; i++) {
    losses.push(await phase.step(batch));
    onIter?.(i + 1, losses[i]);
  }
  return { prior, losses };
}
