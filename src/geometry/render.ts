// Rendering a canonical depth map and image into a view (Unsup3d / GAN2Shape, "reconstructing the input view"):
//   1. back-project the canonical depth to a grid mesh, warp it into the view, z-buffer its depth: viewDepth;
//   2. mask = pixels that see a surface nearer than the far clamp;
//   3. back-project each view pixel with viewDepth, warp it back to the canonical frame, project it: where that
//      pixel's surface point sits in the canonical image;
//   4. sample the canonical image there (bilinear, zero padding) and mask.
// Gradients reach depth and view both through the sampling grid and through viewDepth (rasterizer.ts). Steps 1 and 3
// run as fused loops (fused-warp.ts); view.ts and points.ts hold the same maths as general tensor functions.
import * as tf from '@tensorflow/tfjs';
import { gridSample } from '../engine/ops/grid-sample.js';
import { Gan3dError } from '../engine/errors.js';
import { type CameraConfig, cameraConfig, checkCamera, checkImageShape } from './camera.js';
import { canonicalSampleGrid, meshInView } from './fused-warp.js';
import { renderDepth } from './rasterizer.js';
import { checkView } from './view.js';

export interface RenderViewInput {
  /** Canonical depth [N, S, S, 1]. */
  canonDepth: tf.Tensor4D;
  /** Canonical image [N, H, W, C] (usually S x S; any size is sampled with the same normalised grid). */
  canonImage: tf.Tensor4D;
  /** View [N, 6]: (rx, ry, rz in radians, tx, ty, tz), see view.ts. */
  view: tf.Tensor2D;
  /** Defaults to cameraConfig(S). */
  camera?: CameraConfig;
}

export interface RenderedView {
  /** The canonical image as seen from the view [N, S, S, C], multiplied by the mask. */
  image: tf.Tensor4D;
  /** Depth seen from the view [N, S, S, 1], clamped to depthClampRange (far clamp where nothing is seen). */
  viewDepth: tf.Tensor4D;
  /** 1 where the view sees the surface [N, S, S, 1]; no gradient. */
  mask: tf.Tensor4D;
}

/** Renders canonical depth and image into `view`; differentiable with respect to depth, image and view. */
export function renderView({ canonDepth, canonImage, view, camera }: RenderViewInput): RenderedView {
  const cam = camera ?? cameraConfig(canonDepth.shape[1]);
  checkCamera(cam);
  checkImageShape('canonDepth', canonDepth.shape, cam, 1);
  const n = canonDepth.shape[0];
  if (canonImage.rank !== 4 || canonImage.shape[0] !== n) {
    throw new Gan3dError(`canonImage must have shape [${n}, H, W, C] to match canonDepth, got [${canonImage.shape}].`, 'BAD_SHAPE');
  }
  checkView(view, n);
  return tf.tidy(() => {
    const { viewDepth, mask } = renderDepth(meshInView(canonDepth, view, cam), cam);
    const image = tf.mul(gridSample(canonImage, canonicalSampleGrid(viewDepth, view, cam)), mask) as tf.Tensor4D;
    return { image, viewDepth, mask };
  });
}
