// Step 2's latent-offset encoder E and the projection it drives (C.4). E is a small ResEncoder (C.2, at 64×64):
//   conv k4 s2 p1 3→nf (32²) → ResBlockDown nf→2nf (16²) → 2nf→4nf (8²) → 4nf→8nf (4²) → ReLU
//   → conv k4 valid 8nf→16nf (1×1) → ReLU → conv k1 16nf→code
// ResBlockDown(x) = conv3×3(ReLU(conv3×3 s2(ReLU(x)))) + conv1×1(avgpool2(x)) (the 1×1 conv, with a bias, only when
// the channel count changes).
//
// The offset lives in W (one vector broadcast to every layer, not W+): with the mapping network's FC layers split into
// a head F₀ and a tail F₁ of `offsetDepth` layers, h_c = F₀(0), w_c = F₁(h_c), and for a pseudo-image I′
//   e = E(I′) − E(G(w))   (relative encoding: the unchanged input gets e = 0, so Δw = 0)
//   Δw = F₁(e + h_c) − w_c,  w′ = w + Δw,  Ĩ = clamp(G(w′), −1, 1).
// F₁ never includes the mapping's PixelNorm: PixelNorm(e) is discontinuous at e = 0 (any tiny code is scaled to unit
// RMS), which would make the offset of a nearly unchanged image arbitrary. So offsetDepth counts FC layers; the
// paper's synface F1_d = 8 is "every FC layer" here (its F1_d = 2 for faces/cats reaches the last 3 FC layers).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';
import { Conv2d } from '../../nn/conv.js';
import { Module } from '../../nn/module.js';
import type { Encoder } from '../../models/encoder/model.js';
import type { Discriminator } from '../../models/stylegan/discriminator.js';
import type { Generator } from '../../models/stylegan/generator.js';
import { maskedMean } from '../../models/photogeo/losses.js';

class ResBlockDown extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly shortcut?: Conv2d;

  constructor(rng: Rng, cin: number, cout: number) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(rng, cin, cout, 3, { stride: 2, padding: 1, init: 'pytorch' }));
    this.conv2 = this.child('conv2', new Conv2d(rng, cout, cout, 3, { padding: 1, init: 'pytorch' }));
    if (cin !== cout) this.shortcut = this.child('skip', new Conv2d(rng, cin, cout, 1, { bias: true, init: 'pytorch' }));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const h = this.conv2.apply(tf.relu(this.conv1.apply(tf.relu(x))));
      const pooled = tf.avgPool(x, 2, 2, 'valid');
      return tf.add(this.shortcut ? this.shortcut.apply(pooled) : pooled, h) as tf.Tensor4D;
    });
  }
}

/** What Step 2 trains and the bank is projected through: pseudo-images [N, S, S, 3] → latent offsets Δw [N, wDim]
 *  from the input's w (relative: the input's own render gets Δw = 0). */
export interface OffsetPredictor extends Module {
  deltaW(projector: LatentProjector, images: tf.Tensor4D, relative: boolean): tf.Tensor2D;
}

export class OffsetEncoder extends Module implements OffsetPredictor {
  readonly codeDim: number;
  readonly stem: Conv2d;
  readonly blocks: ResBlockDown[];
  readonly toVector: Conv2d;
  readonly out: Conv2d;

