// `npm run bench:engine`: convolution kernel throughput and the reference training step, on this machine.
// Prints a table and writes bench/results/engine.json. Ratios are taken against references measured in this run.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { DataParallel, type Batch } from '../src/engine/parallel/data-parallel.js';
import { ReferenceNetwork, referenceTrainStep } from '../src/engine/reference-network.js';
import { Rng } from '../src/engine/random.js';

const BATCH = 8;
const SIZE = 64;
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick'); // fewer repetitions, no cpu-backend step (for a smoke run)

interface ConvShape {
  name: string;
  x: [number, number, number, number];
  k: number;
  stride: number;
  cout: number;
}

// Layer shapes of the reference network at batch 8: the work a training step actually does.
const SHAPES: ConvShape[] = [
  { name: 'enc2 k4 s2 32→64 @32²', x: [BATCH, 32, 32, 32], k: 4, stride: 2, cout: 64 },
  { name: 'enc3 k4 s2 64→128 @16²', x: [BATCH, 16, 16, 64], k: 4, stride: 2, cout: 128 },
  { name: 'dec1conv k3 s1 128→128 @8²', x: [BATCH, 8, 8, 128], k: 3, stride: 1, cout: 128 },
  { name: 'dec3conv k3 s1 32→32 @32²', x: [BATCH, 32, 32, 32], k: 3, stride: 1, cout: 32 },
  { name: 'out k5 s1 32→1 @64²', x: [BATCH, 64, 64, 32], k: 5, stride: 1, cout: 1 },
];

function bestMs(fn: () => void, reps: number): number {
  fn(); // warm-up: kernel setup and memory growth
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function convThroughput(reps: number) {
  const rows = [];
  let flopsTotal = 0;
  const ms = { forward: 0, backpropInput: 0, backpropFilter: 0 };
  for (const s of SHAPES) {
    const pad = 'same';
    const [n, h, w, cin] = s.x;
    const oh = Math.ceil(h / s.stride);
    const ow = Math.ceil(w / s.stride);
    const flops = 2 * n * oh * ow * s.k * s.k * cin * s.cout;
    const x = tf.randomNormal(s.x) as tf.Tensor4D;
    const f = tf.randomNormal([s.k, s.k, cin, s.cout]) as tf.Tensor4D;
    const dy = tf.randomNormal([n, oh, ow, s.cout]) as tf.Tensor4D;
    // Bodies return nothing: a typed array returned from tidy would be walked element by element.
    const fwd = bestMs(() => tf.tidy(() => void tf.conv2d(x, f, s.stride, pad).dataSync()), reps);
    // The gradient kernels are called directly, with the attributes conv2d's gradient passes them.
    const attrs = { strides: s.stride, pad, dataFormat: 'NHWC', dilations: 1 };
    const bfil = bestMs(
      () =>
        tf.tidy(() => void (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape }) as tf.Tensor).dataSync()),
      reps,
    );
    const bin = bestMs(
      () =>
        tf.tidy(() => void (tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: s.x }) as tf.Tensor).dataSync()),
      reps,
    );
    tf.dispose([x, f, dy]);
    flopsTotal += flops;
    ms.forward += fwd;
    ms.backpropInput += bin;
    ms.backpropFilter += bfil;
    rows.push({
      shape: s.name,
      gflop: flops / 1e9,
      forward_gflops: flops / fwd / 1e6,
      backprop_input_gflops: flops / bin / 1e6,
      backprop_filter_gflops: flops / bfil / 1e6,
    });
  }
  return {
    rows,
    forward: flopsTotal / ms.forward / 1e6,
    backpropInput: flopsTotal / ms.backpropInput / 1e6,
    backpropFilter: flopsTotal / ms.backpropFilter / 1e6,
  };
}

function makeBatch(rng: Rng): Batch {
  return {
    images: { data: rng.normalArray(BATCH * SIZE * SIZE * 3), shape: [BATCH, SIZE, SIZE, 3] },
    target: { data: rng.normalArray(BATCH * SIZE * SIZE), shape: [BATCH, SIZE, SIZE, 1] },
  };
}

function stepMsSingle(steps: number): { ms: number; flops: number; tensorsStable: boolean } {
  const net = new ReferenceNetwork(new Rng(1));
  const optimizer = tf.train.adam(1e-4);
  const rng = new Rng(2);
  const run = () => {
    const b = makeBatch(rng);
    const images = tf.tensor4d(b.images.data, b.images.shape as [number, number, number, number]);
    const target = tf.tensor4d(b.target.data, b.target.shape as [number, number, number, number]);
    referenceTrainStep(net, optimizer, images, target);
    tf.dispose([images, target]);
  };
  run();
  const before = tf.memory().numTensors;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  const tensorsStable = tf.memory().numTensors === before;
  tf.dispose(net.variables);
  optimizer.dispose();
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], flops: net.stepFlops(BATCH), tensorsStable };
}

