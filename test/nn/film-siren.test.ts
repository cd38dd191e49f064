import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { FREQ_SCALE, FREQ_SHIFT, FilmSiren } from '../../src/nn/film-siren.js';

/** Float64 reference: sin(γ ⊙ (A h + a) + β) with γ = 15 (G w + g) + 30, β = B w + b. */
function reference(layer: FilmSiren, h: Float64Array, w: Float64Array, n: number, p: number, over?: { A?: Float64Array }): Float64Array {
  const { cin, cout, wDim } = layer;
  const A = over?.A ?? Float64Array.from(layer.weight.dataSync());
  const a = layer.bias.dataSync();
  const S = layer.styleWeight.dataSync();
  const sb = layer.styleBias.dataSync();
  const out = new Float64Array(n * p * cout);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < cout; o++) {
      let g = sb[o];
      let b = sb[cout + o];
      for (let k = 0; k < wDim; k++) {
        g += w[i * wDim + k] * S[k * 2 * cout + o];
        b += w[i * wDim + k] * S[k * 2 * cout + cout + o];
      }
      const gamma = FREQ_SCALE * g + FREQ_SHIFT;
      for (let q = 0; q < p; q++) {
        let lin = a[o];
        for (let c = 0; c < cin; c++) lin += h[(i * p + q) * cin + c] * A[c * cout + o];
        out[(i * p + q) * cout + o] = Math.sin(gamma * lin + b);
      }
    }
  }
  return out;
}

test('FilmSiren: forward matches a float64 reference; each sample uses its own w', async () => {
  await initBackend('wasm');
  const rng = new Rng(1);
  const layer = new FilmSiren(rng, 3, 8, 5, { first: true });
  const [n, p] = [2, 7];
  const h = Float64Array.from({ length: n * p * 3 }, () => rng.range(-1, 1));
  const w = Float64Array.from({ length: n * 5 }, () => rng.normal());
  const got = tf.tidy(() => layer.forward(tf.tensor3d(Float32Array.from(h), [n, p, 3]), tf.tensor2d(Float32Array.from(w), [n, 5])).dataSync());
  const ref = reference(layer, h, w, n, p);
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i] - ref[i]) < 2e-5, `${i}: ${got[i]} vs ${ref[i]}`);
  // The same points under the other sample's w give other outputs.
  const swapped = reference(layer, h, Float64Array.from([...w.slice(5), ...w.slice(0, 5)]), n, p);
  assert.ok(ref.some((v, i) => Math.abs(v - swapped[i]) > 1e-2));
  layer.dispose();
});

test('FilmSiren: gradients with respect to the points, w and A match central differences', async () => {
  await initBackend('wasm');
  const rng = new Rng(2);
  const layer = new FilmSiren(rng, 4, 6, 3);
  const [n, p] = [2, 3];
  const h = Float64Array.from({ length: n * p * 4 }, () => rng.range(-1, 1));
  const w = Float64Array.from({ length: n * 3 }, () => rng.normal());
  const c = Float64Array.from({ length: n * p * 6 }, () => rng.range(-1, 1));
  const loss = (out: Float64Array) => out.reduce((s, v, i) => s + v * c[i], 0);
  const cT = tf.tensor3d(Float32Array.from(c), [n, p, 6]);
  const A0 = Float64Array.from(layer.weight.dataSync());
  const hT = tf.tensor3d(Float32Array.from(h), [n, p, 4]);
  const wT = tf.tensor2d(Float32Array.from(w), [n, 3]);
  const lossT = (ht: tf.Tensor, wt: tf.Tensor) => tf.sum(tf.mul(layer.forward(ht as tf.Tensor3D, wt as tf.Tensor2D), cT)) as tf.Scalar;
  const [gh, gw] = tf.grads(lossT)([hT, wT]);
  const { grads, value } = tf.variableGrads(() => lossT(hT, wT), [layer.weight]);
  const gA = grads[layer.weight.name];
  assert.ok(Math.abs(value.dataSync()[0] - loss(reference(layer, h, w, n, p))) < 1e-4);
  const eps = 1e-5;
  const check = (analytic: ArrayLike<number>, x: Float64Array, f: (x: Float64Array) => number, what: string) => {
    for (let i = 0; i < x.length; i++) {
      const plus = Float64Array.from(x);
      const minus = Float64Array.from(x);
      plus[i] += eps;
      minus[i] -= eps;
      const numeric = (f(plus) - f(minus)) / (2 * eps);
      assert.ok(Math.abs(analytic[i] - numeric) < 2e-3 + 2e-3 * Math.abs(numeric), `d/d${what}[${i}]: ${analytic[i]} vs ${numeric}`);
    }
  };
  check(gh.dataSync(), h, (x) => loss(reference(layer, x, w, n, p)), 'h');
  check(gw.dataSync(), w, (x) => loss(reference(layer, h, x, n, p)), 'w');
  check(gA.dataSync(), A0, (x) => loss(reference(layer, h, w, n, p, { A: x })), 'A');
  tf.dispose([gh, gw, gA, value, cT, hT, wT]);
  layer.dispose();
});

