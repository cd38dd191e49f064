import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { compareArrays } from '../../src/engine/compare.js';
import { DataParallel, shardRanges, type Batch } from '../../src/engine/parallel/data-parallel.js';
import { createReplica } from './fixtures/tiny-replica.js';
import { Rng } from '../../src/engine/random.js';

const spec = { moduleUrl: new URL('./fixtures/tiny-replica.ts', import.meta.url).href, config: { seed: 3 } };

function makeBatch(rng: Rng, n: number): Batch {
  return {
    x: { data: rng.normalArray(n * 6 * 5 * 2), shape: [n, 6, 5, 2] },
    y: { data: rng.normalArray(n), shape: [n, 1] },
  };
}

function fullBatchGrads(weights: Float32Array[], batch: Batch): { loss: number; grads: Float32Array[] } {
  const replica = createReplica({ seed: 3 });
  replica.variables.forEach((v, i) => v.assign(tf.tensor(weights[i], v.shape)));
  const { value, grads } = tf.tidy(() =>
    tf.variableGrads(() => replica.loss({ x: tf.tensor(batch.x.data, batch.x.shape), y: tf.tensor(batch.y.data, batch.y.shape) }), replica.variables),
  );
  const out = { loss: value.dataSync()[0], grads: replica.variables.map((v) => Float32Array.from(grads[v.name].dataSync())) };
  tf.dispose([value, ...Object.values(grads), ...replica.variables]);
  return out;
}

before(async () => {
  await initBackend('wasm');
});

test('shardRanges splits evenly and covers every item once', () => {
  assert.deepEqual(shardRanges(8, 2), [[0, 4], [4, 8]]);
  assert.deepEqual(shardRanges(7, 3), [[0, 3], [3, 5], [5, 7]]);
  assert.deepEqual(shardRanges(1, 2), [[0, 1], [1, 1]]);
});

test('two-thread gradients equal the single-thread full-batch gradients, across optimizer steps', async () => {
  const dp = await DataParallel.create(spec, { workers: 1 });
  try {
    assert.equal(dp.threads, 2);
    const rng = new Rng(11);
    const optimizer = tf.train.sgd(0.1);
    for (let step = 0; step < 3; step++) {
      const batch = makeBatch(rng, 7); // odd: unequal shards
      const weights = dp.replica.variables.map((v) => Float32Array.from(v.dataSync()));
      const reference = fullBatchGrads(weights, batch);
      const copy: Batch = { x: { ...batch.x, data: batch.x.data.slice() }, y: { ...batch.y, data: batch.y.data.slice() } };
      const { loss, grads } = await dp.lossAndGradients(copy);
      assert.ok(Math.abs(loss - reference.loss) <= 1e-5 * Math.max(1, Math.abs(reference.loss)), `loss ${loss} vs ${reference.loss}`);
      dp.replica.variables.forEach((v, i) => {
        const c = compareArrays(Float32Array.from(grads[v.name].dataSync()), reference.grads[i]);
        assert.ok(c.maxRelError < 1e-5, `step ${step} variable ${i}: rel. error ${c.maxRelError}`);
      });
      optimizer.applyGradients(grads);
      tf.dispose(grads);
    }
    optimizer.dispose();
  } finally {
    await dp.dispose();
  }
});

test('data-parallel steps do not grow the tensor count', async () => {
  const dp = await DataParallel.create(spec, { workers: 1 });
  try {
    const rng = new Rng(5);
    await dp.step(makeBatch(rng, 4));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) await dp.step(makeBatch(rng, 4));
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await dp.dispose();
  }
});

for (const workers of [0, 1, 2]) {
  test(`shared Adam on ${workers + 1} thread(s) follows tf.train.adam on full-batch gradients`, async () => {
    const dp = await DataParallel.create(spec, { workers, adam: { learningRate: 0.05 } });
    const reference = createReplica({ seed: 3 });
    const optimizer = tf.train.adam(0.05, 0.9, 0.999, 1e-7);
    try {
      const rng = new Rng(21);
      for (let step = 0; step < 4; step++) {
        const batch = makeBatch(rng, 5);
        const x = tf.tensor(batch.x.data, batch.x.shape);
        const y = tf.tensor(batch.y.data, batch.y.shape);
        optimizer.minimize(() => reference.loss({ x, y }), false, reference.variables);
        tf.dispose([x, y]);
        await dp.step(batch);
      }
      dp.replica.variables.forEach((v, i) => {
        const c = compareArrays(Float32Array.from(v.dataSync()), Float32Array.from(reference.variables[i].dataSync()));
        assert.ok(c.maxRelError < 1e-4, `variable ${i}: rel. error ${c.maxRelError}`);
      });
      // Four Adam steps at this rate move the weights well beyond the tolerance: the comparison has teeth.
      const initial = createReplica({ seed: 3 });
      const moved = compareArrays(Float32Array.from(dp.replica.variables[0].dataSync()), Float32Array.from(initial.variables[0].dataSync()));
      tf.dispose(initial.variables);
      assert.ok(moved.maxRelError > 1e-2);
    } finally {
      optimizer.dispose();
      tf.dispose(reference.variables);
      await dp.dispose();
    }
  });
}

test('a batch smaller than the thread count still steps', async () => {
  const dp = await DataParallel.create(spec, { workers: 1 });
  try {
    const loss = await dp.step(makeBatch(new Rng(2), 1));
    assert.ok(Number.isFinite(loss));
    assert.equal(dp.adamSteps, 1);
  } finally {
    await dp.dispose();
  }
});

test('a failing replica module is reported, not hung', async () => {
  await assert.rejects(
    DataParallel.create({ moduleUrl: new URL('./fixtures/does-not-exist.ts', import.meta.url).href, config: {} }, { workers: 1 }),
  );
});
