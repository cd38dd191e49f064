import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { ReferenceNetwork, referenceTrainStep } from '../../src/engine/reference-network.js';
import { Rng } from '../../src/engine/random.js';

before(async () => {
  await initBackend('wasm');
});

test('reference network maps 64×64 images to a 64×64 map and has the documented shape', () => {
  const net = new ReferenceNetwork(new Rng(1));
  const y = tf.tidy(() => net.apply(tf.zeros([2, 64, 64, 3]) as tf.Tensor4D));
  assert.deepEqual(y.shape, [2, 64, 64, 1]);
  y.dispose();
  // Weight count by hand: convs without bias plus GroupNorm affine parameters.
  const convs = [3 * 32, 32 * 64, 64 * 128, 128 * 256, 256 * 128, 128 * 256, 256 * 128, 128 * 64, 64 * 32].map((c) => 16 * c);
  const k3 = [128 * 128, 64 * 64, 32 * 32].map((c) => 9 * c);
  const norms = 2 * (32 + 64 + 128 + 2 * 128 + 2 * 64 + 2 * 32);
  const expected = convs.reduce((a, b) => a + b) + k3.reduce((a, b) => a + b) + norms + 25 * 32;
  assert.equal(net.variables.reduce((a, v) => a + v.size, 0), expected);
  tf.dispose(net.variables);
});

test('50 Adam steps on the wasm engine: tensor count unchanged, loss decreases on a fixed batch', () => {
  const net = new ReferenceNetwork(new Rng(1));
  const optimizer = tf.train.adam(1e-3);
  const rng = new Rng(9);
  const images = tf.tensor4d(rng.normalArray(2 * 64 * 64 * 3), [2, 64, 64, 3]);
  const target = tf.tensor4d(rng.uniformArray(2 * 64 * 64), [2, 64, 64, 1]);
  const first = referenceTrainStep(net, optimizer, images, target); // creates Adam's slots
  const before = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 50; i++) last = referenceTrainStep(net, optimizer, images, target);
  assert.equal(tf.memory().numTensors, before, 'tensor count grew across training steps');
  assert.ok(Number.isFinite(last) && last < 0.5 * first, `loss ${first} → ${last}`);
  tf.dispose([images, target, ...net.variables]);
  optimizer.dispose();
});
