// Surface normals of a depth map, by central differences on its back-projected 3-D grid, as tensors
// (depth-grid.ts `depthNormals` is the same maths on plain arrays).
import * as tf from '@tensorflow/tfjs';
import type { CameraConfig } from './camera.js';
import { NORMAL_EPS } from './depth-grid.js';
import { depthToPoints } from './points.js';

export { NORMAL_EPS };

/**
 * Normals [N, S, S, 3] of depth [N, S, S, 1]: n = t_u x t_v with t_u = P(i, j+1) - P(i, j-1) and
 * t_v = P(i+1, j) - P(i-1, j), divided by |n| + NORMAL_EPS. The 1-pixel border, which has no central difference,
 * gets (0, 0, 1). With y pointing down, a fronto-parallel plane gets n = (0, 0, +1): normals point away from the camera.
 */
export function depthToNormals(depth: tf.Tensor4D, cam: CameraConfig): tf.Tensor4D {
  return tf.tidy(() => {
    const points = depthToPoints(depth, cam);
    const [n, s] = points.shape;
    const inner = s - 2;
    const window = (di: number, dj: number) => tf.slice(points, [0, 1 + di, 1 + dj, 0], [n, inner, inner, 3]);
    const [ux, uy, uz] = tf.unstack(tf.sub(window(0, 1), window(0, -1)), 3);
    const [vx, vy, vz] = tf.unstack(tf.sub(window(1, 0), window(-1, 0)), 3);
    const cross = tf.stack(
      [
        tf.sub(tf.mul(uy, vz), tf.mul(uz, vy)),
        tf.sub(tf.mul(uz, vx), tf.mul(ux, vz)),
        tf.sub(tf.mul(ux, vy), tf.mul(uy, vx)),
      ],
      3,
    );
    const unit = tf.div(cross, tf.add(tf.sqrt(tf.sum(tf.square(cross), 3, true)), NORMAL_EPS));
    // Pad the border: zeros for x and y, one for z.
    const border: [number, number][] = [[0, 0], [1, 1], [1, 1], [0, 0]];
    const [nx, ny, nz] = tf.split(unit, 3, 3);
    return tf.concat([tf.pad(tf.concat([nx, ny], 3), border, 0), tf.pad(nz, border, 1)], 3) as tf.Tensor4D;
  });
}
