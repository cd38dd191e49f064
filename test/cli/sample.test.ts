// `gan3d sample`: a tiny GAN trained for 2 steps, exported, then sampled: file layout, grid size, latents.json that
// draws the same images again, determinism, ψ = 0, the non-empty-folder refusal and argument errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { modelExportCommand } from '../../src/cli/model.js';
import { sampleCommand, type SampleCommandOptions, type SampleLatent } from '../../src/cli/sample.js';
import { trainGanCommand } from '../../src/cli/train.js';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';
import { encodePng8, signedToUint8 } from '../../src/io/png.js';
import type { StyleGanConfig } from '../../src/models/stylegan/config.js';
import { loadGanModel, type LoadedGan } from '../../src/pipelines/gan-bundle.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The tiny 16×16 GAN of test/pipelines/train-gan.test.ts.
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

let root = '';
let run = '';
let bundle = '';
let gan: LoadedGan;

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-sample-'));
  const data = path.join(root, 'data', 'train');
  const rng = new Rng(2);
  await fs.mkdir(path.join(data, 'image'), { recursive: true });
  for (let i = 0; i < 8; i++) {
    const px = Uint8Array.from({ length: 16 * 16 * 3 }, () => rng.int(256));
    await fs.writeFile(path.join(data, 'image', `${i}.png`), await encodePng8(px, 16, 16, 3));
  }
  run = path.join(root, 'run');
  await trainGanCommand({ data, out: run, steps: '2', batch: '4', seed: '3', checkpointEvery: '0', sampleEvery: '0', model: TINY, quiet: true, write: () => {} });
  bundle = path.join(root, 'models', 'gan');
  await modelExportCommand(run, { out: bundle, write: () => undefined });
  gan = await loadGanModel(bundle);
});

