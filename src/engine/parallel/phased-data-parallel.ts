// Data-parallel training of a model with several optimizer phases per step (a GAN: D, then G), over worker_threads.
// Each thread holds a replica of every phase. A step shards the batch once (the main thread draws all of its
// randomness into it beforehand), ships each worker its shard, and then, phase by phase:
//   every thread computes its shard's gradients of the phase → every thread averages them (weighted by shard size)
//   and applies Adam to its own slice of the phase's parameters → the phase's weights are synced to every replica
// so the next phase's loss (G's, which runs D) sees the update, exactly as the single-threaded PhasedStepper
// (src/train/stepper.ts) does. Two gradient rounds per GAN step. Each phase has its own shared weights, Adam moments
// and gradient buffers; the Adam state is exported as one flat state over all phases in order with one step count,
// the checkpoint layout of PhasedStepper, so a run can be resumed with another thread count.
// How rows are sharded is up to the caller (`shard`): a GAN keeps each minibatch-std group in one shard
// (groupedShards in data-parallel.ts), so per-shard statistics equal the whole batch's.
import * as tf from '@tensorflow/tfjs';
import type { Worker } from 'node:worker_threads';
import { backendInfo } from '../backend.js';
import { Gan3dError } from '../errors.js';
import {
  gatherRows,
  sharedFloats,
  shardRanges,
  startWorker,
  tensorValues,
  writeShardGradients,
  type AdamState,
  type Batch,
  type PhaseShared,
  type Replica,
  type ReplicaSpec,
  type WorkerReply,
} from './data-parallel.js';
import { ADAM_DEFAULTS, adamUpdateRange, splitRange, type AdamConfig, type FlatAdamBuffers } from './flat-adam.js';

/** One optimizer phase, built in the main thread: its variables belong to it only (its loss may read others'). */
export interface ParallelPhase {
  /** Short name ("D", "G"): keys its loss and its Adam settings. */
  name: string;
  replica: Replica;
  adam?: Partial<AdamConfig>;
}

export interface PhasedDataParallelOptions {
  /** Worker threads besides the main thread (0: everything on the main thread). */
  workers: number;
  /** Row indices of each thread's shard (main first) of an n-row batch; default contiguous, as even as possible. */
  shard?: (n: number, threads: number) => number[][];
}

interface Phase {
  name: string;
  replica: Replica;
  adam: AdamConfig;
  buffers: FlatAdamBuffers;
  /** Bumped whenever the shared weights change; a worker reloads a phase whose version it has not loaded. */
  version: number;
}

const contiguous = (n: number, threads: number) => shardRanges(n, threads).map(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));

export class PhasedDataParallel {
  /** Every trained variable, phases in order (the checkpoint's order); its loss is the sum of the phases' losses. */
  readonly replica: Replica;
  private readonly phaseList: Phase[];
  private readonly workers: Worker[];
  private readonly threadCount: number;
  private readonly shard: (n: number, threads: number) => number[][];
  private readonly pending = new Map<Worker, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private readonly losses: Record<string, number> = {};
  private stepCount = 0;
  private disposed = false;
  /** Worker threads that have not exited yet. */
  private running: number;

  private constructor(phases: Phase[], workers: Worker[], shard: (n: number, threads: number) => number[][]) {
    this.phaseList = phases;
    this.workers = workers;
    this.threadCount = workers.length + 1;
    this.shard = shard;
    this.running = workers.length;
    const replicas = phases.map((p) => p.replica);
    this.replica = {
      variables: replicas.flatMap((r) => r.variables),
      loss: (inputs) => tf.tidy(() => tf.addN(replicas.map((r) => r.loss(inputs))) as tf.Scalar),
    };
    for (const w of workers) {
      w.on('message', (r: WorkerReply) => this.settle(w, r));
      w.on('error', (e) => this.fail(w, e));
      w.on('exit', (code) => {
        this.running--;
        this.fail(w, new Error(`training worker exited with code ${code}`));
      });
    }
    this.syncFromReplica();
  }

