import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { gridSample, gridSamplePortable, groupNorm } from '../../src/engine/ops/index.js';
import { groupNormAutodiff, groupNormPortable } from '../../src/engine/ops/group-norm.js';
import { Rng } from '../../src/engine/random.js';

type Shape4 = [number, number, number, number];

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Central differences of a float64 scalar function at `x` (a copy is perturbed). */
function numericGrad(f: (x: Float64Array) => number, x: ArrayLike<number>, eps: number): Float64Array {
  const p = Float64Array.from(x);
  const g = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    p[i] = v + eps;
    const up = f(p);
    p[i] = v - eps;
    const down = f(p);
    p[i] = v;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

// ---- GroupNorm ----------------------------------------------------------------------------------------------------

function groupNormRef(
  x: ArrayLike<number>,
  [n, h, w, c]: Shape4,
  groups: number,
  gamma?: ArrayLike<number>,
  beta?: ArrayLike<number>,
  eps = 1e-5,
): Float64Array {
  const out = new Float64Array(size([n, h, w, c]));
  const cg = c / groups;
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const at = (p: number, k: number) => (b * h * w + p) * c + g * cg + k;
      let mean = 0;
      for (let p = 0; p < h * w; p++) for (let k = 0; k < cg; k++) mean += x[at(p, k)];
      mean /= h * w * cg;
      let v = 0;
      for (let p = 0; p < h * w; p++) for (let k = 0; k < cg; k++) v += (x[at(p, k)] - mean) ** 2;
      v /= h * w * cg;
      for (let p = 0; p < h * w; p++) {
        for (let k = 0; k < cg; k++) {
          const ch = g * cg + k;
          const xhat = (x[at(p, k)] - mean) / Math.sqrt(v + eps);
          out[at(p, k)] = (gamma ? gamma[ch] : 1) * xhat + (beta ? beta[ch] : 0);
        }
      }
    }
  }
  return out;
}

test('groupNorm matches a plain loop for several shapes and groups, with and without affine', async () => {
  await initBackend('wasm');
  const rng = new Rng(1);
  const cases: [Shape4, number][] = [
    [[2, 3, 4, 6], 1],
    [[2, 3, 4, 6], 2],
    [[2, 3, 4, 6], 3],
    [[2, 3, 4, 6], 6],
    [[1, 5, 5, 4], 4],
    [[3, 2, 2, 8], 2],
    [[1, 1, 1, 4], 2],
  ];
  for (const [shape, groups] of cases) {
    const c = shape[3];
    // Offset and scale per channel so that the normalization has something to remove.
    const xv = Float32Array.from(rng.normalArray(size(shape)), (v, i) => 3 * v + (i % c) - 2);
    const gv = rng.normalArray(c);
    const bv = rng.normalArray(c);
    for (const affine of ['none', 'both', 'gamma', 'beta'] as const) {
      const gamma = affine === 'both' || affine === 'gamma' ? gv : undefined;
      const beta = affine === 'both' || affine === 'beta' ? bv : undefined;
      // The loop kernel (wasm here) and the portable tf-ops version against the same float64 loop.
      for (const fn of [groupNorm, groupNormPortable]) {
        const y = tf.tidy(() => fn(tf.tensor4d(xv, shape), groups, gamma && tf.tensor1d(gamma), beta && tf.tensor1d(beta)).dataSync());
        const err = maxAbsDiff(y, groupNormRef(xv, shape, groups, gamma, beta));
        assert.ok(err < 2e-5, `${fn.name}: shape ${shape} groups ${groups} ${affine}: ${err}`);
      }
    }
  }
});

test('groupNorm gradients in x, gamma and beta match central differences of a float64 reference', async () => {
  await initBackend('wasm');
  const rng = new Rng(2);
  for (const [shape, groups] of [
    [[2, 2, 3, 4], 2],
    [[1, 3, 2, 6], 3],
    [[2, 2, 2, 3], 1],
  ] as [Shape4, number][]) {
    const c = shape[3];
    const xv = rng.normalArray(size(shape));
    const gv = rng.normalArray(c);
    const bv = rng.normalArray(c);
    const r = rng.normalArray(size(shape)); // loss = sum(r * y): every output gets a different weight
    const [dx, dg, db, dxAuto, dxPlain, dxPort, dgPort, dbPort] = tf.tidy(() => {
      const loss = (fn: typeof groupNorm) => (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(fn(x as tf.Tensor4D, groups, g as tf.Tensor1D, b as tf.Tensor1D), tf.tensor(r, shape)));
      const inputs = [tf.tensor4d(xv, shape), tf.tensor1d(gv), tf.tensor1d(bv)];
      const grads = tf.grads(loss(groupNorm))(inputs).map((t) => t.dataSync());
      const plain = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(groupNorm(x as tf.Tensor4D, groups), tf.tensor(r, shape))));
      const portable = tf.grads(loss(groupNormPortable))(inputs).map((t) => t.dataSync());
      return [...grads, tf.grads(loss(groupNormAutodiff))(inputs)[0].dataSync(), plain(inputs[0]).dataSync(), ...portable];
    });
    // The reference is float64, so a small step gives the derivative to ~1e-9; what remains is the float32 error of
    // the analytic gradient (sums of O(10) terms scaled by 1/std, ~1e-6 relative), far below the 1e-3 allowed.
    const eps = 1e-4;
    const refX = numericGrad((x) => dot(r, groupNormRef(x, shape, groups, gv, bv)), xv, eps);
    const refG = numericGrad((g) => dot(r, groupNormRef(xv, shape, groups, g, bv)), gv, eps);
    const refB = numericGrad((b) => dot(r, groupNormRef(xv, shape, groups, gv, b)), bv, eps);
    const refPlain = numericGrad((x) => dot(r, groupNormRef(x, shape, groups)), xv, eps);
    for (const [name, got, want] of [
      ['x', dx, refX],
      ['gamma', dg, refG],
      ['beta', db, refB],
      ['x (autodiff)', dxAuto, refX],
      ['x (no affine)', dxPlain, refPlain],
      ['x (portable)', dxPort, refX],
      ['gamma (portable)', dgPort, refG],
      ['beta (portable)', dbPort, refB],
    ] as const) {
      const rel = maxAbsDiff(got, want) / Math.max(maxAbs(want), 1e-6);
      assert.ok(rel < 1e-3, `groupNorm d/d${name} shape ${shape}: rel. error ${rel}`);
    }
  }
});

