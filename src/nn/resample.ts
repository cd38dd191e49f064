// 2x resampling.
// - upsample2x: 'bilinear' (half-pixel centres, clamped edges: each output is 0.75 of its nearest input plus 0.25 of
//   the next one on each axis) is the engine's op (ops/bilinear-up.ts), because tfjs's ResizeBilinearGrad ignores
//   halfPixelCenters and returned wrong generator gradients; 'nearest' repeats pixels (tfjs's resize, whose
//   gradient is right).
// - downsample2x: the mean of each 2x2 block (a box filter), the engine's loop op on cpu and wasm (its gradient is
//   the adjoint nearest upsample, and each is the other's gradient) or reshape + mean elsewhere; both are
//   differentiable to any order, so R1 (a gradient of a gradient through the discriminator) passes. tfjs's AvgPoolGrad
//   has no gradient.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { bilinearUpsample2x } from '../engine/ops/bilinear-up.js';
import { boxDownsample2x } from '../engine/ops/box-resample.js';
import { Module } from './module.js';

export type UpsampleMode = 'bilinear' | 'nearest';

export function upsample2x(x: tf.Tensor4D, mode: UpsampleMode = 'bilinear'): tf.Tensor4D {
  const size: [number, number] = [2 * x.shape[1], 2 * x.shape[2]];
  return mode === 'nearest' ? tf.image.resizeNearestNeighbor(x, size) : bilinearUpsample2x(x);
}

export function downsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (h % 2 !== 0 || w % 2 !== 0) throw new Gan3dError(`downsample2x needs an even size, got ${h}x${w}.`, 'BAD_SHAPE');
  if (n * c === 0) return tf.tidy(() => tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D);
  return boxDownsample2x(x);
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
