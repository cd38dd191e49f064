import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { listCheckpoints, loadCheckpoint } from '../../src/io/checkpoint.js';
import { runTraining, type LogLine, type RunOptions } from '../../src/train/loop.js';
import { tinyTrainer } from './fixtures/tiny-trainer.js';

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-train-'));
  temps.push(dir);
  return dir;
}

before(async () => {
  await initBackend('wasm');
});
after(async () => {
  await Promise.all(temps.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function readLog(outDir: string): Promise<LogLine[]> {
  const text = await fs.readFile(path.join(outDir, 'log.jsonl'), 'utf8');
  return text.trimEnd().split('\n').map((line) => JSON.parse(line) as LogLine);
}

const trainLosses = (log: LogLine[]) => log.filter((l) => l.type === 'train').map((l) => [l.step, l.loss, l.epoch]);

function base(outDir: string, extra: Partial<RunOptions> = {}): RunOptions {
  return { trainer: tinyTrainer(), outDir, batchSize: 4, workers: 1, logEvery: 1, checkpointEvery: 0, quiet: true, seed: 7, ...extra };
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Gan3dError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

for (const local of [false, true]) {
test(`K steps + checkpoint + resume + K steps equals 2K steps straight, bit for bit (${local ? 'local stepper' : '2 threads'})`, async () => {
  const K = 5; // 4 examples a step over 7 examples: epochs end mid-batch
  const straight = await tempDir();
  const split = await tempDir();
  const a = await runTraining(base(straight, { trainer: tinyTrainer({}, local), maxSteps: 2 * K, checkpointEvery: 3 }));
  assert.equal(a.status, 'completed');
  const first = await runTraining(base(split, { trainer: tinyTrainer({}, local), maxSteps: K }));
  assert.equal(first.step, K);
  // A fresh trainer (fresh iterator and replica), as in a new process.
  const b = await runTraining(base(split, { trainer: tinyTrainer({}, local), maxSteps: 2 * K, resume: true }));
  assert.equal(b.step, 2 * K);
  assert.equal(b.loss, a.loss);

  const logA = trainLosses(await readLog(straight));
  const logB = trainLosses(await readLog(split));
  assert.equal(logA.length, 2 * K);
  assert.deepEqual(logB, logA);
  assert.ok(Number(logA.at(-1)![2]) >= 2, 'the run crossed epochs');

  const ckA = await loadCheckpoint(path.join(straight, 'checkpoints'));
  const ckB = await loadCheckpoint(path.join(split, 'checkpoints'));
  for (const file of ['weights.bin', 'optimizer.bin']) {
    assert.deepEqual(await fs.readFile(path.join(ckB.path, file)), await fs.readFile(path.join(ckA.path, file)), file);
  }
  assert.deepEqual(ckB.rng, ckA.rng);
  assert.deepEqual(ckB.data, ckA.data);
  assert.equal(ckB.optimizer!.step, 2 * K);
  assert.equal(ckB.epoch, ckA.epoch);
  // The weights did move: the comparison has teeth.
  const ck0 = await loadCheckpoint(path.join(split, 'checkpoints', 'ckpt-00000005'));
  assert.notDeepEqual(ck0.variables[0].data, ckA.variables[0].data);
  assert.deepEqual((ckA.config as { training: { batchSize: number } }).training.batchSize, 4);
});
}

test('the JSONL log parses and carries step, epoch, loss, speed, time and memory; samples and evals are written', async () => {
  const out = await tempDir();
  const epochEnds: number[] = [];
  await runTraining(
    base(out, { trainer: tinyTrainer({}, true), maxSteps: 6, logEvery: 2, sampleEvery: 3, evalEvery: 3, checkpointEvery: 4, onEpochEnd: ({ epoch }) => void epochEnds.push(epoch) }),
  );
  const log = await readLog(out);
  assert.equal(log[0].type, 'start');
  const train = log.filter((l) => l.type === 'train');
  assert.deepEqual(train.map((l) => l.step), [2, 4, 6]);
  for (const l of train) {
    for (const key of ['epoch', 'loss', 'lastLoss', 'imagesPerSec', 'wallSeconds', 'peakRssMiB', 'rssMiB', 'tensors', 'time']) {
      assert.ok(key in l, `log line lacks ${key}`);
    }
    assert.ok(Number.isFinite(l.loss) && (l.peakRssMiB as number) > 10 && (l.imagesPerSec as number) > 0);
  }
  const evals = log.filter((l) => l.type === 'eval');
  assert.deepEqual(evals.map((l) => l.step), [3, 6]);
  assert.ok(typeof evals[0].datasetLoss === 'number');
  assert.deepEqual(log.filter((l) => l.type === 'checkpoint').map((l) => l.step), [4, 6]);
  assert.equal(log.at(-1)!.type, 'stop');
  assert.deepEqual(await fs.readdir(path.join(out, 'samples')), ['step-000003.png', 'step-000006.png']);
  const png = await fs.readFile(path.join(out, 'samples', 'step-000003.png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.deepEqual(epochEnds, [0, 1, 2]); // 24 examples over epochs of 7
  assert.equal((await loadCheckpoint(path.join(out, 'checkpoints'))).metrics!.datasetLoss, evals[1].datasetLoss);
});

test('the tensor count stays flat over the loop (steps, samples, evals, checkpoints)', async () => {
  const out = await tempDir();
  const counts: number[] = [];
  const before = tf.memory().numTensors;
  await runTraining(
    base(out, { maxSteps: 12, sampleEvery: 2, evalEvery: 3, checkpointEvery: 4, onStep: () => void counts.push(tf.memory().numTensors) }),
  );
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensor counts ${counts.join(',')}`);
  assert.equal(tf.memory().numTensors, before, 'the loop frees the replica it built');
});

test('refuses an existing run folder without --resume or --force; resume checks the config', async () => {
  const out = await tempDir();
  await runTraining(base(out, { maxSteps: 2 }));
  await rejectsWith(runTraining(base(out, { maxSteps: 2 })), 'TRAIN_RUN_EXISTS', /--resume to continue it or --force/);
  await rejectsWith(runTraining(base(out, { maxSteps: 4, resume: true, trainer: tinyTrainer({ noise: 0.1 }) })), 'CHECKPOINT_INCOMPATIBLE', /model\/trainer config/);
  await rejectsWith(runTraining(base(out, { maxSteps: 4, resume: true, batchSize: 2 })), 'CHECKPOINT_INCOMPATIBLE', /batch size \(4 vs 2\)/);
  const forced = await runTraining(base(out, { maxSteps: 3, force: true, checkpointEvery: 1, keepCheckpoints: 2 }));
  assert.equal(forced.step, 3);
  assert.deepEqual((await listCheckpoints(path.join(out, 'checkpoints'))).map((c) => c.step), [2, 3]);
  assert.equal((await readLog(out))[0].step, 0, 'force started a fresh log');
  // A resume that names no seed takes the run's own.
  const adopted = await runTraining({ ...base(out, { maxSteps: 4, resume: true }), seed: undefined });
  assert.equal(adopted.step, 4);
  const empty = await tempDir();
  await rejectsWith(runTraining(base(empty, { maxSteps: 2, resume: true })), 'TRAIN_NO_CHECKPOINT', /Nothing to resume/);
  await rejectsWith(runTraining(base(empty, { maxSteps: 2, epochs: 1 })), 'TRAIN_BAD_OPTION', /exactly one of/);
});

test('SIGINT (delivered twice at once, as npm forwards Ctrl-C) saves a checkpoint and stops cleanly; the run resumes from it', async () => {
  const out = await tempDir();
  const script = fileURLToPath(new URL('./fixtures/sigint-run.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const hadReady = stdout.includes('READY');
      stdout += d.toString();
      if (!hadReady && stdout.includes('READY')) {
        child.kill('SIGINT');
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { status: string; step: number; checkpoint: string };
  assert.equal(result.status, 'interrupted');
  assert.ok(result.step >= 3 && result.step < 1_000_000);
  const ckpt = await loadCheckpoint(path.join(out, 'checkpoints'));
  assert.equal(ckpt.step, result.step);
  assert.equal(ckpt.path, result.checkpoint);
  const resumed = await runTraining(base(out, { maxSteps: result.step + 3, resume: true }));
  assert.equal(resumed.status, 'completed');
  const steps = (await readLog(out)).filter((l) => l.type === 'train').map((l) => l.step);
  assert.deepEqual(steps, Array.from({ length: result.step + 3 }, (_, i) => i + 1));
});
