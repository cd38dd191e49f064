import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { cameraConfig } from '../../src/geometry/camera.js';
import { depthNormals } from '../../src/geometry/depth-grid.js';
import { depthToNormals } from '../../src/geometry/normals.js';
import { shade } from '../../src/geometry/shading.js';
import { SYNFACE_DEPTH_RANGE, readDepthPng } from '../../src/io/depth-png.js';
import { decodeImagePixels } from '../../src/io/image.js';
import { contactSheet } from '../../src/data/synface/contact-sheet.js';
import {
  SYNFACE_FOLDERS,
  encodeSample,
  generateSynface,
  parseSynfaceRecord,
  recordParams,
  sampleId,
  splitCounts,
  splitOf,
  synfaceParamsAt,
} from '../../src/data/synface/dataset.js';
import { canonicalFace } from '../../src/data/synface/face.js';
import { imageSeed, sampleParams, synfaceConfig } from '../../src/data/synface/params.js';
import { encodePng16GreySync, encodePng8Sync } from '../../src/data/synface/png-encode.js';
import { renderSynfaceBatch, shadeCanonical } from '../../src/data/synface/render.js';

const SIZE = 32;
const SEED = 7;
const N = 10;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let root = '';
let dataset = '';

async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const entry of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(await fs.readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

async function readPixels(file: string, channels: 1 | 3) {
  return decodeImagePixels(await fs.readFile(file), file, { crop: 'none' }, channels);
}

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-synface-'));
  dataset = path.join(root, 'a');
  await generateSynface({ out: dataset, n: N, size: SIZE, seed: SEED, batch: 4 });
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

test('the same seed gives the same bytes, whatever the batch size or worker count', async () => {
  await generateSynface({ out: path.join(root, 'b'), n: N, size: SIZE, seed: SEED, batch: 3 });
  await generateSynface({ out: path.join(root, 'c'), n: N, size: SIZE, seed: SEED, batch: 2, workers: 2 });
  const a = await hashTree(dataset);
  assert.equal(Object.keys(a).length, N * SYNFACE_FOLDERS.length + 3 + 1);
  assert.deepEqual(await hashTree(path.join(root, 'b')), a);
  assert.deepEqual(await hashTree(path.join(root, 'c')), a);
  await generateSynface({ out: path.join(root, 'd'), n: N, size: SIZE, seed: SEED + 1 });
  const d = await hashTree(path.join(root, 'd'));
  assert.notEqual(d['test/image/000009.png'], a['test/image/000009.png']);
});

test('splits are contiguous index ranges and ids are zero-padded indices', async () => {
  assert.deepEqual(splitCounts(20000), { train: 16000, val: 2000, test: 2000 });
  assert.deepEqual(splitCounts(N), { train: 8, val: 1, test: 1 });
  assert.deepEqual([0, 7, 8, 9].map((i) => splitOf(i, splitCounts(N))), ['train', 'train', 'val', 'test']);
  assert.equal(sampleId(42), '000042');
  assert.deepEqual(await fs.readdir(path.join(dataset, 'val', 'image')), ['000008.png']);
  assert.deepEqual(await fs.readdir(path.join(dataset, 'test', 'mask')), ['000009.png']);
  const train = (await fs.readFile(path.join(dataset, 'train', 'params.jsonl'), 'utf8')).trim().split('\n');
  assert.deepEqual(
    train.map((l) => parseSynfaceRecord(l).id),
    Array.from({ length: 8 }, (_, i) => sampleId(i)),
  );
  const meta = JSON.parse(await fs.readFile(path.join(dataset, 'meta.json'), 'utf8'));
  assert.deepEqual(meta.splits.counts, { train: 8, val: 1, test: 1 });
  assert.equal(meta.depthDecoding.formula, 'd = 1.1 - 0.2 * v');
  assert.equal(meta.stats.farClippedPixels, 0);
  assert.equal(meta.stats.nearClampedPixels, 0);
});

test('params.jsonl round-trips and regenerates each image alone, byte for byte', async () => {
  const lines = (await fs.readFile(path.join(dataset, 'train', 'params.jsonl'), 'utf8')).trim().split('\n');
  for (const line of [lines[1], lines[6]]) {
    const rec = parseSynfaceRecord(line);
    const params = recordParams(rec);
    assert.deepEqual(params, synfaceParamsAt(SEED, rec.index));
    assert.equal(rec.seed, imageSeed(SEED, rec.index));
    assert.deepEqual(JSON.parse(JSON.stringify(params)), params);
    const [sample] = renderSynfaceBatch([params], SIZE);
    const files = encodeSample(sample, SIZE);
    for (const folder of SYNFACE_FOLDERS) {
      const onDisk = await fs.readFile(path.join(dataset, rec.split, folder, `${rec.id}.png`));
      assert.ok(Buffer.from(files[folder]).equals(onDisk), `${folder}/${rec.id}.png`);
    }
  }
});

test('depth PNGs decode to the rendered depths within 16-bit quantisation; the mask is depth < 1.1', async () => {
  const params = [3, 9].map((i) => synfaceParamsAt(SEED, i));
  const samples = renderSynfaceBatch(params, SIZE);
  const step = (SYNFACE_DEPTH_RANGE.maxDepth - SYNFACE_DEPTH_RANGE.minDepth) / 65535;
  for (const [k, index] of [3, 9].entries()) {
    const split = splitOf(index, splitCounts(N));
    const file = (folder: string) => path.join(dataset, split, folder, `${sampleId(index)}.png`);
    const depth = await readDepthPng(file('depth'));
    const canon = await readDepthPng(file('canon_depth'));
    const mask = await readPixels(file('mask'), 1);
    let fg = 0;
    for (let p = 0; p < SIZE * SIZE; p++) {
      assert.ok(Math.abs(depth.data[p] - samples[k].depth[p]) <= step / 2 + 1e-6, `view depth at ${p}`);
      assert.ok(Math.abs(canon.data[p] - samples[k].canonDepth[p]) <= step / 2 + 1e-6, `canonical depth at ${p}`);
      assert.equal(mask.data[p] === 255, depth.data[p] < 1.1, `mask at ${p}`);
      assert.ok(mask.data[p] === 0 || mask.data[p] === 255);
      if (mask.data[p] === 255) fg++;
    }
    // A face that fills much of the frame, with background around it.
    assert.ok(fg > 0.3 * SIZE * SIZE && fg < 0.9 * SIZE * SIZE, `foreground ${fg}`);
  }
});

test('normal maps are depthToNormals of the written depth', async () => {
  const cam = cameraConfig(SIZE);
  const file = (folder: string) => path.join(dataset, 'train', folder, `${sampleId(2)}.png`);
  const depth = await readDepthPng(file('depth'));
  const normal = await readPixels(file('normal'), 3);
  const reference = tf.tidy(() => depthToNormals(tf.tensor4d(depth.data, [1, SIZE, SIZE, 1]), cam).dataSync());
  let worst = 0;
  for (let k = 0; k < reference.length; k++) worst = Math.max(worst, Math.abs(normal.data[k] - (reference[k] * 0.5 + 0.5) * 255));
  assert.ok(worst <= 1, `normal bytes off by ${worst}`);
  // The loop version itself, on the float depth.
  const fast = depthNormals(depth.data, cam);
  for (let k = 0; k < reference.length; k++) assert.ok(Math.abs(fast[k] - reference[k]) < 1e-4, `normal ${k}`);
});

test('the canonical image is what shade() gives', () => {
  const size = 24;
  const cam = cameraConfig(size);
  const params = [0, 1, 2].map((i) => synfaceParamsAt(SEED, i));
  const faces = params.map((p) => canonicalFace(p, size));
  const depth = new Float32Array(3 * size * size);
  const albedo = new Float32Array(3 * size * size * 3);
  faces.forEach((f, b) => {
    depth.set(f.shadeDepth, b * size * size);
    albedo.set(f.albedo, b * size * size * 3);
  });
  const tensors = tf.memory().numTensors;
  const worst = tf.tidy(() => {
    const light = tf.tensor2d(params.flatMap((p) => p.light), [3, 4]);
    const ours = shadeCanonical(depth, albedo, light, cam);
    const theirs = shade(tf.tensor4d(depth, [3, size, size, 1]), tf.tensor4d(albedo, [3, size, size, 3]), light, cam).image;
    return tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0];
  });
  assert.ok(worst < 1e-4, `max difference ${worst}`);
  renderSynfaceBatch(params, size);
  assert.equal(tf.memory().numTensors, tensors, 'no tensors leak');
});

