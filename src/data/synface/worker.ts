// A SynFace worker thread: renders, encodes and writes the batches the main thread hands it (dataset.ts), each
// independent of which worker makes it, and reports their params.jsonl lines back.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../../engine/backend.js';
import { isGan3dError } from '../../engine/errors.js';
import { type SynfacePlan, produceChunk } from './dataset.js';

const { plan, backend } = workerData as { plan: SynfacePlan; backend: string };
const port = parentPort!;

function report(e: unknown): void {
  const error = { message: e instanceof Error ? e.message : String(e), code: isGan3dError(e) ? e.code : undefined };
  port.postMessage({ error });
}

// The main thread's backend, so every thread computes the same bits.
const ready = initBackend(backend);
port.on('message', (msg: { chunk: number }) => {
  ready.then(() => port.postMessage({ result: produceChunk(plan, msg.chunk) })).catch(report);
});
