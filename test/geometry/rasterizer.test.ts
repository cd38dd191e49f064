import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { EMPTY_DEPTH, cameraConfig, pixelRays } from '../../src/geometry/camera.js';
import { gridFaceCount, gridFaces } from '../../src/geometry/mesh.js';
import { depthToPoints } from '../../src/geometry/points.js';
import { rasterize, renderDepth } from '../../src/geometry/rasterizer.js';
import { warpToView } from '../../src/geometry/view.js';
import { bumpDepth, checkDirectional, interiorWeights, weighted } from './fixtures.js';

/** Camera-frame vertices of the grid mesh of `depth` seen from `view` (row of 6), as a flat array. */
function meshVertices(depth: tf.Tensor4D, view: number[], size: number): Float32Array {
  const cam = cameraConfig(size);
  return tf.tidy(() => warpToView(depthToPoints(depth, cam), tf.tensor2d([view]), cam).dataSync() as Float32Array);
}

test('grid mesh: 2 (S-1)^2 faces (7938 at 64 px, 32258 at 128 px) in the Unsup3d order', () => {
  assert.equal(gridFaceCount(64), 7938);
  assert.equal(gridFaceCount(128), 32258);
  assert.equal(gridFaces(64).length, 3 * 7938);
  assert.equal(gridFaces(128).length, 3 * 32258);
  // First quad of a 5 x 5 grid: (0,0), (1,0), (0,1) and (0,1), (1,0), (1,1).
  assert.deepEqual([...gridFaces(5).slice(0, 6)], [0, 5, 1, 1, 5, 6]);
  assert.ok(gridFaces(5).every((v) => v >= 0 && v < 25));
});

test('a fronto-parallel plane rasterizes to its own depth at every pixel', async () => {
  await initBackend('wasm');
  const s = 16;
  const r = rasterize(meshVertices(tf.fill([1, s, s, 1], 1.05) as tf.Tensor4D, [0, 0, 0, 0, 0, 0], s), 1, gridFaces(s), cameraConfig(s));
  assert.ok(r.faceId.every((f) => f >= 0), 'every pixel covered');
  assert.ok(r.depth.every((d) => Math.abs(d - 1.05) < 1e-6));
  for (let p = 0; p < s * s; p++) {
    const b = r.bary.slice(3 * p, 3 * p + 3);
    assert.ok(Math.abs(b[0] + b[1] + b[2] - 1) < 1e-6 && b.every((x) => x > -1e-4));
  }
});

test('a tilted plane rasterizes to the exact ray-plane depth, in either winding; the nearest surface wins', async () => {
  await initBackend('wasm');
  const s = 24;
  const cam = cameraConfig(s);
  const view = [0.3, -0.4, 0.2, 0.01, 0, 0.02];
  const vertices = meshVertices(tf.ones([1, s, s, 1]) as tf.Tensor4D, view, s);
  // The plane z = 1 through c0 = (0, 0, 1) with normal (0, 0, 1), moved by the view: normal R e_z, point c0 + t.
  const r3 = tf.tidy(() => warpToView(tf.tensor3d([[[0, 0, 1], [0, 0, 2]]]), tf.tensor2d([view]), cam).dataSync());
  const q = [r3[0], r3[1], r3[2]];
  const normal = [r3[3] - q[0], r3[4] - q[1], r3[5] - q[2]];
  const rays = pixelRays(cam);
  const expected = (p: number) => {
    const r = [rays[3 * p], rays[3 * p + 1], 1];
    return (normal[0] * q[0] + normal[1] * q[1] + normal[2] * q[2]) / (normal[0] * r[0] + normal[1] * r[1] + normal[2] * r[2]);
  };
  const faces = gridFaces(s);
  const reversed = Int32Array.from(faces, (_, k) => faces[k - (k % 3) + 2 - (k % 3)]);
  const front = rasterize(vertices, 1, faces, cam);
  const back = rasterize(vertices, 1, reversed, cam);
  let covered = 0;
  for (let p = 0; p < s * s; p++) {
    if (front.faceId[p] < 0) continue;
    covered++;
    assert.ok(Math.abs(front.depth[p] - expected(p)) < 1e-5, `pixel ${p}: ${front.depth[p]} vs ${expected(p)}`);
    assert.equal(back.depth[p], front.depth[p]);
  }
  assert.ok(covered > 0.6 * s * s, `covered ${covered}`);

  // Two planes in one mesh (second one nearer): in either order the nearer one is seen.
  const near = meshVertices(tf.fill([1, s, s, 1], 0.95) as tf.Tensor4D, [0, 0, 0, 0, 0, 0], s);
  const far = meshVertices(tf.fill([1, s, s, 1], 1.05) as tf.Tensor4D, [0, 0, 0, 0, 0, 0], s);
  const twoFaces = Int32Array.from([...faces, ...faces.map((v) => v + s * s)]);
  for (const pair of [[far, near], [near, far]]) {
    const both = rasterize(Float32Array.from([...pair[0], ...pair[1]]), 1, twoFaces, cam);
    assert.ok(both.depth.every((d) => Math.abs(d - 0.95) < 1e-6));
  }
  // Nothing in front of the camera: every pixel is empty.
  const behind = rasterize(Float32Array.from(far, (v, k) => (k % 3 === 2 ? -v : v)), 1, faces, cam);
  assert.ok(behind.faceId.every((f) => f === -1) && behind.depth.every((d) => d === EMPTY_DEPTH));
});

