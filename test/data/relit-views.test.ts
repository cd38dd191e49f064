import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { sampleParams } from '../../src/data/synface/params.js';
import { renderSynfaceBatch } from '../../src/data/synface/render.js';
import { relitViews } from '../../src/data/synface/relit-views.js';

before(async () => {
  await initBackend('wasm');
});

test('relitViews: the same face under fresh lights and views, deterministic per seed', () => {
  const face = sampleParams(new Rng(11));
  const size = 32;
  const a = relitViews(face, 3, size, 5);
  const b = relitViews(face, 3, size, 5);
  const per = size * size * 3;
  assert.equal(a.count, 3);
  assert.equal(a.images.length, 3 * per);
  assert.deepEqual(a.images, b.images, 'same seed, same renderings');
  assert.ok(a.images.every((v) => v >= -1 && v <= 1));
  assert.ok(a.masks.every((v) => v === 0 || v === 1) && a.masks.some((v) => v === 1), 'binary face masks with a face in them');
  // Each rendering is exactly the dataset renderer's image of the face with that light and view.
  const k = 1;
  const direct = renderSynfaceBatch([{ ...face, ...a.params[k] }], size)[0].image;
  const got = a.images.subarray(k * per, (k + 1) * per);
  assert.ok(got.every((v, i) => Math.abs(v - (direct[i] / 127.5 - 1)) < 1e-6));
  // New lights and views: the renderings differ from each other and from the face's own.
  const own = renderSynfaceBatch([face], size)[0].image;
  const diff = (x: Float32Array, y: ArrayLike<number>) => x.reduce((s, v, i) => s + Math.abs(v - (y[i] / 127.5 - 1)), 0) / x.length;
  assert.ok(diff(a.images.subarray(0, per), own) > 0.01);
  assert.notDeepEqual(a.params[0], a.params[1]);
  assert.deepEqual(a.params[0].light.length, 4);
  assert.deepEqual(a.params[0].view.length, 6);
  const c = relitViews(face, 3, size, 6);
  assert.notDeepEqual(c.images, a.images, 'another seed, other renderings');
});
