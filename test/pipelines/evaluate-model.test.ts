import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evalCommand } from '../../src/cli/eval.js';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { writeDepthPng } from '../../src/io/depth-png.js';
import { readImage } from '../../src/io/image.js';
import { writePng8 } from '../../src/io/png.js';
import { loadPhotoGeoBundle, savePhotoGeoBundle, type LoadedPhotoGeoModel } from '../../src/pipelines/model-bundle.js';
import { PhotoGeoModel } from '../../src/models/photogeo/index.js';
import { evaluateBaseline, evaluateDepth, evaluateModel } from '../../src/pipelines/evaluate.js';

const S = 64;
const N = 5;
let root = '';
let split = '';
let bundleDir = '';
let loaded: LoadedPhotoGeoModel;

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-eval-model-'));
  const model = new PhotoGeoModel(9, {
    depthNet: { nf: 8, zdim: 16 },
    albedoNet: { nf: 8, zdim: 16 },
    confNet: { nf: 8, zdim: 8 },
    lightNet: { nf: 8 },
    viewNet: { nf: 8 },
  });
  bundleDir = path.join(root, 'model');
  await savePhotoGeoBundle(bundleDir, model, { id: 'tiny-eval', training: { step: 42 } });
  model.dispose();
  loaded = await loadPhotoGeoBundle(bundleDir);
  // A tiny split: a bump of varying size in front of the 1.1 background, an image that shows it.
  split = path.join(root, 'test');
  for (const sub of ['image', 'depth', 'mask']) await fs.mkdir(path.join(split, sub), { recursive: true });
  for (let k = 0; k < N; k++) {
    const depth = new Float32Array(S * S).fill(1.1);
    const mask = new Uint8Array(S * S);
    const image = new Uint8Array(S * S * 3);
    const r = 18 + 3 * k;
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const q = ((i - 31.5) / (1.2 * r)) ** 2 + ((j - 31.5) / r) ** 2;
        const p = i * S + j;
        if (q < 1) {
          depth[p] = 1.1 - 0.12 * Math.sqrt(1 - q);
          mask[p] = 255;
        }
        const shade = q < 1 ? 60 + 180 * Math.sqrt(1 - q) : 20;
        image.set([shade, shade * 0.8, (shade * (k + 1)) % 256], 3 * p);
      }
    }
    const id = String(k).padStart(6, '0');
    await writeDepthPng(path.join(split, 'depth', `${id}.png`), { data: depth, width: S, height: S });
    await writePng8(path.join(split, 'mask', `${id}.png`), mask, S, S, 1);
    await writePng8(path.join(split, 'image', `${id}.png`), image, S, S, 3);
  }
});

after(async () => {
  loaded.model.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

test('eval --model gives the numbers of evaluateDepth on the model\'s own viewDepth, in the baselines\' JSON form', async () => {
  let printed = '';
  const json = path.join(root, 'report.json');
  const tensors = tf.memory().numTensors;
  const report = await evalCommand({ data: split, model: bundleDir, batch: '2', json, quiet: true, write: (t) => (printed += t) });
  assert.equal(tf.memory().numTensors, tensors, 'evaluation leaks tensors');
  assert.match(printed, /photogeo tiny-eval\s+5\s/);
  assert.deepEqual(JSON.parse(await fs.readFile(json, 'utf8')), JSON.parse(JSON.stringify(report)));

  // The same forward passes (batches of 2), done here, scored by the shared path: identical numbers.
  const ids = Array.from({ length: N }, (_, k) => String(k).padStart(6, '0'));
  const inputs = await Promise.all(ids.map((id) => readImage(path.join(split, 'image', `${id}.png`), { crop: 'center', size: S })));
  const predictions = new Map<string, Float32Array>();
  for (let start = 0; start < N; start += 2) {
    const chunk = inputs.slice(start, start + 2);
    const pixels = new Float32Array(chunk.length * S * S * 3);
    chunk.forEach((im, k) => pixels.set(im.data, k * S * S * 3));
    const depth = tf.tidy(() => loaded.model.reconstruct(tf.tensor4d(pixels, [chunk.length, S, S, 3]), { flip: false }).viewDepth.dataSync() as Float32Array);
    chunk.forEach((_, k) => predictions.set(ids[start + k], depth.slice(k * S * S, (k + 1) * S * S)));
  }
  const reference = await evaluateDepth(split, report.method, (sample) => predictions.get(sample.id)!);
  assert.equal(report.images, N);
  assert.deepEqual(report.side, reference.side);
  assert.deepEqual(report.mad, reference.mad);
  // One image per forward pass: the same up to float rounding in the convolutions.
  const single = await evaluateModel(loaded, split, { batch: 1 });
  for (const key of ['side', 'mad'] as const) {
    for (const stat of ['mean', 'std'] as const) {
      const a = single[key][stat];
      const b = reference[key][stat];
      assert.ok(Number.isFinite(a) && Math.abs(a - b) <= 1e-4 * Math.max(1e-3, Math.abs(b)), `${key}.${stat}: ${a} vs ${b}`);
    }
  }
  assert.equal(report.excluded, reference.excluded);
  assert.equal(report.protocol, reference.protocol);
  const baseline = await evaluateBaseline('null', split);
  assert.deepEqual(Object.keys(report).sort(), Object.keys(baseline).sort());
  assert.equal(report.details.model, 'tiny-eval');
  assert.equal(report.details.step, 42);

  const limited = await evaluateModel(loaded, split, { limit: 3, batch: 50 });
  assert.equal(limited.images, 3);
});

test('eval refuses --baseline with --model, neither, and a split without images', async () => {
  const quiet = { data: split, quiet: true, write: () => undefined };
  const fails = async (p: Promise<unknown>, code: string, pattern: RegExp) =>
    assert.rejects(p, (e: unknown) => e instanceof Gan3dError && e.code === code && pattern.test(e.message));
  await fails(evalCommand({ ...quiet, baseline: 'null', model: bundleDir }), 'BAD_ARGUMENT', /--baseline or --model, not both/);
  await fails(evalCommand({ ...quiet }), 'BAD_ARGUMENT', /--baseline null\|mean\|ellipsoid, or --model/);
  await fails(evalCommand({ ...quiet, model: bundleDir, batch: '0' }), 'BAD_ARGUMENT', /--batch must be a whole number/);
  const noImages = path.join(root, 'no-images');
  await fs.cp(path.join(split, 'depth'), path.join(noImages, 'depth'), { recursive: true });
  await fails(evaluateModel(loaded, noImages), 'NO_DATA', /no image\/ folder/);
  await fails(evalCommand({ ...quiet, model: path.join(root, 'nope') }), 'MODEL_NOT_FOUND', /No model at/);
});
