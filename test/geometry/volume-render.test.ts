import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { FAR_DELTA, importanceDepths, mergeSortedDepths, stratifiedDepths, volumeRender } from '../../src/geometry/volume-render.js';

/** Float64 reference of the rendering equations, written with the product form T_k = ∏_{j<k} (1 − α_j). */
function referenceRender(sigma: Float64Array, values: Float64Array, depths: Float64Array, R: number, K: number, C: number) {
  const out = new Float64Array(R * C);
  const depth = new Float64Array(R);
  const weights = new Float64Array(R * K);
  for (let r = 0; r < R; r++) {
    let T = 1;
    for (let k = 0; k < K; k++) {
      const delta = k < K - 1 ? depths[r * K + k + 1] - depths[r * K + k] : FAR_DELTA;
      const alpha = 1 - Math.exp(-delta * Math.max(0, sigma[r * K + k]));
      const w = alpha * T;
      weights[r * K + k] = w;
      for (let c = 0; c < C; c++) out[r * C + c] += w * values[(r * K + k) * C + c];
      depth[r] += w * depths[r * K + k];
      T *= 1 - alpha;
    }
  }
  return { out, depth, weights };
}

function randomCase(seed: number, R: number, K: number, C: number) {
  const rng = new Rng(seed);
  const depths = Float64Array.from(stratifiedDepths(R, K, 0.88, 1.12, rng));
  // Mixed densities: empty space (negative raw σ), thin and thick matter.
  const sigma = Float64Array.from({ length: R * K }, () => rng.range(-5, 40));
  const values = Float64Array.from({ length: R * K * C }, () => rng.range(-1, 1));
  return { depths, sigma, values };
}

test('volumeRender: values, depth and weights match a float64 reference of the product form', async () => {
  await initBackend('wasm');
  const [R, K, C] = [7, 12, 5];
  const { depths, sigma, values } = randomCase(1, R, K, C);
  const ref = referenceRender(sigma, values, depths, R, K, C);
  const got = volumeRender({
    sigma: tf.tensor2d(Float32Array.from(sigma), [R, K]),
    values: tf.tensor3d(Float32Array.from(values), [R, K, C]),
    depths: tf.tensor2d(Float32Array.from(depths), [R, K]),
  });
  const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  };
  close(got.values.dataSync(), ref.out, 1e-5, 'values');
  close(got.depth.dataSync(), ref.depth, 1e-5, 'depth');
  close(got.weights.dataSync(), ref.weights, 1e-6, 'weights');
  tf.dispose([got.values, got.depth, got.opacity, got.weights]);
});

test('volumeRender: a constant density gives the closed form w_k = (1 − e^(−σΔ)) e^(−kσΔ); an empty ray is transparent', async () => {
  await initBackend('wasm');
  const K = 10;
  const delta = 0.02;
  const s = 30;
  const depths = Float32Array.from({ length: K }, (_, k) => 1 + k * delta);
  const r = volumeRender({
    sigma: tf.tensor2d([...new Array<number>(K).fill(s), ...new Array<number>(K).fill(-1)], [2, K]),
    values: tf.ones([2, K, 1]) as tf.Tensor3D,
    depths: tf.tensor2d([...depths, ...depths], [2, K]),
  });
  const w = r.weights.dataSync();
  for (let k = 0; k < K - 1; k++) {
    const expected = (1 - Math.exp(-s * delta)) * Math.exp(-k * s * delta);
    assert.ok(Math.abs(w[k] - expected) < 1e-6, `w[${k}] ${w[k]} vs ${expected}`);
  }
  // The last sample takes what is left (Δ_K is infinite): a ray through any matter is opaque.
  const op = r.opacity.dataSync();
  assert.ok(Math.abs(op[0] - 1) < 1e-6, `opacity ${op[0]}`);
  assert.equal(op[1], 0, 'a ray of negative raw densities lets all light through');
  tf.dispose([r.values, r.depth, r.opacity, r.weights]);
});

test('volumeRender: gradients with respect to σ and the values match central differences of the float64 reference', async () => {
  await initBackend('wasm');
  const [R, K, C] = [4, 9, 3];
  const { depths, sigma, values } = randomCase(2, R, K, C);
  // Keep σ away from relu's kink so the finite difference is smooth.
  for (let i = 0; i < sigma.length; i++) if (Math.abs(sigma[i]) < 0.5) sigma[i] = 1;
  const rng = new Rng(3);
  const cw = Float64Array.from({ length: R * C }, () => rng.range(-1, 1));
  const dw = Float64Array.from({ length: R }, () => rng.range(-1, 1));
  const lossOf = (sg: Float64Array, vs: Float64Array) => {
    const ref = referenceRender(sg, vs, depths, R, K, C);
    return ref.out.reduce((a, v, i) => a + v * cw[i], 0) + ref.depth.reduce((a, v, i) => a + v * dw[i], 0);
  };
  const depthT = tf.tensor2d(Float32Array.from(depths), [R, K]);
  const cwT = tf.tensor2d(Float32Array.from(cw), [R, C]);
  const dwT = tf.tensor1d(Float32Array.from(dw));
  const [gSigma, gValues] = tf.grads((sg: tf.Tensor, vs: tf.Tensor) => {
    const r = volumeRender({ sigma: sg as tf.Tensor2D, values: vs as tf.Tensor3D, depths: depthT });
    return tf.add(tf.sum(tf.mul(r.values, cwT)), tf.sum(tf.mul(r.depth, dwT))) as tf.Scalar;
  })([tf.tensor2d(Float32Array.from(sigma), [R, K]), tf.tensor3d(Float32Array.from(values), [R, K, C])]);
  const h = 1e-4;
  const check = (analytic: Float32Array, x: Float64Array, which: 'sigma' | 'values') => {
    for (let i = 0; i < x.length; i++) {
      const plus = Float64Array.from(x);
      const minus = Float64Array.from(x);
      plus[i] += h;
      minus[i] -= h;
      const numeric = which === 'sigma' ? (lossOf(plus, values) - lossOf(minus, values)) / (2 * h) : (lossOf(sigma, plus) - lossOf(sigma, minus)) / (2 * h);
      assert.ok(Math.abs(analytic[i] - numeric) < 1e-4 + 1e-3 * Math.abs(numeric), `d/d${which}[${i}]: ${analytic[i]} vs ${numeric}`);
    }
  };
  check(gSigma.dataSync() as Float32Array, sigma, 'sigma');
  check(gValues.dataSync() as Float32Array, values, 'values');
  tf.dispose([gSigma, gValues, depthT, cwT, dwT]);
});

