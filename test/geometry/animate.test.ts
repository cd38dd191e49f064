import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { circlingLights, DEFAULT_BACKGROUND, renderRelight, renderYawSweep, yawAngles } from '../../src/geometry/animate.js';
import { cameraConfig } from '../../src/geometry/camera.js';
import { renderView } from '../../src/geometry/render.js';
import { shade } from '../../src/geometry/shading.js';
import { sphereDepth } from '../io/helpers.js';

before(async () => {
  await initBackend('wasm');
});

const S = 32;
const cam = cameraConfig(S);
const sphere = sphereDepth(S, 0.06, 1.02, 1.05);

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

test('the yaw sweep goes −60°…+60° and back; its frames are renderView of those yaws over the background', () => {
  const angles = yawAngles(24);
  assert.equal(angles.length, 24);
  assert.ok(Math.abs(angles[0] + 60) < 1e-9 && Math.abs(angles[12] - 60) < 1e-9 && Math.abs(angles[6]) < 1e-9);
  const tensors = tf.memory().numTensors;
  tf.tidy(() => {
    const depth = tf.tensor4d(sphere.data, [1, S, S, 1]);
    const image = tf.randomUniform([1, S, S, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const frames = renderYawSweep(depth, image, cam, { frames: 8 });
    assert.deepEqual(frames.shape, [8, S, S, 3]);
    for (const k of [0, 2, 5]) {
      const yaw = (yawAngles(8)[k] * Math.PI) / 180;
      const r = renderView({ canonDepth: depth, canonImage: image, view: tf.tensor2d([[0, yaw, 0, 0, 0, 0]]), camera: cam });
      const bg = tf.mul(tf.tensor4d(DEFAULT_BACKGROUND, [1, 1, 1, 3]), tf.sub(1, r.mask));
      assert.ok(maxAbsDiff(tf.slice(frames, k, 1), tf.add(r.image, bg)) < 1e-6, `frame ${k}`);
    }
    // At ±60° the plane behind the sphere turns away: some pixels show the background.
    const mask0 = tf.sum(tf.cast(tf.equal(tf.slice(frames, 0, 1), DEFAULT_BACKGROUND[0]), 'float32')).dataSync()[0];
    assert.ok(mask0 > 0);
    // Frames at another size keep the shape of the stack.
    assert.deepEqual(renderYawSweep(depth, image, cam, { frames: 3, size: 48 }).shape, [3, 48, 48, 3]);
  });
  assert.equal(tf.memory().numTensors, tensors);
});

test('relight frames equal shade + renderView under each circling light (all frames in one render)', () => {
  const lights = circlingLights(6, 0.3, 0.7);
  assert.deepEqual(lights[0], [0.3, 0.7, 1, 0]);
  assert.ok(Math.abs(lights[3][2] + 1) < 1e-12);
  tf.tidy(() => {
    const depth = tf.tensor4d(sphere.data, [1, S, S, 1]);
    const albedo = tf.randomUniform([1, S, S, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const view = tf.tensor2d([[0.05, -0.2, 0.02, 0.01, 0, 0]]);
    const frames = renderRelight(depth, albedo, tf.tensor2d([[0.3, 0.7, 0.2, 0.1]]), view, cam, { frames: 6 });
    assert.deepEqual(frames.shape, [6, S, S, 3]);
    for (let k = 0; k < 6; k++) {
      const shaded = shade(depth, albedo, tf.tensor2d([lights[k]]), cam);
      const r = renderView({ canonDepth: depth, canonImage: shaded.image, view, camera: cam });
      const bg = tf.mul(tf.tensor4d(DEFAULT_BACKGROUND, [1, 1, 1, 3]), tf.sub(1, r.mask));
      assert.ok(maxAbsDiff(tf.slice(frames, k, 1), tf.add(r.image, bg)) < 1e-5, `frame ${k}`);
    }
  });
});
