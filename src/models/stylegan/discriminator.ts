// StyleGAN2-style residual discriminator: from-RGB (1x1 conv + leaky ReLU) at the input resolution, one residual
// block per halving down to 4x4, minibatch standard deviation, a 3x3 conv, then two equalized linear layers
// (16 C4 -> C4 with leaky ReLU, C4 -> 1). `forward(x, { features: true })` also returns every residual block's
// output, highest resolution first (GAN2Shape's inversion loss uses the first four).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import type { Rng } from '../../engine/random.js';
import { DiscResBlock } from '../../nn/disc-block.js';
import { EqualConv2d, EqualLinear } from '../../nn/equalized.js';
import { minibatchStd } from '../../nn/minibatch-std.js';
import { Module } from '../../nn/module.js';
import { type StyleGanConfig, resolutions, styleGanConfig } from './config.js';

export interface DiscriminatorOutput {
  /** [N, 1] real-vs-fake logits. */
  logits: tf.Tensor2D;
  /** Residual block outputs (resolution R/2, R/4, ..., 4), only when asked for. */
  features: tf.Tensor4D[];
}

export class Discriminator extends Module {
  readonly config: StyleGanConfig;
  readonly fromRgb: EqualConv2d;
  readonly blocks: DiscResBlock[];
  readonly finalConv: EqualConv2d;
  readonly fc: EqualLinear;
  readonly out: EqualLinear;

  constructor(rng: Rng, config: Partial<StyleGanConfig> = {}) {
    super();
    const c = styleGanConfig(config);
    this.config = c;
    const ch = c.discriminatorChannels;
    const R = c.resolution;
    this.fromRgb = this.child(`rgb${R}`, new EqualConv2d(rng, 3, ch[R], 1, { activation: 'lrelu' }));
    this.blocks = resolutions(R)
      .slice(1)
      .reverse()
      .map((r) => this.child(`block${r}`, new DiscResBlock(rng, ch[r], ch[r / 2])));
    this.finalConv = this.child('conv4', new EqualConv2d(rng, ch[4] + c.mbstdFeatures, ch[4], 3, { activation: 'lrelu' }));
    this.fc = this.child('fc', new EqualLinear(rng, 16 * ch[4], ch[4], { activation: 'lrelu' }));
    this.out = this.child('out', new EqualLinear(rng, ch[4], 1));
  }

  forward(x: tf.Tensor4D, options: { features?: boolean } = {}): DiscriminatorOutput {
    const R = this.config.resolution;
    if (x.rank !== 4 || x.shape[1] !== R || x.shape[2] !== R || x.shape[3] !== 3) {
      throw new Gan3dError(`Discriminator expects images [N, ${R}, ${R}, 3], got [${x.shape}].`, 'BAD_SHAPE');
    }
    // Returned through tf.tidy (not tf.keep, which would let them escape the caller's tidy too).
    const out = tf.tidy(() => {
      const features: tf.Tensor4D[] = [];
      let h = this.fromRgb.apply(x);
      for (const block of this.blocks) {
        h = block.apply(h);
        if (options.features) features.push(h);
      }
      h = minibatchStd(h, this.config.mbstdGroupSize, this.config.mbstdFeatures);
      h = this.finalConv.apply(h);
      const flat = tf.reshape(h, [h.shape[0], h.shape[1] * h.shape[2] * h.shape[3]]) as tf.Tensor2D;
      return { logits: this.out.forward(this.fc.forward(flat)), features };
    });
    return out;
  }

  /**
   * The outputs of the first `count` residual blocks (highest resolution first), without the rest of the network:
   * no minibatch standard deviation, so any batch size works and each image's features depend on that image only
   * (GAN inversion's feature loss, src/pipelines/invert.ts).
   */
  blockFeatures(x: tf.Tensor4D, count = this.blocks.length): tf.Tensor4D[] {
    const R = this.config.resolution;
    if (x.rank !== 4 || x.shape[1] !== R || x.shape[2] !== R || x.shape[3] !== 3) {
      throw new Gan3dError(`Discriminator expects images [N, ${R}, ${R}, 3], got [${x.shape}].`, 'BAD_SHAPE');
    }
    if (!Number.isInteger(count) || count < 0 || count > this.blocks.length) {
      throw new Gan3dError(`Discriminator.blockFeatures: count must be a whole number in 0..${this.blocks.length}, got ${count}.`, 'BAD_ARGUMENT');
    }
    return tf.tidy(() => {
      const features: tf.Tensor4D[] = [];
      let h = this.fromRgb.apply(x);
      for (const block of this.blocks.slice(0, count)) {
        h = block.apply(h);
        features.push(h);
      }
      return features;
    });
  }

  /** Logits [N, 1] of images [N, R, R, 3]. */
  logits(x: tf.Tensor4D): tf.Tensor2D {
    return this.forward(x).logits;
  }

  /** Logits as [N, 1, 1, 1]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.reshape(this.logits(x), [x.shape[0], 1, 1, 1]));
  }
}
