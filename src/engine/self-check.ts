// The engine self-check: backend in use, each project kernel against the cpu reference, and a quick speed probe.
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { initBackend, type BackendInfo } from './backend.js';
import { compareWithCpu } from './compare.js';
import { kernelChecks } from './kernels/checks.js';
import { Rng } from './random.js';
import { defaultWorkerCount } from './parallel/data-parallel.js';

export interface SelfCheckReport {
  backend: BackendInfo;
  cores: number;
  kernels: { kernel: string; maxRelError: number; ok: boolean }[];
  convForwardGflops: number;
  trainingThreads: number;
  ok: boolean;
}

const TOLERANCE = 1e-4;

function measureConvGflops(): number {
  const [n, h, w, ci, co, k] = [4, 32, 32, 32, 32, 3];
  const flops = 2 * n * h * w * ci * co * k * k;
  return tf.tidy(() => {
    const x = tf.randomNormal([n, h, w, ci]) as tf.Tensor4D;
    const f = tf.randomNormal([k, k, ci, co]) as tf.Tensor4D;
    tf.conv2d(x, f, 1, 'same').dataSync();
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      tf.conv2d(x, f, 1, 'same').dataSync();
      best = Math.min(best, performance.now() - t0);
    }
    return flops / best / 1e6;
  });
}

export async function runSelfCheck(): Promise<SelfCheckReport> {
  const backend = await initBackend();
  const kernels: SelfCheckReport['kernels'] = [];
  for (const check of kernelChecks) {
    const compute = check.build(new Rng(7));
    const c = backend.name === 'cpu' ? { maxRelError: 0 } : await compareWithCpu(compute);
    kernels.push({ kernel: check.kernel, maxRelError: c.maxRelError, ok: c.maxRelError <= TOLERANCE });
  }
  return {
    backend,
    cores: os.cpus().length,
    kernels,
    convForwardGflops: measureConvGflops(),
    trainingThreads: defaultWorkerCount() + 1,
    ok: kernels.every((k) => k.ok),
  };
}

export function formatSelfCheck(r: SelfCheckReport): string {
  const lines = [
    `gan3d engine: backend ${r.backend.name} (${r.backend.reason}), ${r.backend.threads} thread(s) per process, ` +
      `SIMD ${r.backend.simd ? 'on' : 'off'}, ${r.cores} core(s) on this machine`,
    `  training: ${r.trainingThreads} data-parallel thread(s) (GAN3D_THREADS to change)`,
    `  conv2d forward: ${r.convForwardGflops.toFixed(1)} GFLOP/s`,
  ];
  for (const k of r.kernels) {
    lines.push(`  ${k.ok ? 'ok  ' : 'FAIL'} ${k.kernel.padEnd(36)} max rel. error vs cpu ${k.maxRelError.toExponential(1)}`);
  }
  lines.push(r.ok ? 'engine self-check passed' : 'engine self-check FAILED');
  return lines.join('\n') + '\n';
}
