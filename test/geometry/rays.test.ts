import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { cameraConfig, intrinsics } from '../../src/geometry/camera.js';
import { rayPoints, viewRays } from '../../src/geometry/rays.js';
import { importanceDepths, mergeSortedDepths, stratifiedDepths, volumeRender } from '../../src/geometry/volume-render.js';
import { Rng } from '../../src/engine/random.js';

test('viewRays: a point on pixel (i, j)\'s ray at z-depth z, moved by the view, lands at z·K⁻¹[j, i, 1]', async () => {
  await initBackend('wasm');
  const cam = cameraConfig(9, { fovDeg: 12, rotCenterDepth: 1 });
  const { f, c } = intrinsics(cam);
  // Yaw alone, so R is written out by hand here (right-handed about y): x' = cos·x + sin·z, z' = −sin·x + cos·z.
  const yaw = 0.4;
  const t = [0.01, -0.02, 0.05];
  const rays = viewRays(cam, Float32Array.from([0, yaw, 0, ...t]));
  const z = 1.03;
  const depths = tf.fill([1, 81, 1], z) as tf.Tensor3D;
  const X = rayPoints(rays, depths).dataSync();
  for (const [i, j] of [[0, 0], [4, 4], [2, 7], [8, 3]]) {
    const p = i * 9 + j;
    const [x, y, zz] = [X[p * 3], X[p * 3 + 1], X[p * 3 + 2]];
    const moved = [Math.cos(yaw) * x + Math.sin(yaw) * zz + t[0], y + t[1], -Math.sin(yaw) * x + Math.cos(yaw) * zz + 1 + t[2]];
    const expected = [(z * (j - c)) / f, (z * (i - c)) / f, z];
    moved.forEach((v, a) => assert.ok(Math.abs(v - expected[a]) < 1e-5, `pixel (${i}, ${j}) axis ${a}: ${v} vs ${expected[a]}`));
  }
  // Every ray of a view starts at the camera centre, which sits at −Rᵀ(c0 + t) in the object frame.
  const len = Math.hypot(rays.origins[0], rays.origins[1], rays.origins[2]);
  assert.ok(Math.abs(len - Math.hypot(t[0], t[1], 1 + t[2])) < 1e-6);
  assert.ok(Math.abs(rays.rayLengths[40] - 1) < 1e-7, 'the centre pixel\'s ray has z-depth = distance');
  depths.dispose();
  assert.throws(() => viewRays(cam, new Float32Array(5)), /N × 6/);
});

test('rays + volumeRender: a dense ball renders its front surface as depth and its silhouette as opacity', async () => {
  await initBackend('wasm');
  const S = 33;
  const cam = cameraConfig(S, { fovDeg: 12, rotCenterDepth: 1 });
  const { f, c } = intrinsics(cam);
  const radius = 0.06;
  const K = 192;
  const [near, far] = [0.88, 1.12];
  // Turned and moved views see the same ball (it is centred on c0) as long as t = 0: yaw must not matter.
  for (const view of [[0, 0, 0, 0, 0, 0], [0.3, -0.5, 0.2, 0, 0, 0]]) {
    const rays = viewRays(cam, Float32Array.from(view));
    const P = S * S;
    const depths = tf.tensor3d(stratifiedDepths(P, K, near, far), [1, P, K]);
    const out = tf.tidy(() => {
      const X = rayPoints(rays, depths);
      const r = tf.sqrt(tf.sum(tf.square(X), 3));
      // A ball of density 4000 (optical depth ≫ 1 within one sample step) with a soft 0.5 mm edge.
      const sigma = tf.mul(tf.sigmoid(tf.div(tf.sub(radius, r), 0.0005)), 4000);
      const rendered = volumeRender({
        sigma: tf.reshape(sigma, [P, K]) as tf.Tensor2D,
        values: tf.ones([P, K, 1]) as tf.Tensor3D,
        depths: tf.reshape(depths, [P, K]) as tf.Tensor2D,
        rayLengths: tf.tensor1d(rays.rayLengths),
      });
      return { depth: rendered.depth.dataSync(), opacity: rendered.opacity.dataSync() };
    });
    depths.dispose();
    const centre = Math.floor(S / 2) * S + Math.floor(S / 2);
    const step = (far - near) / K;
    // Within a sample step and the soft edge's width.
    assert.ok(Math.abs(out.depth[centre] - (1 - radius)) < step + 0.002, `centre depth ${out.depth[centre]} vs ${1 - radius}`);
    assert.ok(out.opacity[centre] > 0.999);
    // The silhouette: pixels whose ray passes the centre farther than the radius (+ the edge) are empty.
    let checked = 0;
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const ray = [(j - c) / f, (i - c) / f, 1];
        const n2 = ray[0] ** 2 + ray[1] ** 2 + 1;
        const miss = Math.sqrt(Math.max(0, 1 - 1 / n2)); // distance of c0 = (0, 0, 1) from the ray
        if (miss > radius + 0.01) {
          assert.ok(out.opacity[i * S + j] < 1e-3, `pixel (${i}, ${j}) outside the ball: opacity ${out.opacity[i * S + j]}`);
          checked++;
        } else if (miss < radius - 0.01) {
          assert.ok(out.opacity[i * S + j] > 0.99, `pixel (${i}, ${j}) inside the ball: opacity ${out.opacity[i * S + j]}`);
          checked++;
        }
      }
    }
    assert.ok(checked > S * S * 0.8);
  }
});

