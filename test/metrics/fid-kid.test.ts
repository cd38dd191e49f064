import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random.js';
import { featureStats, fid, frechetDistance } from '../../src/metrics/fid.js';
import { kid } from '../../src/metrics/kid.js';
import { matMul, symmetricEigen } from '../../src/metrics/linalg.js';
import { realismScore } from '../../src/metrics/realism.js';

/** A random rotation of side n (Gram–Schmidt on a Gaussian matrix), row-major. */
function rotation(rng: Rng, n: number): Float64Array {
  const q = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const v = Array.from({ length: n }, () => rng.normal());
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += v[r] * q[r * n + p];
      for (let r = 0; r < n; r++) v[r] -= dot * q[r * n + p];
    }
    const norm = Math.hypot(...v);
    for (let r = 0; r < n; r++) q[r * n + c] = v[r] / norm;
  }
  return q;
}

function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

/** diag(d) as a row-major matrix. */
function diagonal(d: ArrayLike<number>): Float64Array {
  const n = d.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = d[i];
  return out;
}

/** R diag(d) Rᵀ. */
function rotated(r: Float64Array, d: number[]): Float64Array {
  const n = d.length;
  return matMul(matMul(r, diagonal(d), n), transpose(r, n), n);
}

/** n samples of N(mean, cov) as [n, d] via the eigendecomposition of cov. */
function gaussian(rng: Rng, n: number, mean: number[], cov: Float64Array): Float64Array {
  const d = mean.length;
  const { values, vectors } = symmetricEigen(cov, d);
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const z = Array.from(values, (l) => rng.normal() * Math.sqrt(Math.max(l, 0)));
    for (let r = 0; r < d; r++) {
      let s = mean[r];
      for (let k = 0; k < d; k++) s += vectors[r * d + k] * z[k];
      out[i * d + r] = s;
    }
  }
  return out;
}

test('Jacobi eigendecomposition: A = V diag(λ) Vᵀ with V orthogonal', () => {
  const rng = new Rng(1);
  const n = 12;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  const { values, vectors } = symmetricEigen(a, n);
  const back = rotated(vectors, [...values]);
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(back[i] - a[i]) < 1e-10, `entry ${i}: ${back[i]} vs ${a[i]}`);
  const vtv = matMul(transpose(vectors, n), vectors, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(vtv[i * n + j] - (i === j ? 1 : 0)) < 1e-12);
});

test('FID of a set with itself is 0', () => {
  const rng = new Rng(2);
  const d = 16;
  const x = gaussian(rng, 300, Array.from({ length: d }, () => rng.normal()), rotated(rotation(rng, d), Array.from({ length: d }, (_, i) => 0.1 + i)));
  assert.ok(fid(x, x, d) < 1e-6, `FID(x, x) = ${fid(x, x, d)}`);
  // Features as float32 (what the network gives) too.
  const f32 = Float32Array.from(x);
  assert.ok(fid(f32, f32, d) < 1e-6);
});

test('Fréchet distance of two diagonal Gaussians matches the closed form Σ(√a − √b)² + ‖Δμ‖²', () => {
  const a = [1, 4, 0.25, 9];
  const b = [4, 1, 1, 0.01];
  const m1 = [0, 1, 2, 3];
  const m2 = [1, 1, 0, 3];
  const want = a.reduce((s, x, i) => s + (Math.sqrt(x) - Math.sqrt(b[i])) ** 2, 0) + m1.reduce((s, x, i) => s + (x - m2[i]) ** 2, 0);
  assert.ok(Math.abs(frechetDistance(m1, diagonal(a), m2, diagonal(b)) - want) < 1e-10);
});

test('Fréchet distance of rotated Gaussians matches the closed forms', () => {
  // 2-d, non-commuting covariances: tr √(C₁C₂) = √(tr(C₁C₂) + 2√(det C₁ det C₂)) for 2×2 PSD products.
  const c = Math.cos(0.7);
  const s = Math.sin(0.7);
  const r = Float64Array.from([c, -s, s, c]);
  const c1 = diagonal([4, 1]);
  const c2 = rotated(r, [9, 0.25]);
  const p = matMul(c1, c2, 2);
  const trSqrt = Math.sqrt(p[0] + p[3] + 2 * Math.sqrt(4 * 1 * 9 * 0.25));
  const want = 5 + (4 + 1) + (9 + 0.25) - 2 * trSqrt; // ‖(1, 2)‖² + tr C₁ + tr C₂ − 2 tr √(C₁C₂)
  const got = frechetDistance([1, 2], c1, [0, 0], c2);
  assert.ok(Math.abs(got - want) < 1e-10, `${got} vs ${want}`);
  // 8-d, covariances sharing a random eigenbasis: the distance is that of the diagonal case.
  const rng = new Rng(4);
  const q = rotation(rng, 8);
  const ea = Array.from({ length: 8 }, () => rng.range(0.1, 3));
  const eb = Array.from({ length: 8 }, () => rng.range(0.1, 3));
  const wantRot = ea.reduce((acc, x, i) => acc + (Math.sqrt(x) - Math.sqrt(eb[i])) ** 2, 0);
  assert.ok(Math.abs(frechetDistance(new Array(8).fill(0), rotated(q, ea), new Array(8).fill(0), rotated(q, eb)) - wantRot) < 1e-9);
});

