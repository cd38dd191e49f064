// Bilinear grid sampling, as PyTorch's F.grid_sample(mode='bilinear', padding_mode='zeros', align_corners=True) but
// NHWC: out[n, i, j] = sum over the 4 neighbouring pixels of (bilinear weight) * image[n, y, x], where
// x = (grid[n, i, j, 0] + 1) / 2 * (W - 1) and y = (grid[n, i, j, 1] + 1) / 2 * (H - 1); a neighbour outside the image
// contributes zero. Differentiable in the image and in the grid (the grid gradient is that of the piecewise-bilinear
// interpolant; at integer pixel positions it takes the one-sided derivative from the right).
//
// Two implementations with the same semantics:
// - plain JS loops registered as kernels for the cpu and wasm backends (forward and backward in one pass each);
// - a composition of tf ops (floor, a gather per corner, masks) that runs on every backend, webgl included.
// `gridSample` picks the kernel when the active backend has it. Measured on wasm (1 thread), batch 16, C = 3, grid
// the size of the image, forward / forward + backward: 64x64 kernel 3 / 10 ms vs ops 55 / 131 ms; 128x128 kernel
// 15 / 41 ms vs ops 218 / 536 ms. The ops version needs its custom gradient: plain autodiff fails in tfjs, whose tape
// rejects the int32 gradient gather returns for indices that depend on the grid.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../errors.js';
import { cpuIo, wasmIo, type Io } from './kernel-io.js';

const FORWARD = 'Gan3dGridSample';
const BACKWARD = 'Gan3dGridSampleGrad';

function checkArgs(image: tf.Tensor4D, grid: tf.Tensor4D): void {
  if (image.rank !== 4) throw new Gan3dError(`gridSample: image must be NHWC of rank 4, got [${image.shape}].`, 'BAD_SHAPE');
  if (grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== image.shape[0]) {
    throw new Gan3dError(
      `gridSample: grid must have shape [${image.shape[0]}, Ho, Wo, 2] (x, y in [-1, 1]), got [${grid.shape}].`,
      'BAD_SHAPE',
    );
  }
}

// ---- plain-loop kernels (cpu, wasm) -------------------------------------------------------------------------------

interface Dims {
  n: number;
  h: number;
  w: number;
  c: number;
  points: number; // Ho * Wo
}

function forwardLoop(img: ArrayLike<number>, grid: ArrayLike<number>, d: Dims, out: Float32Array): void {
  const { n, h, w, c, points } = d;
  const sx = (w - 1) / 2;
  const sy = (h - 1) / 2;
  out.fill(0);
  for (let b = 0; b < n; b++) {
    const imgBase = b * h * w;
    for (let p = 0; p < points; p++) {
      const q = b * points + p;
      const x = (grid[2 * q] + 1) * sx;
      const y = (grid[2 * q + 1] + 1) * sy;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const o = q * c;
      for (let k = 0; k < 4; k++) {
        const xi = x0 + (k & 1);
        const yi = y0 + (k >> 1);
        // Written as a negated conjunction so NaN coordinates count as outside.
        if (!(xi >= 0 && xi < w && yi >= 0 && yi < h)) continue;
        const wt = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
        const base = (imgBase + yi * w + xi) * c;
        for (let ch = 0; ch < c; ch++) out[o + ch] += wt * img[base + ch];
      }
    }
  }
}

function backwardLoop(
  img: ArrayLike<number>,
  grid: ArrayLike<number>,
  dy: ArrayLike<number>,
  d: Dims,
  dImg: Float32Array,
  dGrid: Float32Array,
): void {
  const { n, h, w, c, points } = d;
  const sx = (w - 1) / 2;
  const sy = (h - 1) / 2;
  const dot = [0, 0, 0, 0];
  dImg.fill(0);
  for (let b = 0; b < n; b++) {
    const imgBase = b * h * w;
    for (let p = 0; p < points; p++) {
      const q = b * points + p;
      const x = (grid[2 * q] + 1) * sx;
      const y = (grid[2 * q + 1] + 1) * sy;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const o = q * c;
      for (let k = 0; k < 4; k++) {
        dot[k] = 0;
        const xi = x0 + (k & 1);
        const yi = y0 + (k >> 1);
        if (!(xi >= 0 && xi < w && yi >= 0 && yi < h)) continue;
        const wt = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
        const base = (imgBase + yi * w + xi) * c;
        let s = 0;
        for (let ch = 0; ch < c; ch++) {
          const g = dy[o + ch];
          dImg[base + ch] += wt * g;
          s += g * img[base + ch];
        }
        dot[k] = s;
      }
      // d out / d x = (1 - fy) (v01 - v00) + fy (v11 - v10), and symmetrically in y; chain through x = (gx + 1) sx.
      dGrid[2 * q] = ((1 - fy) * (dot[1] - dot[0]) + fy * (dot[3] - dot[2])) * sx;
      dGrid[2 * q + 1] = ((1 - fx) * (dot[2] - dot[0]) + fx * (dot[3] - dot[1])) * sy;
    }
  }
}

