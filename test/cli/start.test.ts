// `npm start` (the main job): the bundled model reconstructs the bundled samples into --out; a second run replaces
// only its own folders; a folder it did not write is never replaced without --force.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readDepthPng } from '../../src/io/depth-png.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gan3d-start-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function start(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', ...args], { cwd: repo, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const samples = fs.readdirSync(path.join(repo, 'samples', 'synface')).filter((f) => f.endsWith('.png')).sort();

test('start: engine check, then every bundled sample reconstructed with the bundled model', async () => {
  const out = path.join(root, 'out');
  const first = start('--out', out);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /engine self-check passed/);
  assert.match(first.stdout, new RegExp(`Reconstructed ${samples.length} images with model photogeo`));
  const bundle = JSON.parse(fs.readFileSync(path.join(repo, 'models', 'photogeo', 'model.json'), 'utf8')) as { id: string };
  for (const file of samples) {
    const dir = path.join(out, path.basename(file, '.png'));
    for (const name of ['depth.png', 'depth_color.png', 'normal.png', 'albedo.png', 'shading.png', 'reconstruction.png', 'mesh.glb', 'mesh.obj', 'rotate.gif', 'relight.gif', 'meta.json']) {
      assert.ok(fs.existsSync(path.join(dir, name)), `${dir}/${name}`);
    }
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { model: { id: string } | string };
    assert.equal(typeof meta.model === 'string' ? meta.model : meta.model.id, bundle.id);
    // The depth is a face-sized surface inside the camera's depth range, not a constant.
    const depth = await readDepthPng(path.join(dir, 'depth.png'));
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of depth.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.ok(lo >= 0.9 - 1e-6 && hi <= 1.1 + 1e-6 && hi - lo > 0.005, `depth range ${lo}..${hi}`);
    const gif = await sharp(path.join(dir, 'rotate.gif'), { pages: -1 }).metadata();
    assert.ok((gif.pages ?? 1) > 1, 'rotate.gif is animated');
  }

  // Its own folders are replaced on a second run.
  const again = start('--out', out);
  assert.equal(again.status, 0, again.stderr);

  // Someone else's folder is not.
  const other = path.join(root, 'other');
  const mine = path.join(other, path.basename(samples[0], '.png'));
  fs.mkdirSync(mine, { recursive: true });
  fs.writeFileSync(path.join(mine, 'notes.txt'), 'mine');
  const refused = start('--out', other);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /already exists and was not written by `gan3d start`.*--force/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(fs.readFileSync(path.join(mine, 'notes.txt'), 'utf8'), 'mine');
});
