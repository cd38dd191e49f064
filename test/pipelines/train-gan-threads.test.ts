// `gan3d train gan` data-parallel over 2 threads (PhasedDataParallel): the same step as one thread up to float
// rounding, exact resume, checkpoints that either thread count resumes, a flat tensor count, and worker threads that
// end with the run (completed or stopped). Tiny networks at 16×16, batch 8: two minibatch-std groups of 4, one per
// thread, so the second thread does real work (at batch 4 the single group stays on the main thread).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { gatherRows, groupedShards } from '../../src/engine/parallel/data-parallel.js';
import { PhasedDataParallel } from '../../src/engine/parallel/phased-data-parallel.js';
import { generateSynface } from '../../src/data/synface/dataset.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/io/checkpoint.js';
import { ganThreads, trainGanCommand, type TrainGanOptions } from '../../src/cli/train.js';
import type { StyleGanConfig } from '../../src/models/stylegan/config.js';
import { minibatchStd } from '../../src/nn/minibatch-std.js';
import { createGanTrainer } from '../../src/pipelines/train-gan.js';
import { runTraining, type LogLine, type RunOptions } from '../../src/train/loop.js';
import type { Stepper } from '../../src/train/stepper.js';

const TINY: Partial<StyleGanConfig> = {
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 2,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 6, 16: 4 },
  r1Every: 2,
  styleMixingProb: 1,
  emaHalfLifeImages: 20,
};
const BATCH = 8;
let root = '';
let data = '';

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-train-gan-threads-'));
  const synface = path.join(root, 'synface');
  await generateSynface({ out: synface, n: 12, size: 64, seed: 5, batch: 6 });
  data = path.join(synface, 'train');
});
after(() => fs.rm(root, { recursive: true, force: true }));

