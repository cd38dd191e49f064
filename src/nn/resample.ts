// 2x resampling.
// - upsample2x: tfjs's resize kernels ('bilinear': half-pixel centres, clamped edges, i.e. each output is 0.75 of
//   its nearest input plus 0.25 of the next one on each axis; 'nearest' repeats pixels). Their gradients
//   (ResizeBilinearGrad, ResizeNearestNeighborGrad) have no gradient of their own, which only matters for
//   second-order terms through the generator (path-length regularisation); an interleave built from stack/unstack
//   would be twice differentiable, but unstacking an inner axis is slow on wasm (3x the whole G backward at 64x64).
// - downsample2x: the mean of each 2x2 block (a box filter) by reshape + mean, so its gradient is differentiable
//   again and R1 (a gradient of a gradient through the discriminator) passes; tfjs's AvgPoolGrad has no gradient.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { Module } from './module.js';

export type UpsampleMode = 'bilinear' | 'nearest';

export function upsample2x(x: tf.Tensor4D, mode: UpsampleMode = 'bilinear'): tf.Tensor4D {
  const size: [number, number] = [2 * x.shape[1], 2 * x.shape[2]];
  return mode === 'nearest' ? tf.image.resizeNearestNeighbor(x, size) : tf.image.resizeBilinear(x, size, false, true);
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
