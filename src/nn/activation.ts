// Parameter-free layers: activations and nearest-neighbour upsampling.
import * as tf from '@tensorflow/tfjs';
import { Module } from './module.js';

export type ActivationKind = 'relu' | 'leakyRelu' | 'tanh' | 'softplus' | 'sigmoid' | 'none';

export function activate(x: tf.Tensor4D, kind: ActivationKind, alpha = 0.2): tf.Tensor4D {
  switch (kind) {
    case 'relu':
      return tf.relu(x);
    case 'leakyRelu':
      return tf.leakyRelu(x, alpha);
    case 'tanh':
      return tf.tanh(x);
    case 'softplus':
      return tf.softplus(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'none':
      return x;
  }
}

export class Activation extends Module {
  readonly kind: ActivationKind;
  /** Negative slope of leakyRelu. */
  readonly alpha: number;

  constructor(kind: ActivationKind, alpha = 0.2) {
    super();
    this.kind = kind;
    this.alpha = alpha;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return activate(x, this.kind, this.alpha);
  }
}

/** Nearest-neighbour upsampling by an integer factor. */
export class UpsampleNearest extends Module {
  readonly factor: number;

  constructor(factor = 2) {
    super();
    this.factor = factor;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.image.resizeNearestNeighbor(x, [x.shape[1] * this.factor, x.shape[2] * this.factor]);
  }
}