  /**
   * Takes the phases' replicas (built in this thread: they are the trained model) and starts `workers` threads, each
   * building its own replicas from `spec` (a module whose createReplica returns { phases } in the same order).
   */
  static async create(phases: ParallelPhase[], spec: ReplicaSpec, options: PhasedDataParallelOptions): Promise<PhasedDataParallel> {
    if (phases.length === 0) throw new Gan3dError('A phased stepper needs at least one phase.', 'TRAIN_BAD_OPTION');
    if (new Set(phases.map((p) => p.name)).size !== phases.length) {
      throw new Gan3dError(`Phase names must differ: ${phases.map((p) => p.name).join(', ')}.`, 'TRAIN_BAD_OPTION');
    }
    const variables = phases.flatMap((p) => p.replica.variables);
    if (new Set(variables).size !== variables.length) {
      throw new Gan3dError('The phases share a variable: each variable belongs to one phase.', 'TRAIN_BAD_OPTION');
    }
    const workers = options.workers;
    if (!Number.isInteger(workers) || workers < 0) throw new Gan3dError(`workers must be a whole number ≥ 0, got ${workers}.`, 'TRAIN_BAD_OPTION');
    const list: Phase[] = phases.map((p) => {
      const total = p.replica.variables.reduce((a, v) => a + v.size, 0);
      return {
        name: p.name,
        replica: p.replica,
        adam: { ...ADAM_DEFAULTS, ...p.adam },
        buffers: {
          weights: sharedFloats(total),
          firstMoment: sharedFloats(total),
          secondMoment: sharedFloats(total),
          grads: Array.from({ length: workers + 1 }, () => sharedFloats(total)),
        },
        version: 0,
      };
    });
    const shared: PhaseShared[] = list.map(({ buffers: b }) => ({
      weights: b.weights.buffer as SharedArrayBuffer,
      firstMoment: b.firstMoment.buffer as SharedArrayBuffer,
      secondMoment: b.secondMoment.buffer as SharedArrayBuffer,
      grads: b.grads.map((g) => g.buffer as SharedArrayBuffer),
    }));
    const backend = backendInfo().name;
    const threads: Worker[] = [];
    for (let i = 0; i < workers; i++) {
      threads.push(startWorker({ workerData: { spec, backend, shared, index: i + 1 }, env: { ...process.env, GAN3D_BACKEND: backend } }));
    }
    const dp = new PhasedDataParallel(list, threads, options.shard ?? contiguous);
    try {
      await Promise.all(threads.map((w) => dp.expect(w)));
    } catch (e) {
      await dp.dispose();
      throw e;
    }
    return dp;
  }

  get threads(): number {
    return this.threadCount;
  }

  /** Worker threads that have not exited (0 once dispose has resolved). */
  get liveWorkers(): number {
    return this.running;
  }

  get adamSteps(): number {
    return this.stepCount;
  }

  get phaseNames(): string[] {
    return this.phaseList.map((p) => p.name);
  }

  /** Each phase's loss in the last step, by phase name. */
  get phaseLosses(): Readonly<Record<string, number>> {
    return this.losses;
  }

