// The two per-pixel warps of renderView as single loops with closed-form gradients (tf.customGrad).
//
// Each is a chain of depthToPoints, warpToView / warpToCanonical and pointsToGrid. Composed from tf ops that chain
// is a dozen passes over [N, S, S, 3] tensors: measured on wasm (2 cores), batch 16 at 128 px, ~70 ms forward for the
// two against ~13 ms as loops, and renderView forward + backward went from 204 ms to 108 ms. The composed versions
// stay the reference: the tests check these against them, values and gradients.
// The view enters as R [N, 3, 3] and t [N, 3], so gradients to the angles go through rotationMatrices by autodiff.
import * as tf from '@tensorflow/tfjs';
import { type CameraConfig, checkImageShape, intrinsics, pixelRays } from './camera.js';
import { rotationMatrices } from './view.js';

type Grad3 = [tf.Tensor, tf.Tensor, tf.Tensor];

function viewParts(view: tf.Tensor2D): { r: tf.Tensor3D; t: tf.Tensor2D } {
  const n = view.shape[0];
  return { r: rotationMatrices(view), t: tf.slice(view, [0, 3], [n, 3]) };
}

/** What the loops read: per-pixel depth, per-view R (row-major) and t, the camera's pixel rays. */
interface WarpInputs {
  batch: number;
  pixels: number;
  depth: ArrayLike<number>;
  rot: ArrayLike<number>;
  shift: ArrayLike<number>;
  rays: Float32Array;
  c0: number;
}

function readInputs(args: (tf.Tensor | tf.GradSaveFunc)[], cam: CameraConfig): WarpInputs {
  const [depth, r, t] = args as tf.Tensor[];
  return {
    batch: depth.shape[0],
    pixels: cam.size * cam.size,
    depth: depth.dataSync(),
    rot: r.dataSync(),
    shift: t.dataSync(),
    rays: pixelRays(cam),
    c0: cam.rotCenterDepth,
  };
}

/** Tensors for the three gradients (depth, R, t) of a warp, from loop outputs. */
function gradTensors(w: WarpInputs, dDepth: Float32Array, dR: Float64Array, dT: Float64Array): Grad3 {
  const s = Math.sqrt(w.pixels);
  return [
    tf.tensor4d(dDepth, [w.batch, s, s, 1]),
    tf.tensor3d(Float32Array.from(dR), [w.batch, 3, 3]),
    tf.tensor2d(Float32Array.from(dT), [w.batch, 3]),
  ];
}

// Top-level loops (not closures made per call), so V8 optimizes each once and keeps it.

function meshInViewForward(w: WarpInputs, out: Float32Array): void {
  const { batch, pixels, depth, rot, shift, rays, c0 } = w;
  for (let b = 0; b < batch; b++) {
    const r = 9 * b;
    const tx = shift[3 * b];
    const ty = shift[3 * b + 1];
    const tz = shift[3 * b + 2] + c0;
    for (let p = 0; p < pixels; p++) {
      const d = depth[b * pixels + p];
      const qx = d * rays[3 * p];
      const qy = d * rays[3 * p + 1];
      const qz = d - c0;
      const o = 3 * (b * pixels + p);
      out[o] = rot[r] * qx + rot[r + 1] * qy + rot[r + 2] * qz + tx;
      out[o + 1] = rot[r + 3] * qx + rot[r + 4] * qy + rot[r + 5] * qz + ty;
      out[o + 2] = rot[r + 6] * qx + rot[r + 7] * qy + rot[r + 8] * qz + tz;
    }
  }
}

