// Data-parallel training over worker_threads: the second core of a CPU machine.
// The wasm backend computes on one thread per process, so each extra core gets a worker with its own replica of
// the model. A step splits the batch into shards, the main thread computes its own shard while the workers compute
// theirs, and the gradients are averaged (weighted by shard size) before one optimizer update on the main thread.
// Weights and gradients travel through SharedArrayBuffers, so a step copies memory but never serializes it.
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { backendInfo } from '../backend.js';
import { Gan3dError } from '../errors.js';

/** What a replica module must export as `createReplica(config)`; it runs in every worker and on the main thread. */
export interface Replica {
  variables: tf.Variable[];
  /** Mean loss over the shard; inputs are named tensors whose first axis is the batch. */
  loss(inputs: Record<string, tf.Tensor>): tf.Scalar;
}

export interface ReplicaSpec {
  /** Absolute file URL of a module exporting `createReplica(config): Replica | Promise<Replica>`. */
  moduleUrl: string;
  /** Structured-cloneable configuration handed to `createReplica`. */
  config: unknown;
}

export interface BatchInput {
  data: Float32Array;
  shape: number[];
}

export type Batch = Record<string, BatchInput>;

interface WorkerReply {
  type: 'ready' | 'grads' | 'error';
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
function startWorker(options: { workerData: unknown; env: NodeJS.ProcessEnv }): Worker {
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

function sliceBatch(batch: Batch, [start, end]: [number, number]): Batch {
  const out: Batch = {};
  for (const [name, input] of Object.entries(batch)) {
    const per = input.data.length / input.shape[0];
    out[name] = { data: input.data.slice(start * per, end * per), shape: [end - start, ...input.shape.slice(1)] };
  }
  return out;
}

export class DataParallel {
  readonly replica: Replica;
  private readonly workers: Worker[];
  private readonly weights: Float32Array;
  private readonly grads: Float32Array[];
  private readonly sizes: number[];
  private pending = new Map<Worker, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private weightsVersion = 0;

  private constructor(replica: Replica, workers: Worker[], weights: Float32Array, grads: Float32Array[]) {
    this.replica = replica;
    this.workers = workers;
    this.weights = weights;
    this.grads = grads;
    this.sizes = replica.variables.map((v) => v.size);
    for (const w of workers) {
      w.on('message', (r: WorkerReply) => this.settle(w, r));
      w.on('error', (e) => this.fail(w, e));
      w.on('exit', (code) => this.fail(w, new Error(`training worker exited with code ${code}`)));
    }
  }

  /** Builds the replica on the main thread and `workers` more in worker threads (0 = single-threaded). */
  static async create(spec: ReplicaSpec, workers = defaultWorkerCount()): Promise<DataParallel> {
    const mod = (await import(spec.moduleUrl)) as { createReplica(config: unknown): Replica | Promise<Replica> };
    const replica = await mod.createReplica(spec.config);
    const total = replica.variables.reduce((a, v) => a + v.size, 0);
    const weights = new Float32Array(new SharedArrayBuffer(total * 4));
    const grads: Float32Array[] = [];
    const threads: Worker[] = [];
    const backend = backendInfo().name;
    for (let i = 0; i < workers; i++) {
      const g = new Float32Array(new SharedArrayBuffer(total * 4));
      grads.push(g);
      threads.push(
        startWorker({
          workerData: { spec, backend, weights: weights.buffer, grads: g.buffer },
          env: { ...process.env, GAN3D_BACKEND: backend },
        }),
      );
    }
    const dp = new DataParallel(replica, threads, weights, grads);
    await Promise.all(threads.map((w) => dp.expect(w)));
    return dp;
  }

  get threads(): number {
    return this.workers.length + 1;
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

  /** Copies the main replica's weights into shared memory; workers load them before their next shard. */
  private publishWeights(): void {
    let offset = 0;
    for (const v of this.replica.variables) {
      this.weights.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    this.weightsVersion++;
  }

  /**
   * Loss and gradients of the whole batch, averaged over shards. Returns tensors the caller owns
   * (gradients keyed by variable name, as `optimizer.applyGradients` expects).
   */
  async lossAndGradients(batch: Batch): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
    const n = Object.values(batch)[0].shape[0];
    const ranges = shardRanges(n, Math.min(this.threads, n));
    const vars = this.replica.variables;
    const replies: Promise<WorkerReply>[] = [];
    if (ranges.length > 1) {
      this.publishWeights();
      for (let i = 1; i < ranges.length; i++) {
        const w = this.workers[i - 1];
        const shard = sliceBatch(batch, ranges[i]);
        const transfer = Object.values(shard).map((s) => s.data.buffer as ArrayBuffer);
        const reply = this.expect(w);
        w.postMessage({ type: 'step', batch: shard, weightsVersion: this.weightsVersion }, transfer);
        replies.push(reply);
      }
    }
    // The main thread's own shard, computed while the workers compute theirs.
    const own = ranges.length > 1 ? sliceBatch(batch, ranges[0]) : batch;
    const ownCount = ranges[0][1] - ranges[0][0];
    const { value, grads } = tf.tidy(() => {
      const inputs: Record<string, tf.Tensor> = {};
      for (const [name, s] of Object.entries(own)) inputs[name] = tf.tensor(s.data, s.shape);
      return tf.variableGrads(() => this.replica.loss(inputs), vars);
    });
    let loss = value.dataSync()[0] * ownCount;
    value.dispose();
    if (replies.length === 0) return { loss: loss / n, grads };

    const results = await Promise.all(replies);
    const named: tf.NamedTensorMap = {};
    tf.tidy(() => {
      let offset = 0;
      vars.forEach((v, vi) => {
        const size = this.sizes[vi];
        const sum = new Float32Array(size);
        const mine = grads[v.name].dataSync();
        for (let j = 0; j < size; j++) sum[j] = mine[j] * ownCount;
        for (let wi = 0; wi < results.length; wi++) {
          const count = ranges[wi + 1][1] - ranges[wi + 1][0];
          const theirs = this.grads[wi].subarray(offset, offset + size);
          for (let j = 0; j < size; j++) sum[j] += theirs[j] * count;
        }
        for (let j = 0; j < size; j++) sum[j] /= n;
        named[v.name] = tf.keep(tf.tensor(sum, v.shape));
        offset += size;
      });
    });
    tf.dispose(grads);
    results.forEach((r, wi) => (loss += (r.loss ?? 0) * (ranges[wi + 1][1] - ranges[wi + 1][0])));
    return { loss: loss / n, grads: named };
  }

  /** One optimizer step on the whole batch; returns the mean loss. */
  async step(optimizer: tf.Optimizer, batch: Batch): Promise<number> {
    const { loss, grads } = await this.lossAndGradients(batch);
    optimizer.applyGradients(grads);
    tf.dispose(grads);
    return loss;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