  /** For 64×64 images; `codeDim` is the width of the mapping tail's input. */
  constructor(seed: number, nf: number, codeDim: number) {
    super();
    const rng = new Rng(seed);
    this.codeDim = codeDim;
    this.stem = this.child('stem', new Conv2d(rng, 3, nf, 4, { stride: 2, padding: 1, init: 'pytorch' }));
    this.blocks = [
      this.child('block0', new ResBlockDown(rng, nf, 2 * nf)),
      this.child('block1', new ResBlockDown(rng, 2 * nf, 4 * nf)),
      this.child('block2', new ResBlockDown(rng, 4 * nf, 8 * nf)),
    ];
    this.toVector = this.child('fc', new Conv2d(rng, 8 * nf, 16 * nf, 4, { init: 'pytorch' }));
    this.out = this.child('out', new Conv2d(rng, 16 * nf, codeDim, 1, { bias: true, init: 'pytorch' }));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[1] !== 64 || x.shape[2] !== 64 || x.shape[3] !== 3) {
      throw new Gan3dError(`The offset encoder expects images [N, 64, 64, 3], got [${x.shape}].`, 'BAD_SHAPE');
    }
    return tf.tidy(() => {
      let h = this.stem.apply(x);
      for (const b of this.blocks) h = b.apply(h);
      return this.out.apply(tf.relu(this.toVector.apply(tf.relu(h))));
    });
  }

  /** Codes [N, codeDim]. */
  vector(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.reshape(this.apply(x), [x.shape[0], this.codeDim]) as tf.Tensor2D);
  }

  deltaW(projector: LatentProjector, images: tf.Tensor4D, relative: boolean): tf.Tensor2D {
    return tf.tidy(() => projector.offset(projector.codes(this, images, relative)));
  }
}

/** Projection 'pretrained': a per-image copy of the GAN's inversion encoder (image → w, trained on the GAN's own
 *  samples, models/gan-encoder) in place of a fresh offset encoder. Relative: Δw = E(I′) − E(G(w)), the input's
 *  latent moved by what the encoder sees change between the input's render and the pseudo-image; absolute:
 *  Δw = E(I′) − w. It starts out knowing how pose and light move w, which a fresh encoder cannot learn in a CPU
 *  schedule's few Step-2 iterations; Step 2 then fine-tunes the copy on the pseudo-samples (the bundle is untouched). */
export class PretrainedOffsets extends Module implements OffsetPredictor {
  readonly encoder: Encoder;

  constructor(encoder: Encoder) {
    super();
    this.encoder = this.child('inversion', encoder);
  }

  deltaW(projector: LatentProjector, images: tf.Tensor4D, relative: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      const R = this.encoder.config.imageSize;
      const e = this.encoder.offset(resizeTo(images, R));
      if (relative) return tf.sub(e, this.encoder.offset(resizeTo(projector.inputRender, R))) as tf.Tensor2D;
      return tf.sub(tf.add(e, projector.generator.wAvg), projector.w) as tf.Tensor2D;
    });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.encoder.apply(x);
  }
}

/** Images [N, R, R, 3] resized (bilinear) to `size`, or a clone when already that size. */
export function resizeTo(x: tf.Tensor4D, size: number): tf.Tensor4D {
  return x.shape[1] === size && x.shape[2] === size ? tf.clone(x) : tf.image.resizeBilinear(x, [size, size]);
}

/** The frozen GAN, the input's latent and the fixed tensors of the offset map (h_c, w_c, G(w)). */
export class LatentProjector {
  readonly generator: Generator;
  readonly discriminator: Discriminator;
  readonly imageSize: number;
  /** Index of the first mapping stage in the tail F₁ (stage 0 is PixelNorm, stage i is fc(i−1)). */
  readonly split: number;
  readonly codeDim: number;
  /** The input's latent [1, wDim]. */
  readonly w: tf.Tensor2D;
  private readonly hc: tf.Tensor2D;
  private readonly wc: tf.Tensor2D;
  /** G(w), clamped, at imageSize [1, S, S, 3]. */
  readonly inputRender: tf.Tensor4D;

  constructor(generator: Generator, discriminator: Discriminator, w: Float32Array, offsetDepth: number, imageSize = 64) {
    const wDim = generator.config.wDim;
    if (w.length !== wDim) throw new Gan3dError(`The input latent has ${w.length} values; this GAN's w has ${wDim}.`, 'BAD_SHAPE');
    this.generator = generator;
    this.discriminator = discriminator;
    this.imageSize = imageSize;
    const map = generator.mappingNet;
    const depth = Math.min(offsetDepth, map.fcs.length);
    this.split = map.stages - depth;
    this.w = tf.tensor2d(w, [1, wDim]);
    this.hc = tf.tidy(() => map.forwardRange(tf.zeros([1, generator.config.zDim]) as tf.Tensor2D, 0, this.split));
    this.codeDim = this.hc.shape[1];
    this.wc = map.forwardRange(this.hc, this.split, map.stages);
    this.inputRender = this.project(this.w);
  }

