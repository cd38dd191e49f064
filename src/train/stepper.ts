// What the training loop steps: DataParallel (workers, shared Adam) or, for a model built in this thread only, a
// single-thread stepper with the same flat Adam, so both save and resume the same checkpoint format.
import * as tf from '@tensorflow/tfjs';
import { writeShardGradients, type AdamState, type Batch, type Replica } from '../engine/parallel/data-parallel.js';
import { ADAM_DEFAULTS, adamUpdateRange, type AdamConfig } from '../engine/parallel/flat-adam.js';
import { Gan3dError } from '../engine/errors.js';

export interface Stepper {
  readonly replica: Replica;
  readonly adam: AdamConfig;
  readonly threads: number;
  readonly adamSteps: number;
  /** One Adam step on the batch; returns the mean loss. */
  step(batch: Batch): Promise<number>;
  exportAdamState(): AdamState;
  importAdamState(state: AdamState): void;
  /** Takes the replica's current variable values as the weights to train (after loading a checkpoint). */
  syncFromReplica(): void;
  dispose(): Promise<void>;
}

export class LocalAdamStepper implements Stepper {
  readonly replica: Replica;
  readonly adam: AdamConfig;
  readonly threads = 1;
  private readonly weights: Float32Array;
  private readonly firstMoment: Float32Array;
  private readonly secondMoment: Float32Array;
  private readonly grads: Float32Array;
  private stepCount = 0;

  constructor(replica: Replica, adam: Partial<AdamConfig> = {}) {
    this.replica = replica;
    this.adam = { ...ADAM_DEFAULTS, ...adam };
    const total = replica.variables.reduce((a, v) => a + v.size, 0);
    this.weights = new Float32Array(total);
    this.firstMoment = new Float32Array(total);
    this.secondMoment = new Float32Array(total);
    this.grads = new Float32Array(total);
    this.syncFromReplica();
  }

  get adamSteps(): number {
    return this.stepCount;
  }

  syncFromReplica(): void {
    let offset = 0;
    for (const v of this.replica.variables) {
      this.weights.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
  }

  async step(batch: Batch): Promise<number> {
    const loss = writeShardGradients(this.replica, batch, this.grads);
    this.stepCount++;
    const buffers = { weights: this.weights, firstMoment: this.firstMoment, secondMoment: this.secondMoment, grads: [this.grads] };
    adamUpdateRange(buffers, [1], this.stepCount, this.adam, 0, this.weights.length);
    let offset = 0;
    for (const v of this.replica.variables) {
      tf.tidy(() => v.assign(tf.tensor(this.weights.subarray(offset, offset + v.size), v.shape)));
      offset += v.size;
    }
    return loss;
  }

  exportAdamState(): AdamState {
    return { step: this.stepCount, firstMoment: this.firstMoment.slice(), secondMoment: this.secondMoment.slice() };
  }

  importAdamState(state: AdamState): void {
    const n = this.weights.length;
    if (state.firstMoment.length !== n || state.secondMoment.length !== n) {
      throw new Gan3dError(`Adam state does not fit this model: ${state.firstMoment.length} moments for ${n} parameters.`, 'CHECKPOINT_INCOMPATIBLE');
    }
    this.firstMoment.set(state.firstMoment);
    this.secondMoment.set(state.secondMoment);
    this.stepCount = state.step;
  }

  async dispose(): Promise<void> {}
}