test('FilmSiren: with the pi-GAN init a stack keeps its activations spread (SIREN\'s arcsine regime), not saturated or collapsed', async () => {
  await initBackend('wasm');
  const rng = new Rng(3);
  const width = 128;
  const layers = [new FilmSiren(rng, 3, width, 64, { first: true }), new FilmSiren(rng, width, width, 64), new FilmSiren(rng, width, width, 64)];
  const [n, p] = [4, 512];
  const stds = tf.tidy(() => {
    let h: tf.Tensor3D = tf.tensor3d(rng.uniformArray(n * p * 3, -1, 1), [n, p, 3]);
    const w = tf.tensor2d(rng.normalArray(n * 64), [n, 64]);
    const out: number[] = [];
    for (const l of layers) {
      h = l.forward(h, w);
      out.push(tf.moments(h).variance.sqrt().dataSync()[0]);
    }
    return out;
  });
  // sin of a wide, centred pre-activation has std 1/√2 ≈ 0.707; a collapsed layer would be near 0.
  for (const [i, s] of stds.entries()) assert.ok(s > 0.5 && s < 0.75, `layer ${i}: std ${s}`);
  // …and the field stays smooth: points 0.005 apart give nearly the same features after three layers (an init 25×
  // wider, plain uniform ±√(6/fan_in), turns the field into noise at this scale).
  const correlation = tf.tidy(() => {
    const x = tf.tensor3d(rng.uniformArray(n * p * 3, -1, 1), [n, p, 3]);
    const step = tf.mul(tf.randomNormal([n, p, 3], 0, 1, 'float32', 5), 0.005 / Math.sqrt(3));
    const w = tf.tensor2d(rng.normalArray(n * 64), [n, 64]);
    const run = (h: tf.Tensor3D) => layers.reduce((a, l) => l.forward(a, w), h);
    const [a, b] = [run(x), run(tf.add(x, step) as tf.Tensor3D)];
    const ca = tf.sub(a, tf.mean(a));
    const cb = tf.sub(b, tf.mean(b));
    return tf.div(tf.sum(tf.mul(ca, cb)), tf.sqrt(tf.mul(tf.sum(tf.square(ca)), tf.sum(tf.square(cb))))).dataSync()[0];
  });
  assert.ok(correlation > 0.9, `correlation of features 0.005 apart: ${correlation}`);
  for (const l of layers) l.dispose();
});

test('FilmSiren: clear errors for wrong shapes', async () => {
  await initBackend('wasm');
  const layer = new FilmSiren(new Rng(4), 3, 4, 2);
  assert.throws(() => layer.forward(tf.zeros([1, 5, 2]) as tf.Tensor3D, tf.zeros([1, 2]) as tf.Tensor2D), /expects h \[1, P, 3\]/);
  assert.throws(() => layer.film(tf.zeros([1, 3]) as tf.Tensor2D), /expects w \[N, 2\]/);
  assert.throws(() => new FilmSiren(new Rng(4), 0, 4, 2), /cin must be/);
  layer.dispose();
});
