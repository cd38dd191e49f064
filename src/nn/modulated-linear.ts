// Modulated fully-connected layer with demodulation (StyleGAN2's weight modulation on a per-pixel MLP: CIPS and the
// deep INR of CIPS-3D, paper notes A.6). Per sample n, with its style s = M w + m:
//   W'[i, o] = W[i, o] · (s[i] + 1),  W''[i, o] = W'[i, o] / sqrt(Σ_i W'[i, o]² + ε),  y = act(x W'').
// Computed without building W'' per sample: scale the inputs by (s + 1), multiply by the one shared W, then scale
// each output by d[n, o] = 1 / sqrt(Σ_i (s[n, i] + 1)² W[i, o]² + ε); the same numbers, one matmul over all pixels.
// Demodulation makes the pre-activation's second moment that of the input, whatever the style's size, so W's
// init scale is free (N(0, 1) here). No bias, no noise (as CIPS-3D's INR).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { Rng } from '../engine/random.js';
import { initBias, initWeight } from './init.js';
import { Module } from './module.js';

export type ModulatedLinearActivation = 'lrelu' | 'linear';
/** Slope of the leaky ReLU after each modulated layer (no gain: CIPS-3D's plain LeakyReLU(0.2)). */
export const MODULATED_LINEAR_SLOPE = 0.2;

export interface ModulatedLinearOptions {
  activation?: ModulatedLinearActivation;
  /** Default true. */
  demodulate?: boolean;
  epsilon?: number;
}

export class ModulatedLinear extends Module {
  readonly cin: number;
  readonly cout: number;
  readonly wDim: number;
  readonly activation: ModulatedLinearActivation;
  readonly demodulate: boolean;
  readonly epsilon: number;
  /** W [cin, cout] ~ N(0, 1). */
  readonly weight: tf.Variable;
  /** M [wDim, cin] and m [cin] (PyTorch's default Linear init): the style is s + 1, so a zero style leaves W as is. */
  readonly styleWeight: tf.Variable;
  readonly styleBias: tf.Variable;

  constructor(rng: Rng, cin: number, cout: number, wDim: number, options: ModulatedLinearOptions = {}) {
    super();
    for (const [k, v] of Object.entries({ cin, cout, wDim })) {
      if (!Number.isInteger(v) || v < 1) throw new Gan3dError(`ModulatedLinear: ${k} must be a whole number ≥ 1, got ${v}.`, 'BAD_ARGUMENT');
    }
    this.cin = cin;
    this.cout = cout;
    this.wDim = wDim;
    this.activation = options.activation ?? 'lrelu';
    this.demodulate = options.demodulate ?? true;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weight = this.param('w', tf.tensor(rng.normalArray(cin * cout), [cin, cout]));
    this.styleWeight = this.param('style_w', initWeight(rng, [wDim, cin], wDim, 'pytorch'));
    this.styleBias = this.param('style_b', initBias(rng, cin, wDim, 'pytorch'));
  }

  /** The multiplier of each input channel, s + 1: [N, cin]. */
  scales(w: tf.Tensor2D): tf.Tensor2D {
    if (w.rank !== 2 || w.shape[1] !== this.wDim) throw new Gan3dError(`ModulatedLinear expects w [N, ${this.wDim}], got [${w.shape}].`, 'BAD_SHAPE');
    return tf.tidy(() => tf.add(tf.add(tf.matMul(w, this.styleWeight as tf.Tensor2D), this.styleBias), 1));
  }

  /** x [N, P, cin] (P pixels of sample n share its w [N, wDim]) → [N, P, cout]. */
  forward(x: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
    if (x.rank !== 3 || x.shape[2] !== this.cin || x.shape[0] !== w.shape[0]) {
      throw new Gan3dError(`ModulatedLinear expects x [${w.shape[0]}, P, ${this.cin}] for w [${w.shape}], got [${x.shape}].`, 'BAD_SHAPE');
    }
    return tf.tidy(() => {
      const [n, p] = [x.shape[0], x.shape[1]];
      const s = this.scales(w);
      const scaled = tf.mul(x, tf.expandDims(s, 1));
      let y = tf.reshape(tf.matMul(tf.reshape(scaled, [n * p, this.cin]), this.weight as tf.Tensor2D), [n, p, this.cout]) as tf.Tensor3D;
      if (this.demodulate) {
        const d = tf.rsqrt(tf.add(tf.matMul(tf.square(s), tf.square(this.weight) as tf.Tensor2D), this.epsilon));
        y = tf.mul(y, tf.expandDims(d, 1));
      }
      return this.activation === 'lrelu' ? tf.leakyRelu(y, MODULATED_LINEAR_SLOPE) : y;
    });
  }

  /** W'' for each sample, [N, cin, cout] (tests and references). */
  perSampleWeights(w: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const wp = tf.mul(tf.expandDims(this.weight, 0), tf.expandDims(this.scales(w), 2));
      if (!this.demodulate) return wp as tf.Tensor3D;
      return tf.mul(wp, tf.rsqrt(tf.add(tf.sum(tf.square(wp), 1, true), this.epsilon))) as tf.Tensor3D;
    });
  }

  apply(): tf.Tensor4D {
    throw new Gan3dError('ModulatedLinear works on pixel sets: call forward(x [N, P, cin], w [N, wDim]).', 'BAD_ARGUMENT');
  }
}
