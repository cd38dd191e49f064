import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { modelExportCommand } from '../../src/cli/model.js';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { saveCheckpoint } from '../../src/io/checkpoint.js';
import {
  loadPhotoGeoBundle,
  loadPhotoGeoModel,
  MODEL_BUNDLE_FORMAT,
  savePhotoGeoBundle,
  type PhotoGeoBundleJson,
} from '../../src/pipelines/model-bundle.js';
import { PhotoGeoModel, type PhotoGeoOverrides } from '../../src/models/photogeo/index.js';

const TINY: PhotoGeoOverrides = {
  depthNet: { nf: 8, zdim: 16 },
  albedoNet: { nf: 8, zdim: 16 },
  confNet: { nf: 8, zdim: 8 },
  lightNet: { nf: 8 },
  viewNet: { nf: 8 },
};

let root = '';
let model: PhotoGeoModel;
let bundle = '';

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-bundle-'));
  model = new PhotoGeoModel(11, TINY);
  bundle = path.join(root, 'bundle');
  await savePhotoGeoBundle(bundle, model, { id: 'tiny-test', training: { step: 5, note: 'unit test' } });
});

after(async () => {
  model.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

function assertSameWeights(a: PhotoGeoModel, b: PhotoGeoModel): void {
  const va = a.namedVariables();
  const vb = b.namedVariables();
  assert.deepEqual([...vb.keys()], [...va.keys()]);
  for (const [name, v] of va) {
    const w = vb.get(name)!;
    assert.deepEqual(w.shape, v.shape, name);
    // Bit-exact: compare the raw float32 bytes.
    assert.deepEqual(new Uint8Array((w.dataSync() as Float32Array).buffer.slice(0)), new Uint8Array((v.dataSync() as Float32Array).buffer.slice(0)), name);
  }
}

function images(n: number): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.mul(tf.randomUniform([n, 64, 64, 3], 0, 1, 'float32', 3), 2), 1) as tf.Tensor4D);
}

