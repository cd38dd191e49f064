// The GAN-projected rotation frames of a refinement (C.10): the refined shape rendered at a yaw sweep and each view
// pushed through the offset encoder onto the GAN; written as projected_rotate.gif and a two-row PNG strip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import {
  LatentProjector,
  OffsetEncoder,
  buildRefineNets,
  emptyBank,
  projectedRotation,
  refineConfig,
  refineImage,
  sweepYaws,
  writeProjectedRotation,
  type RefineSession,
} from '../../src/pipelines/refine/index.js';
import { TINY_SCHEDULE, tinyWorld, type TinyWorld } from './fixtures/tiny-refine.js';

let world: TinyWorld;
let root = '';

before(async () => {
  await initBackend('wasm');
  world = tinyWorld(4);
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-refine-rot-'));
});
after(async () => {
  world.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

test('sweepYaws: evenly spaced from −max to +max, checked', () => {
  assert.deepEqual(sweepYaws(9, 60), [-60, -45, -30, -15, 0, 15, 30, 45, 60]);
  assert.deepEqual(sweepYaws(1, 60), [0]);
  assert.throws(() => sweepYaws(0, 60), /1\.\.64 yaws/);
  assert.throws(() => sweepYaws(5, 120), /0\.\.90/);
});

test('projectedRotation: rendered views turn with the yaw, projections are GAN images, nothing leaks', async () => {
  const config = refineConfig({ ...TINY_SCHEDULE, init: 'photogeo' });
  const model = buildRefineNets(config, world.photogeo);
  const projector = new LatentProjector(world.generator, world.discriminator, world.w, config.offsetDepth, 64);
  const encoder = new OffsetEncoder(3, config.encoderWidth, projector.codeDim);
  const image = tf.tensor4d(world.image, [1, 64, 64, 3]);
  const s: RefineSession = { config, model, encoder, projector, image, rng: new Rng(1), bank: emptyBank() };
  try {
    const tensors = tf.memory().numTensors;
    const r = await projectedRotation(s, { yaws: 5, maxYawDeg: 40 });
    assert.equal(tf.memory().numTensors, tensors);
    const per = 64 * 64 * 3;
    assert.deepEqual(r.yawsDeg, [-40, -20, 0, 20, 40]);
    assert.equal(r.rendered.length, 5 * per);
    assert.equal(r.projected.length, 5 * per);
    assert.ok(r.projected.every((v) => v >= -1 && v <= 1));
    const frame = (a: Float32Array, k: number) => a.subarray(k * per, (k + 1) * per);
    const diff = (a: Float32Array, b: Float32Array) => a.reduce((acc, v, i) => acc + Math.abs(v - b[i]), 0) / a.length;
    assert.ok(diff(frame(r.rendered, 0), frame(r.rendered, 4)) > 1e-3, 'the views at −40° and +40° differ');
    // Every projection is G(w + Δw): the GAN's own image of w plus an encoder-chosen offset, never the rendered view.
    assert.ok(diff(frame(r.projected, 2), frame(r.rendered, 2)) > 1e-3);

    const files = await writeProjectedRotation(root, r);
    assert.deepEqual(files, ['projected_rotate.gif', 'projected_rotate.png']);
    const gif = await sharp(path.join(root, 'projected_rotate.gif'), { pages: -1 }).metadata();
    assert.equal(gif.pages, 5 + 3, 'forth over 5 yaws and back without repeating the ends');
    const png = await sharp(path.join(root, 'projected_rotate.png')).metadata();
    assert.deepEqual([png.width, png.height], [5 * 64, 2 * 64]);
  } finally {
    model.dispose();
    encoder.dispose();
    projector.dispose();
    image.dispose();
  }
});

test('refineImage writes the projected rotation frames into its folder once the schedule completes', async () => {
  const out = path.join(root, 'run');
  const r = await refineImage({
    image: world.image,
    gan: { generator: world.generator, discriminator: world.discriminator, id: 'tiny' },
    projectInput: () => world.w,
    photogeo: { model: world.photogeo, id: 'tiny-photogeo' },
    mask: world.mask,
    inversionEncoder: { encoder: world.encoder },
    outDir: out,
    snapshots: false,
    config: { ...TINY_SCHEDULE, init: 'photogeo', stages: 1 },
    rotation: { yaws: 3, maxYawDeg: 30 },
  });
  assert.deepEqual(r.rotation?.yawsDeg, [-30, 0, 30]);
  for (const f of ['projected_rotate.gif', 'projected_rotate.png']) await fs.access(path.join(out, f));
  const stopped = await refineImage({
    image: world.image,
    gan: { generator: world.generator, discriminator: world.discriminator, id: 'tiny' },
    projectInput: () => world.w,
    photogeo: { model: world.photogeo, id: 'tiny-photogeo' },
    mask: world.mask,
    inversionEncoder: { encoder: world.encoder },
    outDir: path.join(root, 'stopped'),
    config: { ...TINY_SCHEDULE, init: 'photogeo', stages: 1 },
    stopAfterPhases: 2,
  });
  assert.equal(stopped.rotation, undefined, 'an interrupted refinement writes no rotation');
  await assert.rejects(fs.access(path.join(root, 'stopped', 'projected_rotate.gif')));
});