after(async () => {
  gan.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

const options = (out: string, extra: Partial<SampleCommandOptions> = {}): SampleCommandOptions => ({
  model: bundle,
  n: '10',
  truncation: '0.7',
  seed: '5',
  out: path.join(root, out),
  write: () => undefined,
  ...extra,
});

async function rejects(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Gan3dError, `expected a Gan3dError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

async function pixels(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

interface LatentsJson {
  seed: number;
  n: number;
  psi: number;
  model: { id: string };
  config: StyleGanConfig;
  grid: { columns: number; rows: number };
  samples: SampleLatent[];
}

const readLatents = async (dir: string) => JSON.parse(await fs.readFile(path.join(dir, 'latents.json'), 'utf8')) as LatentsJson;

/** synthesize(w) of latents.json's samples, as the bytes a PNG holds. */
function redraw(samples: SampleLatent[]): Uint8Array[] {
  return tf.tidy(() => {
    const w = tf.tensor2d(samples.flatMap((s) => s.w), [samples.length, 8]);
    const images = gan.generator.synthesize(w).dataSync() as Float32Array;
    const per = 16 * 16 * 3;
    return samples.map((_, i) => signedToUint8(images.subarray(i * per, (i + 1) * per)));
  });
}

test('sample: a grid ⌈√n⌉ wide, one PNG per sample, and latents.json whose w draws the same images', async () => {
  const tensors = tf.memory().numTensors;
  let printed = '';
  const r = await sampleCommand(options('a', { write: (t) => (printed += t) }));
  assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind');
  assert.match(printed, /Wrote 10 samples of GAN "run-step2" \(ψ 0\.7, seed 5\) to .*a\/: grid\.png \(4×3\), sample-0000\.png … sample-0009\.png, latents\.json/);
  const dir = path.join(root, 'a');
  const files = (await fs.readdir(dir)).sort();
  assert.deepEqual(files, ['grid.png', 'latents.json', ...Array.from({ length: 10 }, (_, i) => `sample-000${i}.png`)]);
  assert.deepEqual(r.files.sort(), files);
  // 4 columns × 3 rows of 16 px cells with 2 px gaps; the two cells past the last sample stay background.
  const grid = await pixels(path.join(dir, 'grid.png'));
  assert.deepEqual([grid.width, grid.height], [4 * 16 + 5 * 2, 3 * 16 + 4 * 2]);
  const at = (x: number, y: number) => [...grid.data.subarray((y * grid.width + x) * 3, (y * grid.width + x) * 3 + 3)];
  assert.deepEqual(at(2 + 2 * 18 + 8, 2 + 2 * 18 + 8), [32, 32, 32]);

  const doc = await readLatents(dir);
  assert.equal(doc.n, 10);
  assert.equal(doc.psi, 0.7);
  assert.equal(doc.seed, 5);
  assert.equal(doc.model.id, 'run-step2');
  assert.deepEqual(doc.config, gan.config);
  assert.deepEqual([doc.grid.columns, doc.grid.rows], [4, 3]);
  assert.equal(doc.samples.length, 10);
  const redrawn = redraw(doc.samples);
  for (const [i, s] of doc.samples.entries()) {
    assert.deepEqual([s.index, s.seed, s.file, s.psi], [i, 5 + i, `sample-000${i}.png`, 0.7]);
    assert.deepEqual(Float32Array.from(s.z), new Rng(5 + i).normalArray(8), 'z of seed + i');
    const png = await pixels(path.join(dir, s.file));
    assert.deepEqual([png.width, png.height], [16, 16]);
    assert.deepEqual(png.data, redrawn[i], `${s.file} = synthesize(w)`);
    // The sample sits in the grid at row ⌊i/4⌋, column i mod 4.
    const [x0, y0] = [2 + (i % 4) * 18, 2 + Math.floor(i / 4) * 18];
    assert.deepEqual(at(x0 + 3, y0 + 5), [...png.data.subarray((5 * 16 + 3) * 3, (5 * 16 + 3) * 3 + 3)]);
  }
  // Truncation pulled w toward the mean: w = wAvg + 0.7 (mapping(z) − wAvg).
  const w0 = tf.tidy(() => gan.generator.truncate(gan.generator.mapping(tf.tensor2d(doc.samples[0].z, [1, 8])), 0.7).dataSync());
  assert.deepEqual(Float32Array.from(doc.samples[0].w), w0);
});

test('sample: the same seed writes the same bytes; sample i of seed s is sample 0 of seed s + i', async () => {
  await sampleCommand(options('b'));
  for (const f of await fs.readdir(path.join(root, 'a'))) {
    assert.deepEqual(await fs.readFile(path.join(root, 'b', f)), await fs.readFile(path.join(root, 'a', f)), f);
  }
  // From the run folder (its checkpoint) instead of the bundle: the same images.
  await sampleCommand(options('c', { model: run, n: '1', seed: '8' }));
  assert.deepEqual(await fs.readFile(path.join(root, 'c', 'sample-0000.png')), await fs.readFile(path.join(root, 'a', 'sample-0003.png')));
  await sampleCommand(options('d', { seed: '6' }));
  assert.notDeepEqual(await fs.readFile(path.join(root, 'd', 'sample-0000.png')), await fs.readFile(path.join(root, 'a', 'sample-0000.png')));
  assert.deepEqual(await fs.readFile(path.join(root, 'd', 'sample-0000.png')), await fs.readFile(path.join(root, 'a', 'sample-0001.png')));
});

test('sample: ψ = 0 makes every sample the mean-w image', async () => {
  await sampleCommand(options('psi0', { truncation: '0', n: '4' }));
  const dir = path.join(root, 'psi0');
  const doc = await readLatents(dir);
  const wAvg = gan.generator.wAvg.dataSync() as Float32Array;
  const mean = tf.tidy(() => signedToUint8(gan.generator.synthesize(tf.tensor2d(wAvg, [1, 8])).dataSync() as Float32Array));
  for (const s of doc.samples) {
    assert.equal(s.psi, 0);
    assert.deepEqual(Float32Array.from(s.w), wAvg);
    assert.deepEqual((await pixels(path.join(dir, s.file))).data, mean, s.file);
  }
  // Without --truncation the model's own truncationPsi (1 by default: none) applies.
  const r = await sampleCommand(options('psi-default', { truncation: undefined, n: '1' }));
  assert.equal(r.psi, gan.config.truncationPsi);
});

test('sample: a non-empty folder needs --force, which replaces only the files sample writes', async () => {
  const dir = path.join(root, 'mine');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'notes.txt'), 'mine');
  await rejects(sampleCommand(options('mine')), 'SAMPLE_OUTPUT_EXISTS', /mine is not empty \(notes\.txt\): pass --force.*or choose another -o/);
  assert.deepEqual(await fs.readdir(dir), ['notes.txt']);
  await fs.writeFile(path.join(dir, 'sample-0042.png'), 'stale');
  await sampleCommand(options('mine', { n: '4', force: true }));
  assert.deepEqual((await fs.readdir(dir)).sort(), ['grid.png', 'latents.json', 'notes.txt', 'sample-0000.png', 'sample-0001.png', 'sample-0002.png', 'sample-0003.png']);
  assert.equal(await fs.readFile(path.join(dir, 'notes.txt'), 'utf8'), 'mine');
  // Again with --force over its own earlier output.
  await sampleCommand(options('mine', { n: '2', seed: '9', force: true }));
  assert.equal((await readLatents(dir)).seed, 9);
  assert.equal((await fs.readdir(dir)).length, 5);
});

test('sample: clear errors for bad --n, --truncation, --seed, -o and model', async () => {
  for (const n of ['0', '-3', '2.5', 'ten', '', '10001']) await rejects(sampleCommand(options('bad', { n })), 'BAD_ARGUMENT', /--n must be a whole number from 1 to 10000/);
  for (const truncation of ['-0.1', '2.01', 'x', '', 'NaN']) {
    await rejects(sampleCommand(options('bad', { truncation })), 'BAD_ARGUMENT', /--truncation must be a number from 0 to 2 \(1: no truncation, 0: .*mean-w image/);
  }
  await rejects(sampleCommand(options('bad', { seed: '-1' })), 'BAD_ARGUMENT', /--seed must be a whole number from 0 to/);
  await rejects(sampleCommand(options('bad', { model: path.join(root, 'no-model') })), 'MODEL_NOT_FOUND', /No GAN at .*no-model.*gan3d train gan.*gan3d model export/);
  await fs.writeFile(path.join(root, 'a-file'), 'x');
  await rejects(sampleCommand(options('a-file')), 'IO_NOT_A_FOLDER', /is a file; give a folder/);
  await assert.rejects(fs.stat(path.join(root, 'bad')), 'nothing was written');
});

test('sample: the command line runs it and prints errors without a stack', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'sample', ...args], { cwd: repo, encoding: 'utf8' });
  const ok = cli('--model', run, '--n', '4', '--seed', '5', '--truncation', '0.7', '-o', path.join(root, 'cli'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /Wrote 4 samples of GAN "run-step2"/);
  const bad = cli('--model', run, '--n', '4', '-o', path.join(root, 'cli'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^gan3d: Output folder .*cli is not empty/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
});
