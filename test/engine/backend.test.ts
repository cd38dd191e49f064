import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';

test('default backend in Node is wasm with SIMD when tfjs-node is absent', async () => {
  const info = await initBackend();
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(info.simd, true);
});

test('an unknown backend name is a clear error', async () => {
  await assert.rejects(initBackend('cuda'), (e: unknown) => e instanceof Gan3dError && /Use one of: wasm, cpu, tensorflow/.test(e.message));
});

test('asking for tensorflow without tfjs-node names the package to install', async () => {
  await assert.rejects(initBackend('tensorflow'), (e: unknown) => e instanceof Gan3dError && /npm install @tensorflow\/tfjs-node/.test(e.message));
});

test('Rng: same seed gives the same stream, state restores exactly, normals have unit variance', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  assert.deepEqual(a.uniformArray(100), b.uniformArray(100));
  const state = a.getState();
  const next = a.normalArray(10);
  a.setState(state);
  assert.deepEqual(a.normalArray(10), next);
  const z = new Rng(1).normalArray(20000);
  let m = 0;
  let v = 0;
  for (const x of z) m += x / z.length;
  for (const x of z) v += (x - m) ** 2 / z.length;
  assert.ok(Math.abs(m) < 0.03, `mean ${m}`);
  assert.ok(Math.abs(v - 1) < 0.05, `variance ${v}`);
  assert.notDeepEqual(new Rng(1).uniformArray(5), new Rng(2).uniformArray(5));
});
