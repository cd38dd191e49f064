// A data-parallel training worker: holds one replica, loads the shared weights when they change, computes the
// gradients of its shard and writes them into its shared gradient buffer. See data-parallel.ts.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.js';
import type { Batch, Replica, ReplicaSpec } from './data-parallel.js';

interface Init {
  spec: ReplicaSpec;
  backend: string;
  weights: SharedArrayBuffer;
  grads: SharedArrayBuffer;
}

const init = workerData as Init;
const port = parentPort!;

async function main(): Promise<void> {
  await initBackend(init.backend);
  const mod = (await import(init.spec.moduleUrl)) as { createReplica(config: unknown): Replica | Promise<Replica> };
  const replica = await mod.createReplica(init.spec.config);
  const weights = new Float32Array(init.weights);
  const grads = new Float32Array(init.grads);
  let loadedVersion = -1;

  const loadWeights = () => {
    let offset = 0;
    for (const v of replica.variables) {
      tf.tidy(() => v.assign(tf.tensor(weights.subarray(offset, offset + v.size), v.shape)));
      offset += v.size;
    }
  };

  port.on('message', (msg: { type: 'step'; batch: Batch; weightsVersion: number }) => {
    try {
      if (msg.weightsVersion !== loadedVersion) {
        loadWeights();
        loadedVersion = msg.weightsVersion;
      }
      const { value, grads: g } = tf.tidy(() => {
        const inputs: Record<string, tf.Tensor> = {};
        for (const [name, s] of Object.entries(msg.batch)) inputs[name] = tf.tensor(s.data, s.shape);
        return tf.variableGrads(() => replica.loss(inputs), replica.variables);
      });
      let offset = 0;
      for (const v of replica.variables) {
        grads.set(g[v.name].dataSync() as Float32Array, offset);
        offset += v.size;
      }
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(g)]);
      port.postMessage({ type: 'grads', loss });
    } catch (e) {
      port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  });
  port.postMessage({ type: 'ready' });
}

main().catch((e: unknown) => port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
