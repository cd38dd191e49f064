import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { generateSynface } from '../../src/data/synface/dataset.js';
import { ImageFolderDataset } from '../../src/data/image-folder.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { trainPhotoGeoCommand, type TrainPhotoGeoOptions } from '../../src/cli/train.js';
import type { LogLine } from '../../src/train/loop.js';
import type { PhotoGeoOverrides } from '../../src/models/photogeo/config.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Narrow networks: the test checks the plumbing, not the model.
const TINY: PhotoGeoOverrides = {
  depthNet: { nf: 8, zdim: 8 },
  albedoNet: { nf: 8, zdim: 8 },
  lightNet: { nf: 4 },
  viewNet: { nf: 4 },
  confNet: { nf: 8, zdim: 8 },
};
let root = '';
let data = '';

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-train-pg-'));
  data = path.join(root, 'synface');
  await generateSynface({ out: data, n: 24, size: 64, seed: 5, batch: 8 });
});
after(() => fs.rm(root, { recursive: true, force: true }));

async function readLog(outDir: string): Promise<LogLine[]> {
  return (await fs.readFile(path.join(outDir, 'log.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as LogLine);
}

function options(out: string, extra: Partial<TrainPhotoGeoOptions> = {}): TrainPhotoGeoOptions {
  return {
    data,
    out,
    steps: '4',
    batch: '4',
    seed: '3',
    checkpointEvery: '0',
    sampleEvery: '2',
    evalEvery: '2',
    evalImages: '3',
    model: TINY,
    workers: 1,
    quiet: true,
    write: () => {},
    ...extra,
  };
}

function cli(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', 'photogeo', ...args], { cwd: repo, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

test('image folder: sorted ids, [-1,1] batches, flips drawn from the Rng, exact resume of the order', async () => {
  const a = await ImageFolderDataset.load({ root: data, size: 64, seed: 2 });
  assert.equal(a.size, 19); // 24 × 0.8 rounded
  assert.deepEqual([...a.ids], [...a.ids].sort());
  const b = await ImageFolderDataset.load({ root: data, size: 64, seed: 2 });
  const rngA = new Rng(9);
  a.nextBatch(rngA, 7);
  b.setState(a.getState());
  const rngB = new Rng(1);
  rngB.setState(rngA.getState());
  const x = a.nextBatch(rngA, 16).images;
  const y = b.nextBatch(rngB, 16).images;
  assert.deepEqual(x.shape, [16, 64, 64, 3]);
  assert.deepEqual(x.data, y.data);
  assert.ok(x.data.every((v) => v >= -1 && v <= 1));
  // p = 1 mirrors every image of the p = 0 batch (same seed, same order).
  const plain = (await ImageFolderDataset.load({ root: data, size: 64, seed: 2, flipProbability: 0 })).nextBatch(new Rng(0), 3).images.data;
  const mirrored = (await ImageFolderDataset.load({ root: data, size: 64, seed: 2, flipProbability: 1 })).nextBatch(new Rng(0), 3).images.data;
  const at = (d: Float32Array, n: number, yy: number, xx: number, c: number) => d[((n * 64 + yy) * 64 + xx) * 3 + c];
  for (const [n, yy, xx, c] of [[0, 10, 3, 0], [1, 40, 60, 2], [2, 33, 0, 1]]) {
    assert.equal(at(mirrored, n, yy, xx, c), at(plain, n, yy, 63 - xx, c));
  }
  assert.notDeepEqual(plain, mirrored);
});

test('train photogeo: log, samples, eval, checkpoint; resume continues; the CLI guards the run folder', async () => {
  const out = path.join(root, 'run');
  const first = await trainPhotoGeoCommand(options(out));
  assert.equal(first.status, 'completed');
  assert.equal(first.step, 4);
  let log = await readLog(out);
  const train = log.filter((l) => l.type === 'train');
  const evals = log.filter((l) => l.type === 'eval');
  assert.ok(train.length >= 1 && train.every((l) => Number.isFinite(l.loss)));
  assert.deepEqual(evals.map((l) => l.step), [2, 4]);
  for (const e of evals) {
    assert.ok(Number.isFinite(e.val_side) && (e.val_side as number) >= 0, `val_side ${e.val_side}`);
    assert.ok(Number.isFinite(e.val_mad) && (e.val_mad as number) > 0, `val_mad ${e.val_mad}`);
  }
  const png = await fs.readFile(path.join(out, 'samples', 'step-000004.png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  await fs.access(path.join(out, 'samples', 'step-000002.png'));
  const ckpt = await loadCheckpoint(path.join(out, 'checkpoints'));
  assert.equal(ckpt.step, 4);
  assert.equal(ckpt.kind, 'photogeo');
  assert.ok(ckpt.variables.some((v) => v.name.startsWith('depth/')));
  const cfg = (ckpt.config as { trainer: { optimizer: { weightDecayApplied: boolean }; data: { images: number } } }).trainer;
  assert.equal(cfg.optimizer.weightDecayApplied, false);
  assert.equal(cfg.data.images, 19);

  // Resume without --seed or widths: both come from the checkpoint.
  const lines: string[] = [];
  const second = await trainPhotoGeoCommand(options(out, { resume: true, steps: '6', seed: undefined, model: undefined, write: (t) => lines.push(t) }));
  assert.equal(second.step, 6);
  log = await readLog(out);
  assert.equal(log.filter((l) => l.type === 'start').at(-1)!.resumed, true);
  assert.deepEqual(log.filter((l) => l.type === 'eval').map((l) => l.step), [2, 4, 6]);
  assert.equal((await loadCheckpoint(path.join(out, 'checkpoints'))).optimizer!.step, 6);
  assert.match(lines.join(''), /Completed at step 6[\s\S]*last eval: \{"step":6,"val_side":/);

  const refused = cli('--data', data, '--out', out, '--steps', '2');
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /already holds a training run.*--resume.*--force/);
  const both = cli('--data', data, '--out', path.join(root, 'other'), '--steps', '2', '--epochs', '1');
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--steps or --epochs, not both/);
});

test('train photogeo --init: a new run starts from the model\'s weights with changed settings, and resumes', async () => {
  const source = path.join(root, 'init-source');
  await trainPhotoGeoCommand(options(source, { steps: '2', sampleEvery: '0', evalEvery: '0' }));
  const sourceCkpt = await loadCheckpoint(path.join(source, 'checkpoints'));
  const out = path.join(root, 'fine-tune');
  // A learning rate so small that one step leaves the weights where --init put them.
  const tuned = await trainPhotoGeoCommand(options(out, { init: source, depthRange: '0.94,1.06', lr: '1e-12', steps: '1', seed: '8', model: undefined, sampleEvery: '0', evalEvery: '0' }));
  assert.equal(tuned.step, 1);
  const ckpt = await loadCheckpoint(path.join(out, 'checkpoints'));
  const cfg = (ckpt.config as { trainer: { init: { id: string }; model: { minDepth: number; maxDepth: number; borderDepth: number; depthNet: { nf: number } } } }).trainer;
  assert.match(cfg.init.id, /init-source-step2/);
  assert.deepEqual([cfg.model.minDepth, cfg.model.maxDepth, cfg.model.depthNet.nf], [0.94, 1.06, 8]);
  assert.ok(Math.abs(cfg.model.borderDepth - (0.7 * 1.06 + 0.3 * 0.94)) < 1e-12);
  let compared = 0;
  for (const v of ckpt.variables) {
    const s = sourceCkpt.variables.find((x) => x.name === v.name)!;
    let maxDiff = 0;
    for (let i = 0; i < v.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(v.data[i] - s.data[i]));
    assert.ok(maxDiff < 1e-6, `${v.name} moved by ${maxDiff}`);
    compared++;
  }
  assert.equal(compared, sourceCkpt.variables.length);
  // The fine-tuning run resumes like any other (its init record is part of its config).
  const resumed = await trainPhotoGeoCommand(options(out, { resume: true, steps: '2', seed: undefined, model: undefined, sampleEvery: '0', evalEvery: '0' }));
  assert.equal(resumed.step, 2);

  await assert.rejects(trainPhotoGeoCommand(options(path.join(root, 'ft2'), { init: source, resume: true })), /--init starts a new run/);
  await assert.rejects(trainPhotoGeoCommand(options(path.join(root, 'ft3'), { init: source, model: undefined, widths: 'half' })), /fine-tune with the widths the model was trained with/);
  await assert.rejects(trainPhotoGeoCommand(options(path.join(root, 'ft4'), { init: source, depthRange: '1.1,0.9' })), /--depth-range must be two depths/);
  await assert.rejects(trainPhotoGeoCommand(options(path.join(root, 'ft5'), { init: path.join(root, 'nothing') })), /No model at/);
});

test('train photogeo: clear errors for a missing data folder and bad numbers', async () => {
  const out = path.join(root, 'bad');
  await assert.rejects(trainPhotoGeoCommand(options(out, { data: path.join(root, 'nope') })), /no such folder/);
  await assert.rejects(trainPhotoGeoCommand(options(out, { batch: '0' })), /--batch must be a whole number ≥ 1/);
  await assert.rejects(trainPhotoGeoCommand(options(out, { evalEvery: '-1' })), /--eval-every must be a whole number ≥ 0/);
  await assert.rejects(trainPhotoGeoCommand(options(out, { steps: undefined })), /--steps N or --epochs E/);
  await assert.rejects(trainPhotoGeoCommand(options(out, { widths: 'huge' })), /--widths must be one of default, half, paper/);
  await assert.rejects(trainPhotoGeoCommand(options(out, { lr: '0' })), /--lr must be a positive number/);
  await assert.rejects(trainPhotoGeoCommand(options(out, { lambdaSmooth: 'x' })), /--lambda-smooth must be a number ≥ 0/);
});