test('volumeRender: density noise is seeded, and the tensor count does not grow', async () => {
  await initBackend('wasm');
  const [R, K] = [3, 6];
  const sigma = tf.fill([R, K], 2) as tf.Tensor2D;
  const values = tf.ones([R, K, 2]) as tf.Tensor3D;
  const depths = tf.tensor2d(stratifiedDepths(R, K, 0.9, 1.1), [R, K]);
  const depthOf = (seed: number) => tf.tidy(() => Array.from(volumeRender({ sigma, values, depths, densityNoise: 1, rng: new Rng(seed) }).depth.dataSync()));
  assert.deepEqual(depthOf(4), depthOf(4));
  assert.notDeepEqual(depthOf(4), depthOf(5));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) depthOf(i);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => volumeRender({ sigma, values, depths, densityNoise: 1 }), /needs an rng/);
  assert.throws(() => volumeRender({ sigma, values: tf.ones([R, K + 1, 2]) as tf.Tensor3D, depths }), /must be \[3, 6, channels\]/);
  tf.dispose([sigma, values, depths]);
});

test('stratifiedDepths: one sample inside each bin, sorted; without an rng the bin centres', () => {
  const [near, far, K] = [0.88, 1.12, 12];
  const h = (far - near) / K;
  const d = stratifiedDepths(50, K, near, far, new Rng(6));
  for (let r = 0; r < 50; r++) {
    for (let k = 0; k < K; k++) {
      const v = d[r * K + k];
      assert.ok(v >= near + k * h - 1e-6 && v <= near + (k + 1) * h + 1e-6, `ray ${r} sample ${k}: ${v}`);
    }
  }
  const centres = stratifiedDepths(1, K, near, far);
  centres.forEach((v, k) => assert.ok(Math.abs(v - (near + (k + 0.5) * h)) < 1e-6));
  assert.throws(() => stratifiedDepths(1, K, 1.1, 0.9), /near < far/);
});

test('importanceDepths: draws follow the coarse weights; quantiles are exact for a known pdf', () => {
  const K = 6;
  // Coarse samples at 1, 2, …, 6: midpoint edges 1.5, 2.5, …, 5.5; intervals hold inner samples 2..5.
  const depths = Float32Array.from({ length: K }, (_, k) => k + 1);
  // All weight on sample 4 (interval [3.5, 4.5]); the 1e-5 floor leaves the others almost empty.
  const weights = Float32Array.from([0.3, 0, 0, 1, 0, 0.3]);
  const n = 2000;
  const drawn = importanceDepths(depths, weights, K, n, new Rng(7));
  const inside = drawn.filter((t) => t >= 3.5 && t <= 4.5).length;
  assert.ok(inside / n > 0.99, `${inside} of ${n} in the weighted interval`);
  for (let i = 1; i < n; i++) assert.ok(drawn[i] >= drawn[i - 1], 'sorted');
  // Equal weights on the inner samples: the pdf is uniform on [1.5, 5.5]; quantile draws are evenly spaced.
  const even = importanceDepths(depths, Float32Array.from([9, 1, 1, 1, 1, 9]), K, 8);
  even.forEach((t, i) => assert.ok(Math.abs(t - (1.5 + ((i + 0.5) / 8) * 4)) < 1e-5, `quantile ${i}: ${t}`));
  // A histogram of random draws against a two-level pdf (weights 3:1 on the two halves).
  const twoLevel = importanceDepths(depths, Float32Array.from([0, 3, 3, 1, 1, 0]), K, 40000, new Rng(8));
  const low = twoLevel.filter((t) => t < 3.5).length / 40000;
  assert.ok(Math.abs(low - 0.75) < 0.01, `mass below the middle ${low}`);
});

test('mergeSortedDepths: per-ray merge of two sorted lists, with the gather order into concat(a, b)', () => {
  const one = mergeSortedDepths(Float32Array.from([1, 3, 5]), 3, Float32Array.from([2, 4, 6]), 3);
  assert.deepEqual(Array.from(one.merged), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(one.order), [0, 3, 1, 4, 2, 5]);
  // a holds one ray of 5 depths, b two rays of 3: refused.
  assert.throws(() => mergeSortedDepths(Float32Array.from([1, 3, 5, 10, 30]), 5, Float32Array.from([2, 4, 20, 40, 50, 60]), 3), /rays/);
  // Two rays of 2 + 2, each merged on its own; gathering concat(a, b) by order gives the merged list.
  const a = Float32Array.from([1, 9, 2, 3]);
  const b = Float32Array.from([1.5, 5, 4, 8]);
  const two = mergeSortedDepths(a, 2, b, 2);
  assert.deepEqual(Array.from(two.merged), [1, 1.5, 5, 9, 2, 3, 4, 8]);
  const all = [...a, ...b];
  assert.deepEqual(Array.from(two.order, (i) => all[i]), Array.from(two.merged));
});