test('groupNorm rejects a group count that does not divide the channels', async () => {
  await initBackend('wasm');
  const x = tf.zeros([1, 2, 2, 6]) as tf.Tensor4D;
  assert.throws(() => groupNorm(x, 4), (e: unknown) => e instanceof Gan3dError && /divides the channel count 6/.test(e.message));
  assert.throws(() => groupNorm(x, 2, tf.ones([4]) as tf.Tensor1D), Gan3dError);
  x.dispose();
});

// ---- gridSample ---------------------------------------------------------------------------------------------------

function gridSampleRef(img: ArrayLike<number>, [n, h, w, c]: Shape4, grid: ArrayLike<number>, [, ho, wo]: Shape4): Float64Array {
  const out = new Float64Array(n * ho * wo * c);
  const pixel = (b: number, y: number, x: number, ch: number) =>
    x < 0 || x >= w || y < 0 || y >= h ? 0 : img[((b * h + y) * w + x) * c + ch];
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho * wo; i++) {
      const q = b * ho * wo + i;
      const x = ((grid[2 * q] + 1) / 2) * (w - 1);
      const y = ((grid[2 * q + 1] + 1) / 2) * (h - 1);
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const ax = x - x0;
      const ay = y - y0;
      for (let ch = 0; ch < c; ch++) {
        out[q * c + ch] =
          (1 - ay) * ((1 - ax) * pixel(b, y0, x0, ch) + ax * pixel(b, y0, x0 + 1, ch)) +
          ay * ((1 - ax) * pixel(b, y0 + 1, x0, ch) + ax * pixel(b, y0 + 1, x0 + 1, ch));
      }
    }
  }
  return out;
}

const toNorm = (pixel: number, extent: number) => (2 * pixel) / (extent - 1) - 1;

/** Random grid points plus the special ones: pixel centres, the four borders, corners, just and far outside. */
function testGrid(rng: Rng, [n, h, w]: Shape4, [, ho, wo]: Shape4): Float32Array {
  const special = [
    [-1, -1], [1, 1], [-1, 1], [1, -1], [0, 0], [1, 0.3], [-1, -0.2], [0.4, 1], [0.1, -1],
    [-1.05, 0], [1.05, 0.5], [0, 1.2], [-0.7, -1.3], [5, 0], [0, -7], [-3, 4],
    [toNorm(1, w), toNorm(2, h)], [toNorm(w - 2, w), toNorm(0, h)],
    // Half a pixel outside: one column of corners inside, one outside.
    [toNorm(-0.5, w), toNorm(1.25, h)], [toNorm(w - 0.5, w), toNorm(0.6, h)],
  ];
  const g = rng.uniformArray(n * ho * wo * 2, -1.3, 1.3);
  special.forEach(([x, y], i) => {
    g[2 * i] = x;
    g[2 * i + 1] = y;
  });
  return g;
}

const samplers = { kernel: gridSample, portable: gridSamplePortable } as const;

test('gridSample matches a plain loop, inside, on borders and outside, on wasm and cpu, both implementations', async () => {
  const rng = new Rng(3);
  const imgShape: Shape4 = [2, 5, 7, 3];
  const gridShape: Shape4 = [2, 4, 6, 2];
  const img = rng.normalArray(size(imgShape));
  const grid = testGrid(rng, imgShape, gridShape);
  const want = gridSampleRef(img, imgShape, grid, gridShape);
  for (const backend of ['wasm', 'cpu']) {
    await initBackend(backend);
    for (const [name, fn] of Object.entries(samplers)) {
      const got = tf.tidy(() => fn(tf.tensor4d(img, imgShape), tf.tensor4d(grid, gridShape)).dataSync());
      const err = maxAbsDiff(got, want);
      assert.ok(err < 1e-5, `${name} on ${backend}: ${err}`);
    }
  }
  await initBackend('wasm');
});

