// Convolutions with explicit variables, NHWC, PyTorch's padding semantics.
//   Conv2d:          filter [k, k, in, out] (HWIO); padding p pads p zeros on each side (or 'valid' = 0).
//   ConvTranspose2d: filter [k, k, out, in] (tfjs's layout); output side (h - 1) s + k - 2p, the transpose (input
//                    gradient) of a Conv2d with the same k, s, p. p = 0 is the 1x1 -> kxk 'valid' case.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { Rng } from '../engine/random.js';
import { type InitScheme, initBias, initWeight } from './init.js';
import { Module } from './module.js';

export interface ConvOptions {
  stride?: number;
  /** Zeros on each side; 'valid' is 0. Default 0. */
  padding?: number | 'valid';
  /** Default false: Unsup3d's convs have none. */
  bias?: boolean;
  init?: InitScheme;
}

function checkChannels(layer: string, x: tf.Tensor4D, cin: number): void {
  if (x.rank !== 4 || x.shape[3] !== cin) {
    throw new Gan3dError(`${layer} expects NHWC input with ${cin} channels, got [${x.shape}].`, 'BAD_SHAPE');
  }
}

export class Conv2d extends Module {
  readonly cin: number;
  readonly cout: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(rng: Rng, cin: number, cout: number, kernel: number, options: ConvOptions = {}) {
    super();
    this.cin = cin;
    this.cout = cout;
    this.kernel = kernel;
    this.stride = options.stride ?? 1;
    this.padding = options.padding === 'valid' ? 0 : (options.padding ?? 0);
    const init = options.init ?? 'he';
    const fanIn = cin * kernel * kernel;
    this.weight = this.param('w', initWeight(rng, [kernel, kernel, cin, cout], fanIn, init));
    if (options.bias) this.bias = this.param('b', initBias(rng, cout, fanIn, init));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    checkChannels('Conv2d', x, this.cin);
    return tf.tidy(() => {
      const p = this.padding;
      const pad = p === 0 ? 'valid' : ([[0, 0], [p, p], [p, p], [0, 0]] as [[0, 0], [number, number], [number, number], [0, 0]]);
      const y = tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, pad);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}

export class ConvTranspose2d extends Module {
  readonly cin: number;
  readonly cout: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(rng: Rng, cin: number, cout: number, kernel: number, options: ConvOptions = {}) {
    super();
    this.cin = cin;
    this.cout = cout;
    this.kernel = kernel;
    this.stride = options.stride ?? 1;
    this.padding = options.padding === 'valid' ? 0 : (options.padding ?? 0);
    if (2 * this.padding >= kernel) {
      throw new Gan3dError(`ConvTranspose2d: padding ${this.padding} must be less than half the kernel ${kernel}.`, 'BAD_ARGUMENT');
    }
    const init = options.init ?? 'he';
    // Weights that reach one output pixel: each input pixel feeds a k x k patch, overlapping k / s times per axis.
    const fanIn = (cin * kernel * kernel) / (this.stride * this.stride);
    this.weight = this.param('w', initWeight(rng, [kernel, kernel, cout, cin], fanIn, init));
    if (options.bias) this.bias = this.param('b', initBias(rng, cout, fanIn, init));
  }

  outputSize(h: number): number {
    return (h - 1) * this.stride + this.kernel - 2 * this.padding;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    checkChannels('ConvTranspose2d', x, this.cin);
    return tf.tidy(() => {
      const [n, h, w] = x.shape;
      const { stride: s, kernel: k, padding: p } = this;
      const filter = this.weight as tf.Tensor4D;
      let y: tf.Tensor4D;
      if (p > 0 && k - s === 2 * p) {
        // tfjs's 'same' pads (k - s) / 2 on each side here: exactly PyTorch's p (k4 s2 p1).
        y = tf.conv2dTranspose(x, filter, [n, h * s, w * s, this.cout], s, 'same');
      } else {
        // Full ('valid') transposed conv, then drop p rows and columns on each side.
        const full = tf.conv2dTranspose(x, filter, [n, (h - 1) * s + k, (w - 1) * s + k, this.cout], s, 'valid');
        y = p === 0 ? full : tf.slice(full, [0, p, p, 0], [n, this.outputSize(h), this.outputSize(w), this.cout]);
      }
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}