test('with asymmetry 0 the canonical depth and albedo are exactly left-right symmetric', () => {
  const mirrored = (data: Float32Array, size: number, channels: number) => {
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        for (let c = 0; c < channels; c++) {
          if (data[(i * size + j) * channels + c] !== data[(i * size + size - 1 - j) * channels + c]) return false;
        }
      }
    }
    return true;
  };
  for (let index = 0; index < 6; index++) {
    const p = synfaceParamsAt(SEED, index);
    assert.equal(p.asymmetry.amount, 0);
    // Odd sizes have a middle column that maps to itself, even ones do not.
    for (const size of [33, 32]) {
      const face = canonicalFace(p, size);
      assert.ok(mirrored(face.depth, size, 1), `depth of face ${index} at ${size} px`);
      assert.ok(mirrored(face.shadeDepth, size, 1), `shading depth of face ${index} at ${size} px`);
      assert.ok(mirrored(face.albedo, size, 3), `albedo of face ${index} at ${size} px`);
    }
  }
  const lopsided = sampleParams(new Rng(imageSeed(SEED, 0)), synfaceConfig({ asymmetry: 1 }));
  const face = canonicalFace(lopsided, 33);
  assert.ok(!mirrored(face.depth, 33, 1) && !mirrored(face.albedo, 33, 3), 'asymmetry 1 breaks the symmetry');
});

