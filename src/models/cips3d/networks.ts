// The networks of the CIPS-3D generator (paper notes A.2, A.3, A.6, A.7):
//   NerfMapping  z_nerf → w_nerf: PixelNorm, linear layers with leaky ReLU between them (none after the last)
//   InrMapping   z_inr → w_inr: PixelNorm, linear → LayerNorm → leaky ReLU, and a LayerNorm on the output
//   ShallowNerf  point, w_nerf → density σ and a feature vector: FiLM-SIREN ×2, σ head, colour FiLM, feature head
//                (no view direction: the official code passes it and ignores it)
//   InrNet       rendered feature, w_inr → RGB per pixel: blocks of two modulated linear layers, residual from block key
//                64 on, to-RGB heads summed then tanh
//   AuxHead      rendered feature → RGB (linear + tanh): the image the auxiliary discriminator judges (mirror symmetry fix)
// Linear layers are the equalized kind of src/nn (weights N(0, 1) scaled by 1/√fan_in at run time; the official code
// uses plain Linear with Kaiming init: the same function family, a different effective step size under Adam). The
// LayerNorms have no affine parameters (their scale and shift would be folded into the next linear layer).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../engine/random.js';
import { EqualLinear } from '../../nn/equalized.js';
import { FilmSiren } from '../../nn/film-siren.js';
import { ModulatedLinear } from '../../nn/modulated-linear.js';
import { Module } from '../../nn/module.js';
import { pixelNorm } from '../../nn/pixel-norm.js';
import { type Cips3dConfig, inrBlockKeys } from './config.js';

const LRELU = 0.2;

abstract class PointModule extends Module {
  apply(): tf.Tensor4D {
    throw new Error(`${this.constructor.name} works on vectors, not images: call forward().`);
  }
}

/** (x − mean) / sqrt(var + eps) over the last axis (LayerNorm without affine parameters). */
export function layerNorm<T extends tf.Tensor>(x: T, epsilon = 1e-5): T {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
  });
}

export class NerfMapping extends PointModule {
  readonly fcs: EqualLinear[] = [];

  constructor(rng: Rng, c: Cips3dConfig) {
    super();
    for (let i = 0; i < c.nerfMappingLayers; i++) {
      const cin = i === 0 ? c.zNerfDim : c.wNerfDim;
      this.fcs.push(this.child(`fc${i}`, new EqualLinear(rng, cin, c.wNerfDim)));
    }
  }

  forward(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let h = pixelNorm(z);
      this.fcs.forEach((fc, i) => {
        h = fc.forward(h);
        if (i < this.fcs.length - 1) h = tf.leakyRelu(h, LRELU);
      });
      return h;
    });
  }
}

export class InrMapping extends PointModule {
  readonly fcs: EqualLinear[] = [];

  constructor(rng: Rng, c: Cips3dConfig) {
    super();
    for (let i = 0; i < c.inrMappingLayers; i++) {
      const cin = i === 0 ? c.zInrDim : c.wInrDim;
      this.fcs.push(this.child(`fc${i}`, new EqualLinear(rng, cin, c.wInrDim)));
    }
  }

  forward(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let h = pixelNorm(z);
      this.fcs.forEach((fc, i) => {
        h = fc.forward(h);
        if (i < this.fcs.length - 1) h = tf.leakyRelu(layerNorm(h), LRELU);
      });
      return layerNorm(h);
    });
  }
}

// A type alias (not an interface) so tf.tidy can return it.
export type NerfOutput = {
  /** Raw density [N, P]. */
  sigma: tf.Tensor2D;
  /** Feature [N, P, featureDim]. */
  features: tf.Tensor3D;
};

export class ShallowNerf extends PointModule {
  readonly config: Cips3dConfig;
  readonly film1: FilmSiren;
  readonly film2: FilmSiren;
  readonly sigmaHead: EqualLinear;
  readonly colorFilm: FilmSiren;
  readonly featureHead: EqualLinear;

