import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { type CameraConfig, cameraConfig, intrinsics, pixelRays } from '../../src/geometry/camera.js';
import { NORMAL_EPS, depthToNormals, depthToNormalsPortable } from '../../src/geometry/normals.js';
import { shade } from '../../src/geometry/shading.js';
import { bumpDepth, checkDirectional, smoothImage, weighted } from './fixtures.js';

// The normal is cross / (|cross| + 1e-7) as in Unsup3d, with cross in world units: |cross| = (2 d / f)^2 is small
// (1.6e-3 here, 3.1e-5 at 64 px), so interior normals are short by the factor |cross| / (|cross| + 1e-7).
function expectedLength(size: number, depth: number): number {
  const cross = ((2 * depth) / intrinsics(cameraConfig(size)).f) ** 2;
  return cross / (cross + NORMAL_EPS);
}

test('a fronto-parallel plane has normals along (0, 0, 1), of the Unsup3d length, border included', async () => {
  await initBackend('wasm');
  const s = 10;
  const n = tf.tidy(() => depthToNormals(tf.fill([2, s, s, 1], 1.03) as tf.Tensor4D, cameraConfig(s)).dataSync());
  for (let k = 0; k < n.length; k += 3) {
    const p = (k / 3) % (s * s);
    const border = p < s || p >= s * (s - 1) || p % s === 0 || p % s === s - 1;
    const length = border ? 1 : expectedLength(s, 1.03);
    assert.ok(Math.abs(n[k]) < 1e-6 && Math.abs(n[k + 1]) < 1e-6 && Math.abs(n[k + 2] - length) < 1e-6, `pixel ${p}`);
  }
});

test("a sphere's normals match the analytic ones away from the border (within 0.1 degree)", async () => {
  await initBackend('wasm');
  // Sphere centre (0, 0, zc), radius r, seen from inside the field of view everywhere; depth = nearest ray hit.
  const s = 32;
  const cam = cameraConfig(s);
  const [zc, r] = [1.3, 0.35];
  const rays = pixelRays(cam);
  const depth = new Float32Array(s * s);
  for (let p = 0; p < s * s; p++) {
    const [a, b] = [rays[3 * p], rays[3 * p + 1]];
    const rr = a * a + b * b + 1;
    depth[p] = (zc - Math.sqrt(zc * zc - rr * (zc * zc - r * r))) / rr;
  }
  const normals = tf.tidy(() => depthToNormals(tf.tensor4d(depth, [1, s, s, 1]), cam).dataSync());
  let worst = 0;
  for (let i = 1; i < s - 1; i++) {
    for (let j = 1; j < s - 1; j++) {
      const p = i * s + j;
      // With the project's sign (a plane facing the camera gets +z), a sphere's normal points to its centre.
      const point = [rays[3 * p] * depth[p], rays[3 * p + 1] * depth[p], depth[p]];
      const expected = [-point[0] / r, -point[1] / r, (zc - point[2]) / r];
      const got = [0, 1, 2].map((k) => normals[3 * p + k]);
      const length = Math.hypot(...got);
      worst = Math.max(worst, (Math.acos(Math.min(1, expected.reduce((acc, e, k) => acc + (e * got[k]) / length, 0))) * 180) / Math.PI);
      assert.ok(Math.abs(length - expectedLength(s, depth[p])) < 2e-3, `length ${length} at ${i},${j}`);
    }
  }
  assert.ok(worst < 0.1, `worst angle ${worst} degrees`);
});

test('shading: frontal light on a plane gives S = ambient + diffuse, and J = albedo when S = 1', async () => {
  await initBackend('wasm');
  tf.tidy(() => {
    const albedo = smoothImage(8, 3, 1);
    const plane = tf.ones([1, 8, 8, 1]) as tf.Tensor4D;
    // Interior normals are short by 1 - expectedLength(8, 1) = 4e-5 (see above), hence the 1e-4 tolerances.
    const out = shade(plane, albedo, tf.tensor2d([[0.25, 0.75, 0, 0]]));
    assert.ok(tf.max(tf.abs(tf.sub(out.shading, 1))).dataSync()[0] < 1e-4);
    assert.ok(tf.max(tf.abs(tf.sub(out.image, albedo))).dataSync()[0] < 1e-4);
    // A light from the side at 45 degrees: n . l = 1 / sqrt(2).
    const side = shade(plane, albedo, tf.tensor2d([[0, 1, 1, 0]]));
    assert.ok(tf.max(tf.abs(tf.sub(side.diffuse, Math.SQRT1_2))).dataSync()[0] < 1e-4);
  });
});

