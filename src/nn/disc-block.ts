// Residual discriminator block (StyleGAN2): 3x3 conv (cin -> cin) + leaky ReLU, 2x downsample, 3x3 conv
// (cin -> cout) + leaky ReLU; skip: 2x downsample then a 1x1 conv without bias; the sum is scaled by 1 / sqrt(2).
// Downsampling is a 2x2 box average placed before the second conv (StyleGAN2 blurs and convolves with stride 2);
// a stride-1 conv at half resolution costs a quarter of one at full resolution, and the box average's gradient is
// differentiable again (R1).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../engine/random.js';
import { EqualConv2d } from './equalized.js';
import { Module } from './module.js';
import { downsample2x } from './resample.js';

export class DiscResBlock extends Module {
  readonly conv1: EqualConv2d;
  readonly conv2: EqualConv2d;
  readonly skip: EqualConv2d;

  constructor(rng: Rng, cin: number, cout: number) {
    super();
    this.conv1 = this.child('conv1', new EqualConv2d(rng, cin, cin, 3, { activation: 'lrelu' }));
    this.conv2 = this.child('conv2', new EqualConv2d(rng, cin, cout, 3, { activation: 'lrelu' }));
    this.skip = this.child('skip', new EqualConv2d(rng, cin, cout, 1, { bias: false }));
  }

  /** [N, H, W, cin] -> [N, H/2, W/2, cout]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const main = this.conv2.apply(downsample2x(this.conv1.apply(x)));
      const skip = this.skip.apply(downsample2x(x));
      return tf.mul(tf.add(main, skip), Math.SQRT1_2);
    });
  }
}
