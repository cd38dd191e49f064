// Noise injection (StyleGAN): x + strength * noise, one learned strength per layer (initialised to 0) and one noise
// value per pixel shared by all channels. The noise is passed explicitly ([N, H, W, 1]), drawn from a seeded Rng
// (deterministic for a seed), or left out (no noise: the layer is the identity).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { Rng } from '../engine/random.js';
import { Module } from './module.js';

/** Standard normal noise [n, h, w, 1] from `rng`. */
export function drawNoise(rng: Rng, n: number, h: number, w: number): tf.Tensor4D {
  return tf.tensor4d(rng.normalArray(n * h * w), [n, h, w, 1]);
}

export class NoiseInjection extends Module {
  /** [1], initialised to 0. */
  readonly strength: tf.Variable;

  constructor() {
    super();
    this.strength = this.param('strength', tf.zeros([1]));
  }

  apply(x: tf.Tensor4D, noise?: tf.Tensor4D | Rng): tf.Tensor4D {
    if (noise === undefined) return tf.clone(x);
    const [n, h, w] = x.shape;
    return tf.tidy(() => tf.add(x, tf.mul(this.noiseMap(noise, n, h, w), this.strength)));
  }

  /** The noise map [N or 1, h, w, 1] for x [n, h, w, C]: the tensor given (checked) or one drawn from the Rng. */
  noiseMap(noise: tf.Tensor4D | Rng, n: number, h: number, w: number): tf.Tensor4D {
    const z = noise instanceof tf.Tensor ? noise : drawNoise(noise, n, h, w);
    if (z.shape[1] !== h || z.shape[2] !== w || z.shape[3] !== 1 || (z.shape[0] !== n && z.shape[0] !== 1)) {
      if (z !== noise) z.dispose();
      throw new Gan3dError(`NoiseInjection: noise [${z.shape}] does not fit [${n}, ${h}, ${w}, 1].`, 'BAD_SHAPE');
    }
    return z;
  }
}
