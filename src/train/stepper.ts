// What the training loop steps: DataParallel (workers, shared Adam) or, for a model built in this thread only, a
// single-thread stepper with the same flat Adam, so both save and resume the same checkpoint format. A PhasedStepper
// runs several such optimizer phases one after the other in each step (a GAN's D phase, then its G phase), each on
// its own variables with its own Adam state; to the loop it is one stepper over all their variables. Its data-parallel
// counterpart is PhasedDataParallel (src/engine/parallel/phased-data-parallel.ts), with the same checkpoint layout.
import * as tf from '@tensorflow/tfjs';
import { writeShardGradients, type AdamState, type Batch, type Replica } from '../engine/parallel/data-parallel.js';
import { ADAM_DEFAULTS, adamUpdateRange, type AdamConfig } from '../engine/parallel/flat-adam.js';
import { Gan3dError } from '../engine/errors.js';

export interface Stepper {
  /** Every trained variable, in checkpoint order. */
  readonly replica: Replica;
  readonly threads: number;
  readonly adamSteps: number;
  /** One Adam step on the batch (one per phase for a PhasedStepper); returns the mean loss (summed over phases). */
  step(batch: Batch): Promise<number>;
  exportAdamState(): AdamState;
  importAdamState(state: AdamState): void;
  /** Takes the replica's current variable values as the weights to train (after loading a checkpoint). */
  syncFromReplica(): void;
  /** The optimizer hyperparameters as a checkpoint records them. */
  optimizerConfig(): Record<string, number>;
  /** Each phase's loss in the last step, by phase name (multi-phase steppers only). */
  readonly phaseLosses?: Readonly<Record<string, number>>;
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

  optimizerConfig(): Record<string, number> {
    return { ...this.adam };
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

/** One optimizer phase of a step: a replica (its variables and its loss) and its own Adam settings. */
export interface StepperPhase {
  /** Short name (e.g. "D", "G"): prefixes its Adam settings in checkpoints and its loss in the log. */
  name: string;
  /** Built in this thread; the phases' variable sets must be disjoint (they may read each other's variables). */
  replica: Replica;
  adam?: Partial<AdamConfig>;
}

/**
 * Several single-thread Adam phases per step, in order, on the same batch: each phase's loss sees the weights the
 * phases before it just updated. Every phase steps once per step, so one step count serves them all; the Adam
 * moments are exported as one flat state over all variables in phase order, which is the checkpoint's layout.
 */
export class PhasedStepper implements Stepper {
  readonly replica: Replica;
  readonly threads = 1;
  readonly phases: readonly { name: string; stepper: LocalAdamStepper }[];
  private readonly losses: Record<string, number> = {};

  constructor(phases: StepperPhase[]) {
    if (phases.length === 0) throw new Gan3dError('A phased stepper needs at least one phase.', 'TRAIN_BAD_OPTION');
    const names = new Set(phases.map((p) => p.name));
    if (names.size !== phases.length) throw new Gan3dError(`Phase names must differ: ${phases.map((p) => p.name).join(', ')}.`, 'TRAIN_BAD_OPTION');
    const variables = phases.flatMap((p) => p.replica.variables);
    if (new Set(variables).size !== variables.length) {
      throw new Gan3dError('The phases of a phased stepper share a variable: each variable belongs to one phase.', 'TRAIN_BAD_OPTION');
    }
    this.phases = phases.map((p) => ({ name: p.name, stepper: new LocalAdamStepper(p.replica, p.adam) }));
    const replicas = phases.map((p) => p.replica);
    this.replica = {
      variables,
      // Not what the loop steps (it calls step()); the sum of the phases' losses, for completeness.
      loss: (inputs) => tf.tidy(() => tf.addN(replicas.map((r) => r.loss(inputs))) as tf.Scalar),
    };
  }

  get adamSteps(): number {
    return this.phases[0].stepper.adamSteps;
  }

  get phaseLosses(): Readonly<Record<string, number>> {
    return this.losses;
  }

  async step(batch: Batch): Promise<number> {
    let total = 0;
    for (const { name, stepper } of this.phases) {
      const loss = await stepper.step(batch);
      this.losses[name] = loss;
      total += loss;
    }
    return total;
  }

  exportAdamState(): AdamState {
    const states = this.phases.map((p) => p.stepper.exportAdamState());
    const concat = (key: 'firstMoment' | 'secondMoment') => {
      const out = new Float32Array(states.reduce((a, s) => a + s[key].length, 0));
      let offset = 0;
      for (const s of states) {
        out.set(s[key], offset);
        offset += s[key].length;
      }
      return out;
    };
    return { step: this.adamSteps, firstMoment: concat('firstMoment'), secondMoment: concat('secondMoment') };
  }

  importAdamState(state: AdamState): void {
    const total = this.replica.variables.reduce((a, v) => a + v.size, 0);
    if (state.firstMoment.length !== total || state.secondMoment.length !== total) {
      throw new Gan3dError(`Adam state does not fit this model: ${state.firstMoment.length} moments for ${total} parameters.`, 'CHECKPOINT_INCOMPATIBLE');
    }
    let offset = 0;
    for (const { stepper } of this.phases) {
      const n = stepper.replica.variables.reduce((a, v) => a + v.size, 0);
      stepper.importAdamState({
        step: state.step,
        firstMoment: state.firstMoment.subarray(offset, offset + n),
        secondMoment: state.secondMoment.subarray(offset, offset + n),
      });
      offset += n;
    }
  }

  syncFromReplica(): void {
    for (const p of this.phases) p.stepper.syncFromReplica();
  }

  /** Each phase's Adam settings under its name: { "D.learningRate": …, "G.beta2": … }. */
  optimizerConfig(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { name, stepper } of this.phases) for (const [k, v] of Object.entries(stepper.adam)) out[`${name}.${k}`] = v;
    return out;
  }

  async dispose(): Promise<void> {}
}
