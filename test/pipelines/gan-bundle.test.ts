import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { modelExportCommand } from '../../src/cli/model.js';
import { trainGanCommand } from '../../src/cli/train.js';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';
import { loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from '../../src/io/checkpoint.js';
import { encodePng8 } from '../../src/io/png.js';
import { styleGanConfig, type StyleGanConfig } from '../../src/models/stylegan/config.js';
import { PhotoGeoModel } from '../../src/models/photogeo/index.js';
import {
  detectModelKind,
  ganVariables,
  loadGanBundle,
  loadGanCheckpoint,
  loadGanModel,
  sampleGan,
  type GanBundleJson,
  type LoadedGan,
} from '../../src/pipelines/gan-bundle.js';
import { loadPhotoGeoModel, savePhotoGeoBundle } from '../../src/pipelines/model-bundle.js';

// The tiny 16×16 GAN of test/pipelines/train-gan.test.ts, trained for 2 steps on random images.
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
let ckpt: LoadedCheckpoint;

/** A folder `<dir>/image/` of random 16×16 PNGs: enough for the trainer's plumbing. */
async function randomImages(dir: string, count: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  await fs.mkdir(path.join(dir, 'image'), { recursive: true });
  for (let i = 0; i < count; i++) {
    const px = Uint8Array.from({ length: 16 * 16 * 3 }, () => rng.int(256));
    await fs.writeFile(path.join(dir, 'image', `${String(i).padStart(3, '0')}.png`), await encodePng8(px, 16, 16, 3));
  }
}

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-gan-bundle-'));
  const data = path.join(root, 'data', 'train');
  await randomImages(data, 8, 1);
  run = path.join(root, 'ganrun');
  await trainGanCommand({ data, out: run, steps: '2', batch: '4', seed: '3', checkpointEvery: '0', sampleEvery: '0', model: TINY, quiet: true, write: () => {} });
  ckpt = await loadCheckpoint(path.join(run, 'checkpoints'));
  bundle = path.join(root, 'bundle');
  let printed = '';
  await modelExportCommand(run, { out: bundle, write: (t) => (printed += t) });
  assert.match(printed, /Wrote GAN "ganrun-step2" to .*bundle\/: model\.json, weights\.bin \(EMA generator .* and discriminator .* parameters.*step 2\)/);
});

after(() => fs.rm(root, { recursive: true, force: true }));

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

const bytesOf = (t: tf.Tensor) => new Uint8Array((t.dataSync() as Float32Array).slice().buffer);

/** Generator images (with and without truncation) and D's logits and features, as raw bytes. */
function outputs(gan: LoadedGan): Uint8Array[] {
  return tf.tidy(() => {
    const z = tf.tensor2d(new Rng(9).normalArray(4 * 8), [4, 8]);
    const images = gan.generator.generate(z);
    const d = gan.discriminator.forward(images, { features: true });
    return [images, gan.generator.generate(z, { psi: 0.5 }), d.logits, ...d.features].map(bytesOf);
  });
}

test('a run exports to a bundle holding the EMA generator, its mean w and D, bit for bit', async () => {
  const doc = JSON.parse(await fs.readFile(path.join(bundle, 'model.json'), 'utf8')) as GanBundleJson;
  assert.equal(doc.format, 'gan3d-model');
  assert.equal(doc.kind, 'stylegan');
  assert.equal(doc.id, 'ganrun-step2');
  assert.equal(doc.config.resolution, 16);
  // The bundle holds the full config (keys a checkpoint leaves out, as augmentProbability 0, at their defaults).
  assert.deepEqual(doc.config, styleGanConfig((ckpt.config as { trainer: { model: StyleGanConfig } }).trainer.model));
  assert.equal(doc.training.step, 2);
  assert.equal(doc.training.seed, 3);
  const names = doc.variables.map((v) => v.name);
  assert.equal(names[0], 'G_ema/const');
  assert.ok(names.includes('G_ema/w_avg') && names.includes('D/out/w'));
  assert.ok(names.every((n) => n.startsWith('G_ema/') || n.startsWith('D/')), 'no raw G, no optimizer state');
  assert.equal(doc.parameters, doc.generatorParameters + doc.discriminatorParameters + 8);
  assert.equal((await fs.stat(path.join(bundle, 'weights.bin'))).size, 4 * doc.parameters);

  // Every bundle variable equals the checkpoint's variable of the same name.
  const saved = new Map(ckpt.variables.map((v) => [v.name, v.data]));
  const fromBundle = await loadGanBundle(bundle);
  try {
    assert.equal(fromBundle.meta.source, 'bundle');
    assert.equal(fromBundle.id, 'ganrun-step2');
    for (const [name, v] of ganVariables(fromBundle)) assert.deepEqual(v.dataSync(), saved.get(name), name);
    assert.notDeepEqual(fromBundle.generator.wAvg.dataSync(), new Float32Array(8), 'the mean w is the trained one');
    // A run folder, its checkpoints root and the checkpoint itself load the same networks, with the same outputs.
    const expected = outputs(fromBundle);
    for (const source of [run, path.join(run, 'checkpoints'), ckpt.path]) {
      const fromCkpt = await loadGanModel(source);
      assert.equal(fromCkpt.meta.source, 'checkpoint');
      assert.equal(fromCkpt.id, 'ganrun-step2');
      assert.deepEqual(outputs(fromCkpt), expected, source);
      fromCkpt.dispose();
    }
    // Sampling from the bundle and from the run agree too.
    const fromRun = await loadGanCheckpoint(ckpt.path);
    assert.deepEqual(sampleGan(fromRun.generator, { n: 3, psi: 0.7, seed: 4 }), sampleGan(fromBundle.generator, { n: 3, psi: 0.7, seed: 4 }));
    fromRun.dispose();
  } finally {
    fromBundle.dispose();
  }
  // Exporting the bundle again (bundle as source) keeps its id and weights; --kind gan skips the detection.
  const again = path.join(root, 'again');
  await modelExportCommand(bundle, { out: again, kind: 'gan', write: () => undefined });
  assert.deepEqual(await fs.readFile(path.join(again, 'weights.bin')), await fs.readFile(path.join(bundle, 'weights.bin')));
  assert.equal((JSON.parse(await fs.readFile(path.join(again, 'model.json'), 'utf8')) as GanBundleJson).id, 'ganrun-step2');
});

