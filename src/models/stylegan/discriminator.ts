// StyleGAN2-style residual discriminator: from-RGB (1x1 conv + leaky ReLU) at the input resolution, one residual
// block per halving down to 4x4, minibatch standard deviation, a 3x3 conv, then two equalized linear layers
// (16 C4 -> C4 with leaky ReLU, C4 -> 1). `forward(x, { features: true })` also returns every residual block's
// output, highest resolution first (GAN2Shape's inversion loss uses the first four).
// Conditional (config.conditionLabels): logit = out(φ) + ⟨φ, labelProj(labels)⟩ / √C4 with φ the fc layer's output
// (a projection discriminator); labelProj starts at zero, so the logit starts as the unconditional one. With
// config.labelLossWeight > 0 a linear head on φ also predicts the labels (the auxiliary regression the trainer uses).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import type { Rng } from '../../engine/random.js';
import { DiscResBlock } from '../../nn/disc-block.js';
import { EqualConv2d, EqualLinear } from '../../nn/equalized.js';
import { LabelMlp } from '../../nn/label-mlp.js';
import { minibatchStd } from '../../nn/minibatch-std.js';
import { Module } from '../../nn/module.js';
import { type StyleGanConfig, resolutions, styleGanConfig } from './config.js';

export interface DiscriminatorOutput {
  /** [N, 1] real-vs-fake logits. */
  logits: tf.Tensor2D;
  /** Residual block outputs (resolution R/2, R/4, ..., 4), only when asked for. */
  features: tf.Tensor4D[];
  /** [N, L] labels predicted from φ(x) (only with a label head). */
  labelPred: tf.Tensor2D | null;
}

export class Discriminator extends Module {
  readonly config: StyleGanConfig;
  readonly fromRgb: EqualConv2d;
  readonly blocks: DiscResBlock[];
  readonly finalConv: EqualConv2d;
  readonly fc: EqualLinear;
  readonly out: EqualLinear;
  /** Labels per image (0: unconditional) and their projection vector MLP. */
  readonly labelDim: number;
  readonly labelProj: LabelMlp | null;
  /** φ → predicted labels (conditional with labelLossWeight > 0). */
  readonly labelHead: EqualLinear | null;

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
    this.labelDim = c.conditionLabels.length;
    // Built last, so an unconditional D draws the same numbers from `rng` as before.
    this.labelProj = this.labelDim > 0 ? this.child('label_proj', new LabelMlp(rng, this.labelDim, ch[4], ch[4], c.labelLrMul)) : null;
    this.labelHead = this.labelDim > 0 && c.labelLossWeight > 0 ? this.child('label_head', new EqualLinear(rng, ch[4], this.labelDim, { lrMul: c.labelLrMul })) : null;
  }

  /** Checks that `labels` fit this D: required [N, L] when conditional, refused when not. */
  private checkLabels(n: number, labels: tf.Tensor2D | undefined): void {
    if (!this.labelProj) {
      if (labels) throw new Gan3dError('This discriminator is unconditional: it takes no labels.', 'BAD_ARGUMENT');
      return;
    }
    if (!labels || labels.rank !== 2 || labels.shape[0] !== n || labels.shape[1] !== this.labelDim) {
      throw new Gan3dError(`This discriminator is conditional on ${this.labelDim} labels: give labels [${n}, ${this.labelDim}]${labels ? `, not [${labels.shape}]` : ''}.`, 'BAD_ARGUMENT');
    }
  }

  forward(x: tf.Tensor4D, options: { features?: boolean; labels?: tf.Tensor2D } = {}): DiscriminatorOutput {
    const R = this.config.resolution;
    if (x.rank !== 4 || x.shape[1] !== R || x.shape[2] !== R || x.shape[3] !== 3) {
      throw new Gan3dError(`Discriminator expects images [N, ${R}, ${R}, 3], got [${x.shape}].`, 'BAD_SHAPE');
    }
    this.checkLabels(x.shape[0], options.labels);
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
      const phi = this.fc.forward(flat);
      let logits = this.out.forward(phi);
      if (this.labelProj) {
        const proj = tf.sum(tf.mul(phi, this.labelProj.forward(options.labels!)), 1, true);
        logits = tf.add(logits, tf.mul(proj, 1 / Math.sqrt(phi.shape[1]))) as tf.Tensor2D;
      }
      return { logits, features, ...(this.labelHead ? { labelPred: this.labelHead.forward(phi) } : {}) };
    });
    return { logits: out.logits, features: out.features, labelPred: out.labelPred ?? null };
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

  /** Logits [N, 1] of images [N, R, R, 3] (with their labels [N, L] when conditional). */
  logits(x: tf.Tensor4D, labels?: tf.Tensor2D): tf.Tensor2D {
    const out = this.forward(x, { labels });
    out.labelPred?.dispose();
    return out.logits;
  }

  /** Logits as [N, 1, 1, 1]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.reshape(this.logits(x), [x.shape[0], 1, 1, 1]));
  }
}
