// StyleGAN2's synthesis layer: [2x upsample] -> modulated 3x3 conv with demodulation -> noise -> bias + leaky ReLU
// times sqrt(2). Upsampling is bilinear (half-pixel centres) before the conv, in place of StyleGAN2's transposed
// conv + [1, 3, 3, 1] blur: simpler, and its gradient is smooth too. After the conv, demodulation, noise, bias and
// activation run as one fused op (src/engine/ops/modulation.ts) with the same math.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../engine/random.js';
import { modulatedAct } from '../engine/ops/modulation.js';
import { LRELU_GAIN, LRELU_SLOPE, lreluGain } from './equalized.js';
import { ModulatedConv2d } from './modulated-conv.js';
import { Module } from './module.js';
import { NoiseInjection } from './noise.js';
import { type UpsampleMode, upsample2x } from './resample.js';

export interface StyledConvOptions {
  /** Upsample 2x before the conv. Default false. */
  upsample?: boolean;
  upsampleMode?: UpsampleMode;
}

export class StyledConv extends Module {
  readonly upsample: boolean;
  readonly upsampleMode: UpsampleMode;
  readonly conv: ModulatedConv2d;
  readonly noise: NoiseInjection;
  readonly bias: tf.Variable;

  constructor(rng: Rng, cin: number, cout: number, kernel: number, wDim: number, options: StyledConvOptions = {}) {
    super();
    this.upsample = options.upsample ?? false;
    this.upsampleMode = options.upsampleMode ?? 'bilinear';
    this.conv = this.child('conv', new ModulatedConv2d(rng, cin, cout, kernel, wDim));
    this.noise = this.child('noise', new NoiseInjection());
    this.bias = this.param('b', tf.zeros([cout]));
  }

  /** x [N, H, W, cin], w [N, wDim], noise [N, H', W', 1] or an Rng (none if left out) -> [N, H', W', cout]. */
  apply(x: tf.Tensor4D, w?: tf.Tensor2D, noise?: tf.Tensor4D | Rng): tf.Tensor4D {
    this.conv.checkInputs(x, w);
    return tf.tidy(() => {
      const input = this.upsample ? upsample2x(x, this.upsampleMode) : x;
      if (!this.conv.demodulate) return lreluGain(tf.add(this.noise.apply(this.conv.apply(input, w), noise), this.bias));
      const [n, h, wd] = input.shape;
      const s = this.conv.style(w);
      const y = this.conv.convolveStyled(input, s);
      const d = this.conv.demodCoefficients(s);
      const z = noise === undefined ? undefined : this.noise.noiseMap(noise, n, h, wd);
      return modulatedAct(y, d, this.bias as tf.Tensor1D, z, z ? this.noise.strength : undefined, LRELU_SLOPE, LRELU_GAIN);
    });
  }
}