test('FID of samples approaches the closed form of their Gaussians, and is symmetric', () => {
  const rng = new Rng(5);
  const d = 3;
  const q = rotation(rng, d);
  const c1 = rotated(q, [1, 2, 0.5]);
  const c2 = rotated(rotation(rng, d), [0.3, 1.5, 3]);
  const m1 = [0, 0, 0];
  const m2 = [0.5, -0.5, 1];
  const x = gaussian(rng, 20000, m1, c1);
  const y = gaussian(rng, 20000, m2, c2);
  const want = frechetDistance(m1, c1, m2, c2);
  const got = fid(x, y, d);
  assert.ok(Math.abs(got - want) < 0.05 * want, `sample FID ${got} vs population ${want}`);
  assert.ok(Math.abs(fid(y, x, d) - got) < 1e-9 * got);
  const st = featureStats(x, d);
  assert.equal(st.count, 20000);
  for (let i = 0; i < d * d; i++) assert.ok(Math.abs(st.cov[i] - c1[i]) < 0.06);
});

test('KID: about 0 for two samples of one distribution, > 0 for shifted ones; the unbiased formula; seeded', () => {
  const rng = new Rng(6);
  const d = 8;
  const cov = rotated(rotation(rng, d), Array.from({ length: d }, () => rng.range(0.2, 1)));
  const zero = new Array(d).fill(0);
  const x = gaussian(rng, 400, zero, cov);
  const y = gaussian(rng, 400, zero, cov);
  const z = gaussian(rng, 400, new Array(d).fill(0.5), cov);
  const same = kid(x, y, d, { subsets: 20, subsetSize: 200, seed: 1 });
  const shifted = kid(x, z, d, { subsets: 20, subsetSize: 200, seed: 1 });
  assert.ok(Math.abs(same.kid) < 3 * same.std + 1e-3, `same: ${same.kid} ± ${same.std}`);
  assert.ok(shifted.kid > 10 * Math.abs(same.kid) && shifted.kid > shifted.std, `shifted: ${shifted.kid} ± ${shifted.std}`);
  assert.deepEqual(kid(x, z, d, { subsets: 20, subsetSize: 200, seed: 1 }), shifted);
  assert.notEqual(kid(x, z, d, { subsets: 20, subsetSize: 200, seed: 2 }).kid, shifted.kid);
  // One subset holding every vector: exactly the unbiased MMD² of the two sets.
  const a = x.subarray(0, 30 * d);
  const b = z.subarray(0, 30 * d);
  const k = (p: Float64Array, i: number, q: Float64Array, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += p[i * d + t] * q[j * d + t];
    return (s / d + 1) ** 3;
  };
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let i = 0; i < 30; i++) {
    for (let j = 0; j < 30; j++) {
      if (i !== j) xx += k(a, i, a, j);
      if (i !== j) yy += k(b, i, b, j);
      xy += k(a, i, b, j);
    }
  }
  const want = (xx + yy) / (30 * 29) - (2 * xy) / 900;
  const got = kid(a, b, d, { subsets: 1, subsetSize: 1000 });
  assert.equal(got.subsetSize, 30);
  assert.ok(Math.abs(got.kid - want) < 1e-9 * Math.abs(want), `${got.kid} vs ${want}`);
  // The combined score carries both.
  const r = realismScore(a, b, d, { subsets: 1 });
  assert.ok(Math.abs(r.kid - want) < 1e-9 * Math.abs(want));
  assert.ok(Math.abs(r.fid - fid(a, b, d)) < 1e-12);
});

test('bad inputs are clear errors', () => {
  assert.throws(() => fid(new Float32Array(8), new Float32Array(8), 8), /at least 2 feature vectors/);
  assert.throws(() => fid(new Float32Array(9), new Float32Array(8), 4), /not a whole number of 4-d vectors/);
  assert.throws(() => fid(Float32Array.from([0, Number.NaN, 1, 2]), new Float32Array(4), 2), /must be finite/);
  assert.throws(() => kid(new Float32Array(4), new Float32Array(4), 4), /at least 2 feature vectors/);
  assert.throws(() => kid(new Float32Array(8), new Float32Array(8), 4, { subsets: 0 }), /subsets must be a whole number/);
});
