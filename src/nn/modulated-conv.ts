// StyleGAN2's modulated convolution. With a per-sample style s = affine(w) (bias initialised to 1) the per-sample
// weight is w'[k, i, o] = scale W[k, i, o] s[i], demodulated to w''[k, i, o] = w'[k, i, o] / sqrt(sum_{k,i} w'^2 + eps).
// Computed in the equivalent "fused = false" form, which needs no grouped convolution: scale the input channels by s,
// convolve with the one shared weight, and multiply each output channel by the per-sample coefficient
// d[n, o] = 1 / sqrt(sum_i s[n, i]^2 sum_k (scale W[k, i, o])^2 + eps). `perSampleWeights` builds w'' explicitly
// (for tests and references). Stride 1, 'same' zero padding, odd kernel; upsampling happens outside (StyledConv).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { scaleChannels } from '../engine/ops/modulation.js';
import type { Rng } from '../engine/random.js';
import { EqualLinear } from './equalized.js';
import { Module } from './module.js';

export interface ModulatedConvOptions {
  /** Default true; to-RGB layers use false. */
  demodulate?: boolean;
  epsilon?: number;
}

export class ModulatedConv2d extends Module {
  readonly cin: number;
  readonly cout: number;
  readonly kernel: number;
  readonly demodulate: boolean;
  readonly epsilon: number;
  /** 1 / sqrt(cin k^2). */
  readonly scale: number;
  /** [k, k, cin, cout] ~ N(0, 1). */
  readonly weight: tf.Variable;
  /** w [N, wDim] -> style [N, cin], bias 1. */
  readonly modulation: EqualLinear;

  constructor(rng: Rng, cin: number, cout: number, kernel: number, wDim: number, options: ModulatedConvOptions = {}) {
    super();
    if (kernel % 2 !== 1) throw new Gan3dError(`ModulatedConv2d: kernel ${kernel} must be odd.`, 'BAD_ARGUMENT');
    this.cin = cin;
    this.cout = cout;
    this.kernel = kernel;
    this.demodulate = options.demodulate ?? true;
    this.epsilon = options.epsilon ?? 1e-8;
    this.scale = 1 / Math.sqrt(cin * kernel * kernel);
    this.weight = this.param('w', tf.tensor(rng.normalArray(kernel * kernel * cin * cout), [kernel, kernel, cin, cout]));
    this.modulation = this.child('mod', new EqualLinear(rng, wDim, cin, { biasInit: 1 }));
  }

  /** Style s [N, cin] of latents w [N, wDim]. */
  style(w: tf.Tensor2D): tf.Tensor2D {
    return this.modulation.forward(w);
  }

  /** Demodulation coefficients d [N, cout] of styles s [N, cin]. */
  demodCoefficients(s: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const w2 = tf.sum(tf.square(tf.mul(this.weight, this.scale)), [0, 1]) as tf.Tensor2D; // [cin, cout]
      return tf.rsqrt(tf.add(tf.matMul(tf.square(s), w2), this.epsilon)) as tf.Tensor2D;
    });
  }

  /** The conv of x scaled by the styles s [N, cin] per sample and channel, before demodulation. */
  convolveStyled(x: tf.Tensor4D, s: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => tf.conv2d(scaleChannels(x, s), tf.mul(this.weight, this.scale) as tf.Tensor4D, 1, this.kernel === 1 ? 'valid' : 'same'));
  }

  /** Checks x [N, H, W, cin] against latents w [N, wDim] (the second argument of apply). */
  checkInputs(x: tf.Tensor4D, w?: tf.Tensor2D): asserts w is tf.Tensor2D {
    if (!w) throw new Gan3dError('ModulatedConv2d.apply needs the latents w [N, wDim] as its second argument.', 'BAD_ARGUMENT');
    if (x.rank !== 4 || x.shape[3] !== this.cin || w.shape[0] !== x.shape[0]) {
      throw new Gan3dError(`ModulatedConv2d expects x [N, H, W, ${this.cin}] and w [N, wDim], got [${x.shape}] and [${w.shape}].`, 'BAD_SHAPE');
    }
  }

  /** x [N, H, W, cin], latents w [N, wDim] -> [N, H, W, cout]. */
  apply(x: tf.Tensor4D, w?: tf.Tensor2D): tf.Tensor4D {
    this.checkInputs(x, w);
    const n = x.shape[0];
    return tf.tidy(() => {
      const s = this.style(w);
      const y = this.convolveStyled(x, s);
      if (!this.demodulate) return y;
      return tf.mul(y, tf.reshape(this.demodCoefficients(s), [n, 1, 1, this.cout]));
    });
  }

  /** The explicit per-sample (de)modulated weights [N, k, k, cin, cout] of latents w [N, wDim]. */
  perSampleWeights(w: tf.Tensor2D): tf.Tensor5D {
    return tf.tidy(() => {
      const n = w.shape[0];
      const k = this.kernel;
      const s = tf.reshape(this.style(w), [n, 1, 1, this.cin, 1]);
      let ws = tf.mul(tf.expandDims(tf.mul(this.weight, this.scale), 0), s) as tf.Tensor5D;
      if (this.demodulate) {
        const norm = tf.rsqrt(tf.add(tf.sum(tf.square(ws), [1, 2, 3], true), this.epsilon));
        ws = tf.mul(ws, norm);
      }
      return tf.reshape(ws, [n, k, k, this.cin, this.cout]);
    });
  }
}
