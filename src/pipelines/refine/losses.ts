// The reconstruction losses of Steps 1 and 3 (C.7). LPIPS is unavailable here (no VGG16 or LPIPS weights can be
// downloaded), so its λ_p term is left out: the photometric term is the masked L1 alone, plus the second-order
// smoothness of the depth and the diffuse shading (λ_s, paper 0.01). Flip terms have weight 1 (GAN2Shape), not
// Unsup3d's 0.5.
import * as tf from '@tensorflow/tfjs';
import { maskedMean } from '../../models/photogeo/losses.js';
import type { PhotoGeoModel } from '../../models/photogeo/model.js';
import type { RefineConfig } from './config.js';
import { predictLight, predictViewRaw, renderComposite, secondOrderSmoothness } from './nets.js';

export interface InputLoss {
  total: tf.Scalar;
  l1: tf.Scalar;
  smooth: tf.Scalar;
  /** The input's canonical depth [1, S, S, 1] and albedo [1, S, S, 3] (Step 3 renders the projected samples with them). */
  depth: tf.Tensor4D;
  albedo: tf.Tensor4D;
}

/** Masked L1 of a reconstruction and, when present, its flipped twin, against `target` (weight 1 each). */
export function reconstructionL1(recon: tf.Tensor4D, reconFlip: tf.Tensor4D | undefined, target: tf.Tensor4D, mask: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const l1 = maskedMean(tf.abs(tf.sub(recon, target)) as tf.Tensor4D, mask);
    return reconFlip ? (tf.add(l1, maskedMean(tf.abs(tf.sub(reconFlip, target)) as tf.Tensor4D, mask)) as tf.Scalar) : l1;
  });
}

/** L₁(I): the input re-rendered from its own depth, albedo, light and view (+ flip), plus λ_s [Sm(d) + Sm(s_d)]. The L1
 *  is taken over the render's mask, times `objectMask` [1, S, S, 1] when given (config.inputObjectMask): without it
 *  the fit may grow the face into a background as dark as its shadowed side, and twist the view and light to do so. */
export function inputLoss(model: PhotoGeoModel, image: tf.Tensor4D, config: RefineConfig, flip: boolean, smooth: boolean, objectMask?: tf.Tensor4D): InputLoss {
  return tf.tidy(() => {
    const depth = model.decodeDepth(model.depthNet.apply(image));
    const albedo = model.albedoNet.apply(image);
    const light = predictLight(model, image);
    const view = model.decodeView(predictViewRaw(model, image));
    const r = renderComposite(model, depth, albedo, light, view, flip);
    const l1 = reconstructionL1(r.recon, r.reconFlip, image, objectMask ? (tf.mul(r.mask, objectMask) as tf.Tensor4D) : r.mask);
    const sm = smooth && config.lambdaSmooth > 0 ? tf.add(secondOrderSmoothness(depth), secondOrderSmoothness(r.diffuse)) : tf.scalar(0);
    const total = tf.add(l1, tf.mul(sm, config.lambdaSmooth)) as tf.Scalar;
    return { total, l1, smooth: sm, depth, albedo } as unknown as tf.TensorContainer;
  }) as unknown as InputLoss;
}

/** Step 3's term for projected samples [B, S, S, 3] with masks [B, S, S, 1]: the input's depth and albedo rendered
 *  under each sample's own predicted light and view, masked L1 over M_render · M_sample (+ flip). */
export function projectedLoss(
  model: PhotoGeoModel,
  depth: tf.Tensor4D,
  albedo: tf.Tensor4D,
  projected: tf.Tensor4D,
  masks: tf.Tensor4D,
  config: RefineConfig,
  flip: boolean,
): tf.Scalar {
  return tf.tidy(() => {
    const light = predictLight(model, projected);
    const view = model.decodeView(predictViewRaw(model, projected));
    const r = renderComposite(model, depth, albedo, light, view, flip);
    return reconstructionL1(r.recon, r.reconFlip, projected, tf.mul(r.mask, masks) as tf.Tensor4D);
  });
}