// The depth of a pixel is where its ray meets the winning triangle's plane; with visibility fixed it is smooth in all
// nine vertex coordinates. Pixels whose winning triangle changes between x - h dir and x + h dir are left out: there
// the function has a kink (an edge), and the gradient is, by design, that of the triangle that won at x.
// h = 1e-4 moves vertices ~0.01 px but 0.6% of an edge (0.016 at 12 px), so the truncation of the rational depth is
// ~1e-4 relative; float32 depths (rounded to 6e-8) over 2h add ~3e-4 per pixel, ~3e-3 over ~100 weighted pixels,
// against derivatives of ~10. Measured 0.8e-4 to 4.6e-4 (1.8e-3 at h = 3e-4); bound 1e-3.
test('rendered depth: gradient with respect to vertex x, y, z matches central finite differences', async () => {
  await initBackend('wasm');
  const s = 12;
  const cam = cameraConfig(s);
  const rng = new Rng(3);
  const h = 1e-4;
  const vertices = tf.tensor3d(meshVertices(bumpDepth(s), [0.15, -0.2, 0.1, 0.01, -0.01, 0.02], s), [1, s * s, 3]);
  const depthOf = (v: tf.Tensor) => renderDepth(v as tf.Tensor3D, cam).viewDepth;
  for (let k = 0; k < 3; k++) {
    const direction = rng.normalArray(vertices.size);
    const sameFace = tf.tidy(() => {
      const step = tf.mul(tf.tensor(direction, vertices.shape), h);
      const faces = [vertices, tf.add(vertices, step), tf.sub(vertices, step)].map((v) => renderDepth(v as tf.Tensor3D, cam).raster.faceId);
      return Float32Array.from(faces[0], (f, p) => (f >= 0 && f === faces[1][p] && f === faces[2][p] ? 1 : 0));
    });
    const w = tf.tidy(() => tf.mul(interiorWeights(s, 1, 1, 2, 9 + k), tf.tensor4d(sameFace, [1, s, s, 1])));
    const c = checkDirectional((v) => tf.sum(tf.mul(depthOf(v), w)), (v) => weighted(depthOf(v), w), vertices, h, direction);
    assert.ok(c.relError < 1e-3, `analytic ${c.analytic} vs numeric ${c.numeric}`);
    w.dispose();
  }
  vertices.dispose();
});

test('renderDepth: clamps to [0.8, 1.2], masks empty pixels, and leaks no tensors', async () => {
  await initBackend('wasm');
  const s = 12;
  const cam = cameraConfig(s);
  const vertices = tf.tensor3d(meshVertices(bumpDepth(s), [0, 0.5, 0, 0.02, 0, 0], s), [1, s * s, 3]);
  const run = () =>
    tf.tidy(() => {
      const g = tf.grad((v: tf.Tensor) => tf.sum(renderDepth(v as tf.Tensor3D, cam).viewDepth))(vertices);
      const { viewDepth, mask, raster } = renderDepth(vertices, cam);
      return { g: g.dataSync(), depth: viewDepth.dataSync(), mask: mask.dataSync(), faceId: raster.faceId };
    });
  const first = run();
  // A 0.5 rad turn uncovers some border pixels: those are empty, clamped to 1.2 and masked out.
  const empty = first.faceId.filter((f) => f < 0).length;
  assert.ok(empty > 0 && empty < s * s / 2, `empty ${empty}`);
  first.faceId.forEach((f, p) => {
    assert.equal(first.mask[p], f >= 0 ? 1 : 0);
    assert.ok(first.depth[p] >= 0.8 && first.depth[p] <= 1.2 + 1e-7);
    if (f < 0) assert.ok(Math.abs(first.depth[p] - 1.2) < 1e-6);
  });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) run();
  assert.equal(tf.memory().numTensors, before);
  vertices.dispose();
});
