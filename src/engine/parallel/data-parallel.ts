// Data-parallel training over worker_threads: the second core of a CPU machine.
// The wasm backend computes on one thread per process, so each extra core gets a worker with its own replica of
// the model. A step splits the batch into shards, the main thread computes its own shard while the workers compute
// theirs. Then every thread averages the gradients (weighted by shard size) and applies Adam to its own slice of the
// parameters, and every replica reloads the updated weights. Weights, Adam moments and gradients live in
// SharedArrayBuffers, so a step copies memory but never serializes it, and the optimizer runs on all cores too.
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { backendInfo } from '../backend.js';
import { Gan3dError } from '../errors.js';
import { ADAM_DEFAULTS, adamUpdateRange, splitRange, type AdamConfig, type FlatAdamBuffers } from './flat-adam.js';

/** What a replica module must export as `createReplica(config)`; it runs in every worker and on the main thread. */
export interface Replica {
  variables: tf.Variable[];
  /** Mean loss over the shard; inputs are named tensors whose first axis is the batch. */
  loss(inputs: Record<string, tf.Tensor>): tf.Scalar;
}

/** Several replicas built together, one per optimizer phase (a GAN's D and G), for PhasedDataParallel. */
export interface PhasedReplica {
  phases: Replica[];
}

export interface ReplicaSpec {
  /** Absolute file URL of a module exporting `createReplica(config)`: a Replica, or a PhasedReplica for
   *  PhasedDataParallel (phased-data-parallel.ts), possibly as a promise. */
  moduleUrl: string;
  /** Structured-cloneable configuration handed to `createReplica`. */
  config: unknown;
}

export interface BatchInput {
  data: Float32Array;
  shape: number[];
}

export type Batch = Record<string, BatchInput>;

export interface ReplicaModule {
  createReplica(config: unknown): Replica | PhasedReplica | Promise<Replica | PhasedReplica>;
}

/** A replica module's result as a list of phases (one for a plain Replica). */
export function replicaPhases(r: Replica | PhasedReplica): Replica[] {
  return 'phases' in r ? r.phases : [r];
}

/** The shared buffers of one optimizer phase as a worker receives them. */
export interface PhaseShared {
  weights: SharedArrayBuffer;
  firstMoment: SharedArrayBuffer;
  secondMoment: SharedArrayBuffer;
  /** One per thread (main first). */
  grads: SharedArrayBuffer[];
}

export interface WorkerReply {
  type: 'ready' | 'grads' | 'updated' | 'error';
  loss?: number;
  message?: string;
}

/** Number of worker threads to add: GAN3D_THREADS (total threads, main included) or one per extra core. */
export function defaultWorkerCount(): number {
  const raw = process.env.GAN3D_THREADS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new Gan3dError(`GAN3D_THREADS must be a whole number ≥ 1, got "${raw}".`, 'BAD_THREADS');
    }
    return n - 1;
  }
  return Math.max(0, os.cpus().length - 1);
}

/** Starts a worker thread on worker.ts (through tsx's loader when running from source) or the compiled worker.js. */
export function startWorker(options: { workerData: unknown; env: NodeJS.ProcessEnv }): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), options);
  // Workers do not inherit tsx's loader hooks, so the worker registers them before importing the TypeScript.
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { ...options, eval: true });
}