  /** Each phase's Adam settings under its name: { "D.learningRate": …, "G.beta2": … } (as PhasedStepper). */
  optimizerConfig(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.phaseList) for (const [k, v] of Object.entries(p.adam)) out[`${p.name}.${k}`] = v;
    return out;
  }

  private expect(w: Worker): Promise<WorkerReply> {
    return new Promise((resolve, reject) => this.pending.set(w, { resolve, reject }));
  }

  private settle(w: Worker, r: WorkerReply): void {
    const p = this.pending.get(w);
    if (!p) return;
    this.pending.delete(w);
    if (r.type === 'error') p.reject(new Error(`training worker failed: ${r.message}`));
    else p.resolve(r);
  }

  private fail(w: Worker, e: Error): void {
    const p = this.pending.get(w);
    if (!p) return;
    this.pending.delete(w);
    p.reject(e);
  }

  /** Takes the replicas' current values as the shared weights of every phase (after creation or a checkpoint load). */
  syncFromReplica(): void {
    for (const p of this.phaseList) {
      let offset = 0;
      for (const v of p.replica.variables) {
        p.buffers.weights.set(tensorValues(v), offset);
        offset += v.size;
      }
      p.version++;
    }
  }

  private loadSharedWeights(p: Phase): void {
    let offset = 0;
    for (const v of p.replica.variables) {
      tf.tidy(() => v.assign(tf.tensor(p.buffers.weights.subarray(offset, offset + v.size), v.shape)));
      offset += v.size;
    }
  }

  /**
   * One step: for each phase in order, the shard gradients, their average and Adam on every thread, then the new
   * weights into every replica. Returns the sum of the phases' mean losses (as PhasedStepper).
   */
  async step(batch: Batch): Promise<number> {
    if (this.disposed) throw new Gan3dError('This data-parallel stepper was disposed.', 'TRAIN_BAD_OPTION');
    const n = Object.values(batch)[0].shape[0];
    const rows = this.threads > 1 ? this.shard(n, this.threads) : [Array.from({ length: n }, (_, i) => i)];
    if (rows.length !== this.threads || rows.reduce((a, r) => a + r.length, 0) !== n) {
      throw new Gan3dError(`The shard plan gives ${rows.length} shards of ${rows.reduce((a, r) => a + r.length, 0)} rows for ${this.threads} threads and ${n} rows.`, 'TRAIN_BAD_OPTION');
    }
    const counts = rows.map((r) => r.length);
    const shards = this.threads > 1 ? rows.map((r) => gatherRows(batch, r)) : [batch];
    const active = counts.map((c, t) => [c, t] as const).filter(([c]) => c > 0);
    const sizes = active.map(([c]) => c);
    this.stepCount++;
    let total = 0;
    for (let pi = 0; pi < this.phaseList.length; pi++) {
      const phase = this.phaseList[pi];
      const versions = this.phaseList.map((p) => p.version);
      // Gradients: the workers' shards (the batch travels with the first phase and stays for the others), and the
      // main thread's own shard meanwhile.
      const replies = this.workers.map((w, i) => {
        const reply = this.expect(w);
        if (pi === 0) {
          const shard = shards[i + 1];
          w.postMessage({ type: 'grads', phase: pi, versions, batch: shard }, Object.values(shard).map((s) => s.data.buffer as ArrayBuffer));
        } else {
          w.postMessage({ type: 'grads', phase: pi, versions });
        }
        return reply;
      });
      let loss = counts[0] > 0 ? writeShardGradients(phase.replica, shards[0], phase.buffers.grads[0]) * counts[0] : 0;
      const results = await Promise.all(replies);
      results.forEach((r, i) => (loss += (r.loss ?? 0) * counts[i + 1]));
      loss /= n;
      this.losses[phase.name] = loss;
      total += loss;

      // Average + Adam, each thread on its own slice of the phase's parameters.
      const buffers = { ...phase.buffers, grads: active.map(([, t]) => phase.buffers.grads[t]) };
      const slices = splitRange(phase.buffers.weights.length, this.threads);
      const updates = this.workers.map((w, i) => {
        const reply = this.expect(w);
        w.postMessage({ type: 'update', phase: pi, threads: active.map(([, t]) => t), sizes, step: this.stepCount, adam: phase.adam, range: slices[i + 1] });
        return reply;
      });
      adamUpdateRange(buffers, sizes, this.stepCount, phase.adam, slices[0][0], slices[0][1]);
      await Promise.all(updates);
      phase.version++;
      this.loadSharedWeights(phase);
    }
    return total;
  }

  /** Adam moments of all phases, flat in phase order, and the one step count (PhasedStepper's checkpoint layout). */
  exportAdamState(): AdamState {
    const total = this.phaseList.reduce((a, p) => a + p.buffers.weights.length, 0);
    const firstMoment = new Float32Array(total);
    const secondMoment = new Float32Array(total);
    let offset = 0;
    for (const p of this.phaseList) {
      firstMoment.set(p.buffers.firstMoment, offset);
      secondMoment.set(p.buffers.secondMoment, offset);
      offset += p.buffers.weights.length;
    }
    return { step: this.stepCount, firstMoment, secondMoment };
  }

  importAdamState(state: AdamState): void {
    const total = this.phaseList.reduce((a, p) => a + p.buffers.weights.length, 0);
    if (state.firstMoment.length !== total || state.secondMoment.length !== total || !Number.isInteger(state.step) || state.step < 0) {
      throw new Gan3dError(`Adam state does not fit this model: ${state.firstMoment.length} moments for ${total} parameters.`, 'CHECKPOINT_INCOMPATIBLE');
    }
    let offset = 0;
    for (const p of this.phaseList) {
      const n = p.buffers.weights.length;
      p.buffers.firstMoment.set(state.firstMoment.subarray(offset, offset + n));
      p.buffers.secondMoment.set(state.secondMoment.subarray(offset, offset + n));
      offset += n;
    }
    this.stepCount = state.step;
  }

  /** Stops the worker threads (the main thread's replicas belong to the caller). Safe to call twice. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
