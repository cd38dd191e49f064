import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { refineImage, scheduleNames, refineConfig, type RefineImageOptions, type StepProgress } from '../../src/pipelines/refine/index.js';
import { Encoder } from '../../src/models/encoder/model.js';
import { TINY_SCHEDULE, tinyWorld, type TinyWorld } from './fixtures/tiny-refine.js';

let world: TinyWorld;
let root = '';

before(async () => {
  await initBackend('wasm');
  world = tinyWorld(2);
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-refine-'));
});
after(async () => {
  world.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

function options(outDir: string | undefined, extra: Partial<RefineImageOptions> = {}): RefineImageOptions {
  return {
    image: world.image,
    gan: { generator: world.generator, discriminator: world.discriminator, id: 'tiny' },
    projectInput: () => world.w,
    photogeo: { model: world.photogeo, id: 'tiny-photogeo' },
    mask: world.mask,
    inversionEncoder: { encoder: world.encoder, id: 'tiny-encoder' },
    outDir,
    config: { ...TINY_SCHEDULE, init: 'ellipsoid', depthRange: [0.96, 1.04] },
    ...extra,
  };
}

test('schedule: init, then Step 1, 2, 3 per stage', () => {
  assert.deepEqual(scheduleNames(refineConfig({ stages: 2 })), ['init', 's0-step1', 's0-step2', 's0-step3', 's1-step1', 's1-step2', 's1-step3']);
});

test('refine from the photogeo model: every step runs, snapshots and checkpoints are written, no tensors leak', async () => {
  const out = path.join(root, 'photogeo');
  const seen = new Set<string>();
  const tensors = tf.memory().numTensors;
  const r = await refineImage(options(out, { config: { ...TINY_SCHEDULE, init: 'photogeo', stages: 1 }, onProgress: (p: StepProgress) => seen.add(p.phase) }));
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(r.status, 'completed');
  assert.equal(r.phasesDone, 4);
  assert.deepEqual([...seen].sort(), ['collect', 'step1', 'step2', 'step3']);
  assert.deepEqual(r.history.map((h) => h.name), ['init', 's0-step1', 's0-step2', 's0-step3']);
  assert.equal(r.estimate.canonDepth.length, 64 * 64);
  assert.ok(r.estimate.canonDepth.every((d) => d >= 0.96 - 1e-6 && d <= 1.04 + 1e-6));
  for (const stage of ['0-init', '1-stage1']) {
    for (const f of ['depth.png', 'depth_color.png', 'normal.png', 'albedo.png', 'reconstruction.png']) await fs.access(path.join(out, 'stages', stage, f));
  }
  await fs.access(path.join(out, 'stages', '1-stage1', 'projected.png'));
  const ckpts = (await fs.readdir(path.join(out, 'checkpoints'))).filter((f) => f.startsWith('ckpt-'));
  assert.deepEqual(ckpts.sort(), ['ckpt-00000003', 'ckpt-00000004']);
});

test('a refinement stopped after a stage and resumed equals an uninterrupted one, bit for bit', async () => {
  const straight = await refineImage(options(path.join(root, 'straight')));
  assert.equal(straight.status, 'completed');
  assert.equal(straight.history[0].name, 'init');
  assert.ok(straight.history[0].lastLoss < straight.history[0].firstLoss, 'the ellipsoid fit lowers its MSE');

  const out = path.join(root, 'resumed');
  let calls = 0;
  const first = await refineImage(options(out, { stopAfterPhases: 4, projectInput: () => (calls++, world.w) }));
  assert.equal(first.status, 'interrupted');
  assert.equal(first.phasesDone, 4);
  const second = await refineImage(options(out, { resume: true, projectInput: () => (calls++, world.w) }));
  assert.equal(calls, 1, 'the input is projected once; a resume reads w from the checkpoint');
  assert.equal(second.status, 'completed');
  assert.equal(second.phasesDone, straight.phasesDone);
  for (const key of ['canonDepth', 'viewDepth', 'canonAlbedo', 'recon'] as const) assert.deepEqual(second.estimate[key], straight.estimate[key], key);
  assert.deepEqual(second.estimate.light, straight.estimate.light);
  assert.deepEqual(second.estimate.view, straight.estimate.view);
  assert.deepEqual(second.history.map((h) => [h.name, h.firstLoss, h.lastLoss]), straight.history.map((h) => [h.name, h.firstLoss, h.lastLoss]));

  // The kept model is a PhotoGeoModel whose own forward (prior means included) gives the estimate.
  const kept = await refineImage(options(out, { resume: true, keepModel: true }));
  assert.equal(kept.status, 'completed');
  const t = tf.tidy(() => {
    const r = kept.model!.reconstruct(tf.tensor4d(world.image, [1, 64, 64, 3]), { flip: false, confidence: false });
    return [r.canonDepth, r.light, r.view];
  });
  assert.deepEqual(t[0].dataSync(), kept.estimate.canonDepth);
  assert.deepEqual(Array.from(t[1].dataSync()), kept.estimate.light);
  assert.deepEqual(Array.from(t[2].dataSync()), kept.estimate.view);
  assert.equal(kept.config.addPriorMean, true);
  tf.dispose(t);
  kept.model!.dispose();

  // Resuming with another image or another schedule is refused; so is resuming nothing.
  const other = Float32Array.from(world.image, (v) => -v);
  await assert.rejects(refineImage(options(out, { resume: true, image: other })), /of another image/);
  await assert.rejects(refineImage(options(out, { resume: true, config: { ...TINY_SCHEDULE, init: 'ellipsoid', depthRange: [0.96, 1.04], batch: 3 } })), /another refinement config/);
  await assert.rejects(refineImage(options(path.join(root, 'empty'), { resume: true })), /Nothing to resume/);
  await assert.rejects(refineImage(options(undefined, { mask: undefined })), /ellipsoid initialisation needs an object mask/);
  // Resuming with another object mask is refused: it changes what the input's terms fit.
  const shifted = Float32Array.from(world.mask, (_, i) => world.mask[(i + 64) % world.mask.length]);
  await assert.rejects(refineImage(options(out, { resume: true, mask: shifted })), /another refinement config/);
});

test('inputObjectMask: the photogeo init needs a mask (or parser) of the right size; off, it needs none', async () => {
  const config = { ...TINY_SCHEDULE, init: 'photogeo' as const, stages: 1 };
  await assert.rejects(refineImage(options(undefined, { config, mask: undefined })), /inputObjectMask needs an object mask/);
  await assert.rejects(refineImage(options(undefined, { config, mask: new Float32Array(32 * 32) })), /must have 4096 values/);
  const r = await refineImage(options(undefined, { config: { ...config, inputObjectMask: false }, mask: undefined, stopAfterPhases: 2 }));
  assert.equal(r.phasesDone, 2);
});

test("projection 'pretrained' needs the inversion encoder, fine-tunes a copy and leaves the given one unchanged", async () => {
  const config = { ...TINY_SCHEDULE, init: 'photogeo' as const, stages: 1, projection: 'pretrained' as const };
  await assert.rejects(refineImage(options(undefined, { config, inversionEncoder: undefined })), /inversion encoder/);
  const wide = new Encoder(5, { imageSize: 64, wDim: 32, widths: [8, 8, 8, 8] });
  await assert.rejects(refineImage(options(undefined, { config, inversionEncoder: { encoder: wide } })), /width 32 .* needs width 16/);
  wide.dispose();
  const inversion = new Encoder(5, { imageSize: 64, wDim: 16, widths: [8, 8, 8, 8] });
  const weights = inversion.variables().map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const tensors = tf.memory().numTensors;
  const ends: [number, number, number][] = [];
  const r = await refineImage(
    options(path.join(root, 'pretrained'), {
      config,
      inversionEncoder: { encoder: inversion, id: 'tiny-encoder' },
      rotation: { yaws: 3 },
      onStageEnd: (stage, model, seconds) => void ends.push([stage, model.config.imageSize, seconds]),
    }),
  );
  assert.deepEqual(ends.map(([k, size]) => [k, size]), [[0, 64]], 'called once per stage with the model');
  assert.ok(ends[0][2] > 0 && ends[0][2] <= r.seconds);
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(r.status, 'completed');
  assert.ok(r.history.find((h) => h.name === 's0-step2')!.iters > 0);
  inversion.variables().forEach((v, i) => assert.deepEqual(v.dataSync(), weights[i]));
  await fs.access(path.join(root, 'pretrained', 'projected_rotate.png'));
  inversion.dispose();
});