async function readLog(outDir: string): Promise<LogLine[]> {
  return (await fs.readFile(path.join(outDir, 'log.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as LogLine);
}

function cliOptions(out: string, extra: Partial<TrainGanOptions> = {}): TrainGanOptions {
  return { data, out, steps: '3', batch: String(BATCH), seed: '3', checkpointEvery: '0', sampleEvery: '0', model: TINY, quiet: true, write: () => {}, ...extra };
}

/** runTraining on a fresh GAN trainer; returns each step's phase losses and the stepper it ran. */
async function train(outDir: string, workers: number, extra: Partial<RunOptions> = {}, model: Partial<StyleGanConfig> = TINY) {
  const trainer = await createGanTrainer({ data, seed: 3, batchSize: BATCH, model });
  const losses: Record<string, number>[] = [];
  let stepper: Stepper | null = null;
  try {
    const result = await runTraining({
      trainer,
      outDir,
      maxSteps: 3,
      batchSize: BATCH,
      seed: 3,
      checkpointEvery: 0,
      workers,
      quiet: true,
      handleSignals: false,
      ...extra,
      onStep: async (info) => {
        stepper = info.stepper;
        losses.push({ ...info.stepper.phaseLosses });
        await extra.onStep?.(info);
      },
    });
    return { result, losses, stepper: stepper as Stepper | null };
  } finally {
    trainer.dispose();
  }
}

/** Largest |a − b| over every saved variable and buffer, and over Adam's moments. */
function maxDifference(a: LoadedCheckpoint, b: LoadedCheckpoint): { weights: number; moments: number } {
  assert.deepEqual(a.variables.map((v) => [v.name, v.shape]), b.variables.map((v) => [v.name, v.shape]));
  let weights = 0;
  a.variables.forEach((v, i) => v.data.forEach((x, j) => (weights = Math.max(weights, Math.abs(x - b.variables[i].data[j])))));
  let moments = 0;
  for (const key of ['firstMoment', 'secondMoment'] as const) {
    a.optimizer![key].forEach((x, j) => (moments = Math.max(moments, Math.abs(x - b.optimizer![key][j]))));
  }
  return { weights, moments };
}

test('groupedShards keeps every minibatch-std group in one shard, so per-shard statistics equal the batch\'s', () => {
  assert.deepEqual(groupedShards(16, 2, 4), [[0, 1, 4, 5, 8, 9, 12, 13], [2, 3, 6, 7, 10, 11, 14, 15]]);
  assert.deepEqual(groupedShards(8, 2, 4), [[0, 2, 4, 6], [1, 3, 5, 7]]);
  assert.deepEqual(groupedShards(4, 2, 4), [[0, 1, 2, 3], []]); // one group: it stays whole
  assert.deepEqual(groupedShards(12, 2, 4), [[0, 1, 3, 4, 6, 7, 9, 10], [2, 5, 8, 11]]); // 3 groups: 2 + 1
  // The statistic itself: the batch's mbstd channel, row by row, equals each shard's own.
  const x = tf.randomNormal([16, 2, 2, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const whole = tf.tidy(() => minibatchStd(x, 4).arraySync());
  const values = x.dataSync() as Float32Array;
  for (const rows of groupedShards(16, 2, 4)) {
    const shard = gatherRows({ x: { data: values, shape: [...x.shape] } }, rows).x;
    const own = tf.tidy(() => minibatchStd(tf.tensor4d(shard.data, shard.shape as [number, number, number, number]), 4).arraySync());
    rows.forEach((r, k) => assert.ok(Math.abs(own[k][0][0][3] - whole[r][0][0][3]) < 1e-6, `row ${r}: ${own[k][0][0][3]} vs ${whole[r][0][0][3]}`));
  }
  x.dispose();
});

test('train gan on 2 threads: the same losses, weights, EMA and Adam moments as 1 thread, up to float rounding', async () => {
  const one = await train(path.join(root, 'one'), 0);
  const two = await train(path.join(root, 'two'), 1);
  assert.equal(one.stepper?.threads, 1);
  assert.equal(two.stepper?.threads, 2);
  // Three steps, two of them with R1 (r1Every 2: steps 1 and 3); D then G each step.
  assert.equal(two.losses.length, 3);
  two.losses.forEach((l, s) => {
    for (const name of ['D', 'G']) {
      const ref = one.losses[s][name];
      assert.ok(Number.isFinite(l[name]) && Math.abs(l[name] - ref) <= 1e-5 * Math.abs(ref), `step ${s + 1} ${name}: ${l[name]} vs ${ref}`);
    }
  });
  const ckOne = await loadCheckpoint(path.join(root, 'one', 'checkpoints'));
  const ckTwo = await loadCheckpoint(path.join(root, 'two', 'checkpoints'));
  const diff = maxDifference(ckOne, ckTwo);
  // Measured: 2.4e-7 on the weights after 3 steps (the weights are O(1), each Adam step moves them up to 0.002).
  assert.ok(diff.weights <= 1e-5, `weights differ by up to ${diff.weights}`);
  assert.ok(diff.moments <= 1e-5, `Adam moments differ by up to ${diff.moments}`);
  assert.equal(ckTwo.optimizer!.step, 3);
  assert.deepEqual(ckTwo.optimizer!.config, ckOne.optimizer!.config);
  assert.equal((ckTwo.engine as { dataParallelThreads?: number }).dataParallelThreads, 2);
  const start = (await readLog(path.join(root, 'two'))).find((l) => l.type === 'start')!;
  assert.equal(start.threads, 2);
});

test('train gan on 2 threads with a low-resolution D: the same losses and weights as 1 thread', async () => {
  const model = { ...TINY, lowResDiscriminator: 8 };
  const one = await train(path.join(root, 'one-low'), 0, {}, model);
  const two = await train(path.join(root, 'two-low'), 1, {}, model);
  assert.equal(two.stepper?.threads, 2);
  two.losses.forEach((l, s) => {
    for (const name of ['D', 'G']) {
      const ref = one.losses[s][name];
      assert.ok(Number.isFinite(l[name]) && Math.abs(l[name] - ref) <= 1e-5 * Math.abs(ref), `step ${s + 1} ${name}: ${l[name]} vs ${ref}`);
    }
  });
  const ckOne = await loadCheckpoint(path.join(root, 'one-low', 'checkpoints'));
  const ckTwo = await loadCheckpoint(path.join(root, 'two-low', 'checkpoints'));
  assert.ok(ckTwo.variables.some((v) => v.name.startsWith('Dlow/')));
  const diff = maxDifference(ckOne, ckTwo);
  assert.ok(diff.weights <= 1e-5 && diff.moments <= 1e-5, `differ by up to ${diff.weights} (weights), ${diff.moments} (moments)`);
});

test('train gan on 2 threads, conditional: the labels are sharded with their images; the same losses and weights as 1 thread', async () => {
  const model = { ...TINY, conditionLabels: ['view.ry', 'view.rz', 'expression.smile'] };
  const one = await train(path.join(root, 'one-cond'), 0, {}, model);
  const two = await train(path.join(root, 'two-cond'), 1, {}, model);
  assert.equal(two.stepper?.threads, 2);
  two.losses.forEach((l, s) => {
    for (const name of ['D', 'G']) {
      const ref = one.losses[s][name];
      assert.ok(Number.isFinite(l[name]) && Math.abs(l[name] - ref) <= 1e-5 * Math.abs(ref), `step ${s + 1} ${name}: ${l[name]} vs ${ref}`);
    }
  });
  const ckOne = await loadCheckpoint(path.join(root, 'one-cond', 'checkpoints'));
  const ckTwo = await loadCheckpoint(path.join(root, 'two-cond', 'checkpoints'));
  const proj = ckTwo.variables.find((v) => v.name === 'D/label_proj/fc1/w');
  assert.ok(proj && proj.data.some((x) => x !== 0), 'the label projection learned');
  const diff = maxDifference(ckOne, ckTwo);
  assert.ok(diff.weights <= 1e-5 && diff.moments <= 1e-5, `differ by up to ${diff.weights} (weights), ${diff.moments} (moments)`);
});

test('train gan on 2 threads: interrupted and resumed equals an uninterrupted run, bit for bit; workers end with the run', async () => {
  const straight = path.join(root, 'straight2');
  const split = path.join(root, 'split2');
  const a = await train(straight, 1, { maxSteps: 5 });
  assert.equal(a.result.step, 5);
  assert.equal((a.stepper as PhasedDataParallel).liveWorkers, 0, 'workers stopped on completion');
  // Stop after step 2 as Ctrl-C does (the AbortSignal of the options): the loop saves, the workers end.
  const stop = new AbortController();
  const first = await train(split, 1, { maxSteps: 5, signal: stop.signal, onStep: ({ step }) => void (step === 2 && stop.abort()) });
  assert.equal(first.result.status, 'interrupted');
  assert.equal(first.result.step, 2);
  assert.ok(first.stepper instanceof PhasedDataParallel);
  assert.equal(first.stepper.liveWorkers, 0, 'workers stopped on interruption');
  const b = await trainGanCommand(cliOptions(split, { steps: '5', threads: '2', resume: true, seed: undefined, model: undefined }));
  assert.equal(b.step, 5);
  assert.equal(b.loss, a.result.loss);
  const ckA = await loadCheckpoint(path.join(straight, 'checkpoints'));
  const ckB = await loadCheckpoint(path.join(split, 'checkpoints'));
  for (const file of ['weights.bin', 'optimizer.bin']) {
    assert.deepEqual(await fs.readFile(path.join(ckB.path, file)), await fs.readFile(path.join(ckA.path, file)), file);
  }
  assert.deepEqual(ckB.rng, ckA.rng);
  assert.deepEqual(ckB.state, ckA.state);
  const ck2 = await loadCheckpoint(path.join(split, 'checkpoints', 'ckpt-00000002'));
  assert.notDeepEqual(ck2.variables[0].data, ckA.variables[0].data, 'the weights moved after the interruption');
});

test('train gan: a 1-thread run resumes on 2 threads and a 2-thread run on 1 (same checkpoint format)', async () => {
  const out = path.join(root, 'mixed');
  await trainGanCommand(cliOptions(out, { steps: '2', threads: '1' }));
  const r2 = await trainGanCommand(cliOptions(out, { steps: '3', threads: '2', resume: true, seed: undefined, model: undefined }));
  assert.equal(r2.step, 3);
  const r1 = await trainGanCommand(cliOptions(out, { steps: '4', threads: '1', resume: true, seed: undefined, model: undefined }));
  assert.equal(r1.step, 4);
  assert.ok(Number.isFinite(r1.loss));
  const starts = (await readLog(out)).filter((l) => l.type === 'start').map((l) => [l.step, l.threads, l.resumed]);
  assert.deepEqual(starts, [[0, 1, false], [2, 2, true], [3, 1, true]]);
});

test('train gan on 2 threads: the tensor count stays flat across steps, samples and checkpoints', async () => {
  const counts: number[] = [];
  const { stepper } = await train(path.join(root, 'memory2'), 1, {
    maxSteps: 6,
    checkpointEvery: 2,
    sampleEvery: 2,
    onStep: () => void counts.push(tf.memory().numTensors),
  });
  assert.equal(stepper?.threads, 2);
  assert.ok(counts.every((c) => c === counts[0]), `tensor counts ${counts.join(',')}`);
});

test('--threads: parsed and checked; the default is GAN3D_THREADS, else the core count capped at 2', () => {
  assert.equal(ganThreads('1'), 1);
  assert.equal(ganThreads('3'), 3);
  assert.throws(() => ganThreads('0'), /--threads must be a whole number ≥ 1/);
  assert.throws(() => ganThreads('two'), /--threads must be a whole number ≥ 1/);
  const saved = process.env.GAN3D_THREADS;
  try {
    process.env.GAN3D_THREADS = '3';
    assert.equal(ganThreads(undefined), 3);
    delete process.env.GAN3D_THREADS;
    assert.equal(ganThreads(undefined), Math.min(2, os.cpus().length));
  } finally {
    if (saved === undefined) delete process.env.GAN3D_THREADS;
    else process.env.GAN3D_THREADS = saved;
  }
});