  /** Δw = F₁(e + h_c) − w_c for codes e [N, codeDim]. */
  offset(e: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.sub(this.generator.mappingNet.forwardRange(tf.add(e, this.hc) as tf.Tensor2D, this.split, this.generator.mappingNet.stages), this.wc) as tf.Tensor2D);
  }

  /** clamp(G(w′), −1, 1) at imageSize, for latents w′ [N, wDim] (one w for every layer, fixed zero noise). */
  project(wPrime: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => resizeTo(tf.clipByValue(this.generator.synthesize(wPrime), -1, 1) as tf.Tensor4D, this.imageSize));
  }

  /** The encoder's codes for pseudo-images [N, S, S, 3]: relative to E(G(w)) when `relative`. */
  codes(encoder: OffsetEncoder, images: tf.Tensor4D, relative: boolean): tf.Tensor2D {
    return tf.tidy(() => (relative ? tf.sub(encoder.vector(images), encoder.vector(this.inputRender)) : encoder.vector(images)) as tf.Tensor2D);
  }

  /** Projected samples of pseudo-images: Δw and Ĩ = clamp(G(w + Δw)). */
  projectImages(encoder: OffsetPredictor, images: tf.Tensor4D, relative: boolean): { dw: tf.Tensor2D; projected: tf.Tensor4D } {
    return tf.tidy(() => {
      const dw = encoder.deltaW(this, images, relative);
      return { dw, projected: this.project(tf.add(this.w, dw) as tf.Tensor2D) };
    });
  }

  /** The first `count` residual-block features of the discriminator for images at imageSize. */
  features(images: tf.Tensor4D, count: number): tf.Tensor4D[] {
    return tf.tidy(() => this.discriminator.blockFeatures(resizeTo(images, this.discriminator.config.resolution), Math.min(count, this.discriminator.blocks.length)));
  }

  dispose(): void {
    tf.dispose([this.w, this.hc, this.wc, this.inputRender]);
  }
}

export interface InversionLossParts {
  total: tf.Scalar;
  l1: tf.Scalar;
  feat: tf.Scalar;
  reg: tf.Scalar;
}

/** C.5: mean_M |Ĩ − I′| + λ_feat Σ_k mean_{M↓k} |D_k(Ĩ) − D_k(I′)| + λ_reg mean(Δw²). */
export function inversionLoss(
  projector: LatentProjector,
  encoder: OffsetPredictor,
  pseudo: tf.Tensor4D,
  masks: tf.Tensor4D,
  options: { relative: boolean; lambdaFeat: number; featureBlocks: number; lambdaReg: number },
): InversionLossParts {
  return tf.tidy(() => {
    const { dw, projected } = projector.projectImages(encoder, pseudo, options.relative);
    const l1 = maskedMean(tf.abs(tf.sub(projected, pseudo)) as tf.Tensor4D, masks);
    let feat = tf.scalar(0);
    if (options.lambdaFeat > 0 && options.featureBlocks > 0) {
      const fake = projector.features(projected, options.featureBlocks);
      // The pseudo-images are constants: only E's variables are differentiated, so the real branch carries no gradient.
      const real = projector.features(pseudo, options.featureBlocks);
      const maskD = resizeTo(masks, projector.discriminator.config.resolution);
      feat = tf.addN(
        fake.map((f, k) => {
          const r = maskD.shape[1] / f.shape[1];
          const m = r === 1 ? maskD : (tf.avgPool(maskD, r, r, 'valid') as tf.Tensor4D);
          return maskedMean(tf.abs(tf.sub(f, real[k])) as tf.Tensor4D, m);
        }),
      ) as tf.Scalar;
    }
    const reg = tf.mean(tf.square(dw)) as tf.Scalar;
    const total = tf.addN([l1, tf.mul(feat, options.lambdaFeat), tf.mul(reg, options.lambdaReg)]) as tf.Scalar;
    return { total, l1, feat, reg };
  });
}
