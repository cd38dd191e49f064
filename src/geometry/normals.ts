// Surface normals of a depth map, by central differences on its back-projected 3-D grid, as tensors
// (depth-grid.ts `depthNormals` is the same maths on plain arrays).
//
// Two implementations with the same semantics (and, in the forward pass, the same float32 rounding):
// - plain JS loops registered as kernels for the cpu and wasm backends: back-projection, central differences, cross
//   product, normalisation and border in one pass, and the analytic gradient with respect to depth in another;
// - `depthToNormalsPortable`, a composition of tf ops (depthToPoints, slices, cross product, padding) that runs on
//   every backend, webgl included, with the gradient left to autodiff.
// `depthToNormals` picks the kernels when the active backend has them. Measured on wasm (1 thread, while another
// process trained on the machine's 2 cores, so absolute numbers are inflated; both variants in the same run),
// median of 5, forward / forward + backward of sum(r * normals), random depth:
//   [32, 64, 64, 1]: kernel 3.4 / 8.2 ms vs portable 137.4 / 267.8 ms (41x / 33x faster)
//   [16, 64, 64, 1]: kernel 1.3 / 3.9 ms vs portable 67.7 / 141.7 ms (52x / 36x faster)
// On wasm the kernel's forward output is bitwise that of the tf ops; on cpu within 1 float32 ulp.
import * as tf from '@tensorflow/tfjs';
import { cpuIo, wasmIo, type Io } from '../engine/ops/kernel-io.js';
import { type CameraConfig, checkImageShape, intrinsics } from './camera.js';
import { NORMAL_EPS } from './depth-grid.js';
import { depthToPoints } from './points.js';

export { NORMAL_EPS };

const FORWARD = 'Gan3dDepthNormals';
const BACKWARD = 'Gan3dDepthNormalsGrad';

/** The camera numbers the kernels read: focal length and principal point in pixels, and the length epsilon. */
interface NormalAttrs {
  f: number;
  c: number;
  eps: number;
}

// ---- plain-loop kernels (cpu, wasm) -------------------------------------------------------------------------------

/** (k - c) / f for k = 0..S-1, rounded to float32 as pixelRays stores it: the x (by column) or y (by row) of a ray. */
function rayCoords(s: number, f: number, c: number): Float64Array {
  const r = new Float64Array(s);
  for (let k = 0; k < s; k++) r[k] = Math.fround((k - c) / f);
  return r;
}

/**
 * normals [N, S, S, 3] of depth [N, S, S, 1]. Every step is rounded to float32 (Math.fround) in the order the tf ops
 * of depthToNormalsPortable evaluate it, so both give the same numbers: P = d * ray, u and v, the cross product,
 * |c| = sqrt(cx² + cy² + cz²), c / (|c| + eps).
 */
function forwardLoop(depth: ArrayLike<number>, n: number, s: number, a: NormalAttrs, out: Float32Array): void {
  const fr = Math.fround;
  const ray = rayCoords(s, a.f, a.c);
  const eps = fr(a.eps);
  const plane = s * s;
  for (let b = 0; b < n; b++) {
    const base = b * plane;
    for (let i = 0; i < s; i++) {
      const yUp = ray[i - 1];
      const y = ray[i];
      const yDown = ray[i + 1];
      for (let j = 0; j < s; j++) {
        const k = base + i * s + j;
        const o = 3 * k;
        if (i === 0 || j === 0 || i === s - 1 || j === s - 1) {
          out[o] = 0;
          out[o + 1] = 0;
          out[o + 2] = 1;
          continue;
        }
        const dl = depth[k - 1];
        const dr = depth[k + 1];
        const du = depth[k - s];
        const dd = depth[k + s];
        const x = ray[j];
        // u = P(i, j+1) - P(i, j-1), v = P(i+1, j) - P(i-1, j); the z of a ray is 1, so P_z = d exactly.
        const ux = fr(fr(dr * ray[j + 1]) - fr(dl * ray[j - 1]));
        const uy = fr(fr(dr * y) - fr(dl * y));
        const uz = fr(dr - dl);
        const vx = fr(fr(dd * x) - fr(du * x));
        const vy = fr(fr(dd * yDown) - fr(du * yUp));
        const vz = fr(dd - du);
        const cx = fr(fr(uy * vz) - fr(uz * vy));
        const cy = fr(fr(uz * vx) - fr(ux * vz));
        const cz = fr(fr(ux * vy) - fr(uy * vx));
        const den = fr(fr(Math.sqrt(fr(fr(fr(cx * cx) + fr(cy * cy)) + fr(cz * cz)))) + eps);
        out[o] = cx / den;
        out[o + 1] = cy / den;
        out[o + 2] = cz / den;
      }
    }
  }
}

/**
 * d(depth) [N, S, S, 1] from dy = dL/d(normals) [N, S, S, 3], in float64. Per interior pixel, with L = |c|, D = L + eps:
 * g_c = g / D - c (g . c) / (L D²) (just g / D where L = 0, its limit); c = u x v gives g_u = v x g_c and
 * g_v = g_c x u; the differences scatter ±g_u, ±g_v to the four neighbours' points, and P = d * ray gives
 * g_d = g_P . ray. The border is constant, so its dy contributes nothing.
 */