test('loading and disposing leaves no tensors behind', async () => {
  const before = tf.memory().numTensors;
  for (const source of [bundle, run]) {
    const gan = await loadGanModel(source);
    gan.dispose();
  }
  await rejects(loadGanBundle(path.join(root, 'nope')), 'MODEL_NOT_FOUND', /No GAN bundle/);
  assert.equal(tf.memory().numTensors, before);
});

test('model export: kind detection, --kind, --force, and the photogeo path untouched', async () => {
  assert.equal(await detectModelKind(run), 'stylegan');
  assert.equal(await detectModelKind(bundle), 'stylegan');
  assert.equal(await detectModelKind(path.join(root, 'nothing-here')), null);
  const out = path.join(root, 'exported');
  await modelExportCommand(ckpt.path, { out, id: 'tiny-gan', write: () => undefined });
  await rejects(modelExportCommand(run, { out, write: () => undefined }), 'MODEL_EXISTS', /already holds a model bundle.*--force/);
  await modelExportCommand(run, { out, force: true, write: () => undefined });
  assert.equal((await loadGanBundle(out).then((g) => (g.dispose(), g.id))), 'ganrun-step2');
  await rejects(modelExportCommand(run, { out, kind: 'vae', write: () => undefined }), 'BAD_ARGUMENT', /--kind must be photogeo or gan, got "vae"/);
  await rejects(modelExportCommand(run, { out, kind: 'photogeo', force: true, write: () => undefined }), 'CHECKPOINT_INCOMPATIBLE', /"stylegan" model, not "photogeo"/);
  await rejects(modelExportCommand(run, { out: run, write: () => undefined }), 'BAD_ARGUMENT', /same folder/);

  // A photogeo bundle still exports as photogeo; asked for as a GAN it says what it is.
  const model = new PhotoGeoModel(1, { depthNet: { nf: 8, zdim: 8 }, albedoNet: { nf: 8, zdim: 8 }, confNet: { nf: 8, zdim: 8 }, lightNet: { nf: 8 }, viewNet: { nf: 8 } });
  const photogeo = path.join(root, 'photogeo');
  await savePhotoGeoBundle(photogeo, model, { id: 'pg' });
  model.dispose();
  let printed = '';
  await modelExportCommand(photogeo, { out: path.join(root, 'photogeo2'), write: (t) => (printed += t) });
  assert.match(printed, /^Wrote model "pg" to .*photogeo2\/: model\.json, weights\.bin \(.* parameters, .* MiB\) from /);
  await rejects(modelExportCommand(photogeo, { out: path.join(root, 'photogeo3'), kind: 'gan', write: () => undefined }), 'MODEL_INCOMPATIBLE', /holds a "photogeo" model, not a GAN/);
  await rejects(loadPhotoGeoModel(bundle), 'MODEL_INCOMPATIBLE', /holds a "stylegan" model, not a photogeo model/);
});

