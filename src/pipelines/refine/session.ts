// What a refinement holds for one image between steps: the per-image nets, the offset encoder, the frozen GAN with the
// input's latent, the bank of projected samples and the random stream. Everything here goes into the checkpoint
// written after each step (state.ts), so a resumed refinement continues exactly.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../engine/random.js';
import type { PhotoGeoModel } from '../../models/photogeo/model.js';
import type { RefineConfig } from './config.js';
import type { LatentProjector, OffsetPredictor } from './offset-encoder.js';

/** Projected samples and their masks, [count, S, S, 3] and [count, S, S, 1], on the host. */
export interface Bank {
  images: Float32Array;
  masks: Float32Array;
  count: number;
}

export interface RefineSession {
  config: RefineConfig;
  model: PhotoGeoModel;
  /** Step 2's map from pseudo-images to latent offsets (a fresh offset encoder, or the pretrained inversion encoder's copy). */
  encoder: OffsetPredictor;
  projector: LatentProjector;
  /** The input [1, S, S, 3] in [-1, 1]. */
  image: tf.Tensor4D;
  /** The input's object mask [1, S, S, 1] in [0, 1] that restricts its reconstruction terms (config.inputObjectMask). */
  objectMask?: tf.Tensor4D;
  rng: Rng;
  bank: Bank;
}

export const emptyBank = (): Bank => ({ images: new Float32Array(0), masks: new Float32Array(0), count: 0 });

/** Per-step progress: `iter` of `iters` done, with that iteration's loss (NaN for no-grad work). */
export interface StepProgress {
  phase: 'ellipsoid' | 'step1' | 'step2' | 'collect' | 'step3';
  stage: number;
  iter: number;
  iters: number;
  loss: number;
}

export type ProgressFn = (p: StepProgress) => void;

/** The S of a session's images. */
export function imageSize(s: RefineSession): number {
  return s.model.config.imageSize;
}
