// Unsup3d's objective (A.5):
//   E = l1(Î) + λ_flip l1(Î') + λ_perc (lp(Î) + λ_flip lp(Î')) + λ_smooth L_sm
// l1 is the Laplacian negative log-likelihood with the confidence net's σ, averaged over valid pixels:
//   mean_M [ √2 |Î − I| / σ + ln σ ]   (plain masked mean |Î − I| without confidence);
// lp is the Gaussian one on feature maps φ: mean_M↓ [ (φ(Î) − φ(I))² / (2σ²) + ln σ ], with the mask average-pooled
// to the feature size. φ is a hook: Unsup3d uses frozen VGG16 relu3_3, which gan3d does not ship.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import type { PhotoGeoConfig } from './config.js';
import type { PhotoGeoReconstruction } from './model.js';

/** Added to σ before dividing and taking the log (Unsup3d's EPS). */
export const SIGMA_EPS = 1e-7;
/** Keeps an all-invalid mask from dividing by zero. */
const MASK_EPS = 1e-7;

/** Feature maps [N, h, w, C] of images [N, S, S, 3] in [-1, 1] for the perceptual term (frozen: not trained here). */
export type PerceptualFeatures = (images: tf.Tensor4D) => tf.Tensor4D[];

/** Σ(loss · M) / ΣM for a per-pixel loss [N, H, W, C] (averaged over C) and mask [N, H, W, 1]. */
export function maskedMean(perPixel: tf.Tensor4D, mask: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const pixel = tf.mean(perPixel, 3, true);
    return tf.div(tf.sum(tf.mul(pixel, mask)), tf.add(tf.sum(mask), MASK_EPS)) as tf.Scalar;
  });
}

/** Masked L1, or with σ [N, H, W, 1] the Laplacian NLL mean_M[√2 |Î − I| / σ + ln σ]. */
export function photometricLoss(recon: tf.Tensor4D, target: tf.Tensor4D, mask: tf.Tensor4D, sigma?: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const diff = tf.abs(tf.sub(recon, target)) as tf.Tensor4D;
    if (!sigma) return maskedMean(diff, mask);
    const s = tf.add(sigma, SIGMA_EPS);
    return maskedMean(tf.add(tf.div(tf.mul(diff, Math.SQRT2), s), tf.log(s)) as tf.Tensor4D, mask);
  });
}

/** Gaussian NLL on one feature map; σ is used when it has the map's spatial size, else a plain masked MSE. */
export function featureLoss(fake: tf.Tensor4D, real: tf.Tensor4D, mask: tf.Tensor4D, sigma?: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const [, h, w] = fake.shape;
    const [mh, mw] = [mask.shape[1], mask.shape[2]];
    // Unsup3d average-pools the mask to the feature size (4x4 for relu3_3 at 64); bilinear when sizes do not divide.
    let pooled = mask;
    if (mh !== h || mw !== w) {
      pooled = mh % h === 0 && mw % w === 0 ? tf.avgPool(mask, [mh / h, mw / w], [mh / h, mw / w], 'valid') : tf.image.resizeBilinear(mask, [h, w]);
    }
    const sq = tf.square(tf.sub(fake, real)) as tf.Tensor4D;
    if (!sigma || sigma.shape[1] !== h || sigma.shape[2] !== w) return maskedMean(sq, pooled);
    const s = tf.add(sigma, SIGMA_EPS);
    return maskedMean(tf.add(tf.div(sq, tf.mul(tf.square(s), 2)), tf.log(s)) as tf.Tensor4D, pooled);
  });
}

/** Mean absolute first differences of depth along x and y, divided by the depth range (scale-free). */
export function depthSmoothness(depth: tf.Tensor4D, depthRange: number): tf.Scalar {
  return tf.tidy(() => {
    const [n, h, w] = depth.shape;
    const dx = tf.abs(tf.sub(tf.slice(depth, [0, 0, 1, 0], [n, h, w - 1, 1]), tf.slice(depth, [0, 0, 0, 0], [n, h, w - 1, 1])));
    const dy = tf.abs(tf.sub(tf.slice(depth, [0, 1, 0, 0], [n, h - 1, w, 1]), tf.slice(depth, [0, 0, 0, 0], [n, h - 1, w, 1])));
    return tf.div(tf.add(tf.mean(dx), tf.mean(dy)), depthRange) as tf.Scalar;
  });
}

export interface PhotoGeoLossOptions {
  /** Feature network for the perceptual term; required when lambdaPerc > 0. */
  perceptual?: PerceptualFeatures;
}

export interface PhotoGeoLoss {
  total: tf.Scalar;
  /** Unweighted parts, for logging: l1, l1Flip, perc, percFlip, smooth (only those computed). */
  parts: Record<string, tf.Scalar>;
}

function channel(x: tf.Tensor4D, c: number): tf.Tensor4D {
  const [n, h, w] = x.shape;
  return tf.slice(x, [0, 0, 0, c], [n, h, w, 1]);
}

/** The total objective for `images` and their reconstruction `r` (from PhotoGeoModel.reconstruct). */
export function photoGeoLoss(
  config: PhotoGeoConfig,
  images: tf.Tensor4D,
  r: PhotoGeoReconstruction,
  options: PhotoGeoLossOptions = {},
): PhotoGeoLoss {
  if (config.lambdaPerc > 0 && !options.perceptual) {
    throw new Gan3dError('lambdaPerc > 0 needs a perceptual feature network (options.perceptual); set lambdaPerc to 0 or pass one.', 'BAD_CONFIG');
  }
  if (config.lambdaFlip > 0 && !r.reconFlip) {
    throw new Gan3dError('lambdaFlip > 0 needs the flip branch: call reconstruct with flip enabled.', 'BAD_ARGUMENT');
  }
  return tf.tidy(() => {
    const conf = config.useConfidence ? r.confidence : undefined;
    const parts: Record<string, tf.Scalar> = {};
    parts.l1 = photometricLoss(r.recon, images, r.mask, conf && channel(conf.l1, 0));
    let total: tf.Scalar = parts.l1;
    if (config.lambdaFlip > 0 && r.reconFlip) {
      parts.l1Flip = photometricLoss(r.reconFlip, images, r.mask, conf && channel(conf.l1, 1));
      total = tf.add(total, tf.mul(parts.l1Flip, config.lambdaFlip));
    }
    if (config.lambdaPerc > 0 && options.perceptual) {
      const phi = options.perceptual;
      const real = phi(images);
      const sum = (fake: tf.Tensor4D[], c: number): tf.Scalar =>
        tf.addN(fake.map((f, i) => featureLoss(f, real[i], r.mask, conf?.perc && channel(conf.perc, c)))) as tf.Scalar;
      parts.perc = sum(phi(r.recon), 0);
      let perc: tf.Scalar = parts.perc;
      if (config.lambdaFlip > 0 && r.reconFlip) {
        parts.percFlip = sum(phi(r.reconFlip), 1);
        perc = tf.add(perc, tf.mul(parts.percFlip, config.lambdaFlip));
      }
      total = tf.add(total, tf.mul(perc, config.lambdaPerc));
    }
    if (config.lambdaSmooth > 0) {
      parts.smooth = depthSmoothness(r.canonDepth, config.maxDepth - config.minDepth);
      total = tf.add(total, tf.mul(parts.smooth, config.lambdaSmooth));
    }
    return { total, parts };
  });
}
