// A small MLP on a label vector (a conditional GAN's labels → a w offset in G, a projection vector in D): one
// equalized linear layer with leaky ReLU, then a linear output layer that starts at zero. The zero start makes a
// conditional network built around an unconditional one compute exactly the unconditional function at step 0 (its
// labels have no effect until training moves the output layer), so a trained unconditional GAN can be fine-tuned into
// a conditional one. With the output weights at zero the hidden layer gets no gradient on the first step, but the
// output layer does, and from the second step on both learn.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { Rng } from '../engine/random.js';
import { EqualLinear } from './equalized.js';
import { Module } from './module.js';

export class LabelMlp extends Module {
  readonly labelDim: number;
  readonly outDim: number;
  readonly hidden: EqualLinear;
  readonly output: EqualLinear;

  /** `lrMul`: the equalized learning-rate multiplier of both layers (default 1). */
  constructor(rng: Rng, labelDim: number, hiddenDim: number, outDim: number, lrMul = 1) {
    super();
    if (!Number.isInteger(labelDim) || labelDim < 1) throw new Gan3dError(`LabelMlp: labelDim must be ≥ 1, got ${labelDim}.`, 'BAD_ARGUMENT');
    this.labelDim = labelDim;
    this.outDim = outDim;
    this.hidden = this.child('fc0', new EqualLinear(rng, labelDim, hiddenDim, { activation: 'lrelu', lrMul }));
    this.output = this.child('fc1', new EqualLinear(rng, hiddenDim, outDim, { lrMul }));
    tf.tidy(() => this.output.weight.assign(tf.zerosLike(this.output.weight)));
  }

  /** labels [N, labelDim] → [N, outDim]. */
  forward(labels: tf.Tensor2D): tf.Tensor2D {
    if (labels.rank !== 2 || labels.shape[1] !== this.labelDim) {
      throw new Gan3dError(`Expected labels [N, ${this.labelDim}], got [${labels.shape}].`, 'BAD_SHAPE');
    }
    return tf.tidy(() => this.output.forward(this.hidden.forward(labels)));
  }

  /** Labels as [N, 1, 1, labelDim] → [N, 1, 1, outDim]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.reshape(this.forward(tf.reshape(x, [x.shape[0], x.shape[3]])), [x.shape[0], 1, 1, this.outDim]));
  }
}
