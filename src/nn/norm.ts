// GroupNorm with a per-channel affine (gamma = 1, beta = 0 at the start), over engine/ops' closed-form groupNorm.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { groupNorm } from '../engine/ops/group-norm.js';
import { Module } from './module.js';

export class GroupNorm extends Module {
  readonly groups: number;
  readonly channels: number;
  readonly epsilon: number;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  constructor(groups: number, channels: number, epsilon = 1e-5) {
    super();
    if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
      throw new Gan3dError(`GroupNorm: ${groups} groups do not divide ${channels} channels.`, 'BAD_ARGUMENT');
    }
    this.groups = groups;
    this.channels = channels;
    this.epsilon = epsilon;
    this.gamma = this.param('gamma', tf.ones([channels]));
    this.beta = this.param('beta', tf.zeros([channels]));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return groupNorm(x, this.groups, this.gamma as tf.Tensor1D, this.beta as tf.Tensor1D, this.epsilon);
  }
}