function meshInViewBackward(w: WarpInputs, g: ArrayLike<number>, dDepth: Float32Array, dR: Float64Array, dT: Float64Array): void {
  const { batch, pixels, depth, rot, rays, c0 } = w;
  for (let b = 0; b < batch; b++) {
    const r = 9 * b;
    for (let p = 0; p < pixels; p++) {
      const o = 3 * (b * pixels + p);
      const gx = g[o];
      const gy = g[o + 1];
      const gz = g[o + 2];
      const d = depth[b * pixels + p];
      const rx = rays[3 * p];
      const ry = rays[3 * p + 1];
      const qx = d * rx;
      const qy = d * ry;
      const qz = d - c0;
      // dL/dR = g q^T, dL/dt = g, dL/dq = R^T g, and q = d ray - c0.
      dR[r] += gx * qx;
      dR[r + 1] += gx * qy;
      dR[r + 2] += gx * qz;
      dR[r + 3] += gy * qx;
      dR[r + 4] += gy * qy;
      dR[r + 5] += gy * qz;
      dR[r + 6] += gz * qx;
      dR[r + 7] += gz * qy;
      dR[r + 8] += gz * qz;
      dT[3 * b] += gx;
      dT[3 * b + 1] += gy;
      dT[3 * b + 2] += gz;
      const dqx = rot[r] * gx + rot[r + 3] * gy + rot[r + 6] * gz;
      const dqy = rot[r + 1] * gx + rot[r + 4] * gy + rot[r + 7] * gz;
      const dqz = rot[r + 2] * gx + rot[r + 5] * gy + rot[r + 8] * gz;
      dDepth[b * pixels + p] = dqx * rx + dqy * ry + dqz;
    }
  }
}

/** Projection to normalised grid coordinates: u_n = scale * Q_x / Q_z + offset. */
interface GridProjection {
  scale: number;
  offset: number;
}

function projection(cam: CameraConfig): GridProjection {
  const { f, c } = intrinsics(cam);
  return { scale: (2 * f) / (cam.size - 1), offset: (2 * c) / (cam.size - 1) - 1 };
}

function sampleGridForward(w: WarpInputs, proj: GridProjection, canon: Float32Array, grid: Float32Array): void {
  const { batch, pixels, depth, rot, shift, rays, c0 } = w;
  const { scale, offset } = proj;
  for (let b = 0; b < batch; b++) {
    const r = 9 * b;
    const tx = shift[3 * b];
    const ty = shift[3 * b + 1];
    const tz = shift[3 * b + 2] + c0;
    for (let p = 0; p < pixels; p++) {
      const k = b * pixels + p;
      const d = depth[k];
      const ex = d * rays[3 * p] - tx;
      const ey = d * rays[3 * p + 1] - ty;
      const ez = d - tz;
      const qx = rot[r] * ex + rot[r + 3] * ey + rot[r + 6] * ez;
      const qy = rot[r + 1] * ex + rot[r + 4] * ey + rot[r + 7] * ez;
      const qz = rot[r + 2] * ex + rot[r + 5] * ey + rot[r + 8] * ez + c0;
      canon[3 * k] = qx;
      canon[3 * k + 1] = qy;
      canon[3 * k + 2] = qz;
      grid[2 * k] = (scale * qx) / qz + offset;
      grid[2 * k + 1] = (scale * qy) / qz + offset;
    }
  }
}

