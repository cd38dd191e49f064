// Equalized-learning-rate layers (StyleGAN): weights are stored as N(0, 1) / lrMul and scaled at run time by
// lrMul / sqrt(fanIn), so every layer's parameters see the same effective step size under Adam. Biases are stored
// as init / lrMul and used times lrMul. The optional 'lrelu' activation is StyleGAN2's fused bias + leaky ReLU
// (slope 0.2) times sqrt(2), which keeps the activations' second moment at about 1.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { biasLrelu } from '../engine/ops/bias-act.js';
import type { Rng } from '../engine/random.js';
import { Module } from './module.js';

export type EqualActivation = 'linear' | 'lrelu';

/** Leaky ReLU slope and gain of StyleGAN2's fused activation. */
export const LRELU_SLOPE = 0.2;
export const LRELU_GAIN = Math.SQRT2;

/**
 * leakyRelu(x, 0.2) * sqrt(2). tfjs's LeakyRelu gradient goes through `greater`, which has no gradient, so a gradient
 * of a gradient (R1) could not pass it. On cpu and wasm this is the engine's fused loop op (src/engine/ops/bias-act.ts,
 * differentiable to any order); elsewhere sqrt(2) (0.2 x + 0.8 relu(x)), whose second derivative goes through relu's
 * `step`. Same function either way.
 */
export function lreluGain<T extends tf.Tensor>(x: T): T {
  return biasLrelu(x, undefined, LRELU_SLOPE, LRELU_GAIN);
}

/** lreluGain(x + b) with b on the last axis, as one fused op (see lreluGain). */
export function biasLreluGain<T extends tf.Tensor>(x: T, b: tf.Tensor1D): T {
  return biasLrelu(x, b, LRELU_SLOPE, LRELU_GAIN);
}

export interface EqualLinearOptions {
  /** Default true. */
  bias?: boolean;
  /** The bias's effective initial value (1 for StyleGAN's style affines). Default 0. */
  biasInit?: number;
  /** Learning-rate multiplier (0.01 in the mapping network). Default 1. */
  lrMul?: number;
  activation?: EqualActivation;
}

export class EqualLinear extends Module {
  readonly cin: number;
  readonly cout: number;
  readonly lrMul: number;
  /** Run-time weight scale lrMul / sqrt(cin). */
  readonly scale: number;
  readonly activation: EqualActivation;
  /** [cin, cout], stored as N(0, 1) / lrMul. */
  readonly weight: tf.Variable;
  /** [cout], stored as biasInit / lrMul. */
  readonly bias?: tf.Variable;

  constructor(rng: Rng, cin: number, cout: number, options: EqualLinearOptions = {}) {
    super();
    this.cin = cin;
    this.cout = cout;
    this.lrMul = options.lrMul ?? 1;
    this.scale = this.lrMul / Math.sqrt(cin);
    this.activation = options.activation ?? 'linear';
    this.weight = this.param('w', tf.tensor(rng.normalArray(cin * cout, 1 / this.lrMul), [cin, cout]));
    if (options.bias ?? true) this.bias = this.param('b', tf.fill([cout], (options.biasInit ?? 0) / this.lrMul));
  }

  /** [N, cin] -> [N, cout]. */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.cin) {
      throw new Gan3dError(`EqualLinear expects [N, ${this.cin}], got [${x.shape}].`, 'BAD_SHAPE');
    }
    return tf.tidy(() => {
      let y: tf.Tensor2D = tf.matMul(x, tf.mul(this.weight, this.scale) as tf.Tensor2D);
      const bias = this.bias ? (tf.mul(this.bias, this.lrMul) as tf.Tensor1D) : undefined;
      if (this.activation === 'lrelu') return bias ? biasLreluGain(y, bias) : lreluGain(y);
      if (bias) y = tf.add(y, bias);
      return y;
    });
  }

  /** Applies the layer to the channel axis of every pixel (a 1x1 conv). */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w] = x.shape;
      return tf.reshape(this.forward(tf.reshape(x, [n * h * w, x.shape[3]])), [n, h, w, this.cout]);
    });
  }
}

export interface EqualConvOptions {
  /** Default true. */
  bias?: boolean;
  activation?: EqualActivation;
  lrMul?: number;
}

/** Stride-1 conv with 'same' zero padding ((k - 1) / 2 on each side; k odd), HWIO weight. */
export class EqualConv2d extends Module {
  readonly cin: number;
  readonly cout: number;
  readonly kernel: number;
  readonly lrMul: number;
  /** Run-time weight scale lrMul / sqrt(cin k^2). */
  readonly scale: number;
  readonly activation: EqualActivation;
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(rng: Rng, cin: number, cout: number, kernel: number, options: EqualConvOptions = {}) {
    super();
    if (kernel % 2 !== 1) throw new Gan3dError(`EqualConv2d: kernel ${kernel} must be odd.`, 'BAD_ARGUMENT');
    this.cin = cin;
    this.cout = cout;
    this.kernel = kernel;
    this.lrMul = options.lrMul ?? 1;
    this.scale = this.lrMul / Math.sqrt(cin * kernel * kernel);
    this.activation = options.activation ?? 'linear';
    const n = kernel * kernel * cin * cout;
    this.weight = this.param('w', tf.tensor(rng.normalArray(n, 1 / this.lrMul), [kernel, kernel, cin, cout]));
    if (options.bias ?? true) this.bias = this.param('b', tf.zeros([cout]));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.cin) {
      throw new Gan3dError(`EqualConv2d expects NHWC input with ${this.cin} channels, got [${x.shape}].`, 'BAD_SHAPE');
    }
    return tf.tidy(() => {
      // Scaling the filter is cheaper than scaling the output for every layer here (k^2 cin cout < N H W cout).
      const w = tf.mul(this.weight, this.scale) as tf.Tensor4D;
      let y: tf.Tensor4D = tf.conv2d(x, w, 1, this.kernel === 1 ? 'valid' : 'same');
      const bias = this.bias ? (tf.mul(this.bias, this.lrMul) as tf.Tensor1D) : undefined;
      if (this.activation === 'lrelu') return bias ? biasLreluGain(y, bias) : lreluGain(y);
      if (bias) y = tf.add(y, bias);
      return y;
    });
  }
}
