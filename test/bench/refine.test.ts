// bench/refine's pure parts: the fixed subset, the per-image cache that makes it resumable, and the entry shape
// (side and mad as { mean, std } like `gan3d eval`, seconds_per_image for refinements).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { ResultCache, defaultGanDir, digestOf, entryOf, relativeImprovement, selectSubset, stageCurve, stepTimings, type ImageResult } from '../../bench/refine.js';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-bench-refine-'));
after(() => fs.rm(root, { recursive: true, force: true }));

test('selectSubset: evenly spaced over the sorted ids, deterministic, all when asked for more', () => {
  const ids = Array.from({ length: 2000 }, (_, i) => String(18000 + i).padStart(6, '0')).reverse();
  const a = selectSubset(ids, 30);
  assert.equal(a.length, 30);
  assert.equal(a[0], '018033');
  assert.equal(a[29], '019966');
  assert.deepEqual(a, [...a].sort());
  assert.equal(new Set(a).size, 30);
  assert.deepEqual(selectSubset(ids, 30), a);
  assert.deepEqual(selectSubset(['b', 'a'], 5), ['a', 'b']);
  assert.throws(() => selectSubset(ids, 0), /whole number/);
});

test('digestOf: key order does not matter, values do', () => {
  assert.equal(digestOf({ a: 1, b: { c: 2, d: 3 } }), digestOf({ b: { d: 3, c: 2 }, a: 1 }));
  assert.notEqual(digestOf({ a: 1 }), digestOf({ a: 2 }));
});

test('ResultCache: per-image results survive a restart; missing ones are skipped', async () => {
  const cache = new ResultCache(path.join(root, 'work'));
  assert.equal(await cache.get('photogeo', 'x'), null);
  await cache.put('photogeo', { id: 'x', side: 0.01, mad: 15, seconds: 100 });
  const again = new ResultCache(path.join(root, 'work'));
  assert.deepEqual(await again.get('photogeo', 'x'), { id: 'x', side: 0.01, mad: 15, seconds: 100 });
  assert.equal(await again.get('ellipsoid', 'x'), null);
  await fs.writeFile(again.file('photogeo', 'broken'), '{"id": "bro');
  assert.equal(await again.get('photogeo', 'broken'), null, 'a torn file counts as missing');
  assert.deepEqual((await again.all('photogeo', ['x', 'y', 'broken'])).map((r) => r.id), ['x']);
});

test('entries: { mean, std } of side and mad, seconds per image and per step; relative improvement', () => {
  const history = [
    { name: 'init', stage: 0, iters: 0, firstLoss: NaN, lastLoss: NaN, seconds: 0 },
    { name: 's0-step1', stage: 0, iters: 10, firstLoss: 1, lastLoss: 0.5, seconds: 2 },
    { name: 's1-step1', stage: 1, iters: 10, firstLoss: 1, lastLoss: 0.5, seconds: 4 },
  ];
  const refined: ImageResult[] = [
    { id: 'a', side: 0.008, mad: 14, seconds: 100, invertSeconds: 10, refineSeconds: 88, history },
    { id: 'b', side: 0.01, mad: 16, seconds: 120, invertSeconds: 10, refineSeconds: 108, history },
  ];
  const e = entryOf(refined, 3, true);
  const side = e.side as { mean: number; std: number };
  assert.ok(Math.abs(side.mean - 0.009) < 1e-12 && Math.abs(side.std - 0.001) < 1e-12);
  assert.deepEqual(e.mad, { mean: 15, std: 1 });
  assert.equal(e.images, 2);
  assert.equal(e.complete, false);
  assert.equal(e.seconds_per_image, 110);
  assert.deepEqual(stepTimings(refined).step1, { seconds: 6, iters: 20, secondsPerIter: 0.3 });
  const amortized: ImageResult[] = [
    { id: 'a', side: 0.01, mad: 20 },
    { id: 'b', side: 0.01, mad: 20 },
    { id: 'c', side: 1, mad: 90 },
  ];
  assert.equal('seconds_per_image' in entryOf(amortized, 3, false), false);
  const rel = relativeImprovement(amortized, refined);
  assert.equal(rel.images, 2, 'compared on the images both have');
  assert.equal(rel.mad, 0.25);
  assert.equal(rel.side, 0.1);
  assert.deepEqual(Object.keys(e).sort(), ['complete', 'excluded', 'images', 'mad', 'seconds_per_image', 'side', 'timing']);
});

test('by_stage: the scores after each stage over the images that reached it', () => {
  const results: ImageResult[] = [
    { id: 'a', side: 0.006, mad: 12, stages: [{ stage: 1, seconds: 50, side: 0.004, mad: 14 }, { stage: 2, seconds: 100, side: 0.006, mad: 12 }] },
    { id: 'b', side: 0.008, mad: 16, stages: [{ stage: 1, seconds: 70, side: 0.008, mad: 18 }] },
  ];
  const curve = stageCurve(results);
  assert.equal(curve.length, 2);
  assert.deepEqual(curve[0].mad, { mean: 16, std: 2 });
  assert.equal(curve[0].seconds_per_image, 60);
  assert.equal(curve[0].images, 2);
  assert.deepEqual(curve[1].mad, { mean: 12, std: 0 });
  assert.equal(curve[1].images, 1);
  assert.deepEqual(entryOf(results, 2, true).by_stage, curve);
  assert.equal(stageCurve([{ id: 'c', side: 0.01, mad: 20 }]).length, 0);
});

test('defaultGanDir: models/gan first, else the run with the newest checkpoint', async () => {
  const repo = path.join(root, 'repo');
  assert.equal(defaultGanDir(repo), null);
  for (const [run, ms] of [['gan', 1000], ['gan-small', 2000], ['photogeo', 3000]] as const) {
    const dir = path.join(repo, 'runs', run, 'checkpoints', 'ckpt-00000001');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'checkpoint.json'), '{}');
    await fs.utimes(path.join(dir, 'checkpoint.json'), ms, ms);
  }
  assert.equal(defaultGanDir(repo), path.join(repo, 'runs', 'gan-small'));
  await fs.mkdir(path.join(repo, 'models', 'gan'), { recursive: true });
  assert.equal(defaultGanDir(repo), path.join(repo, 'models', 'gan'));
});
