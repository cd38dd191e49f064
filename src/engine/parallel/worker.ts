// A data-parallel training worker: holds one replica, loads the shared weights when they change, writes its
// shard's gradients into its shared buffer, and applies Adam to its slice of the parameters. See data-parallel.ts.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.js';
import { writeShardGradients, type Batch, type Replica, type ReplicaSpec } from './data-parallel.js';
import { adamUpdateRange, type AdamConfig } from './flat-adam.js';

interface Init {
  spec: ReplicaSpec;
  backend: string;
  index: number;
  shared: { weights: SharedArrayBuffer; firstMoment: SharedArrayBuffer; secondMoment: SharedArrayBuffer; grads: SharedArrayBuffer[] };
}

type Message =
  | { type: 'grads'; batch: Batch; weightsVersion: number }
  | { type: 'update'; threads: number[]; sizes: number[]; step: number; adam: AdamConfig; range: [number, number] };

const init = workerData as Init;
const port = parentPort!;

async function main(): Promise<void> {
  await initBackend(init.backend);
  const mod = (await import(init.spec.moduleUrl)) as { createReplica(config: unknown): Replica | Promise<Replica> };
  const replica = await mod.createReplica(init.spec.config);
  const weights = new Float32Array(init.shared.weights);
  const firstMoment = new Float32Array(init.shared.firstMoment);
  const secondMoment = new Float32Array(init.shared.secondMoment);
  const grads = init.shared.grads.map((b) => new Float32Array(b));
  let loadedVersion = -1;

  const loadWeights = () => {
    let offset = 0;
    for (const v of replica.variables) {
      tf.tidy(() => v.assign(tf.tensor(weights.subarray(offset, offset + v.size), v.shape)));
      offset += v.size;
    }
  };

  port.on('message', (msg: Message) => {
    try {
      if (msg.type === 'grads') {
        if (msg.weightsVersion !== loadedVersion) {
          loadWeights();
          loadedVersion = msg.weightsVersion;
        }
        const rows = Object.values(msg.batch)[0].shape[0];
        const loss = rows > 0 ? writeShardGradients(replica, msg.batch, grads[init.index]) : 0;
        port.postMessage({ type: 'grads', loss });
      } else {
        const buffers = { weights, firstMoment, secondMoment, grads: msg.threads.map((t) => grads[t]) };
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
