import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { encodePng8, signedToUint8 } from '../../src/io/png.js';
import { ParserNet } from '../../src/models/parser/model.js';
import { refineCommand, type RefineCommandOptions } from '../../src/cli/refine.js';
import { saveEncoderBundle } from '../../src/pipelines/encoder-bundle.js';
import { saveGanBundle } from '../../src/pipelines/gan-bundle.js';
import { savePhotoGeoBundle } from '../../src/pipelines/model-bundle.js';
import { saveParserBundle } from '../../src/pipelines/parser-bundle.js';
import { TINY_SCHEDULE, tinyWorld, type TinyWorld } from '../pipelines/fixtures/tiny-refine.js';

let world: TinyWorld;
let root = '';
let png = '';

before(async () => {
  await initBackend('wasm');
  world = tinyWorld(3);
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-refine-cli-'));
  await saveGanBundle(path.join(root, 'gan'), { generator: world.generator, discriminator: world.discriminator }, { id: 'tiny-gan' });
  await savePhotoGeoBundle(path.join(root, 'photogeo'), world.photogeo, { id: 'tiny-photogeo' });
  await saveEncoderBundle(path.join(root, 'encoder'), world.encoder, { id: 'tiny-encoder', gan: { id: 'tiny-gan', resolution: 64, zDim: 16, wDim: 16, numWs: world.generator.numWs, step: 0 } });
  const parser = new ParserNet(1, { widths: [4, 4, 8, 8] });
  await saveParserBundle(path.join(root, 'parser'), parser, { id: 'tiny-parser' });
  parser.dispose();
  png = path.join(root, 'face.png');
  await fs.writeFile(png, await encodePng8(signedToUint8(world.image), 64, 64, 3));
});
after(async () => {
  world.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

function options(out: string, extra: Partial<RefineCommandOptions> = {}): RefineCommandOptions {
  return {
    out,
    gan: path.join(root, 'gan'),
    model: path.join(root, 'photogeo'),
    parser: path.join(root, 'parser'),
    encoder: path.join(root, 'encoder'),
    invertSteps: '3',
    gif: false,
    quiet: true,
    config: { ...TINY_SCHEDULE, stages: 1 },
    write: () => {},
    ...extra,
  };
}

test('gan3d refine: the reconstruct exports of the refined model, snapshots, refine.json; resume and clashes', async () => {
  const out = path.join(root, 'out');
  const r = await refineCommand([png], options(out));
  assert.equal(r.images.length, 1);
  assert.equal(r.images[0].result.status, 'completed');
  for (const f of ['depth.png', 'normal.png', 'albedo.png', 'reconstruction.png', 'mesh.glb', 'mesh.obj', 'meta.json']) await fs.access(path.join(out, 'face', f));
  for (const f of ['refine.json', 'stages/0-init/depth.png', 'stages/1-stage1/projected.png', 'projected_rotate.gif', 'projected_rotate.png']) {
    await fs.access(path.join(out, 'face-refine', f));
  }
  const meta = JSON.parse(await fs.readFile(path.join(out, 'face', 'meta.json'), 'utf8')) as Record<string, unknown>;
  assert.match(JSON.stringify(meta), /refined-face/);
  const report = JSON.parse(await fs.readFile(path.join(out, 'face-refine', 'refine.json'), 'utf8')) as { history: { name: string }[]; w: number[] };
  assert.deepEqual(report.history.map((h) => h.name), ['init', 's0-step1', 's0-step2', 's0-step3']);
  assert.equal(report.w.length, 16);

  await assert.rejects(refineCommand([png], options(out)), /already exist: pass --resume .* or --force/);
  const again = await refineCommand([png], options(out, { resume: true }));
  assert.deepEqual(again.images[0].result.estimate.canonDepth, r.images[0].result.estimate.canonDepth);
  await assert.rejects(refineCommand([png], options(path.join(root, 'none'), { resume: true })), /Nothing to resume/);
  await assert.rejects(refineCommand([png], options(out, { init: 'box' })), /--init must be photogeo or ellipsoid/);
  await assert.rejects(refineCommand([png], options(out, { stage1: '1,2' })), /--stage1 must be three whole numbers/);
  await assert.rejects(refineCommand([png], options(out, { rotateYaw: '120' })), /--rotate-yaw must be a number of degrees in 0\.\.90/);
  await assert.rejects(refineCommand([png], options(out, { projection: 'sgd' })), /--projection must be encoder, pretrained, optimize/);
  await assert.rejects(refineCommand([png], options(out, { lambdaProj: '-1' })), /--lambda-proj must be a number ≥ 0/);
  // The default projection needs the GAN's inversion encoder: a missing one is named.
  await assert.rejects(refineCommand([png], options(path.join(root, 'no-encoder'), { encoder: path.join(root, 'missing') })), /No encoder at .*missing.*--projection encoder/);
});

test('gan3d refine --init ellipsoid uses the parser mask', async () => {
  const out = path.join(root, 'ell');
  const r = await refineCommand([png], options(out, { init: 'ellipsoid', mesh: false }));
  assert.equal(r.images[0].result.config.init, 'ellipsoid');
  assert.equal(r.images[0].result.history[0].iters, TINY_SCHEDULE.ellipsoid!.steps);
  await fs.access(path.join(out, 'face', 'depth.png'));
});

test('gan3d refine fits the input inside the parser mask by default; --no-object-mask needs no parser', async () => {
  const missing = path.join(root, 'no-parser');
  await assert.rejects(refineCommand([png], options(path.join(root, 'masked'), { parser: missing })), /parser/i);
  const r = await refineCommand([png], options(path.join(root, 'unmasked'), { parser: missing, objectMask: false, mesh: false, config: { ...TINY_SCHEDULE, stages: 1, firstStage: { step1: 1, step2: 1, step3: 1 } } }));
  assert.equal(r.images[0].result.config.inputObjectMask, false);
  assert.equal(r.images[0].result.status, 'completed');
});
