import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import type { Batch } from '../../src/engine/parallel/data-parallel.js';
import { Rng } from '../../src/engine/random.js';
import { applyAugment, drawAugment } from '../../src/models/stylegan/augment.js';

before(async () => {
  await initBackend('wasm');
});

const tensors = (batch: Batch) => Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));

/** The shift a row of the drawn shift matrix encodes (out[i] = in[i − shift]), read from any row holding a 1. */
function shiftOf(m: Float32Array, b: number, size: number): number {
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) if (m[(b * size + i) * size + j] === 1) return i - j;
  throw new Error('no 1 in the shift matrix');
}

/** DiffAugment written out pixel by pixel from the drawn parameters: colour, then translation (zero fill), then cutout. */
function reference(x: Float32Array, batch: Batch, n: number, s: number, c: number): Float32Array {
  const color = batch.pAugColor.data;
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    const img = x.slice(b * s * s * c, (b + 1) * s * s * c).map((v) => v + color[b * 3]);
    for (let p = 0; p < s * s; p++) {
      let m = 0;
      for (let k = 0; k < c; k++) m += img[p * c + k] / c;
      for (let k = 0; k < c; k++) img[p * c + k] = (img[p * c + k] - m) * color[b * 3 + 1] + m;
    }
    const mean = img.reduce((a, v) => a + v, 0) / img.length;
    for (let i = 0; i < img.length; i++) img[i] = (img[i] - mean) * color[b * 3 + 2] + mean;
    const dy = shiftOf(batch.pAugRows.data, b, s);
    const dx = shiftOf(batch.pAugCols.data, b, s);
    for (let y = 0; y < s; y++) {
      for (let xx = 0; xx < s; xx++) {
        const [sy, sx] = [y - dy, xx - dx];
        const keep = batch.pAugMask.data[(b * s + y) * s + xx];
        for (let k = 0; k < c; k++) {
          const v = sy >= 0 && sy < s && sx >= 0 && sx < s ? img[(sy * s + sx) * c + k] : 0;
          out[((b * s + y) * s + xx) * c + k] = v * keep;
        }
      }
    }
  }
  return out;
}

test('augment: p = 0 leaves images as they are; p = 1 equals DiffAugment written out pixel by pixel', () => {
  const [n, s, c] = [6, 16, 3];
  const rng = new Rng(7);
  const x = Float32Array.from(rng.normalArray(n * s * s * c), (v) => Math.tanh(v));
  const xt = tf.tensor4d(x, [n, s, s, c]);
  const none: Batch = {};
  drawAugment(rng, n, s, 0, 'p', none);
  const noneIn = tensors(none);
  // (Up to rounding: the colour maps still subtract and add back the means.)
  assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(applyAugment(xt, noneIn, 'p'), xt))).dataSync()[0]) < 1e-6);
  const all: Batch = {};
  drawAugment(rng, n, s, 1, 'p', all);
  const allIn = tensors(all);
  const got = tf.tidy(() => applyAugment(xt, allIn, 'p').dataSync() as Float32Array);
  const want = reference(x, all, n, s, c);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst < 1e-5, `max difference ${worst}`);
  // Something did change: every transform is on at p = 1.
  assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(applyAugment(xt, allIn, 'p'), xt))).dataSync()[0]) > 0.1);
  tf.dispose([xt, ...Object.values(noneIn), ...Object.values(allIn)]);
});