/** Splits n items into k contiguous shards as evenly as possible; returns [start, end) pairs. */
export function shardRanges(n: number, k: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(n / k) + (i < n % k ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/**
 * Row lists of `threads` shards of an n-row batch that keep each minibatch-std group in one shard. Groups are
 * interleaved as minibatchStd (src/nn/minibatch-std.ts) forms them: g = min(groupSize, n) samples, sample i in group
 * i mod (n/g). Each shard takes a contiguous range of whole groups, its rows in ascending order; then the shard's own
 * minibatchStd (group size g over n_t rows) forms exactly the batch's groups, so per-shard statistics equal the whole
 * batch's. With fewer groups than threads some shards are empty. A batch that g does not divide gets contiguous
 * shards (minibatchStd rejects such a batch anyway).
 */
export function groupedShards(n: number, threads: number, groupSize: number): number[][] {
  const g = Math.min(groupSize, n);
  if (g < 1 || n % g !== 0) return shardRanges(n, threads).map(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
  const m = n / g;
  return shardRanges(m, threads).map(([j0, j1]) => {
    const rows: number[] = [];
    for (let i = 0; i < g; i++) for (let j = j0; j < j1; j++) rows.push(j + m * i);
    return rows;
  });
}

/** The given rows of every input, as a new batch (copies). */
export function gatherRows(batch: Batch, rows: number[]): Batch {
  const out: Batch = {};
  for (const [name, input] of Object.entries(batch)) {
    const per = input.data.length / input.shape[0];
    const data = new Float32Array(rows.length * per);
    rows.forEach((r, k) => data.set(input.data.subarray(r * per, (r + 1) * per), k * per));
    out[name] = { data, shape: [rows.length, ...input.shape.slice(1)] };
  }
  return out;
}

function sliceBatch(batch: Batch, [start, end]: [number, number]): Batch {
  const out: Batch = {};
  for (const [name, input] of Object.entries(batch)) {
    const per = input.data.length / input.shape[0];
    out[name] = { data: input.data.slice(start * per, end * per), shape: [end - start, ...input.shape.slice(1)] };
  }
  return out;
}

export interface DataParallelOptions {
  /** Worker threads besides the main thread (default: one per extra core, or GAN3D_THREADS − 1). */
  workers?: number;
  adam?: Partial<AdamConfig>;
}

/** Adam's moments and step count (flat, in variable order), as saved in checkpoints. */
export interface AdamState {
  step: number;
  firstMoment: Float32Array;
  secondMoment: Float32Array;
}

export function sharedFloats(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}

export class DataParallel {
  readonly replica: Replica;
  readonly adam: AdamConfig;
  private readonly workers: Worker[];
  private readonly buffers: FlatAdamBuffers;
  private readonly sizes: number[];
  private pending = new Map<Worker, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private weightsVersion = 0;
  private adamStep = 0;

  private constructor(replica: Replica, workers: Worker[], buffers: FlatAdamBuffers, adam: AdamConfig) {
    this.replica = replica;
    this.workers = workers;
    this.buffers = buffers;
    this.adam = adam;
    this.sizes = replica.variables.map((v) => v.size);
    for (const w of workers) {
      w.on('message', (r: WorkerReply) => this.settle(w, r));
      w.on('error', (e) => this.fail(w, e));
      w.on('exit', (code) => this.fail(w, new Error(`training worker exited with code ${code}`)));
    }
    this.syncFromReplica();
  }

  /** Builds the replica on the main thread and `workers` more in worker threads (0 = single-threaded). */
  static async create(spec: ReplicaSpec, options: DataParallelOptions = {}): Promise<DataParallel> {
    const workers = options.workers ?? defaultWorkerCount();
    const mod = (await import(spec.moduleUrl)) as ReplicaModule;
    const built = await mod.createReplica(spec.config);
    if ('phases' in built) throw new Gan3dError('This replica module builds several phases: train it with PhasedDataParallel.', 'TRAIN_BAD_OPTION');
    const replica = built;
    const total = replica.variables.reduce((a, v) => a + v.size, 0);
    const buffers: FlatAdamBuffers = {
      weights: sharedFloats(total),
      firstMoment: sharedFloats(total),
      secondMoment: sharedFloats(total),
      grads: Array.from({ length: workers + 1 }, () => sharedFloats(total)),
    };
    const backend = backendInfo().name;
    const shared = {
      weights: buffers.weights.buffer,
      firstMoment: buffers.firstMoment.buffer,
      secondMoment: buffers.secondMoment.buffer,
      grads: buffers.grads.map((g) => g.buffer),
    };
    const threads: Worker[] = [];
    for (let i = 0; i < workers; i++) {
      threads.push(
        startWorker({
          workerData: { spec, backend, shared: [shared], index: i + 1 },
          env: { ...process.env, GAN3D_BACKEND: backend },
        }),
      );
    }
    const dp = new DataParallel(replica, threads, buffers, { ...ADAM_DEFAULTS, ...options.adam });
    await Promise.all(threads.map((w) => dp.expect(w)));
    return dp;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** Adam steps taken so far (for checkpoints). */
  get adamSteps(): number {
    return this.adamStep;
  }

  /** The Adam hyperparameters as a checkpoint records them. */
  optimizerConfig(): Record<string, number> {
    return { ...this.adam };
  }

  /** Copies of the shared Adam moments and the step count, for checkpoints. */
  exportAdamState(): AdamState {
    return { step: this.adamStep, firstMoment: this.buffers.firstMoment.slice(), secondMoment: this.buffers.secondMoment.slice() };
  }

  /** Restores Adam moments and step count from a checkpoint; every thread reads them from the shared buffers. */
  importAdamState(state: AdamState): void {
    const n = this.buffers.weights.length;
    if (state.firstMoment.length !== n || state.secondMoment.length !== n || !Number.isInteger(state.step) || state.step < 0) {
      throw new Gan3dError(
        `Adam state does not fit this model: ${state.firstMoment.length}/${state.secondMoment.length} moments for ${n} parameters.`,
        'CHECKPOINT_INCOMPATIBLE',
      );
    }
    this.buffers.firstMoment.set(state.firstMoment);
    this.buffers.secondMoment.set(state.secondMoment);
    this.adamStep = state.step;
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

  /** Takes the main replica's current weights as the shared weights (after creation or a checkpoint load). */
  syncFromReplica(): void {
    let offset = 0;
    for (const v of this.replica.variables) {
      this.buffers.weights.set(tensorValues(v), offset);
      offset += v.size;
    }
    this.weightsVersion++;
  }

  private loadSharedWeights(): void {
    let offset = 0;
    for (const v of this.replica.variables) {
      tf.tidy(() => v.assign(tf.tensor(this.buffers.weights.subarray(offset, offset + v.size), v.shape)));
      offset += v.size;
    }
  }

  /** Every thread computes its shard's gradients into its shared buffer; returns the shard sizes and mean loss. */
  private async computeGradients(batch: Batch): Promise<{ loss: number; counts: number[] }> {
    const n = Object.values(batch)[0].shape[0];
    const ranges = shardRanges(n, this.threads);
    const replies: Promise<WorkerReply>[] = [];
    for (let i = 1; i < ranges.length; i++) {
      const w = this.workers[i - 1];
      const shard = sliceBatch(batch, ranges[i]);
      const transfer = Object.values(shard).map((s) => s.data.buffer as ArrayBuffer);
      const reply = this.expect(w);
      w.postMessage({ type: 'grads', phase: 0, versions: [this.weightsVersion], batch: shard }, transfer);
      replies.push(reply);
    }
    // The main thread's own shard, computed while the workers compute theirs.
    const own = this.threads > 1 ? sliceBatch(batch, ranges[0]) : batch;
    const counts = ranges.map(([a, b]) => b - a);
    let loss = counts[0] > 0 ? writeShardGradients(this.replica, own, this.buffers.grads[0]) * counts[0] : 0;
    const results = await Promise.all(replies);
    results.forEach((r, i) => (loss += (r.loss ?? 0) * counts[i + 1]));
    return { loss: loss / n, counts };
  }

  /**
   * Loss and gradients of the whole batch, averaged over shards, as tensors the caller owns (keyed by variable
   * name, as `optimizer.applyGradients` expects): for optimizers other than the built-in shared Adam.
   */
  async lossAndGradients(batch: Batch): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
    // The caller's optimizer updates the main replica only: share its weights before the workers compute.
    this.syncFromReplica();
    const { loss, counts } = await this.computeGradients(batch);
    const n = counts.reduce((a, b) => a + b, 0);
    const named: tf.NamedTensorMap = {};
    let offset = 0;
    this.replica.variables.forEach((v, vi) => {
      const size = this.sizes[vi];
      const mean = new Float32Array(size);
      counts.forEach((count, t) => {
        if (count === 0) return;
        const g = this.buffers.grads[t];
        const w = count / n;
        for (let j = 0; j < size; j++) mean[j] += g[offset + j] * w;
      });
      named[v.name] = tf.tensor(mean, v.shape);
      offset += size;
    });
    return { loss, grads: named };
  }

  /** One Adam step on the whole batch, with the update itself split over all threads; returns the mean loss. */
  async step(batch: Batch): Promise<number> {
    const { loss, counts } = await this.computeGradients(batch);
    this.adamStep++;
    const active = counts.map((c, t) => [c, t]).filter(([c]) => c > 0);
    const buffers = { ...this.buffers, grads: active.map(([, t]) => this.buffers.grads[t]) };
    const sizes = active.map(([c]) => c);
    const slices = splitRange(this.buffers.weights.length, this.threads);
    const replies = this.workers.map((w, i) => {
      const reply = this.expect(w);
      w.postMessage({ type: 'update', phase: 0, threads: active.map(([, t]) => t), sizes, step: this.adamStep, adam: this.adam, range: slices[i + 1] });
      return reply;
    });
    adamUpdateRange(buffers, sizes, this.adamStep, this.adam, slices[0][0], slices[0][1]);
    await Promise.all(replies);
    this.weightsVersion++;
    this.loadSharedWeights();
    return loss;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

/**
 * A tensor's float32 values: a view into the wasm heap where possible (no copy). dataSync() would allocate a fresh
 * array per call, and freeing large arrays in one thread of a process stalls the other threads (measured: the
 * main shard ran 20% slower beside a worker with per-step copies).
 */
export function tensorValues(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as unknown as { typedArrayFromHeap?: (t: tf.Tensor) => Float32Array };
  if (tf.getBackend() === 'wasm' && backend.typedArrayFromHeap) return backend.typedArrayFromHeap(t);
  return t.dataSync() as Float32Array;
}

/** Computes the replica's loss and gradients on one shard, writes the gradients flat into `out`; returns the loss. */
export function writeShardGradients(replica: Replica, shard: Batch, out: Float32Array): number {
  const { value, grads } = tf.tidy(() => {
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, s] of Object.entries(shard)) inputs[name] = tf.tensor(s.data, s.shape);
    return tf.variableGrads(() => replica.loss(inputs), replica.variables);
  });
  let offset = 0;
  for (const v of replica.variables) {
    out.set(tensorValues(grads[v.name]), offset);
    offset += v.size;
  }
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}
