// A data-parallel training worker: holds one replica (or one per optimizer phase: a GAN's D and G), loads the shared
// weights of a phase when they change, writes its shard's gradients of the phase asked for into its shared buffer,
// and applies Adam to its slice of a phase's parameters. See data-parallel.ts and phased-data-parallel.ts.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.js';
import { replicaPhases, writeShardGradients, type Batch, type PhaseShared, type ReplicaModule, type ReplicaSpec } from './data-parallel.js';
import { adamUpdateRange, type AdamConfig } from './flat-adam.js';

interface Init {
  spec: ReplicaSpec;
  backend: string;
  index: number;
  /** One set of shared buffers per phase (a single-phase DataParallel has one). */
  shared: PhaseShared[];
}

type Message =
  /** Gradients of `phase` on the shard; `batch` comes with the first phase of a step and is kept for the others. */
  | { type: 'grads'; phase: number; versions: number[]; batch?: Batch }
  | { type: 'update'; phase: number; threads: number[]; sizes: number[]; step: number; adam: AdamConfig; range: [number, number] };

const init = workerData as Init;
const port = parentPort!;

async function main(): Promise<void> {
  await initBackend(init.backend);
  const mod = (await import(init.spec.moduleUrl)) as ReplicaModule;
  const replicas = replicaPhases(await mod.createReplica(init.spec.config));
  if (replicas.length !== init.shared.length) {
    throw new Error(`the replica module gives ${replicas.length} phase(s), the main thread ${init.shared.length}`);
  }
  const phases = replicas.map((replica, p) => {
    const s = init.shared[p];
    const weights = new Float32Array(s.weights);
    const size = replica.variables.reduce((a, v) => a + v.size, 0);
    if (size !== weights.length) throw new Error(`phase ${p}: the worker's replica has ${size} parameters, the main thread's ${weights.length}`);
    return {
      replica,
      weights,
      firstMoment: new Float32Array(s.firstMoment),
      secondMoment: new Float32Array(s.secondMoment),
      grads: s.grads.map((b) => new Float32Array(b)),
      loadedVersion: -1,
    };
  });
  let batch: Batch | null = null;

  const loadWeights = (p: (typeof phases)[number]) => {
    let offset = 0;
    for (const v of p.replica.variables) {
      tf.tidy(() => v.assign(tf.tensor(p.weights.subarray(offset, offset + v.size), v.shape)));
      offset += v.size;
    }
  };

  port.on('message', (msg: Message) => {
    try {
      if (msg.type === 'grads') {
        if (msg.batch) batch = msg.batch;
        if (!batch) throw new Error('gradients asked for before any batch arrived');
        const rows = Object.values(batch)[0].shape[0];
        let loss = 0;
        if (rows > 0) {
          // Every phase whose weights changed since this replica last loaded them (a phase's loss may read the
          // variables of the others: G's loss runs D). An empty shard loads nothing; the versions catch up later.
          phases.forEach((p, i) => {
            if (msg.versions[i] !== p.loadedVersion) {
              loadWeights(p);
              p.loadedVersion = msg.versions[i];
            }
          });
          const p = phases[msg.phase];
          loss = writeShardGradients(p.replica, batch, p.grads[init.index]);
        }
        port.postMessage({ type: 'grads', loss });
      } else {
        const p = phases[msg.phase];
        const buffers = { weights: p.weights, firstMoment: p.firstMoment, secondMoment: p.secondMoment, grads: msg.threads.map((t) => p.grads[t]) };
        adamUpdateRange(buffers, msg.sizes, msg.step, msg.adam, msg.range[0], msg.range[1]);
        port.postMessage({ type: 'updated' });
      }
    } catch (e) {
      port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  });
  port.postMessage({ type: 'ready' });
}

main().catch((e: unknown) => port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
