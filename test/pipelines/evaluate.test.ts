import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDepthPng } from '../../src/io/depth-png.js';
import { writePng8 } from '../../src/io/png.js';
import { evaluateBaseline, evaluateDepth } from '../../src/pipelines/evaluate.js';
import { Gan3dError } from '../../src/engine/errors.js';

const S = 32;
let root = '';

/** A head-like bump: a spherical cap of random size in front of the 1.1 background. */
function bumpDepth(k: number): { depth: Float32Array; mask: Uint8Array } {
  const depth = new Float32Array(S * S).fill(1.1);
  const mask = new Uint8Array(S * S);
  const r = 10 + (k % 4);
  const cx = 15.5 + (k % 3) - 1;
  for (let i = 0; i < S; i++) {
    for (let j = 0; j < S; j++) {
      const q = ((i - 15.5) / (r * 1.2)) ** 2 + ((j - cx) / r) ** 2;
      if (q < 1) {
        depth[i * S + j] = 1.1 - 0.15 * Math.sqrt(1 - q);
        mask[i * S + j] = 255;
      }
    }
  }
  return { depth, mask };
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gan3d-eval-'));
  for (const split of ['train', 'test']) {
    fs.mkdirSync(path.join(root, split, 'depth'), { recursive: true });
    fs.mkdirSync(path.join(root, split, 'mask'), { recursive: true });
    for (let k = 0; k < 6; k++) {
      const { depth, mask } = bumpDepth(k + (split === 'train' ? 1 : 0));
      const id = String(k).padStart(6, '0');
      await writeDepthPng(path.join(root, split, 'depth', `${id}.png`), { data: depth, width: S, height: S });
      await writePng8(path.join(root, split, 'mask', `${id}.png`), mask, S, S, 1);
    }
  }
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

test('perfect predictions score SIDE 0 and beat every baseline; the baselines rank as in the papers', async () => {
  const test = path.join(root, 'test');
  const perfect = await evaluateDepth(test, 'ground truth', (s) => s.depth);
  assert.equal(perfect.images, 6);
  assert.ok(perfect.side.mean < 1e-6, `SIDE ${perfect.side.mean}`);
  const nul = await evaluateBaseline('null', test);
  const mean = await evaluateBaseline('mean', test);
  const ellipsoid = await evaluateBaseline('ellipsoid', test);
  assert.equal(mean.details.averagedOver, path.join(root, 'train'));
  for (const b of [nul, mean, ellipsoid]) {
    assert.ok(b.side.mean > perfect.side.mean + 1e-3, `${b.method} SIDE ${b.side.mean}`);
    assert.ok(b.mad.mean > perfect.mad.mean + 1, `${b.method} MAD ${b.mad.mean}`);
    assert.ok(Number.isFinite(b.side.std) && Number.isFinite(b.mad.std));
  }
  // A flat plane has no shape at all: it is the worst on normals.
  assert.ok(nul.mad.mean > mean.mad.mean && nul.mad.mean > ellipsoid.mad.mean);
});

test('a folder that is not a split is a clear error', async () => {
  await assert.rejects(evaluateBaseline('null', path.join(root, 'nope')), (e: unknown) => e instanceof Gan3dError && /no such folder/.test(e.message));
  await assert.rejects(evaluateBaseline('null', root), (e: unknown) => e instanceof Gan3dError && /expected a depth\/ folder/.test(e.message));
});
