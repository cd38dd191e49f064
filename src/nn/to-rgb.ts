// To-RGB output of a StyleGAN2 skip generator: a modulated 1x1 conv without demodulation plus a bias, added to the
// previous resolution's RGB upsampled 2x (the skip connection).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../engine/random.js';
import { ModulatedConv2d } from './modulated-conv.js';
import { Module } from './module.js';
import { type UpsampleMode, upsample2x } from './resample.js';

export class ToRGB extends Module {
  readonly channels: number;
  readonly upsampleMode: UpsampleMode;
  readonly conv: ModulatedConv2d;
  readonly bias: tf.Variable;

  constructor(rng: Rng, cin: number, wDim: number, channels = 3, upsampleMode: UpsampleMode = 'bilinear') {
    super();
    this.channels = channels;
    this.upsampleMode = upsampleMode;
    this.conv = this.child('conv', new ModulatedConv2d(rng, cin, channels, 1, wDim, { demodulate: false }));
    this.bias = this.param('b', tf.zeros([channels]));
  }

  /** x [N, H, W, cin], w [N, wDim], skip: the previous RGB [N, H/2, W/2, channels] (or none) -> [N, H, W, channels]. */
  apply(x: tf.Tensor4D, w?: tf.Tensor2D, skip?: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = tf.add(this.conv.apply(x, w), this.bias) as tf.Tensor4D;
      return skip ? tf.add(y, upsample2x(skip, this.upsampleMode)) : y;
    });
  }
}
