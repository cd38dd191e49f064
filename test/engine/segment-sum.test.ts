import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { compareWithCpu } from '../../src/engine/compare.js';
import { Rng } from '../../src/engine/random.js';

const TOL = 1e-4;

interface Case {
  xShape: number[];
  idsShape: number[];
  numSegments: number;
  dtype: 'float32' | 'int32';
}

function randomCase(rng: Rng): Case {
  const rank = 1 + rng.int(4);
  const xShape = Array.from({ length: rank }, () => 1 + rng.int(rank > 2 ? 5 : 9));
  const idsRank = 1 + rng.int(rank);
  return {
    xShape,
    // The cpu kernel aligns ids' trailing axes with x's trailing axes (unit axes go after the first one).
    idsShape: [xShape[0], ...xShape.slice(rank - idsRank + 1)],
    numSegments: 1 + rng.int(12),
    dtype: rng.uniform() < 0.3 ? 'int32' : 'float32',
  };
}

function build(c: Case, rng: Rng): () => tf.Tensor {
  const size = c.xShape.reduce((a, b) => a * b, 1);
  const idsSize = c.idsShape.reduce((a, b) => a * b, 1);
  const xv = c.dtype === 'int32' ? Int32Array.from({ length: size }, () => rng.int(21) - 10) : rng.normalArray(size);
  // About one id in six is negative or >= numSegments: those entries must be dropped.
  const ids = Int32Array.from({ length: idsSize }, () => rng.int(c.numSegments + 3) - 1);
  return () => tf.unsortedSegmentSum(tf.tensor(xv, c.xShape, c.dtype), tf.tensor<tf.Rank>(ids, c.idsShape, 'int32') as tf.Tensor1D, c.numSegments);
}

test('UnsortedSegmentSum on wasm matches cpu on 30 random configurations', async () => {
  await initBackend('wasm');
  const rng = new Rng(2024);
  let multiAxis = 0;
  for (let i = 0; i < 30; i++) {
    const c = randomCase(rng);
    const compute = build(c, rng);
    const shape = tf.tidy(() => compute().shape);
    const cmp = await compareWithCpu(compute);
    assert.ok(cmp.maxRelError <= TOL, `case ${JSON.stringify(c)}: rel. error ${cmp.maxRelError}`);
    assert.deepEqual(shape, [c.numSegments, ...c.xShape.slice(1)]);
    if (c.idsShape.length > 1) multiAxis++;
  }
  assert.ok(multiAxis >= 5, 'the sweep should include multi-axis ids');
});

test('UnsortedSegmentSum broadcasts ids against x like the cpu kernel', async () => {
  await initBackend('wasm');
  const rng = new Rng(5);
  const cases: [number[], number[]][] = [
    [[4, 3], [4, 1]],
    [[1, 5], [6]],
    [[3, 4], [1]],
    [[2, 3, 4], [2, 1]],
    [[2, 3, 4], [2, 4]],
    [[2, 3, 4], [1, 3, 1]],
  ];
  for (const [xShape, idsShape] of cases) {
    const xv = rng.normalArray(xShape.reduce((a, b) => a * b, 1));
    const ids = Int32Array.from({ length: idsShape.reduce((a, b) => a * b, 1) }, () => rng.int(4));
    const cmp = await compareWithCpu(() => tf.unsortedSegmentSum(tf.tensor(xv, xShape), tf.tensor<tf.Rank>(ids, idsShape, 'int32') as tf.Tensor1D, 4));
    assert.ok(cmp.maxRelError <= TOL, `x ${xShape} ids ${idsShape}: ${cmp.maxRelError}`);
  }
});

test('UnsortedSegmentSum keeps int32 as int32 and drops out-of-range ids', async () => {
  await initBackend('wasm');
  const r = tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], 'int32'), tf.tensor1d([0, -1, 2, 3], 'int32'), 3);
  assert.equal(r.dtype, 'int32');
  assert.deepEqual(Array.from(r.dataSync()), [1, 0, 3]);
  r.dispose();
});

test('gradient of a gather-based loss on wasm matches cpu (repeated and 2-D indices)', async () => {
  await initBackend('wasm');
  const rng = new Rng(11);
  for (const [rows, cols, idxShape, axis] of [
    [50, 7, [120], 0],
    [9, 20, [4, 6], 1],
    [30, 1, [3, 10], 0],
  ] as [number, number, number[], number][]) {
    const xv = rng.normalArray(rows * cols);
    const n = axis === 0 ? rows : cols;
    const idx = Int32Array.from({ length: idxShape.reduce((a, b) => a * b, 1) }, () => rng.int(n));
    const wv = rng.normalArray(idx.length * (axis === 0 ? cols : rows));
    const compute = () => {
      const x = tf.tensor2d(xv, [rows, cols]);
      const indices = tf.tensor(idx, idxShape, 'int32');
      const loss = (t: tf.Tensor) => {
        const g = tf.gather(t, indices, axis);
        return tf.sum(tf.mul(tf.square(g), tf.reshape(tf.tensor1d(wv), g.shape)));
      };
      return tf.grad(loss)(x);
    };
    const cmp = await compareWithCpu(compute);
    assert.ok(cmp.maxRelError <= TOL, `gather grad ${rows}x${cols} axis ${axis}: ${cmp.maxRelError}`);
  }
});