  constructor(rng: Rng, c: Cips3dConfig) {
    super();
    this.config = c;
    this.film1 = this.child('film1', new FilmSiren(rng, 3, c.nerfHidden, c.wNerfDim, { first: true }));
    this.film2 = this.child('film2', new FilmSiren(rng, c.nerfHidden, c.nerfHidden, c.wNerfDim));
    this.sigmaHead = this.child('sigma', new EqualLinear(rng, c.nerfHidden, 1));
    this.colorFilm = this.child('color', new FilmSiren(rng, c.nerfHidden, c.nerfColorHidden, c.wNerfDim));
    this.featureHead = this.child('feature', new EqualLinear(rng, c.nerfColorHidden, c.featureDim));
  }

  /** Object-frame points [N, P, 3] (scaled here by pointScale), w_nerf [N, wNerfDim]. */
  forward(points: tf.Tensor3D, w: tf.Tensor2D): NerfOutput {
    return tf.tidy(() => {
      const [n, p] = [points.shape[0], points.shape[1]];
      const x = tf.mul(points, this.config.pointScale) as tf.Tensor3D;
      const h = this.film2.forward(this.film1.forward(x, w), w);
      const flat = (t: tf.Tensor3D) => tf.reshape(t, [n * p, t.shape[2]]) as tf.Tensor2D;
      const sigma = tf.reshape(this.sigmaHead.forward(flat(h)), [n, p]) as tf.Tensor2D;
      const color = this.colorFilm.forward(h, w);
      const features = tf.reshape(this.featureHead.forward(flat(color)), [n, p, this.config.featureDim]) as tf.Tensor3D;
      return { sigma, features };
    });
  }
}

export class InrNet extends PointModule {
  readonly keys: number[];
  readonly layers: [ModulatedLinear, ModulatedLinear][] = [];
  /** To-RGB heads by block index (blocks with key ≥ min(32, resolution): at least the last block has one). */
  readonly toRgb = new Map<number, { weight: tf.Variable }>();

  constructor(rng: Rng, c: Cips3dConfig) {
    super();
    this.keys = inrBlockKeys(c.resolution);
    const firstRgbKey = Math.min(32, c.resolution);
    const bound = Math.sqrt(6 / c.inrWidth) / 100;
    this.keys.forEach((key, i) => {
      const cin = i === 0 ? c.featureDim : c.inrWidth;
      this.layers.push([
        this.child(`b${key}a`, new ModulatedLinear(rng, cin, c.inrWidth, c.wInrDim)),
        this.child(`b${key}b`, new ModulatedLinear(rng, c.inrWidth, c.inrWidth, c.wInrDim)),
      ]);
      if (key >= firstRgbKey) this.toRgb.set(i, { weight: this.param(`rgb${key}`, tf.tensor(rng.uniformArray(c.inrWidth * 3, -bound, bound), [c.inrWidth, 3])) });
    });
  }

  /** Rendered features [N, P, featureDim], w_inr [N, wInrDim] → RGB [N, P, 3] in (−1, 1). */
  forward(features: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, p] = [features.shape[0], features.shape[1]];
      let h = features;
      let rgb: tf.Tensor | null = null;
      this.layers.forEach(([a, b], i) => {
        const out = b.forward(a.forward(h, w), w);
        h = this.keys[i] >= 64 ? (tf.add(out, h) as tf.Tensor3D) : out;
        const head = this.toRgb.get(i);
        if (head) {
          const y = tf.matMul(tf.reshape(h, [n * p, h.shape[2]]), head.weight as tf.Tensor2D);
          rgb = rgb ? tf.add(rgb, y) : y;
        }
      });
      return tf.reshape(tf.tanh(rgb!), [n, p, 3]) as tf.Tensor3D;
    });
  }
}

export class AuxHead extends PointModule {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(rng: Rng, c: Cips3dConfig) {
    super();
    // PyTorch's default Linear init divided by 25 (paper notes A.7).
    const bound = 1 / Math.sqrt(c.featureDim) / 25;
    this.weight = this.param('w', tf.tensor(rng.uniformArray(c.featureDim * 3, -bound, bound), [c.featureDim, 3]));
    this.bias = this.param('b', tf.tensor(rng.uniformArray(3, -bound, bound), [3]));
  }

  /** Rendered features [N, P, featureDim] → RGB [N, P, 3] in (−1, 1). */
  forward(features: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, p, f] = features.shape;
      return tf.reshape(tf.tanh(tf.add(tf.matMul(tf.reshape(features, [n * p, f]), this.weight as tf.Tensor2D), this.bias)), [n, p, 3]) as tf.Tensor3D;
    });
  }
}