test('loading names what is wrong: missing folder or files, corrupt JSON, size or digest mismatch, wrong shapes or config', async () => {
  await rejects(loadGanModel(path.join(root, 'missing')), 'MODEL_NOT_FOUND', /No GAN at .*missing.*gan3d train gan.*gan3d model export/);
  await fs.mkdir(path.join(root, 'empty'));
  await rejects(loadGanModel(path.join(root, 'empty')), 'MODEL_NOT_FOUND', /is not a model: it holds no model\.json/);
  await fs.mkdir(path.join(root, 'fresh', 'checkpoints'), { recursive: true });
  await rejects(loadGanModel(path.join(root, 'fresh')), 'MODEL_NOT_FOUND', /has no checkpoint yet/);
  await rejects(loadGanModel(path.join(bundle, 'weights.bin')), 'MODEL_NOT_FOUND', /is a file/);

  const noJson = await copyBundle('no-json');
  await fs.rm(path.join(noJson, 'model.json'));
  await rejects(loadGanBundle(noJson), 'MODEL_MISSING_FILE', /not a model bundle: model\.json is missing/);

  const noWeights = await copyBundle('no-weights');
  await fs.rm(path.join(noWeights, 'weights.bin'));
  await rejects(loadGanModel(noWeights), 'MODEL_MISSING_FILE', /incomplete: weights\.bin is missing/);

  const text = await fs.readFile(path.join(bundle, 'model.json'), 'utf8');
  const doc = JSON.parse(text) as GanBundleJson;
  const badJson = await copyBundle('bad-json');
  await fs.writeFile(path.join(badJson, 'model.json'), text.slice(0, text.length / 2));
  await rejects(loadGanModel(badJson), 'MODEL_CORRUPT', /model\.json is not valid JSON/);

  const w = await fs.readFile(path.join(bundle, 'weights.bin'));
  const truncated = await copyBundle('truncated');
  await fs.writeFile(path.join(truncated, 'weights.bin'), w.subarray(0, w.length - 8));
  await rejects(loadGanModel(truncated), 'MODEL_SIZE_MISMATCH', new RegExp(`weights\\.bin has ${w.length - 8} bytes, model\\.json says ${w.length}`));

  const flipped = await copyBundle('flipped');
  const f = Buffer.from(w);
  f[100] ^= 0x40;
  await fs.writeFile(path.join(flipped, 'weights.bin'), f);
  await rejects(loadGanModel(flipped), 'MODEL_CORRUPT', /does not match the SHA-256/);

  const write = async (name: string, value: unknown) => {
    const dir = await copyBundle(name);
    await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(value));
    return dir;
  };
  await rejects(loadGanModel(await write('reshaped', { ...doc, config: { ...doc.config, wDim: 16 } })), 'MODEL_INCOMPATIBLE',
    /does not match the GAN its config builds: variable \d+ is "G_ema\/.*" \[.*\] in model\.json but/);
  await rejects(loadGanModel(await write('bad-config', { ...doc, config: { ...doc.config, resolution: 12 } })), 'BAD_CONFIG',
    /Model bundle .*bad-config: StyleGAN resolution must be a power of two/);
  await rejects(loadGanModel(await write('no-config', { ...doc, config: null })), 'MODEL_CORRUPT', /has no model config/);
  await rejects(loadGanModel(await write('future', { ...doc, formatVersion: 99 })), 'MODEL_VERSION', /format version 99/);
  await rejects(loadGanModel(await write('short-manifest', { ...doc, variables: doc.variables.slice(0, -1) })), 'MODEL_CORRUPT', /the manifest covers/);
  await rejects(loadGanModel(await write('other-kind', { ...doc, kind: 'photogeo' })), 'MODEL_INCOMPATIBLE', /holds a "photogeo" model, not a GAN/);

  // Checkpoints: another kind, or a stylegan checkpoint without the EMA generator.
  const variables = ckpt.variables.filter((v) => !v.name.startsWith('G_ema/'));
  const noEma = await saveCheckpoint(path.join(root, 'no-ema'), { kind: 'stylegan', config: ckpt.config, step: 1, epoch: 0, variables });
  await rejects(loadGanModel(noEma), 'CHECKPOINT_INCOMPATIBLE', /does not match the GAN its config builds: it has no variable "G_ema\/const"/);
  const other = await saveCheckpoint(path.join(root, 'other'), { kind: 'photogeo', config: {}, step: 1, epoch: 0, variables });
  await rejects(loadGanModel(other), 'CHECKPOINT_INCOMPATIBLE', /"photogeo" model, not "stylegan"/);
  const noConfig = await saveCheckpoint(path.join(root, 'no-config-ckpt'), { kind: 'stylegan', config: {}, step: 1, epoch: 0, variables });
  await rejects(loadGanModel(noConfig), 'CHECKPOINT_INCOMPATIBLE', /not a GAN training checkpoint: it has no model config/);
});