function backwardLoop(depth: ArrayLike<number>, dy: ArrayLike<number>, n: number, s: number, a: NormalAttrs, dx: Float32Array): void {
  const ray = rayCoords(s, a.f, a.c);
  const plane = s * s;
  const acc = new Float64Array(plane);
  for (let b = 0; b < n; b++) {
    const base = b * plane;
    acc.fill(0);
    for (let i = 1; i < s - 1; i++) {
      const yUp = ray[i - 1];
      const y = ray[i];
      const yDown = ray[i + 1];
      for (let j = 1; j < s - 1; j++) {
        const p = i * s + j;
        const k = base + p;
        const dl = depth[k - 1];
        const dr = depth[k + 1];
        const du = depth[k - s];
        const dd = depth[k + s];
        const xLeft = ray[j - 1];
        const x = ray[j];
        const xRight = ray[j + 1];
        const ux = dr * xRight - dl * xLeft;
        const uy = (dr - dl) * y;
        const uz = dr - dl;
        const vx = (dd - du) * x;
        const vy = dd * yDown - du * yUp;
        const vz = dd - du;
        const cx = uy * vz - uz * vy;
        const cy = uz * vx - ux * vz;
        const cz = ux * vy - uy * vx;
        const len = Math.sqrt(cx * cx + cy * cy + cz * cz);
        const den = len + a.eps;
        const gx = dy[3 * k];
        const gy = dy[3 * k + 1];
        const gz = dy[3 * k + 2];
        const proj = len > 0 ? (gx * cx + gy * cy + gz * cz) / (len * den * den) : 0;
        const gcx = gx / den - cx * proj;
        const gcy = gy / den - cy * proj;
        const gcz = gz / den - cz * proj;
        // g_u = v x g_c, g_v = g_c x u.
        const gux = vy * gcz - vz * gcy;
        const guy = vz * gcx - vx * gcz;
        const guz = vx * gcy - vy * gcx;
        const gvx = gcy * uz - gcz * uy;
        const gvy = gcz * ux - gcx * uz;
        const gvz = gcx * uy - gcy * ux;
        acc[p + 1] += gux * xRight + guy * y + guz;
        acc[p - 1] -= gux * xLeft + guy * y + guz;
        acc[p + s] += gvx * x + gvy * yDown + gvz;
        acc[p - s] -= gvx * x + gvy * yUp + gvz;
      }
    }
    for (let p = 0; p < plane; p++) dx[base + p] = acc[p];
  }
}

function forwardKernel(io: (backend: unknown) => Io): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { depth } = inputs as { depth: tf.TensorInfo };
    const b = io(backend);
    const [n, s] = depth.shape;
    // Outputs first: on wasm an allocation can move the heap, which would detach views of the inputs.
    const { infos, arrays } = b.outputs([[n, s, s, 3]]);
    forwardLoop(b.read(depth), n, s, attrs as unknown as NormalAttrs, arrays[0]);
    return infos[0];
  };
}

function backwardKernel(io: (backend: unknown) => Io): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { depth, dy } = inputs as { depth: tf.TensorInfo; dy: tf.TensorInfo };
    const b = io(backend);
    const [n, s] = depth.shape;
    const { infos, arrays } = b.outputs([depth.shape]);
    backwardLoop(b.read(depth), b.read(dy), n, s, attrs as unknown as NormalAttrs, arrays[0]);
    return infos[0];
  };
}

function registerKernels(): void {
  for (const [backendName, io] of [['cpu', cpuIo], ['wasm', wasmIo]] as const) {
    if (!tf.getKernel(FORWARD, backendName)) tf.registerKernel({ kernelName: FORWARD, backendName, kernelFunc: forwardKernel(io) });
    if (!tf.getKernel(BACKWARD, backendName)) tf.registerKernel({ kernelName: BACKWARD, backendName, kernelFunc: backwardKernel(io) });
  }
}
registerKernels();

function normalsWithKernel(depth: tf.Tensor4D, cam: CameraConfig): tf.Tensor4D {
  const { f, c } = intrinsics(cam);
  const attrs = { f, c, eps: NORMAL_EPS } as unknown as tf.NamedAttrMap;
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [d, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([d]);
    return {
      value: tf.engine().runKernel(FORWARD, { depth: d }, attrs) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(BACKWARD, { depth: saved[0], dy }, attrs) as tf.Tensor,
    };
  });
  return tf.tidy(() => run(depth) as tf.Tensor4D);
}

/**
 * Normals [N, S, S, 3] of depth [N, S, S, 1]: n = t_u x t_v with t_u = P(i, j+1) - P(i, j-1) and
 * t_v = P(i+1, j) - P(i-1, j), divided by |n| + NORMAL_EPS. The 1-pixel border, which has no central difference,
 * gets (0, 0, 1). With y pointing down, a fronto-parallel plane gets n = (0, 0, +1): normals point away from the camera.
 * Differentiable in depth on every backend; loop kernels on cpu and wasm (float32 depth), tf ops elsewhere.
 */
export function depthToNormals(depth: tf.Tensor4D, cam: CameraConfig): tf.Tensor4D {
  checkImageShape('depth', depth.shape, cam, 1);
  if (depth.dtype === 'float32' && tf.getKernel(FORWARD, tf.getBackend())) return normalsWithKernel(depth, cam);
  return depthToNormalsPortable(depth, cam);
}

/** The tf-ops composition of depthToNormals, usable on every backend; the kernels are checked against it. */
export function depthToNormalsPortable(depth: tf.Tensor4D, cam: CameraConfig): tf.Tensor4D {
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