// Finite differences in float32: with h = 1e-3 each output moves by ~1e-3 and is rounded to ~1e-7, so one pixel's
// difference quotient carries ~1e-4 relative noise; smooth inputs keep the O(h^2) truncation below that. 1e-3
// relative on the directional derivative leaves an order of magnitude of margin.
test('shade: gradients with respect to depth, albedo and light match central finite differences', async () => {
  await initBackend('wasm');
  const s = 12;
  const cam = cameraConfig(s);
  const rng = new Rng(11);
  const depth = bumpDepth(s, 2);
  const albedo = smoothImage(s, 3, 2);
  const light = tf.tensor2d([[0.3, 0.6, 0.4, -0.2], [0.5, 0.5, -0.3, 0.3]]);
  const w = tf.randomNormal([2, s, s, 3], 0, 1, 'float32', 5);
  const run = (d: tf.Tensor, a: tf.Tensor, l: tf.Tensor) => shade(d as tf.Tensor4D, a as tf.Tensor4D, l as tf.Tensor2D, cam).image;
  const cases: [string, tf.Tensor, number, (x: tf.Tensor) => tf.Tensor][] = [
    ['depth', depth, 1e-4, (x) => run(x, albedo, light)],
    ['albedo', albedo, 1e-2, (x) => run(depth, x, light)],
    ['light', light, 1e-3, (x) => run(depth, albedo, x)],
  ];
  for (const [name, x, h, f] of cases) {
    const c = checkDirectional((v) => tf.sum(tf.mul(f(v), w)), (v) => weighted(f(v), w), x, h, rng.normalArray(x.size));
    assert.ok(c.relError < 1e-3, `${name}: analytic ${c.analytic} vs numeric ${c.numeric}`);
  }
  tf.dispose([depth, albedo, light, w]);
});

// ---- the loop kernels (cpu, wasm) against the tf-ops composition and a float64 reference -------------------------

/** depthToNormals in float64 on plain arrays, with the same points P = d * ray (rays as pixelRays stores them). */
function normalsRef(depth: ArrayLike<number>, n: number, cam: CameraConfig): Float64Array {
  const s = cam.size;
  const rays = pixelRays(cam);
  const out = new Float64Array(n * s * s * 3);
  const point = (b: number, i: number, j: number) => {
    const p = i * s + j;
    const d = depth[b * s * s + p];
    return [d * rays[3 * p], d * rays[3 * p + 1], d];
  };
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < s; i++) {
      for (let j = 0; j < s; j++) {
        const o = 3 * ((b * s + i) * s + j);
        if (i === 0 || j === 0 || i === s - 1 || j === s - 1) {
          out[o + 2] = 1;
          continue;
        }
        const [r, l, dn, up] = [point(b, i, j + 1), point(b, i, j - 1), point(b, i + 1, j), point(b, i - 1, j)];
        const u = [0, 1, 2].map((k) => r[k] - l[k]);
        const v = [0, 1, 2].map((k) => dn[k] - up[k]);
        const c = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
        const den = Math.hypot(...c) + NORMAL_EPS;
        for (let k = 0; k < 3; k++) out[o + k] = c[k] / den;
      }
    }
  }
  return out;
}

const normalFns = { kernel: depthToNormals, portable: depthToNormalsPortable } as const;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k]));
  return m;
}

/** d sum(r * normals) / d depth, read outside the tidy. */
function normalsGrad(fn: (d: tf.Tensor4D, cam: CameraConfig) => tf.Tensor4D, depth: Float32Array, shape: [number, number, number, number], r: Float32Array, cam: CameraConfig): Float32Array {
  const g = tf.tidy(() => {
    const weights = tf.tensor4d(r, [shape[0], shape[1], shape[2], 3]);
    return tf.grad((d: tf.Tensor) => tf.sum(tf.mul(fn(d as tf.Tensor4D, cam), weights)))(tf.tensor4d(depth, shape));
  });
  const values = g.dataSync() as Float32Array;
  g.dispose();
  return values;
}