function dimsOf(imageShape: number[], gridShape: number[]): Dims {
  const [n, h, w, c] = imageShape;
  return { n, h, w, c, points: gridShape[1] * gridShape[2] };
}

function forwardKernel(io: (backend: unknown) => Io): tf.KernelFunc {
  return ({ inputs, backend }) => {
    const { image, grid } = inputs as { image: tf.TensorInfo; grid: tf.TensorInfo };
    const b = io(backend);
    const d = dimsOf(image.shape, grid.shape);
    const { infos, arrays } = b.outputs([[d.n, grid.shape[1], grid.shape[2], d.c]]);
    forwardLoop(b.read(image), b.read(grid), d, arrays[0]);
    return infos[0];
  };
}

function backwardKernel(io: (backend: unknown) => Io): tf.KernelFunc {
  return ({ inputs, backend }) => {
    const { image, grid, dy } = inputs as { image: tf.TensorInfo; grid: tf.TensorInfo; dy: tf.TensorInfo };
    const b = io(backend);
    const d = dimsOf(image.shape, grid.shape);
    const { infos, arrays } = b.outputs([image.shape, grid.shape]);
    backwardLoop(b.read(image), b.read(grid), b.read(dy), d, arrays[0], arrays[1]);
    return infos;
  };
}

function registerKernels(): void {
  for (const [backendName, io] of [['cpu', cpuIo], ['wasm', wasmIo]] as const) {
    if (!tf.getKernel(FORWARD, backendName)) {
      tf.registerKernel({ kernelName: FORWARD, backendName, kernelFunc: forwardKernel(io) });
    }
    if (!tf.getKernel(BACKWARD, backendName)) {
      tf.registerKernel({ kernelName: BACKWARD, backendName, kernelFunc: backwardKernel(io) });
    }
  }
}
registerKernels();

/** customGrad's callback receives its tensors and the save function as one rest list; unpack them with types. */
function twoInputs(args: (tf.Tensor | tf.GradSaveFunc)[]): [tf.Tensor, tf.Tensor, tf.GradSaveFunc] {
  return args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
}

const sampleWithKernel = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [image, grid, save] = twoInputs(args);
  save([image, grid]);
  return {
    value: tf.engine().runKernel(FORWARD, { image, grid }) as tf.Tensor4D,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [img, g] = saved;
      return tf.engine().runKernel(BACKWARD, { image: img, grid: g, dy }) as tf.Tensor[];
    },
  };
});

// ---- portable composition of tf ops -------------------------------------------------------------------------------

interface Corners {
  /** Per corner (00, 01, 10, 11 as yx): row indices into the image seen as [N*H*W, C]: [N, Ho, Wo]. */
  idx: tf.Tensor[];
  /** Per corner: bilinear weight, zero outside the image: [N, Ho, Wo, 1]. */
  weight: tf.Tensor[];
  /** Per corner: 1 inside the image, 0 outside: [N, Ho, Wo, 1]. */
  inside: tf.Tensor[];
  fx: tf.Tensor;
  fy: tf.Tensor;
}