async function rejects(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Gan3dError, `expected a Gan3dError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

async function copyBundle(name: string): Promise<string> {
  const dir = path.join(root, name);
  await fs.cp(bundle, dir, { recursive: true });
  return dir;
}

test('a bundle round-trips bit-exactly: same config, same weights, same predictions', async () => {
  const doc = JSON.parse(await fs.readFile(path.join(bundle, 'model.json'), 'utf8')) as PhotoGeoBundleJson;
  assert.equal(doc.format, MODEL_BUNDLE_FORMAT);
  assert.equal(doc.formatVersion, 1);
  assert.equal(doc.id, 'tiny-test');
  assert.deepEqual(doc.training, { step: 5, note: 'unit test' });
  assert.deepEqual(doc.config, model.config);
  assert.equal(doc.parameters, model.parameterCount());
  assert.equal(doc.variables.length, model.namedVariables().size);
  assert.deepEqual(doc.variables[0], { name: doc.variables[0].name, shape: doc.variables[0].shape, dtype: 'float32', offset: 0, byteLength: doc.variables[0].byteLength });
  const bytes = (await fs.stat(path.join(bundle, 'weights.bin'))).size;
  assert.equal(bytes, 4 * model.parameterCount());
  assert.equal(doc.weights.bytes, bytes);

  const loaded = await loadPhotoGeoBundle(bundle);
  try {
    assert.equal(loaded.id, 'tiny-test');
    assert.deepEqual(loaded.config, model.config);
    assert.equal(loaded.meta.source, 'bundle');
    assert.deepEqual(loaded.meta.training, { step: 5, note: 'unit test' });
    assertSameWeights(model, loaded.model);
    const x = images(2);
    const [a, b] = [model, loaded.model].map((m) => tf.tidy(() => m.reconstruct(x, { flip: false }).viewDepth.dataSync()));
    x.dispose();
    assert.deepEqual(b, a);
    // loadPhotoGeoModel recognises a bundle folder.
    const again = await loadPhotoGeoModel(bundle);
    assert.equal(again.meta.source, 'bundle');
    again.model.dispose();
  } finally {
    loaded.model.dispose();
  }
});

test('saving refuses to replace a bundle without force, and keeps other files of the folder with force', async () => {
  await rejects(savePhotoGeoBundle(bundle, model, { id: 'again' }), 'MODEL_EXISTS', /already holds a model bundle.*--force/);
  const dir = await copyBundle('forced');
  await fs.writeFile(path.join(dir, 'MODEL_CARD.md'), '# card\n');
  const other = new PhotoGeoModel(12, TINY);
  try {
    await savePhotoGeoBundle(dir, other, { id: 'other' }, { force: true });
    const loaded = await loadPhotoGeoBundle(dir);
    assert.equal(loaded.id, 'other');
    assertSameWeights(other, loaded.model);
    loaded.model.dispose();
  } finally {
    other.dispose();
  }
  assert.equal(await fs.readFile(path.join(dir, 'MODEL_CARD.md'), 'utf8'), '# card\n');
  assert.deepEqual((await fs.readdir(dir)).sort(), ['MODEL_CARD.md', 'model.json', 'weights.bin']);
  await rejects(savePhotoGeoBundle(path.join(root, 'bad-id'), model, { id: 'has space' }), 'BAD_ARGUMENT', /Model id "has space"/);
});

test('loading names what is wrong: missing folder or files, corrupt JSON, size or digest mismatch, wrong shapes', async () => {
  await rejects(loadPhotoGeoBundle(path.join(root, 'nope')), 'MODEL_NOT_FOUND', /No model bundle at .*nope.*gan3d model export/);

  const noJson = await copyBundle('no-json');
  await fs.rm(path.join(noJson, 'model.json'));
  await rejects(loadPhotoGeoBundle(noJson), 'MODEL_MISSING_FILE', /not a model bundle: model\.json is missing/);

  const noWeights = await copyBundle('no-weights');
  await fs.rm(path.join(noWeights, 'weights.bin'));
  await rejects(loadPhotoGeoBundle(noWeights), 'MODEL_MISSING_FILE', /incomplete: weights\.bin is missing/);

  const badJson = await copyBundle('bad-json');
  const text = await fs.readFile(path.join(badJson, 'model.json'), 'utf8');
  await fs.writeFile(path.join(badJson, 'model.json'), text.slice(0, text.length / 2));
  await rejects(loadPhotoGeoBundle(badJson), 'MODEL_CORRUPT', /model\.json is not valid JSON/);

  const truncated = await copyBundle('truncated');
  const w = await fs.readFile(path.join(truncated, 'weights.bin'));
  await fs.writeFile(path.join(truncated, 'weights.bin'), w.subarray(0, w.length - 8));
  await rejects(loadPhotoGeoBundle(truncated), 'MODEL_SIZE_MISMATCH', new RegExp(`weights\\.bin has ${w.length - 8} bytes, model\\.json says ${w.length}`));

  const flipped = await copyBundle('flipped');
  const f = Buffer.from(w);
  f[100] ^= 0x40;
  await fs.writeFile(path.join(flipped, 'weights.bin'), f);
  await rejects(loadPhotoGeoBundle(flipped), 'MODEL_CORRUPT', /does not match the SHA-256/);

  // A config that builds other shapes than the manifest lists.
  const reshaped = await copyBundle('reshaped');
  const doc = JSON.parse(text) as PhotoGeoBundleJson;
  await fs.writeFile(path.join(reshaped, 'model.json'), JSON.stringify({ ...doc, config: { ...doc.config, depthNet: { nf: 12, zdim: 16 } } }));
  await rejects(loadPhotoGeoBundle(reshaped), 'MODEL_INCOMPATIBLE', /does not match the model its config builds: variable 0 is "depth\/.*" \[.*\] in model\.json but/);

  const future = await copyBundle('future');
  await fs.writeFile(path.join(future, 'model.json'), JSON.stringify({ ...doc, formatVersion: 99 }));
  await rejects(loadPhotoGeoBundle(future), 'MODEL_VERSION', /format version 99/);

  const badConfig = await copyBundle('bad-config');
  await fs.writeFile(path.join(badConfig, 'model.json'), JSON.stringify({ ...doc, config: { ...doc.config, minDepth: 2 } }));
  await rejects(loadPhotoGeoBundle(badConfig), 'BAD_CONFIG', /Model bundle .*bad-config: Invalid photo-geometric model config: minDepth must be below maxDepth/);
});

test('checkpoints and run folders load directly, and `model export` turns them into a bundle with their training record', async () => {
  const run = path.join(root, 'myrun');
  const trainer = { seed: 7, model: model.config, data: { root: '/data/synface', split: 'train', images: 10, imageSize: 64, flipProbability: 0.5 } };
  const variables = [...model.namedVariables()].map(([name, v]) => ({ name, shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) }));
  const ckptDir = await saveCheckpoint(path.join(run, 'checkpoints'), {
    kind: 'photogeo',
    config: { trainer, training: { batchSize: 8, seed: 7 } },
    step: 123,
    epoch: 1,
    variables,
    metrics: { val_side: 0.02 },
  });

  for (const source of [run, ckptDir, path.join(run, 'checkpoints')]) {
    const loaded = await loadPhotoGeoModel(source);
    assert.equal(loaded.meta.source, 'checkpoint');
    assert.equal(loaded.id, 'myrun-step123');
    assert.equal(loaded.meta.training.step, 123);
    assertSameWeights(model, loaded.model);
    loaded.model.dispose();
  }

  const out = path.join(root, 'exported');
  let printed = '';
  await modelExportCommand(run, { out, write: (t) => (printed += t) });
  assert.match(printed, /Wrote model "myrun-step123" to .*exported.*step 123/);
  const loaded = await loadPhotoGeoBundle(out);
  assertSameWeights(model, loaded.model);
  loaded.model.dispose();
  assert.equal(loaded.id, 'myrun-step123');
  const t = loaded.meta.training;
  assert.equal(t.step, 123);
  assert.equal(t.seed, 7);
  assert.equal(t.epoch, 1);
  assert.deepEqual(t.metrics, { val_side: 0.02 });
  assert.deepEqual((t.trainer as Record<string, unknown>).data, trainer.data);
  assert.deepEqual(t.training, { batchSize: 8, seed: 7 });
  assert.equal(t.checkpoint, path.resolve(ckptDir));

  await rejects(modelExportCommand(run, { out, write: () => undefined }), 'MODEL_EXISTS', /--force/);
  await modelExportCommand(run, { out, id: 'named', force: true, write: () => undefined });
  const named = await loadPhotoGeoBundle(out);
  assert.equal(named.id, 'named');
  named.model.dispose();

  // A run without checkpoints yet, a folder that is nothing, a checkpoint of another kind.
  await fs.mkdir(path.join(root, 'fresh', 'checkpoints'), { recursive: true });
  await rejects(loadPhotoGeoModel(path.join(root, 'fresh')), 'MODEL_NOT_FOUND', /has no checkpoint yet/);
  await fs.mkdir(path.join(root, 'empty'));
  await rejects(loadPhotoGeoModel(path.join(root, 'empty')), 'MODEL_NOT_FOUND', /is not a model: it holds no model\.json/);
  await rejects(loadPhotoGeoModel(path.join(root, 'missing')), 'MODEL_NOT_FOUND', /No model at .*missing.*gan3d train photogeo.*gan3d model export/);
  const other = await saveCheckpoint(path.join(root, 'other'), { kind: 'gan', config: {}, step: 1, epoch: 0, variables });
  await rejects(loadPhotoGeoModel(other), 'CHECKPOINT_INCOMPATIBLE', /"gan" model, not "photogeo"/);
});
