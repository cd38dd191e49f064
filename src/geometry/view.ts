// Viewpoint transform between the canonical frame and a view frame.
//
// A view is a row (rx, ry, rz, tx, ty, tz): rotation angles in radians and a translation. The rotation is
// R = Rz(rz) Ry(ry) Rx(rx) with right-handed elementary rotations, taken about c0 = (0, 0, rotCenterDepth):
//   canonical -> view:  P' = R (P - c0) + c0 + t
//   view -> canonical:  P  = R^T (P' - t - c0) + c0
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { CameraConfig } from './camera.js';

/** Numbers per view: (rx, ry, rz, tx, ty, tz). */
export const VIEW_SIZE = 6;

/** Throws a user-facing error unless `view` is [batch, 6]. */
export function checkView(view: tf.Tensor, batch?: number): void {
  if (view.rank !== 2 || view.shape[1] !== VIEW_SIZE || (batch !== undefined && view.shape[0] !== batch)) {
    throw new Gan3dError(
      `view must have shape [${batch ?? 'N'}, 6] (rx, ry, rz in radians, tx, ty, tz), got [${view.shape}].`,
      'BAD_SHAPE',
    );
  }
}

/** The identity view for a batch of n. */
export function identityView(n: number): tf.Tensor2D {
  return tf.zeros([n, VIEW_SIZE]);
}

/** R = Rz Ry Rx for each view: [N, 6] -> [N, 3, 3] (row-major, R[n, a, b] = row a, column b). */
export function rotationMatrices(view: tf.Tensor2D): tf.Tensor3D {
  checkView(view);
  return tf.tidy(() => {
    const n = view.shape[0];
    const angles = tf.slice(view, [0, 0], [n, 3]);
    const [cx, cy, cz] = tf.unstack(tf.cos(angles), 1);
    const [sx, sy, sz] = tf.unstack(tf.sin(angles), 1);
    // The product Rz Ry Rx written out entry by entry.
    const entries = [
      tf.mul(cz, cy),
      tf.sub(tf.mul(tf.mul(cz, sy), sx), tf.mul(sz, cx)),
      tf.add(tf.mul(tf.mul(cz, sy), cx), tf.mul(sz, sx)),
      tf.mul(sz, cy),
      tf.add(tf.mul(tf.mul(sz, sy), sx), tf.mul(cz, cx)),
      tf.sub(tf.mul(tf.mul(sz, sy), cx), tf.mul(cz, sx)),
      tf.neg(sy),
      tf.mul(cy, sx),
      tf.mul(cy, cx),
    ];
    return tf.reshape(tf.stack(entries, 1), [n, 3, 3]);
  });
}

function translation(view: tf.Tensor2D): tf.Tensor3D {
  return tf.reshape(tf.slice(view, [0, 3], [view.shape[0], 3]), [view.shape[0], 1, 3]);
}

function rotationCentre(cam: CameraConfig): tf.Tensor3D {
  return tf.tensor3d([0, 0, cam.rotCenterDepth], [1, 1, 3]);
}

/** Applies `fn` to points [N, ..., 3] flattened to [N, P, 3] and restores the shape. */
function onPointRows(points: tf.Tensor, view: tf.Tensor2D, fn: (rows: tf.Tensor3D) => tf.Tensor): tf.Tensor {
  checkView(view, points.shape[0]);
  if (points.shape[points.rank - 1] !== 3) {
    throw new Gan3dError(`points must have a last axis of 3 (x, y, z), got [${points.shape}].`, 'BAD_SHAPE');
  }
  return tf.tidy(() => tf.reshape(fn(tf.reshape(points, [points.shape[0], -1, 3])), points.shape));
}

/** Canonical -> view frame: P' = R (P - c0) + c0 + t, for points [N, ..., 3]. */
export function warpToView<T extends tf.Tensor>(points: T, view: tf.Tensor2D, cam: CameraConfig): T {
  return onPointRows(points, view, (rows) => {
    const c0 = rotationCentre(cam);
    // Rows are points, so R P becomes P R^T.
    const rotated = tf.matMul(tf.sub(rows, c0), rotationMatrices(view), false, true);
    return tf.add(rotated, tf.add(c0, translation(view)));
  }) as T;
}

/** View -> canonical frame: P = R^T (P' - t - c0) + c0, for points [N, ..., 3]. */
export function warpToCanonical<T extends tf.Tensor>(points: T, view: tf.Tensor2D, cam: CameraConfig): T {
  return onPointRows(points, view, (rows) => {
    const c0 = rotationCentre(cam);
    const centred = tf.sub(rows, tf.add(c0, translation(view)));
    return tf.add(tf.matMul(centred, rotationMatrices(view)), c0);
  }) as T;
}

/**
 * The view that undoes `view`: rotation R^T (as angles of the same Rz Ry Rx order) and translation -R^T t.
 * Exact except at gimbal lock (|ry| = 90 degrees), where the angle split is not unique.
 */
export function invertView(view: tf.Tensor2D): tf.Tensor2D {
  checkView(view);
  return tf.tidy(() => {
    const n = view.shape[0];
    const rt = tf.transpose(rotationMatrices(view), [0, 2, 1]);
    const entry = (a: number, b: number) => tf.reshape(tf.slice(rt, [0, a, b], [n, 1, 1]), [n]);
    // From R = Rz Ry Rx: R[2,0] = -sin ry, R[2,1] / R[2,2] = tan rx, R[1,0] / R[0,0] = tan rz.
    const ry = tf.asin(tf.clipByValue(tf.neg(entry(2, 0)), -1, 1));
    const rx = tf.atan2(entry(2, 1), entry(2, 2));
    const rz = tf.atan2(entry(1, 0), entry(0, 0));
    const t = tf.neg(tf.matMul(translation(view), rt, false, true)); // rows: -(R^T t)^T = -t^T R
    return tf.concat([tf.stack([rx, ry, rz], 1), tf.reshape(t, [n, 3])], 1) as tf.Tensor2D;
  });
}
