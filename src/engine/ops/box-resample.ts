// The 2x2 box downsample (the mean of each 2x2 block, NHWC) and its adjoint, a nearest-neighbour 2x upsample times
// 1/4, as one loop each. tfjs computes the mean over a [N, H/2, 2, W/2, 2, C] view with a transpose of the whole
// tensor on wasm (~8 ms per call at 16x64x64x32 on this machine); the loops read and write each value once.
// Each is the other's gradient, so both are differentiable to any order (R1 through the discriminator passes):
//   Gan3dBoxDown2x (x [N, H, W, C]) -> [N, H/2, W/2, C], gradient Gan3dBoxUp2x
//   Gan3dBoxUp2x   (x [N, h, w, C]) -> [N, 2h, 2w, C], out[.., 2i + a, 2j + b, c] = x[.., i, j, c] / 4, gradient Gan3dBoxDown2x
// Elsewhere (webgl, webgpu) the tf-ops form: reshape + mean (twice differentiable too).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../errors.js';
import { backendHas, registerLoopKernel, runKernel } from './loop-kernel.js';

const DOWN = 'Gan3dBoxDown2x';
const UP = 'Gan3dBoxUp2x';

/** y = mean of each 2x2 block of x [n, h, w, c] (h, w even). */
export function boxDownLoop(x: ArrayLike<number>, [n, h, w, c]: number[], y: Float32Array): void {
  const oh = h >> 1;
  const ow = w >> 1;
  const row = w * c;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const r0 = (b * h + 2 * i) * row;
      const r1 = r0 + row;
      for (let j = 0; j < ow; j++) {
        const p = 2 * j * c;
        for (let ch = 0; ch < c; ch++, o++) {
          const a = r0 + p + ch;
          const d = r1 + p + ch;
          y[o] = (x[a] + x[a + c] + x[d] + x[d + c]) * 0.25;
        }
      }
    }
  }
}

/** y [n, 2h, 2w, c]: every 2x2 block holds x / 4 (the adjoint of boxDownLoop). */
export function boxUpLoop(x: ArrayLike<number>, [n, h, w, c]: number[], y: Float32Array): void {
  const row = 2 * w * c;
  let i = 0;
  for (let b = 0; b < n; b++) {
    for (let iy = 0; iy < h; iy++) {
      const r0 = (b * 2 * h + 2 * iy) * row;
      const r1 = r0 + row;
      for (let ix = 0; ix < w; ix++) {
        const p = 2 * ix * c;
        for (let ch = 0; ch < c; ch++, i++) {
          const v = x[i] * 0.25;
          y[r0 + p + ch] = v;
          y[r0 + p + c + ch] = v;
          y[r1 + p + ch] = v;
          y[r1 + p + c + ch] = v;
        }
      }
    }
  }
}

registerLoopKernel(DOWN, (io, { inputs }) => {
  const x = inputs.x as tf.TensorInfo;
  const [n, h, w, c] = x.shape;
  const { infos, arrays } = io.outputs([[n, h >> 1, w >> 1, c]]);
  boxDownLoop(io.read(x), x.shape, arrays[0]);
  return infos;
});

registerLoopKernel(UP, (io, { inputs }) => {
  const x = inputs.x as tf.TensorInfo;
  const [n, h, w, c] = x.shape;
  const { infos, arrays } = io.outputs([[n, 2 * h, 2 * w, c]]);
  boxUpLoop(io.read(x), x.shape, arrays[0]);
  return infos;
});

tf.registerGradient({ kernelName: DOWN, gradFunc: (dy) => ({ x: () => runKernel(UP, { x: dy as tf.Tensor })[0] }) });
tf.registerGradient({ kernelName: UP, gradFunc: (dy) => ({ x: () => runKernel(DOWN, { x: dy as tf.Tensor })[0] }) });

/** The tf-ops form: reshape to [N, H/2, 2, W/2, 2, C] and average the two 2-axes. */
export function boxDownsample2xPortable(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D);
}

/** The mean of each 2x2 block of x [N, H, W, C] (H, W even): loop kernels on cpu and wasm, tf ops elsewhere. */
export function boxDownsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (x.rank !== 4 || h % 2 !== 0 || w % 2 !== 0) throw new Gan3dError(`boxDownsample2x needs NHWC with an even size, got [${x.shape}].`, 'BAD_SHAPE');
  if (x.dtype !== 'float32' || x.size === 0 || !backendHas(DOWN, UP)) return boxDownsample2xPortable(x);
  return runKernel(DOWN, { x })[0] as tf.Tensor4D;
}