// Kept per corner rather than stacked: on wasm a reduction over a leading axis and int32 broadcasting are slow paths,
// while addN, float adds and one cast per corner are fast.
function corners(imageShape: number[], grid: tf.Tensor): Corners {
  const [n, h, w] = imageShape;
  const [gx, gy] = tf.unstack(grid, 3);
  const x = tf.mul(tf.add(gx, 1), (w - 1) / 2);
  const y = tf.mul(tf.add(gy, 1), (h - 1) / 2);
  const x0 = tf.floor(x);
  const y0 = tf.floor(y);
  const fx = tf.sub(x, x0);
  const fy = tf.sub(y, y0);
  // Row offsets of each batch item, in float32 (exact below 2^24 pixels) so the index is built with fast float ops.
  const batchOffset = tf.reshape(tf.range(0, n * h * w, h * w, 'float32'), [n, 1, 1]);
  const out: Corners = { idx: [], weight: [], inside: [], fx, fy };
  for (let k = 0; k < 4; k++) {
    const xi = k & 1 ? tf.add(x0, 1) : x0;
    const yi = k >> 1 ? tf.add(y0, 1) : y0;
    const ok = tf.logicalAnd(
      tf.logicalAnd(tf.greaterEqual(xi, 0), tf.lessEqual(xi, w - 1)),
      tf.logicalAnd(tf.greaterEqual(yi, 0), tf.lessEqual(yi, h - 1)),
    );
    // Corners outside (or NaN) read row 0 instead: always a valid index, and their weight is zero.
    const row = tf.add(tf.add(tf.mul(yi, w), xi), batchOffset);
    out.idx.push(tf.cast(tf.where(ok, row, tf.zerosLike(row)), 'int32'));
    const wt = tf.mul(k & 1 ? fx : tf.sub(1, fx), k >> 1 ? fy : tf.sub(1, fy));
    // where() rather than a product so that NaN coordinates give 0, as in the loop kernel.
    out.weight.push(tf.expandDims(tf.where(ok, wt, tf.zerosLike(wt)), -1));
    out.inside.push(tf.expandDims(tf.cast(ok, 'float32'), -1));
  }
  return out;
}

const sampleWithOps = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [image, grid, save] = twoInputs(args);
  const [n, h, w, c] = image.shape;
  const flat = tf.reshape(image, [n * h * w, c]);
  const cs = corners(image.shape, grid);
  save([image, grid]);
  return {
    value: tf.addN(cs.idx.map((idx, k) => tf.mul(tf.gather(flat, idx), cs.weight[k]))) as tf.Tensor4D,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [img, g] = saved;
      const imgFlat = tf.reshape(img, [n * h * w, c]);
      const k = corners(img.shape, g);
      // Image: scatter dy * weight back to the four corners in one segment sum (outside corners carry zero weight).
      const contrib = tf.concat(k.weight.map((wt) => tf.reshape(tf.mul(dy, wt), [-1, c])));
      const ids = tf.concat(k.idx.map((idx) => tf.reshape(idx, [-1]))) as tf.Tensor1D;
      const dImage = tf.reshape(tf.unsortedSegmentSum(contrib, ids, n * h * w), img.shape);
      // Grid: derivative of the bilinear weights, with each corner's value zero outside the image.
      const [d00, d01, d10, d11] = k.idx.map((idx, j) =>
        tf.sum(tf.mul(tf.mul(tf.gather(imgFlat, idx), k.inside[j]), dy), -1),
      );
      const ddx = tf.add(tf.mul(tf.sub(1, k.fy), tf.sub(d01, d00)), tf.mul(k.fy, tf.sub(d11, d10)));
      const ddy = tf.add(tf.mul(tf.sub(1, k.fx), tf.sub(d10, d00)), tf.mul(k.fx, tf.sub(d11, d01)));
      const dGrid = tf.stack([tf.mul(ddx, (w - 1) / 2), tf.mul(ddy, (h - 1) / 2)], 3);
      return [dImage, dGrid];
    },
  };
});

/** The op composition, usable on every backend; `gridSample` uses it where no loop kernel is registered. */
export function gridSamplePortable(image: tf.Tensor4D, grid: tf.Tensor4D): tf.Tensor4D {
  checkArgs(image, grid);
  return tf.tidy(() => sampleWithOps(tf.cast(image, 'float32'), tf.cast(grid, 'float32')) as tf.Tensor4D);
}

/**
 * Samples `image` [N, H, W, C] at `grid` [N, Ho, Wo, 2] (last axis x, y in [-1, 1]; -1 and +1 are the centres of the
 * first and last pixels) with bilinear weights and zero padding; returns [N, Ho, Wo, C].
 */
export function gridSample(image: tf.Tensor4D, grid: tf.Tensor4D): tf.Tensor4D {
  checkArgs(image, grid);
  if (!tf.getKernel(FORWARD, tf.getBackend())) return gridSamplePortable(image, grid);
  return tf.tidy(() => sampleWithKernel(tf.cast(image, 'float32'), tf.cast(grid, 'float32')) as tf.Tensor4D);
}
