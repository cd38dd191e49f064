// PixelNorm: each vector (the last axis) divided by its root mean square, x / sqrt(mean(x^2) + eps).
import * as tf from '@tensorflow/tfjs';
import { Module } from './module.js';

export function pixelNorm<T extends tf.Tensor>(x: T, epsilon = 1e-8): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), epsilon))));
}

export class PixelNorm extends Module {
  readonly epsilon: number;

  constructor(epsilon = 1e-8) {
    super();
    this.epsilon = epsilon;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return pixelNorm(x, this.epsilon);
  }
}
