// StyleGAN's mapping network z -> w: PixelNorm, then `layers` equalized linear layers with the 0.01 learning-rate
// multiplier and leaky ReLU (0.2) times sqrt(2). Stage i of `forwardRange` is module i of [PixelNorm, fc0, fc1, ...],
// so the network can be split into a head and a tail (GAN2Shape's latent offset encoder does).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { Rng } from '../engine/random.js';
import { EqualLinear } from './equalized.js';
import { Module } from './module.js';
import { pixelNorm } from './pixel-norm.js';

export interface MappingOptions {
  zDim: number;
  wDim: number;
  /** Default 8. */
  layers?: number;
  /** Width of the hidden layers; default wDim. */
  hidden?: number;
  /** Default 0.01. */
  lrMul?: number;
}

export class MappingNetwork extends Module {
  readonly zDim: number;
  readonly wDim: number;
  readonly fcs: EqualLinear[];

  constructor(rng: Rng, options: MappingOptions) {
    super();
    const layers = options.layers ?? 8;
    if (!Number.isInteger(layers) || layers < 1) throw new Gan3dError(`MappingNetwork: layers must be ≥ 1, got ${layers}.`, 'BAD_ARGUMENT');
    this.zDim = options.zDim;
    this.wDim = options.wDim;
    const hidden = options.hidden ?? options.wDim;
    this.fcs = [];
    for (let i = 0; i < layers; i++) {
      const cin = i === 0 ? options.zDim : hidden;
      const cout = i === layers - 1 ? options.wDim : hidden;
      this.fcs.push(this.child(`fc${i}`, new EqualLinear(rng, cin, cout, { lrMul: options.lrMul ?? 0.01, activation: 'lrelu' })));
    }
  }

  /** Number of stages: PixelNorm plus the linear layers. */
  get stages(): number {
    return this.fcs.length + 1;
  }

  /** z [N, zDim] -> w [N, wDim]. */
  forward(z: tf.Tensor2D): tf.Tensor2D {
    return this.forwardRange(z, 0, this.stages);
  }

  /** Runs stages [start, end) (0 = PixelNorm, i = fc(i-1)). */
  forwardRange(x: tf.Tensor2D, start: number, end: number): tf.Tensor2D {
    if (start < 0 || end > this.stages || start > end) {
      throw new Gan3dError(`MappingNetwork.forwardRange: [${start}, ${end}) is outside [0, ${this.stages}).`, 'BAD_ARGUMENT');
    }
    return tf.tidy(() => {
      let h = x;
      for (let i = start; i < end; i++) h = i === 0 ? pixelNorm(h) : this.fcs[i - 1].forward(h);
      return start === end ? tf.clone(h) : h;
    });
  }

  /** Applies the network to the channel vector of every pixel: [N, H, W, zDim] -> [N, H, W, wDim]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w] = x.shape;
      return tf.reshape(this.forward(tf.reshape(x, [n * h * w, x.shape[3]])), [n, h, w, this.wDim]);
    });
  }
}
