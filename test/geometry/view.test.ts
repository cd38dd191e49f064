import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { cameraConfig } from '../../src/geometry/camera.js';
import { invertView, rotationMatrices, warpToCanonical, warpToView } from '../../src/geometry/view.js';

const VIEWS = [
  [0.3, -0.5, 0.2, 0.05, -0.02, 0.01],
  [-0.9, 0.7, -1.1, 0, 0.1, -0.03],
  [0, 0, 0, 0, 0, 0],
];

type Mat = number[][];
const mul = (a: Mat, b: Mat): Mat => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const rx = (t: number): Mat => [[1, 0, 0], [0, Math.cos(t), -Math.sin(t)], [0, Math.sin(t), Math.cos(t)]];
const ry = (t: number): Mat => [[Math.cos(t), 0, Math.sin(t)], [0, 1, 0], [-Math.sin(t), 0, Math.cos(t)]];
const rz = (t: number): Mat => [[Math.cos(t), -Math.sin(t), 0], [Math.sin(t), Math.cos(t), 0], [0, 0, 1]];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

test('rotation matrices are Rz Ry Rx of the right-handed elementary rotations', async () => {
  await initBackend('wasm');
  const r = tf.tidy(() => rotationMatrices(tf.tensor2d(VIEWS)).arraySync());
  VIEWS.forEach((v, n) => {
    const expected = mul(rz(v[2]), mul(ry(v[1]), rx(v[0])));
    assert.ok(maxDiff(r[n].flat(), expected.flat()) < 1e-6, `view ${n}`);
  });
});

test('warping to a view and back is the identity; invertView undoes a view', async () => {
  await initBackend('wasm');
  const cam = cameraConfig(8);
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const view = tf.tensor2d(VIEWS);
    const points = tf.add(tf.randomUniform([3, 8, 8, 3], -0.1, 0.1, 'float32', 7), tf.tensor1d([0, 0, 1]));
    const there = warpToView(points, view, cam);
    assert.ok(maxDiff(warpToCanonical(there, view, cam).dataSync(), points.dataSync()) < 1e-6);
    const inverse = invertView(view);
    assert.ok(maxDiff(warpToView(there, inverse, cam).dataSync(), points.dataSync()) < 1e-6);
    const rt = tf.transpose(rotationMatrices(view), [0, 2, 1]);
    assert.ok(maxDiff(rotationMatrices(inverse).dataSync(), rt.dataSync()) < 1e-6);
    // A pure translation moves points by t.
    const shift = tf.tensor2d([[0, 0, 0, 0.1, -0.2, 0.3]]);
    const moved = warpToView(tf.slice(points, [0], [1]), shift, cam);
    assert.ok(maxDiff(tf.sub(moved, tf.slice(points, [0], [1])).dataSync(), new Array(64).fill([0.1, -0.2, 0.3]).flat()) < 1e-6);
  });
  assert.equal(tf.memory().numTensors, before);
});
