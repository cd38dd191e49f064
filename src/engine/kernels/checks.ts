// One small representative case per project kernel, used by `gan3d engine check` (the full randomized sweep
// lives in test/engine/kernels.test.ts). Each case builds its inputs from a seed, so both backends see the same.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../random.js';

export interface KernelCheck {
  kernel: string;
  /** Returns a computation that creates its own inputs and runs the kernel (through its op or gradient). */
  build: (rng: Rng) => () => tf.Tensor | tf.Tensor[];
}

export const kernelChecks: KernelCheck[] = [
  {
    // Through tf.gather's gradient, the way the models reach it; includes an out-of-range id that must be dropped.
    kernel: 'UnsortedSegmentSum',
    build: (rng) => {
      const x = rng.normalArray(150 * 6);
      const ids = Int32Array.from({ length: 150 }, (_, i) => (i === 0 ? 70 : rng.int(64)));
      return () => [
        tf.unsortedSegmentSum(tf.tensor2d(x, [150, 6]), tf.tensor1d(ids, 'int32'), 64),
        tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d(ids.map((v) => v % 64), 'int32')).square().sum())(
          tf.tensor2d(x.subarray(0, 64 * 6), [64, 6]),
        ),
      ];
    },
  },
  {
    // Paths im2col then XNNPACK (the bottleneck conv: a new filter, then the same filter again), and taps twice
    // (one output channel, where XNNPACK is slow even with its operator cached).
    kernel: 'Conv2D',
    build: (rng) => {
      const x = rng.normalArray(2 * 4 * 4 * 32);
      const w = rng.normalArray(4 * 4 * 32 * 16);
      const y = rng.normalArray(2 * 16 * 16 * 8);
      const v = rng.normalArray(5 * 5 * 8);
      return () => {
        const [xt, wt] = [tf.tensor4d(x, [2, 4, 4, 32]), tf.tensor4d(w, [4, 4, 32, 16])];
        const [yt, vt] = [tf.tensor4d(y, [2, 16, 16, 8]), tf.tensor4d(v, [5, 5, 8, 1])];
        return [tf.conv2d(xt, wt, 1, 'valid'), tf.conv2d(xt, wt, 1, 'valid'), tf.conv2d(yt, vt, 1, 'same'), tf.conv2d(yt, vt, 1, 'same')];
      };
    },
  },
  {
    // Through conv2d's filter gradient, stride 2 'same' as in the reference net's downsampling layers.
    kernel: 'Conv2DBackpropFilter',
    build: (rng) => {
      const x = rng.normalArray(2 * 9 * 9 * 3);
      const w = rng.normalArray(4 * 4 * 3 * 5);
      return () => tf.grad((f: tf.Tensor) => tf.conv2d(tf.tensor4d(x, [2, 9, 9, 3]), f as tf.Tensor4D, 2, 'same').square().sum())(
        tf.tensor4d(w, [4, 4, 3, 5]),
      );
    },
  },
  {
    // Transposed convolution, stride 2 with explicit padding (the phase decomposition and its crop).
    kernel: 'Conv2DBackpropInput',
    build: (rng) => {
      const dy = rng.normalArray(2 * 5 * 5 * 4);
      const w = rng.normalArray(4 * 4 * 3 * 4);
      return () => tf.conv2dTranspose(tf.tensor4d(dy, [2, 5, 5, 4]), tf.tensor4d(w, [4, 4, 3, 4]), [2, 10, 10, 3], 2,
        [[0, 0], [1, 1], [1, 1], [0, 0]]);
    },
  },
  {
    kernel: 'DepthwiseConv2dNativeBackpropFilter',
    build: (rng) => {
      const x = rng.normalArray(2 * 8 * 8 * 3);
      const w = rng.normalArray(3 * 3 * 3 * 2);
      return () => tf.grad((f: tf.Tensor) => tf.depthwiseConv2d(tf.tensor4d(x, [2, 8, 8, 3]), f as tf.Tensor4D, 2, 'same').square().sum())(
        tf.tensor4d(w, [3, 3, 3, 2]),
      );
    },
  },
  {
    kernel: 'DepthwiseConv2dNativeBackpropInput',
    build: (rng) => {
      const x = rng.normalArray(2 * 7 * 7 * 3);
      const w = rng.normalArray(3 * 3 * 3 * 2);
      return () => tf.grad((t: tf.Tensor) => tf.depthwiseConv2d(t as tf.Tensor4D, tf.tensor4d(w, [3, 3, 3, 2]), 1, 'valid').square().sum())(
        tf.tensor4d(x, [2, 7, 7, 3]),
      );
    },
  },
];