test('the PNG encoder writes what decoders read back', async () => {
  const rng = new Rng(3);
  const rgb = Uint8Array.from({ length: 5 * 4 * 3 }, () => rng.int(256));
  const grey = Uint8Array.from({ length: 5 * 4 }, () => rng.int(256));
  const grey16 = Uint16Array.from({ length: 5 * 4 }, () => rng.int(65536));
  const a = await decodeImagePixels(encodePng8Sync(rgb, 5, 4, 3), 'rgb', { crop: 'none' }, 3);
  assert.deepEqual(Array.from(a.data), Array.from(rgb));
  const b = await decodeImagePixels(encodePng8Sync(grey, 5, 4, 1), 'grey', { crop: 'none' }, 1);
  assert.deepEqual(Array.from(b.data), Array.from(grey));
  const c = await decodeImagePixels(encodePng16GreySync(grey16, 5, 4), 'grey16', { crop: 'none' }, 1);
  assert.equal(c.maxValue, 65535);
  assert.deepEqual(Array.from(c.data), Array.from(grey16));
});

test('contact sheets tile a dataset folder', async () => {
  const sheet = await contactSheet(dataset, { kind: 'depth', split: 'train', count: 4, cols: 2, gap: 1 });
  assert.equal(sheet.files.length, 4);
  assert.deepEqual([sheet.width, sheet.height], [2 * SIZE + 3, 2 * SIZE + 3]);
  const px = await decodeImagePixels(sheet.png, 'sheet', { crop: 'none' }, 3);
  assert.equal(px.width, sheet.width);
});

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repo, encoding: 'utf8', env: { ...process.env, GAN3D_BACKEND: 'wasm' } });
}

test('the CLI refuses a non-empty output folder without --force, and replaces only the dataset with it', async () => {
  const out = path.join(root, 'cli');
  await fs.mkdir(out);
  await fs.writeFile(path.join(out, 'keep.txt'), 'mine');
  const args = ['data', 'synface', '--n', '3', '--size', '16', '--out', out, '--no-progress'];
  const refused = cli(args);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /not empty.*--force/s);
  await assert.rejects(fs.access(path.join(out, 'meta.json')));
  const forced = cli([...args, '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stdout, /images\/s/);
  await fs.access(path.join(out, 'meta.json'));
  assert.equal(await fs.readFile(path.join(out, 'keep.txt'), 'utf8'), 'mine');
});