test('importance sampling: 8 + 8 samples find a surface better than the 8 coarse alone, and no worse than 16 stratified', async () => {
  await initBackend('wasm');
  const S = 9;
  const cam = cameraConfig(S, { fovDeg: 12, rotCenterDepth: 1 });
  const radius = 0.06;
  const [near, far] = [0.88, 1.12];
  const rays = viewRays(cam, new Float32Array(6));
  const P = S * S;
  const lengths = tf.tensor1d(rays.rayLengths);
  const render = (depths: Float32Array, K: number) =>
    tf.tidy(() => {
      const X = rayPoints(rays, tf.tensor3d(depths, [1, P, K]));
      const sigma = tf.mul(tf.sigmoid(tf.div(tf.sub(radius, tf.sqrt(tf.sum(tf.square(X), 3))), 0.0002)), 5000);
      const r = volumeRender({ sigma: tf.reshape(sigma, [P, K]) as tf.Tensor2D, values: tf.zeros([P, K, 1]), depths: tf.tensor2d(depths, [P, K]), rayLengths: lengths });
      return { depth: r.depth.dataSync() as Float32Array, weights: r.weights.dataSync() as Float32Array };
    });
  // Truth on the centre pixel's ray: the ball's front at z = 1 − radius.
  const centre = (S * S - 1) / 2;
  const error = (d: Float32Array) => Math.abs(d[centre] - (1 - radius));
  // Several jitter draws, so no single lucky placement decides it.
  let stratified = 0;
  let coarseOnly = 0;
  let hierarchical = 0;
  for (let seed = 0; seed < 8; seed++) {
    stratified += error(render(stratifiedDepths(P, 16, near, far, new Rng(seed)), 16).depth);
    const coarse = stratifiedDepths(P, 8, near, far, new Rng(seed));
    coarseOnly += error(render(coarse, 8).depth);
    const fine = importanceDepths(coarse, render(coarse, 8).weights, 8, 8, new Rng(100 + seed));
    hierarchical += error(render(mergeSortedDepths(coarse, 8, fine, 8).merged, 16).depth);
  }
  // (NeRF's pdf gives each coarse sample's weight to the bin around it, so the fine samples refine the half-step
  // beyond the surface's coarse bracket: a hard surface gains about 2x, not 8x.)
  const text = `mean depth error: 8 + 8 hierarchical ${hierarchical / 8}, 8 coarse ${coarseOnly / 8}, 16 stratified ${stratified / 8}`;
  assert.ok(hierarchical < 0.6 * coarseOnly, text);
  assert.ok(hierarchical <= stratified, text);
  lengths.dispose();
});
