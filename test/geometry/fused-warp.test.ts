import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { compareArrays } from '../../src/engine/compare.js';
import { cameraConfig } from '../../src/geometry/camera.js';
import { canonicalSampleGrid, meshInView } from '../../src/geometry/fused-warp.js';
import { depthToPoints, pointsToGrid } from '../../src/geometry/points.js';
import { warpToCanonical, warpToView } from '../../src/geometry/view.js';
import { bumpDepth } from './fixtures.js';

// The fused loops must equal the composition of the general tensor functions, values and gradients alike (the
// composition's gradient comes from tfjs autodiff). Both are float32 with the same operations in a different order,
// so they agree to a few ulps of the largest entry: bound 1e-5 relative.
type Warp = (d: tf.Tensor4D, v: tf.Tensor2D) => tf.Tensor;
const cases: { name: string; fused: Warp; composed: Warp }[] = [
  {
    name: 'meshInView = warpToView(depthToPoints(d))',
    fused: (d: tf.Tensor4D, v: tf.Tensor2D, cam = cameraConfig(d.shape[1])) => meshInView(d, v, cam),
    composed: (d: tf.Tensor4D, v: tf.Tensor2D, cam = cameraConfig(d.shape[1])) =>
      tf.reshape(warpToView(depthToPoints(d, cam), v, cam), [d.shape[0], -1, 3]),
  },
  {
    name: 'canonicalSampleGrid = pointsToGrid(warpToCanonical(depthToPoints(d)))',
    fused: (d: tf.Tensor4D, v: tf.Tensor2D, cam = cameraConfig(d.shape[1])) => canonicalSampleGrid(d, v, cam),
    composed: (d: tf.Tensor4D, v: tf.Tensor2D, cam = cameraConfig(d.shape[1])) =>
      pointsToGrid(warpToCanonical(depthToPoints(d, cam), v, cam), cam),
  },
];

for (const c of cases) {
  test(`${c.name}, values and gradients`, async () => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const depth = bumpDepth(10, 3);
      const view = tf.tensor2d([
        [0.4, -0.6, 0.3, 0.05, -0.03, 0.02],
        [-0.2, 0.9, -0.5, -0.1, 0.08, -0.05],
        [0, 0, 0, 0, 0, 0],
      ]);
      const fused = c.fused(depth, view);
      const composed = c.composed(depth, view);
      assert.deepEqual(fused.shape, composed.shape);
      const values = compareArrays(fused.dataSync() as Float32Array, composed.dataSync() as Float32Array);
      assert.ok(values.maxRelError < 1e-5, `values: ${JSON.stringify(values)}`);
      const upstream = tf.randomNormal(fused.shape, 0, 1, 'float32', 17);
      const gradsOf = (f: Warp) =>
        tf.grads((d: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(f(d as tf.Tensor4D, v as tf.Tensor2D), upstream)))([depth, view]);
      const [gFused, gComposed] = [gradsOf(c.fused), gradsOf(c.composed)];
      ['depth', 'view'].forEach((what, k) => {
        const cmp = compareArrays(gFused[k].dataSync() as Float32Array, gComposed[k].dataSync() as Float32Array);
        assert.ok(cmp.maxRelError < 1e-5, `${what} gradient: ${JSON.stringify(cmp)}`);
      });
    });
    assert.equal(tf.memory().numTensors, before);
  });
}
