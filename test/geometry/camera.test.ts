import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { CAMERA_DEFAULTS, cameraConfig, depthClampRange, intrinsics } from '../../src/geometry/camera.js';
import { depthToPoints, pointsToGrid } from '../../src/geometry/points.js';

test('camera defaults and intrinsics match Unsup3d (fov 10 degrees, f = 360.05 at 64 px, 725.8 at 128 px)', () => {
  assert.deepEqual({ ...CAMERA_DEFAULTS }, { fovDeg: 10, minDepth: 0.9, maxDepth: 1.1, rotCenterDepth: 1.0 });
  assert.ok(Math.abs(intrinsics(cameraConfig(64)).f - 360.05) < 0.01);
  assert.ok(Math.abs(intrinsics(cameraConfig(128)).f - 725.8) < 0.05);
  assert.equal(intrinsics(cameraConfig(64)).c, 31.5);
  const { lo, hi } = depthClampRange(cameraConfig(64));
  assert.ok(Math.abs(lo - 0.8) < 1e-12 && Math.abs(hi - 1.2) < 1e-12);
});

test('an impossible camera is a user-facing error', () => {
  assert.throws(() => cameraConfig(64, { minDepth: 1.2 }), (e: unknown) => e instanceof Gan3dError && /minDepth/.test(e.message));
  assert.throws(() => cameraConfig(1.5), Gan3dError);
});

test('back-projection then projection lands every pixel on its own centre; x right, y down, z forward', async () => {
  await initBackend('wasm');
  const s = 9;
  const cam = cameraConfig(s);
  const depth = tf.randomUniform([2, s, s, 1], 0.9, 1.1, 'float32', 3) as tf.Tensor4D;
  const points = depthToPoints(depth, cam);
  const p = points.arraySync();
  // Pixel (row 0, col 8) is top right: x > 0, y < 0; depth is the z coordinate.
  assert.ok(p[0][0][8][0] > 0 && p[0][0][8][1] < 0);
  assert.equal(p[0][0][8][2], depth.arraySync()[0][0][8][0]);
  const grid = pointsToGrid(points, cam).arraySync();
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < s; j++) {
      const [un, vn] = grid[1][i][j];
      assert.ok(Math.abs(un - (2 * j) / (s - 1) + 1) < 1e-5 && Math.abs(vn - (2 * i) / (s - 1) + 1) < 1e-5, `pixel ${i},${j}`);
    }
  }
  tf.dispose([depth, points]);
});