test('augment: the draws cover DiffAugment\'s ranges, and each transform is on with probability p', () => {
  const [n, s, p] = [2000, 64, 0.3];
  const batch: Batch = {};
  drawAugment(new Rng(3), n, s, p, 'q', batch);
  const color = batch.qAugColor.data;
  let [bright, satur, contr, moved, cut] = [0, 0, 0, 0, 0];
  const shifts = new Set<number>();
  for (let b = 0; b < n; b++) {
    const [bv, sv, cv] = [color[b * 3], color[b * 3 + 1], color[b * 3 + 2]];
    assert.ok(bv >= -0.5 && bv <= 0.5 && sv >= 0 && sv <= 2 && cv >= 0.5 && cv <= 1.5, `image ${b}: ${bv} ${sv} ${cv}`);
    if (bv !== 0) bright++;
    if (sv !== 1) satur++;
    if (cv !== 1) contr++;
    const [dy, dx] = [shiftOf(batch.qAugRows.data, b, s), shiftOf(batch.qAugCols.data, b, s)];
    assert.ok(Math.abs(dy) <= 8 && Math.abs(dx) <= 8);
    shifts.add(dy);
    if (dy !== 0 || dx !== 0) moved++;
    let zeros = 0;
    for (let i = 0; i < s * s; i++) if (batch.qAugMask.data[b * s * s + i] === 0) zeros++;
    // A 32×32 square, clipped at the border to no less than a quarter of it.
    assert.ok(zeros === 0 || (zeros >= 16 * 16 && zeros <= 32 * 32), `cutout of ${zeros} pixels`);
    if (zeros > 0) cut++;
  }
  assert.equal(shifts.size, 17); // −8 … 8
  // Binomial(2000, 0.3): std 20.5, so ±80 is about 4 std (a translation or cutout drawn as zero shift or an empty
  // square is rare and only lowers the count a little).
  for (const [what, k] of Object.entries({ bright, satur, contr, moved, cut })) assert.ok(Math.abs(k - n * p) < 80, `${what}: ${k} of ${n}`);
  assert.throws(() => drawAugment(new Rng(1), 2, s, 1.5, 'q', {}), /must be in \[0, 1\], got 1.5/);
});

test('augment: gradients through it match finite differences, and a gradient of a gradient (R1) goes through it', () => {
  const [n, s, c] = [2, 8, 3];
  const rng = new Rng(5);
  const batch: Batch = {};
  drawAugment(rng, n, s, 1, 'p', batch);
  const inputs = tensors(batch);
  const x0 = Float32Array.from(rng.normalArray(n * s * s * c));
  const weights = tf.tensor4d(rng.normalArray(n * s * s * c), [n, s, s, c]);
  // f(x) = Σ tanh(aug(x))·W: non-linear, so the R1-like second-order term is not trivially zero.
  const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.tanh(applyAugment(x as tf.Tensor4D, inputs, 'p')), weights));
  const x = tf.tensor4d(x0, [n, s, s, c]);
  const g = tf.tidy(() => tf.grad(f)(x).dataSync() as Float32Array);
  const h = 1e-2;
  for (const i of [0, 17, 100, 200, 383]) {
    const plus = Float32Array.from(x0);
    const minus = Float32Array.from(x0);
    plus[i] += h;
    minus[i] -= h;
    const fd = tf.tidy(() => (f(tf.tensor4d(plus, [n, s, s, c])).dataSync()[0] - f(tf.tensor4d(minus, [n, s, s, c])).dataSync()[0]) / (2 * h));
    assert.ok(Math.abs(fd - g[i]) < 2e-3 * Math.max(1, Math.abs(fd)), `element ${i}: ${g[i]} vs ${fd}`);
  }
  // R1's term ‖∇ₓ(a·f)‖² differentiated in a (a parameter outside the inner gradient, as D's weights are): the
  // nested gradient through the augmentation against finite differences in a.
  const r1 = (a: tf.Scalar) => {
    const fa = (xx: tf.Tensor) => tf.mul(a, f(xx));
    return tf.sum(tf.square(tf.grad(fa)(x)));
  };
  const da = tf.tidy(() => tf.grad(r1 as (a: tf.Tensor) => tf.Tensor)(tf.scalar(1)).dataSync()[0]);
  const fdA = tf.tidy(() => (r1(tf.scalar(1 + 1e-2)).dataSync()[0] - r1(tf.scalar(1 - 1e-2)).dataSync()[0]) / 2e-2);
  assert.ok(da > 0 && Math.abs(da - fdA) < 1e-3 * fdA, `${da} vs ${fdA}`);
  tf.dispose([x, weights, ...Object.values(inputs)]);
});
