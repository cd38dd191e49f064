import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { ModulatedLinear } from '../../src/nn/modulated-linear.js';

/** Float64 reference with the per-sample weight built explicitly: W'' = demod(W · (M w + m + 1)), y = lrelu(x W''). */
function reference(layer: ModulatedLinear, x: Float64Array, w: Float64Array, n: number, p: number, W: ArrayLike<number> = layer.weight.dataSync()): Float64Array {
  const { cin, cout, wDim } = layer;
  const M = layer.styleWeight.dataSync();
  const m = layer.styleBias.dataSync();
  const out = new Float64Array(n * p * cout);
  for (let i = 0; i < n; i++) {
    const s = Float64Array.from({ length: cin }, (_, c) => {
      let v = m[c] + 1;
      for (let k = 0; k < wDim; k++) v += w[i * wDim + k] * M[k * cin + c];
      return v;
    });
    for (let o = 0; o < cout; o++) {
      let norm = 0;
      for (let c = 0; c < cin; c++) norm += (W[c * cout + o] * s[c]) ** 2;
      const d = layer.demodulate ? 1 / Math.sqrt(norm + layer.epsilon) : 1;
      for (let q = 0; q < p; q++) {
        let y = 0;
        for (let c = 0; c < cin; c++) y += x[(i * p + q) * cin + c] * W[c * cout + o] * s[c] * d;
        out[(i * p + q) * cout + o] = layer.activation === 'lrelu' && y < 0 ? 0.2 * y : y;
      }
    }
  }
  return out;
}

test('ModulatedLinear: forward equals the explicit per-sample weights, in float64 and as a batched matmul', async () => {
  await initBackend('wasm');
  const rng = new Rng(1);
  const [n, p, cin, cout, wDim] = [3, 5, 6, 4, 7];
  for (const demodulate of [true, false]) {
    const layer = new ModulatedLinear(rng, cin, cout, wDim, { demodulate });
    const x = Float64Array.from({ length: n * p * cin }, () => rng.normal());
    const w = Float64Array.from({ length: n * wDim }, () => rng.normal());
    const [xT, wT] = [tf.tensor3d(Float32Array.from(x), [n, p, cin]), tf.tensor2d(Float32Array.from(w), [n, wDim])];
    const got = tf.tidy(() => layer.forward(xT, wT).dataSync());
    const batched = tf.tidy(() => tf.leakyRelu(tf.matMul(xT, layer.perSampleWeights(wT)), 0.2).dataSync());
    const ref = reference(layer, x, w, n, p);
    for (let i = 0; i < ref.length; i++) {
      assert.ok(Math.abs(got[i] - ref[i]) < 1e-4 * (1 + Math.abs(ref[i])), `demod ${demodulate} [${i}]: ${got[i]} vs ${ref[i]}`);
      assert.ok(Math.abs(batched[i] - ref[i]) < 1e-4 * (1 + Math.abs(ref[i])));
    }
    tf.dispose([xT, wT]);
    layer.dispose();
  }
});

test('ModulatedLinear: demodulation keeps unit-variance inputs at unit variance, whatever the style\'s size', async () => {
  await initBackend('wasm');
  const rng = new Rng(2);
  const layer = new ModulatedLinear(rng, 64, 64, 16, { activation: 'linear' });
  for (const scale of [0.1, 1, 10]) {
    const std = tf.tidy(() => {
      const x = tf.tensor3d(rng.normalArray(2 * 2000 * 64), [2, 2000, 64]);
      const w = tf.tensor2d(rng.normalArray(2 * 16, scale), [2, 16]);
      return tf.moments(layer.forward(x, w)).variance.sqrt().dataSync()[0];
    });
    assert.ok(Math.abs(std - 1) < 0.05, `w scale ${scale}: output std ${std}`);
  }
  layer.dispose();
});

test('ModulatedLinear: gradients with respect to the inputs, w and W match central differences', async () => {
  await initBackend('wasm');
  const rng = new Rng(3);
  const [n, p, cin, cout, wDim] = [2, 3, 4, 3, 2];
  const layer = new ModulatedLinear(rng, cin, cout, wDim);
  const x = Float64Array.from({ length: n * p * cin }, () => rng.normal());
  const w = Float64Array.from({ length: n * wDim }, () => rng.normal());
  const c = Float64Array.from({ length: n * p * cout }, () => rng.range(-1, 1));
  const W0 = Float64Array.from(layer.weight.dataSync());
  const loss = (out: Float64Array) => out.reduce((a, v, i) => a + v * c[i], 0);
  const cT = tf.tensor3d(Float32Array.from(c), [n, p, cout]);
  const xT = tf.tensor3d(Float32Array.from(x), [n, p, cin]);
  const wT = tf.tensor2d(Float32Array.from(w), [n, wDim]);
  const lossT = (xt: tf.Tensor, wt: tf.Tensor) => tf.sum(tf.mul(layer.forward(xt as tf.Tensor3D, wt as tf.Tensor2D), cT)) as tf.Scalar;
  const [gx, gw] = tf.grads(lossT)([xT, wT]);
  const { grads, value } = tf.variableGrads(() => lossT(xT, wT), [layer.weight]);
  const eps = 1e-6;
  const check = (analytic: ArrayLike<number>, v: Float64Array, f: (v: Float64Array) => number, what: string) => {
    for (let i = 0; i < v.length; i++) {
      const plus = Float64Array.from(v);
      const minus = Float64Array.from(v);
      plus[i] += eps;
      minus[i] -= eps;
      const numeric = (f(plus) - f(minus)) / (2 * eps);
      assert.ok(Math.abs(analytic[i] - numeric) < 1e-3 + 1e-3 * Math.abs(numeric), `d/d${what}[${i}]: ${analytic[i]} vs ${numeric}`);
    }
  };
  check(gx.dataSync(), x, (v) => loss(reference(layer, v, w, n, p)), 'x');
  check(gw.dataSync(), w, (v) => loss(reference(layer, x, v, n, p)), 'w');
  check(grads[layer.weight.name].dataSync(), W0, (v) => loss(reference(layer, x, w, n, p, v)), 'W');
  tf.dispose([gx, gw, value, grads[layer.weight.name], cT, xT, wT]);
  layer.dispose();
});
