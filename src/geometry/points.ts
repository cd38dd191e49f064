// Depth maps <-> 3-D points <-> sampling grids, in the convention of camera.ts.
import * as tf from '@tensorflow/tfjs';
import { type CameraConfig, checkImageShape, intrinsics, pixelRays } from './camera.js';

/** Back-projects every pixel: P(i, j) = depth(i, j) * K^-1 [j, i, 1]. depth [N, S, S, 1] -> points [N, S, S, 3]. */
export function depthToPoints(depth: tf.Tensor4D, cam: CameraConfig): tf.Tensor4D {
  checkImageShape('depth', depth.shape, cam, 1);
  return tf.tidy(() => tf.mul(depth, tf.tensor4d(pixelRays(cam), [1, cam.size, cam.size, 3])));
}

/**
 * Projects points [N, H, W, 3] into the camera and returns where they land as a grid_sample grid [N, H, W, 2]:
 * (u, v) = (f X / Z + c, f Y / Z + c), normalised with align corners, u_n = 2 u / (S - 1) - 1 (-1 and +1 are the
 * centres of the first and last pixels).
 */
export function pointsToGrid(points: tf.Tensor4D, cam: CameraConfig): tf.Tensor4D {
  const { f, c } = intrinsics(cam);
  const toNormalised = 2 / (cam.size - 1);
  return tf.tidy(() => {
    const [n, h, w] = points.shape;
    const xy = tf.slice(points, [0, 0, 0, 0], [n, h, w, 2]);
    const z = tf.slice(points, [0, 0, 0, 2], [n, h, w, 1]);
    // Both affine steps folded into one: u_n = (2 f / (S - 1)) X / Z + (2 c / (S - 1) - 1).
    return tf.add(tf.mul(tf.div(xy, z), f * toNormalised), c * toNormalised - 1);
  });
}