/** Random depth in [0.9, 1.1], rougher than any real surface, so every pixel's cross product is far from flat. */
function randomDepth(rng: Rng, n: number, s: number): Float32Array {
  return rng.uniformArray(n * s * s, 0.9, 1.1);
}

test('depthToNormals: the kernel matches the tf-ops composition (within 1e-6) on wasm and cpu', async () => {
  const rng = new Rng(21);
  const cases = [[3, 7], [2, 24]].map(([n, s]) => ({ n, s, depth: randomDepth(rng, n, s) }));
  for (const backend of ['wasm', 'cpu']) {
    await initBackend(backend);
    for (const { n, s, depth } of cases) {
      const cam = cameraConfig(s);
      const [kernel, portable] = [depthToNormals, depthToNormalsPortable].map((fn) => {
        const out = tf.tidy(() => fn(tf.tensor4d(depth, [n, s, s, 1]), cam));
        const values = out.dataSync();
        out.dispose();
        return values;
      });
      const err = maxAbsDiff(kernel, portable);
      assert.ok(err < 1e-6, `${backend}, [${n}, ${s}, ${s}, 1]: max difference ${err}`);
      // Both agree with the float64 reference to float32 accuracy.
      assert.ok(maxAbsDiff(kernel, normalsRef(depth, n, cam)) < 1e-4, `${backend}, [${n}, ${s}, ${s}, 1]: vs float64`);
    }
  }
  await initBackend('wasm');
});

test('depthToNormals: the kernel gradient matches the autodiff of the tf-ops composition on wasm and cpu', async () => {
  const rng = new Rng(22);
  const [n, s] = [3, 20];
  const depth = randomDepth(rng, n, s);
  const r = rng.normalArray(n * s * s * 3);
  const cam = cameraConfig(s);
  for (const backend of ['wasm', 'cpu']) {
    await initBackend(backend);
    const kernel = normalsGrad(depthToNormals, depth, [n, s, s, 1], r, cam);
    const portable = normalsGrad(depthToNormalsPortable, depth, [n, s, s, 1], r, cam);
    const rel = maxAbsDiff(kernel, portable) / maxAbs(portable);
    assert.ok(rel < 1e-4, `${backend}: relative difference ${rel}`);
  }
  await initBackend('wasm');
});

test('depthToNormals: gradients match central finite differences of a float64 reference', async () => {
  await initBackend('wasm');
  const rng = new Rng(23);
  const [n, s] = [2, 6];
  const cam = cameraConfig(s);
  const depth = randomDepth(rng, n, s);
  const r = rng.normalArray(n * s * s * 3);
  const loss = (d: ArrayLike<number>) => normalsRef(d, n, cam).reduce((acc, v, k) => acc + v * r[k], 0);
  // h = 1e-6 on depth ~1: truncation O(h²) and float64 rounding O(1e-16 / h) both stay far below the tolerance.
  const h = 1e-6;
  const numeric = new Float64Array(depth.length);
  const x = Float64Array.from(depth);
  for (let k = 0; k < x.length; k++) {
    const x0 = x[k];
    x[k] = x0 + h;
    const plus = loss(x);
    x[k] = x0 - h;
    const minus = loss(x);
    x[k] = x0;
    numeric[k] = (plus - minus) / (2 * h);
  }
  for (const [name, fn] of Object.entries(normalFns)) {
    const g = normalsGrad(fn, depth, [n, s, s, 1], r, cam);
    const rel = maxAbsDiff(g, numeric) / maxAbs(numeric);
    assert.ok(rel < 1e-4, `${name}: relative error ${rel}`);
  }
});

test('depthToNormals: forward and backward through the kernel do not leak tensors', async () => {
  await initBackend('wasm');
  const s = 12;
  const cam = cameraConfig(s);
  const depth = bumpDepth(s, 2);
  const r = tf.randomNormal([2, s, s, 3], 0, 1, 'float32', 7);
  const step = () => {
    const g = tf.tidy(() => tf.grad((d: tf.Tensor) => tf.sum(tf.mul(depthToNormals(d as tf.Tensor4D, cam), r)))(depth));
    g.dispose();
  };
  step();
  const before = tf.memory().numTensors;
  for (let k = 0; k < 3; k++) step();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([depth, r]);
});
