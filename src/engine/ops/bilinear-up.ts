// The 2x bilinear upsample with half-pixel centres and clamped edges (what tf.image.resizeBilinear(x, 2·size, false,
// true) computes), with a correct gradient. tfjs 4.22's ResizeBilinearGrad ignores halfPixelCenters: it returns the
// gradient of the align-corners-false, no-half-pixel resize instead (measured: 8.0 against 22.9 by finite
// differences on a 4→8 upsample, on cpu and wasm alike), which silently corrupted the generator's gradients.
//
// Per axis, output 2i is 0.75·x[i] + 0.25·x[max(i−1, 0)] and output 2i+1 is 0.75·x[i] + 0.25·x[min(i+1, n−1)]; the
// 2-D op is that on both axes (four taps). Two loop kernels on cpu and wasm, each the other's gradient (the op is
// linear), so it is differentiable to any order:
//   Gan3dBilinearUp2x        x [N, h, w, C]   -> [N, 2h, 2w, C]
//   Gan3dBilinearUp2xAdjoint dy [N, 2h, 2w, C] -> [N, h, w, C]
// Elsewhere (webgl, webgpu) the same maths as tf ops (edge-padded shifts, then an interleave), left to autodiff.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../errors.js';
import { registerLoopKernel, runKernel } from './loop-kernel.js';

const UP = 'Gan3dBilinearUp2x';
const ADJOINT = 'Gan3dBilinearUp2xAdjoint';

/** For output index o of an axis of input length n: the near and far input indices (weights 0.75 and 0.25). */
function taps(o: number, n: number): [number, number] {
  const i = o >> 1;
  return [i, o & 1 ? Math.min(i + 1, n - 1) : Math.max(i - 1, 0)];
}

/** y [n, 2h, 2w, c] = the bilinear 2x upsample of x [n, h, w, c]. */
export function bilinearUpLoop(x: ArrayLike<number>, [n, h, w, c]: number[], y: Float32Array): void {
  const oh = 2 * h;
  const ow = 2 * w;
  let o = 0;
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    for (let oy = 0; oy < oh; oy++) {
      const [y0, y1] = taps(oy, h);
      const r0 = base + y0 * w * c;
      const r1 = base + y1 * w * c;
      for (let ox = 0; ox < ow; ox++) {
        const [x0, x1] = taps(ox, w);
        const a = r0 + x0 * c;
        const bb = r0 + x1 * c;
        const d = r1 + x0 * c;
        const e = r1 + x1 * c;
        for (let ch = 0; ch < c; ch++, o++) {
          y[o] = 0.5625 * x[a + ch] + 0.1875 * (x[bb + ch] + x[d + ch]) + 0.0625 * x[e + ch];
        }
      }
    }
  }
}

/** g [n, h, w, c] = the adjoint of the upsample applied to dy [n, 2h, 2w, c] (each output scatters back its taps). */
export function bilinearUpAdjointLoop(dy: ArrayLike<number>, [n, h, w, c]: number[], g: Float32Array): void {
  g.fill(0);
  const oh = 2 * h;
  const ow = 2 * w;
  let o = 0;
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    for (let oy = 0; oy < oh; oy++) {
      const [y0, y1] = taps(oy, h);
      const r0 = base + y0 * w * c;
      const r1 = base + y1 * w * c;
      for (let ox = 0; ox < ow; ox++) {
        const [x0, x1] = taps(ox, w);
        const a = r0 + x0 * c;
        const bb = r0 + x1 * c;
        const d = r1 + x0 * c;
        const e = r1 + x1 * c;
        for (let ch = 0; ch < c; ch++, o++) {
          const v = dy[o];
          g[a + ch] += 0.5625 * v;
          g[bb + ch] += 0.1875 * v;
          g[d + ch] += 0.1875 * v;
          g[e + ch] += 0.0625 * v;
        }
      }
    }
  }
}

registerLoopKernel(UP, (io, { inputs }) => {
  const x = inputs.x as tf.TensorInfo;
  const [n, h, w, c] = x.shape;
  const { infos, arrays } = io.outputs([[n, 2 * h, 2 * w, c]]);
  bilinearUpLoop(io.read(x), x.shape, arrays[0]);
  return infos;
});

registerLoopKernel(ADJOINT, (io, { inputs }) => {
  const dy = inputs.x as tf.TensorInfo;
  const [n, oh, ow, c] = dy.shape;
  const shape = [n, oh >> 1, ow >> 1, c];
  const { infos, arrays } = io.outputs([shape]);
  bilinearUpAdjointLoop(io.read(dy), shape, arrays[0]);
  return infos;
});

tf.registerGradient({ kernelName: UP, gradFunc: (dy) => ({ x: () => runKernel(ADJOINT, { x: dy as tf.Tensor })[0] }) });
tf.registerGradient({ kernelName: ADJOINT, gradFunc: (dy) => ({ x: () => runKernel(UP, { x: dy as tf.Tensor })[0] }) });

/** One axis (1 = rows, 2 = columns) of the upsample as tf ops: edge-padded shifts, weighted, then interleaved. */
function upAxisPortable(x: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  const n = x.shape[axis];
  const slice = (start: number, size: number) => {
    const begin = [0, 0, 0, 0];
    const sizes = [-1, -1, -1, -1];
    begin[axis] = start;
    sizes[axis] = size;
    return tf.slice(x, begin, sizes);
  };
  const prev = n > 1 ? tf.concat([slice(0, 1), slice(0, n - 1)], axis) : x;
  const next = n > 1 ? tf.concat([slice(1, n - 1), slice(n - 1, 1)], axis) : x;
  const even = tf.add(tf.mul(x, 0.75), tf.mul(prev, 0.25));
  const odd = tf.add(tf.mul(x, 0.75), tf.mul(next, 0.25));
  const shape: [number, number, number, number] = [...x.shape];
  shape[axis] = 2 * n;
  return tf.reshape(tf.stack([even, odd], axis + 1), shape) as tf.Tensor4D;
}

/** The tf-ops form (any backend): rows, then columns. */
export function bilinearUpsample2xPortable(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => upAxisPortable(upAxisPortable(x, 1), 2));
}

/** Bilinear 2x upsample of x [N, h, w, C] (half-pixel centres, clamped edges) with an exact gradient. */
export function bilinearUpsample2x(x: tf.Tensor4D): tf.Tensor4D {
  if (x.rank !== 4) throw new Gan3dError(`bilinearUpsample2x needs NHWC, got [${x.shape}].`, 'BAD_SHAPE');
  // Not behind loopKernelTuning: the tf-ops form is not a faster or simpler reference here, only a slower one.
  const backend = tf.getBackend();
  const has = tf.getKernel(UP, backend) !== undefined && tf.getKernel(ADJOINT, backend) !== undefined;
  if (x.dtype !== 'float32' || x.size === 0 || !has) return bilinearUpsample2xPortable(x);
  return runKernel(UP, { x })[0] as tf.Tensor4D;
}