/** The engine's training step: shared-memory Adam, `workers` extra threads (0 = the main thread alone). */
async function stepMsEngine(steps: number, workers: number): Promise<number> {
  const moduleUrl = new URL('../src/engine/reference-replica.ts', import.meta.url).href;
  const dp = await DataParallel.create({ moduleUrl, config: { seed: 1 } }, { workers, adam: { learningRate: 1e-4 } });
  const rng = new Rng(2);
  try {
    await dp.step(makeBatch(rng));
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const batch = makeBatch(rng);
      const t0 = performance.now();
      await dp.step(batch);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  } finally {
    tf.dispose(dp.replica.variables);
    await dp.dispose();
  }
}

async function stepMsCpuStock(): Promise<number> {
  // tfjs's own pure-JS backend with its stock kernels: the baseline the engine replaces.
  await tf.setBackend('cpu');
  try {
    const net = new ReferenceNetwork(new Rng(1));
    const optimizer = tf.train.adam(1e-4);
    const b = makeBatch(new Rng(2));
    const images = tf.tensor4d(b.images.data, b.images.shape as [number, number, number, number]);
    const target = tf.tensor4d(b.target.data, b.target.shape as [number, number, number, number]);
    const t0 = performance.now();
    referenceTrainStep(net, optimizer, images, target);
    const ms = performance.now() - t0;
    tf.dispose([images, target, ...net.variables]);
    optimizer.dispose();
    return ms;
  } finally {
    await tf.setBackend('wasm');
  }
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  const reps = quick ? 2 : 5;
  const steps = quick ? 3 : 10;
  process.stdout.write(`engine benchmark: backend ${backend.name}, ${os.cpus().length} cores, batch ${BATCH} at ${SIZE}×${SIZE}\n`);

  const conv = convThroughput(reps);
  const single = stepMsSingle(steps);
  const cores = os.cpus().length;
  const engine1 = await stepMsEngine(steps, 0);
  const parallelMs = cores > 1 ? await stepMsEngine(steps, cores - 1) : engine1;
  // The 1-core figure is the faster of tf.train.adam and the engine's own step on one thread.
  const oneCoreMs = Math.min(single.ms, engine1);
  const cpuStockMs = quick ? null : await stepMsCpuStock();

  const result = {
    machine: { cores, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, backend: backend.name },
    cores,
    batch: BATCH,
    size: SIZE,
    conv_forward_gflops: conv.forward,
    backprop_input_gflops: conv.backpropInput,
    backprop_filter_gflops: conv.backpropFilter,
    backprop_input_ratio: conv.backpropInput / conv.forward,
    backprop_filter_ratio: conv.backpropFilter / conv.forward,
    conv_shapes: conv.rows,
    ref_step_flops: single.flops,
    ref_step_ms_cpu_stock: cpuStockMs,
    ref_step_ms_wasm_1core: oneCoreMs,
    ref_step_ms_wasm_1core_tf_adam: single.ms,
    ref_step_ms_wasm_1core_engine: engine1,
    ref_step_ms_2core: parallelMs,
    ref_step_gflops_1core: single.flops / oneCoreMs / 1e6,
    ref_step_gflops_ratio: single.flops / oneCoreMs / 1e6 / conv.forward,
    speedup_2core: oneCoreMs / parallelMs,
    speedup_vs_cpu_stock: cpuStockMs === null ? null : cpuStockMs / oneCoreMs,
    tensors_stable: single.tensorsStable,
    quick,
  };

  const fmt = (v: number) => v.toFixed(2);
  const lines = [
    ['shape', 'GFLOP', 'forward', 'bp-input', 'bp-filter'].join(' | '),
    ...conv.rows.map((r) =>
      [r.shape, fmt(r.gflop), fmt(r.forward_gflops), fmt(r.backprop_input_gflops), fmt(r.backprop_filter_gflops)].join(' | '),
    ),
    ['all shapes (GFLOP/s)', '', fmt(conv.forward), fmt(conv.backpropInput), fmt(conv.backpropFilter)].join(' | '),
    '',
    `reference step (${(single.flops / 1e9).toFixed(2)} GFLOP): wasm 1 core ${oneCoreMs.toFixed(0)} ms ` +
      `(tf.train.adam ${single.ms.toFixed(0)} ms, engine ${engine1.toFixed(0)} ms) ` +
      `(${fmt(result.ref_step_gflops_1core)} GFLOP/s, ${fmt(result.ref_step_gflops_ratio)}× conv forward), ` +
      `${cores} cores ${parallelMs.toFixed(0)} ms (${fmt(result.speedup_2core)}×)` +
      (cpuStockMs === null ? '' : `, stock cpu backend ${cpuStockMs.toFixed(0)} ms (${fmt(result.speedup_vs_cpu_stock!)}× slower)`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'engine.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result) + '\n');
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
}

await main();
