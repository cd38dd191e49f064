// `gan3d reconstruct --refine`: the refine pipeline behind reconstruct's command line — the reconstruct exports of
// the refined model, plus the <name>-refine/ folder (checkpoints, snapshots, refine.json, projected rotation frames).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend } from '../../src/engine/backend.js';
import { encodePng8, signedToUint8 } from '../../src/io/png.js';
import { registerReconstructCommand } from '../../src/cli/reconstruct.js';
import { saveEncoderBundle } from '../../src/pipelines/encoder-bundle.js';
import { saveGanBundle } from '../../src/pipelines/gan-bundle.js';
import { savePhotoGeoBundle } from '../../src/pipelines/model-bundle.js';
import { tinyWorld, type TinyWorld } from '../pipelines/fixtures/tiny-refine.js';

let world: TinyWorld;
let root = '';
let png = '';

before(async () => {
  await initBackend('wasm');
  world = tinyWorld(5);
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-reconstruct-refine-'));
  await saveGanBundle(path.join(root, 'gan'), { generator: world.generator, discriminator: world.discriminator }, { id: 'tiny-gan' });
  await savePhotoGeoBundle(path.join(root, 'photogeo'), world.photogeo, { id: 'tiny-photogeo' });
  await saveEncoderBundle(path.join(root, 'encoder'), world.encoder, { id: 'tiny-encoder', gan: { id: 'tiny-gan', resolution: 64, zDim: 16, wDim: 16, numWs: world.generator.numWs, step: 0 } });
  png = path.join(root, 'face.png');
  await fs.writeFile(png, await encodePng8(signedToUint8(world.image), 64, 64, 3));
});
after(async () => {
  world.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<void> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerReconstructCommand(program);
  await program.parseAsync(['node', 'gan3d', 'reconstruct', ...args]);
}

test('reconstruct --refine writes the reconstruct files and the refine folder with projected rotation frames', async () => {
  const out = path.join(root, 'out');
  const common = ['-o', out, '--model', path.join(root, 'photogeo'), '--gan', path.join(root, 'gan'), '--encoder', path.join(root, 'encoder'), '--stages', '1', '--stage1', '2,2,2', '--invert-steps', '2', '--quiet'];
  await cli(png, '--refine', ...common);
  for (const f of ['input.png', 'depth.png', 'normal.png', 'albedo.png', 'shading.png', 'reconstruction.png', 'mesh.glb', 'mesh.obj', 'rotate.gif', 'relight.gif', 'meta.json']) {
    await fs.access(path.join(out, 'face', f));
  }
  for (const f of ['refine.json', 'projected_rotate.gif', 'projected_rotate.png', 'stages/0-init/depth.png', 'stages/1-stage1/projected.png']) await fs.access(path.join(out, 'face-refine', f));
  const meta = JSON.parse(await fs.readFile(path.join(out, 'face', 'meta.json'), 'utf8')) as Record<string, unknown>;
  assert.match(JSON.stringify(meta), /refined-face/);
  const report = JSON.parse(await fs.readFile(path.join(out, 'face-refine', 'refine.json'), 'utf8')) as {
    config: { stages: number; firstStage: { step1: number } };
    invertSteps: number;
    rotation: { yawsDeg: number[]; files: string[] };
  };
  assert.equal(report.config.stages, 1);
  assert.equal(report.config.firstStage.step1, 2);
  assert.equal(report.invertSteps, 2);
  assert.equal(report.rotation.yawsDeg.length, 9);

  // A second run needs --resume or --force; --resume continues from the checkpoints.
  await assert.rejects(cli(png, '--refine', ...common), /already exist: pass --resume .* or --force/);
  await cli(png, '--refine', '--resume', ...common);
  // The refinement flags need --refine.
  await assert.rejects(cli(png, '-o', path.join(root, 'plain'), '--resume', '--stages', '2'), /--stages, --resume only apply with --refine/);
  await assert.rejects(cli(png, '-o', path.join(root, 'plain'), '--no-object-mask'), /--no-object-mask only apply with --refine/);
});
