// One step of a refinement (Step 1, 2 or 3, or the ellipsoid fit) as an Adam phase over a set of variables: a fresh
// optimizer at every step switch (C.2: moments reset), on the project's flat Adam (src/train/stepper.ts), with
// PyTorch's coupled weight decay written as the L2 term ½·wd·Σw² in the loss (its gradient is the wd·w that
// torch.optim.Adam adds to each gradient).
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../../engine/parallel/data-parallel.js';
import { LocalAdamStepper } from '../../train/stepper.js';

export interface AdamPhaseOptions {
  variables: tf.Variable[];
  lr: number;
  weightDecay: number;
  /** The loss of one iteration; its inputs are the batch's arrays as tensors. */
  loss: (inputs: Record<string, tf.Tensor>) => tf.Scalar;
}

export class AdamPhase {
  private readonly stepper: LocalAdamStepper;
  private readonly options: AdamPhaseOptions;

  constructor(options: AdamPhaseOptions) {
    this.options = options;
    const { variables, weightDecay } = options;
    this.stepper = new LocalAdamStepper(
      {
        variables,
        loss: (inputs) =>
          tf.tidy(() => {
            const base = options.loss(inputs);
            if (weightDecay === 0) return base;
            const l2 = tf.addN(variables.map((v) => tf.sum(tf.square(v))));
            return tf.add(base, tf.mul(l2, weightDecay / 2)) as tf.Scalar;
          }),
      },
      { learningRate: options.lr, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
    );
  }

  /** One Adam step; returns the loss before the update, without the weight-decay term. */
  async step(batch: Batch): Promise<number> {
    const { variables, weightDecay } = this.options;
    let l2 = 0;
    if (weightDecay > 0) {
      const t = tf.tidy(() => tf.addN(variables.map((v) => tf.sum(tf.square(v)))));
      l2 = (t.dataSync()[0] * weightDecay) / 2;
      t.dispose();
    }
    return (await this.stepper.step(batch)) - l2;
  }
}

/** A batch input from a typed array. */
export function input(data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } {
  return { data, shape };
}