function sampleGridBackward(
  w: WarpInputs,
  proj: GridProjection,
  canon: Float32Array,
  g: ArrayLike<number>,
  dDepth: Float32Array,
  dR: Float64Array,
  dT: Float64Array,
): void {
  const { batch, pixels, depth, rot, shift, rays, c0 } = w;
  const { scale } = proj;
  for (let b = 0; b < batch; b++) {
    const r = 9 * b;
    const tx = shift[3 * b];
    const ty = shift[3 * b + 1];
    const tz = shift[3 * b + 2] + c0;
    for (let p = 0; p < pixels; p++) {
      const k = b * pixels + p;
      const gu = g[2 * k];
      const gv = g[2 * k + 1];
      const qx = canon[3 * k];
      const qy = canon[3 * k + 1];
      const qz = canon[3 * k + 2];
      // Through the projection.
      const dqx = (scale * gu) / qz;
      const dqy = (scale * gv) / qz;
      const dqz = (-scale * (gu * qx + gv * qy)) / (qz * qz);
      // Through Q = R^T e + c0 with e = d ray - c0 - t: dL/de = R dQ, dL/dR[a][b'] = e_a dQ_b', dL/dt = -dL/de.
      const d = depth[k];
      const rx = rays[3 * p];
      const ry = rays[3 * p + 1];
      const ex = d * rx - tx;
      const ey = d * ry - ty;
      const ez = d - tz;
      dR[r] += ex * dqx;
      dR[r + 1] += ex * dqy;
      dR[r + 2] += ex * dqz;
      dR[r + 3] += ey * dqx;
      dR[r + 4] += ey * dqy;
      dR[r + 5] += ey * dqz;
      dR[r + 6] += ez * dqx;
      dR[r + 7] += ez * dqy;
      dR[r + 8] += ez * dqz;
      const dex = rot[r] * dqx + rot[r + 1] * dqy + rot[r + 2] * dqz;
      const dey = rot[r + 3] * dqx + rot[r + 4] * dqy + rot[r + 5] * dqz;
      const dez = rot[r + 6] * dqx + rot[r + 7] * dqy + rot[r + 8] * dqz;
      dT[3 * b] -= dex;
      dT[3 * b + 1] -= dey;
      dT[3 * b + 2] -= dez;
      dDepth[k] = dex * rx + dey * ry + dez;
    }
  }
}

/**
 * The canonical grid mesh of canonDepth [N, S, S, 1] in the view frame: P' = R (d K^-1 [j, i, 1] - c0) + c0 + t,
 * as vertices [N, S * S, 3]. Same values as warpToView(depthToPoints(canonDepth)).
 */
export function meshInView(canonDepth: tf.Tensor4D, view: tf.Tensor2D, cam: CameraConfig): tf.Tensor3D {
  checkImageShape('canonDepth', canonDepth.shape, cam, 1);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const w = readInputs(args, cam);
    const out = new Float32Array(w.batch * w.pixels * 3);
    meshInViewForward(w, out);
    const gradFunc = (dy: tf.Tensor): Grad3 => {
      const grads = [new Float32Array(w.batch * w.pixels), new Float64Array(9 * w.batch), new Float64Array(3 * w.batch)] as const;
      meshInViewBackward(w, dy.dataSync(), ...grads);
      return gradTensors(w, ...grads);
    };
    return { value: tf.tensor3d(out, [w.batch, w.pixels, 3]), gradFunc };
  });
  return tf.tidy(() => {
    const { r, t } = viewParts(view);
    return op(canonDepth, r, t) as tf.Tensor3D;
  });
}

/**
 * For each view pixel with depth viewDepth [N, S, S, 1], where its surface point lies in the canonical image, as a
 * grid_sample grid [N, S, S, 2]: Q = R^T (d K^-1 [j, i, 1] - c0 - t) + c0, then u_n = 2 (f Q_x / Q_z + c) / (S - 1) - 1
 * (and v_n alike). Same values as pointsToGrid(warpToCanonical(depthToPoints(viewDepth))).
 */
export function canonicalSampleGrid(viewDepth: tf.Tensor4D, view: tf.Tensor2D, cam: CameraConfig): tf.Tensor4D {
  checkImageShape('viewDepth', viewDepth.shape, cam, 1);
  const proj = projection(cam);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const w = readInputs(args, cam);
    const canon = new Float32Array(w.batch * w.pixels * 3); // canonical points, kept for the gradient
    const grid = new Float32Array(w.batch * w.pixels * 2);
    sampleGridForward(w, proj, canon, grid);
    const gradFunc = (dy: tf.Tensor): Grad3 => {
      const grads = [new Float32Array(w.batch * w.pixels), new Float64Array(9 * w.batch), new Float64Array(3 * w.batch)] as const;
      sampleGridBackward(w, proj, canon, dy.dataSync(), ...grads);
      return gradTensors(w, ...grads);
    };
    return { value: tf.tensor4d(grid, [w.batch, cam.size, cam.size, 2]), gradFunc };
  });
  return tf.tidy(() => {
    const { r, t } = viewParts(view);
    return op(viewDepth, r, t) as tf.Tensor4D;
  });
}
