// Minibatch standard deviation (StyleGAN): the batch is split into groups of `groupSize` samples (sample n belongs to
// group n mod (N / groupSize), as in StyleGAN2), each feature's standard deviation over a group is averaged over
// pixels and over the channels of each of `features` channel slices, and the result is appended as `features`
// constant channels. A batch smaller than `groupSize` forms one group; a batch that does not divide is an error.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { Module } from './module.js';

export function minibatchStd(x: tf.Tensor4D, groupSize = 4, features = 1, epsilon = 1e-8): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const g = Math.min(groupSize, n);
  if (n % g !== 0) {
    throw new Gan3dError(`Minibatch std: batch ${n} is not a multiple of the group size ${g}; use a batch divisible by ${g}.`, 'BAD_SHAPE');
  }
  if (c % features !== 0) throw new Gan3dError(`Minibatch std: ${features} features do not divide ${c} channels.`, 'BAD_ARGUMENT');
  const m = n / g;
  return tf.tidy(() => {
    const y = tf.reshape(x, [g, m, h, w, features, c / features]);
    const centred = tf.sub(y, tf.mean(y, 0, true));
    const std = tf.sqrt(tf.add(tf.mean(tf.square(centred), 0), epsilon)); // [m, h, w, F, c/F]
    const stat = tf.mean(std, [1, 2, 4]); // [m, F]
    // A broadcasting multiply, not tf.tile: tfjs has no gradient for rank-5 tiles.
    const maps = tf.mul(tf.reshape(stat, [1, m, 1, 1, features]), tf.ones([g, 1, h, w, 1]));
    return tf.concat([x, tf.reshape(maps, [n, h, w, features])], 3);
  });
}

export class MinibatchStd extends Module {
  readonly groupSize: number;
  readonly features: number;

  constructor(groupSize = 4, features = 1) {
    super();
    this.groupSize = groupSize;
    this.features = features;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return minibatchStd(x, this.groupSize, this.features);
  }
}