test('gridSample with the identity grid returns the input', async () => {
  await initBackend('wasm');
  const rng = new Rng(4);
  const [n, h, w, c]: Shape4 = [2, 6, 9, 4];
  const img = rng.normalArray(n * h * w * c);
  const grid = new Float32Array(n * h * w * 2);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const q = (b * h + y) * w + x;
        grid[2 * q] = toNorm(x, w);
        grid[2 * q + 1] = toNorm(y, h);
      }
    }
  }
  for (const [name, fn] of Object.entries(samplers)) {
    const got = tf.tidy(() => fn(tf.tensor4d(img, [n, h, w, c]), tf.tensor4d(grid, [n, h, w, 2])).dataSync());
    assert.ok(maxAbsDiff(got, img) < 1e-5, name);
  }
});

test('gridSample gradients in image and grid match central differences of a float64 reference', async () => {
  await initBackend('wasm');
  const rng = new Rng(5);
  const imgShape: Shape4 = [2, 4, 5, 3];
  const gridShape: Shape4 = [2, 3, 4, 2];
  const [, h, w] = imgShape;
  const img = rng.normalArray(size(imgShape));
  // The grid gradient is only defined away from integer pixel positions: sample at integer + [0.15, 0.85] pixels,
  // from half a pixel outside to half a pixel past the last one, so some points have corners outside the image.
  const grid = new Float32Array(size(gridShape));
  for (let i = 0; i < grid.length; i += 2) {
    grid[i] = toNorm(rng.int(w + 1) - 1 + rng.range(0.15, 0.85), w);
    grid[i + 1] = toNorm(rng.int(h + 1) - 1 + rng.range(0.15, 0.85), h);
  }
  const r = rng.normalArray(gridShape[0] * gridShape[1] * gridShape[2] * imgShape[3]);
  // The step in normalized units is 1e-4 pixels, well inside each point's 0.15-pixel margin, so every difference
  // stays on one bilinear piece; the float64 reference then gives the derivative to ~1e-9 and the tolerance covers
  // float32 evaluation of the analytic gradient.
  const gridEps = (1e-4 * 2) / (Math.max(h, w) - 1);
  const refImg = numericGrad((p) => dot(r, gridSampleRef(p, imgShape, grid, gridShape)), img, 1e-3);
  const refGrid = numericGrad((g) => dot(r, gridSampleRef(img, imgShape, g, gridShape)), grid, gridEps);
  for (const backend of ['wasm', 'cpu']) {
    await initBackend(backend);
    for (const [name, fn] of Object.entries(samplers)) {
      const [dImg, dGrid] = tf.tidy(() =>
        tf
          .grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(fn(a as tf.Tensor4D, b as tf.Tensor4D), tf.tensor(r, [...gridShape.slice(0, 3), imgShape[3]]))),
          )([tf.tensor4d(img, imgShape), tf.tensor4d(grid, gridShape)])
          .map((t) => t.dataSync()),
      );
      const relImg = maxAbsDiff(dImg, refImg) / maxAbs(refImg);
      const relGrid = maxAbsDiff(dGrid, refGrid) / maxAbs(refGrid);
      assert.ok(relImg < 1e-4, `${name} on ${backend}: d/dimage rel. error ${relImg}`);
      assert.ok(relGrid < 1e-3, `${name} on ${backend}: d/dgrid rel. error ${relGrid}`);
    }
  }
  await initBackend('wasm');
});

test('gridSample rejects a grid whose last axis is not (x, y)', async () => {
  await initBackend('wasm');
  const img = tf.zeros([1, 3, 3, 1]) as tf.Tensor4D;
  const bad = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
  assert.throws(() => gridSample(img, bad), Gan3dError);
  tf.dispose([img, bad]);
});

test('groupNorm and gridSample, forward and backward, do not leak tensors', async () => {
  await initBackend('wasm');
  const rng = new Rng(6);
  const x = tf.tensor4d(rng.normalArray(2 * 8 * 8 * 4), [2, 8, 8, 4]);
  const gamma = tf.tensor1d(rng.normalArray(4));
  const beta = tf.tensor1d(rng.normalArray(4));
  const grid = tf.tensor4d(rng.uniformArray(2 * 6 * 6 * 2, -1.2, 1.2), [2, 6, 6, 2]);
  const step = () =>
    tf.tidy(() => {
      const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, gr: tf.Tensor) => {
        const y = groupNorm(a as tf.Tensor4D, 2, g as tf.Tensor1D, b as tf.Tensor1D);
        const s1 = gridSample(y, gr as tf.Tensor4D);
        const s2 = gridSamplePortable(y, gr as tf.Tensor4D);
        return tf.add(tf.sum(tf.square(s1)), tf.sum(s2));
      };
      tf.grads(loss)([x, gamma, beta, grid]).forEach((t) => t.dataSync());
    });
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, gamma, beta, grid]);
});
