// 2x resampling built from differentiable elementwise ops only (slice, concat, reshape, mean), so the gradients
// are themselves differentiable: second-order gradients (R1) pass through, which tfjs's ResizeBilinearGrad and
// AvgPoolGrad kernels would stop.
// - upsample2x 'bilinear': tf.image.resizeBilinear to 2H x 2W with half-pixel centres and clamped edges, i.e.
//   each output is 0.75 of its nearest input plus 0.25 of the next one on each axis. 'nearest' repeats pixels.
// - downsample2x: the mean of each 2x2 block (a box filter; the even-size inputs here have no remainder).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { Module } from './module.js';

export type UpsampleMode = 'bilinear' | 'nearest';

/** Interleaves `a` (even) and `b` (odd) along `axis` (1 = H, 2 = W) of NHWC tensors of the same shape. */
function interleave(a: tf.Tensor4D, b: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  const [n, h, w, c] = a.shape;
  const s = tf.stack([a, b], axis + 1);
  return tf.reshape(s, axis === 1 ? [n, 2 * h, w, c] : [n, h, 2 * w, c]);
}

function bilinearAxis(x: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  const len = x.shape[axis];
  if (len === 1) return interleave(x, x, axis);
  const begin = (i: number): number[] => (axis === 1 ? [0, i, 0, 0] : [0, 0, i, 0]);
  const size = (m: number): number[] => (axis === 1 ? [-1, m, -1, -1] : [-1, -1, m, -1]);
  const first = tf.slice(x, begin(0), size(1));
  const last = tf.slice(x, begin(len - 1), size(1));
  const prev = tf.concat([first, tf.slice(x, begin(0), size(len - 1))], axis);
  const next = tf.concat([tf.slice(x, begin(1), size(len - 1)), last], axis);
  const x75 = tf.mul(x, 0.75);
  return interleave(tf.add(x75, tf.mul(prev, 0.25)), tf.add(x75, tf.mul(next, 0.25)), axis);
}

export function upsample2x(x: tf.Tensor4D, mode: UpsampleMode = 'bilinear'): tf.Tensor4D {
  return tf.tidy(() => {
    if (mode === 'nearest') {
      const [n, h, w, c] = x.shape;
      const y = tf.mul(tf.reshape(x, [n, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1]));
      return tf.reshape(y, [n, 2 * h, 2 * w, c]);
    }
    return bilinearAxis(bilinearAxis(x, 1), 2);
  });
}

export function downsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (h % 2 !== 0 || w % 2 !== 0) throw new Gan3dError(`downsample2x needs an even size, got ${h}x${w}.`, 'BAD_SHAPE');
  return tf.tidy(() => tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D);
}

export class Upsample2x extends Module {
  readonly mode: UpsampleMode;

  constructor(mode: UpsampleMode = 'bilinear') {
    super();
    this.mode = mode;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return upsample2x(x, this.mode);
  }
}

export class Downsample2x extends Module {
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return downsample2x(x);
  }
}
