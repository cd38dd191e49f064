import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gan3dError } from '../../src/engine/errors.js';
import { cameraConfig, intrinsics } from '../../src/geometry/camera.js';
import { NORMAL_EPS } from '../../src/geometry/depth-grid.js';
import { erodeMask } from '../../src/metrics/mask.js';
import { evaluateSideMad, evaluateSideMadSet, sideMadMask } from '../../src/metrics/side-mad.js';
import { summarize } from '../../src/metrics/summary.js';
import { sphereDepth } from '../io/helpers.js';

const S = 64;
const gtSphere = sphereDepth(S, 0.07, 1.0, 1.1).data; // background 1.1 is max(d_gt)

function maskFrom(rows: string[]): Uint8Array {
  return Uint8Array.from(rows.join('').split(''), Number);
}

test('erosion removes exactly the 1-pixel rim (3×3 box, > 0.99, zero padding)', () => {
  const mask = maskFrom(['0000000', '0111110', '0111110', '0111110', '0111110', '0000000']);
  const want = maskFrom(['0000000', '0000000', '0011100', '0011100', '0000000', '0000000']);
  assert.deepEqual(erodeMask(mask, 7, 6), want);
  // The image border counts as outside: a full mask loses its outer ring.
  assert.deepEqual(erodeMask(new Uint8Array(16).fill(1), 4, 4), maskFrom(['0000', '0110', '0110', '0000']));
  // A one-pixel hole takes its 8 neighbours with it.
  const holed = new Uint8Array(49).fill(1);
  holed[3 * 7 + 3] = 0;
  assert.deepEqual(erodeMask(holed, 7, 7), maskFrom(['0000000', '0111110', '0100010', '0100010', '0100010', '0111110', '0000000']));
});

test('the evaluation mask is erode(gt < max gt) · erode(pred < 1.2)', () => {
  const gt = new Float32Array(36).fill(1.1);
  const pred = new Float32Array(36).fill(1.0);
  for (let i = 1; i <= 4; i++) for (let j = 1; j <= 4; j++) gt[i * 6 + j] = 1.0; // 4×4 object
  pred[1 * 6 + 1] = 1.2; // "no surface" in the prediction: erodes (0..2, 0..2)
  const mask = sideMadMask(pred, gt, 6);
  assert.deepEqual(mask, maskFrom(['000000', '000000', '000100', '001100', '000000', '000000']));
});

test('identical depths: SIDE 0 and, with unit normals, MAD 0', () => {
  const r = evaluateSideMad(gtSphere, gtSphere, { normals: 'unit' });
  assert.ok(r.pixels > 1000, `${r.pixels} pixels`);
  assert.equal(r.side, 0);
  assert.ok(r.mad < 1e-5, `MAD ${r.mad}`);
});

test("reference normals (n/(‖n‖+1e-7), the published code) put an analytic floor under MAD", () => {
  // Fronto-parallel planes at depth d: ‖t_u × t_v‖ = (2d/f)², so each normal has length L = c/(c + eps) and two
  // identical normals meet at arccos(L²). At S = 64, d = 1 that is ≈ 6.5°.
  const d = 1.0;
  const gt = new Float32Array(S * S).fill(1.1);
  for (let i = 8; i < S - 8; i++) for (let j = 8; j < S - 8; j++) gt[i * S + j] = d;
  const c = (2 * d / intrinsics(cameraConfig(S)).f) ** 2;
  const floor = (Math.acos((c / (c + NORMAL_EPS)) ** 2) * 180) / Math.PI;
  const r = evaluateSideMad(gt, gt);
  assert.ok(Math.abs(r.mad - floor) < 1e-3, `MAD ${r.mad} vs analytic ${floor}`);
  assert.ok(floor > 6 && floor < 7);
  assert.ok(evaluateSideMad(gt, gt, { normals: 'unit' }).mad < 1e-5);
});

test('SIDE ignores a global scale of the prediction but not a depth shift', () => {
  const scaled = gtSphere.map((d) => 1.05 * d);
  const s = evaluateSideMad(scaled, gtSphere, { normals: 'unit' });
  assert.ok(s.side < 1e-6, `SIDE under scale ${s.side}`);
  assert.ok(s.mad < 1e-3, 'a uniformly scaled shape has the same normals');

  const shifted = gtSphere.map((d) => d + 0.05);
  const r = evaluateSideMad(shifted, gtSphere);
  // Independent reference over the same mask: std of log(1 + 0.05/d_gt).
  const mask = sideMadMask(shifted, gtSphere, S);
  const deltas = Array.from(gtSphere).filter((_, k) => mask[k]).map((d) => Math.log(Math.fround(d + 0.05)) - Math.log(d));
  const mean = deltas.reduce((a, b) => a + b, 0) / deltas.length;
  const expected = Math.sqrt(deltas.reduce((a, b) => a + (b - mean) ** 2, 0) / deltas.length);
  // Small for a shallow sphere (depths 0.93–1.0) but a thousand times the scale case: a shift is not factored out.
  assert.ok(r.side > 1e-4 && r.side > 1000 * s.side, `SIDE under shift ${r.side}, under scale ${s.side}`);
  assert.ok(Math.abs(r.side - expected) < 1e-9, `${r.side} vs ${expected}`);
});

test('a tilted plane against a fronto-parallel one gives MAD equal to the tilt angle', () => {
  const { f: focal, c: center } = intrinsics(cameraConfig(S));
  for (const tiltDeg of [5, 20, 35]) {
    const tan = Math.tan((tiltDeg * Math.PI) / 180);
    const gt = new Float32Array(S * S).fill(1.1);
    const tiltedAboutY = new Float32Array(S * S);
    const tiltedAboutX = new Float32Array(S * S);
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        if (i >= 6 && i < S - 6 && j >= 6 && j < S - 6) gt[i * S + j] = 1.0;
        // Plane Z = 1 + tan·X (resp. tan·Y) through (0,0,1): along the ray, d = 1 / (1 − tan·(j−c)/f).
        tiltedAboutY[i * S + j] = 1 / (1 - (tan * (j - center)) / focal);
        tiltedAboutX[i * S + j] = 1 / (1 - (tan * (i - center)) / focal);
      }
    }
    for (const pred of [tiltedAboutY, tiltedAboutX]) {
      const r = evaluateSideMad(pred, gt, { normals: 'unit' });
      assert.equal(r.pixels, (S - 14) ** 2, 'interior only');
      assert.ok(Math.abs(r.mad - tiltDeg) < 1e-3, `tilt ${tiltDeg}: MAD ${r.mad}`);
    }
  }
});

test('empty masks give NaN scores, which summaries leave out and count', () => {
  const flat = new Float32Array(16).fill(1.0); // every pixel equals max(d_gt): no object
  const r = evaluateSideMad(flat, flat);
  assert.equal(r.pixels, 0);
  assert.ok(Number.isNaN(r.side) && Number.isNaN(r.mad));
  const set = evaluateSideMadSet([
    { pred: gtSphere, gt: gtSphere },
    { pred: flat, gt: flat },
    { pred: gtSphere.map((d) => d + 0.02), gt: gtSphere },
  ]);
  assert.equal(set.side.count, 2);
  assert.equal(set.side.excluded, 1);
  assert.equal(set.perImage.length, 3);
});

test('summarize: mean and population std (÷n)', () => {
  assert.deepEqual(summarize([1, 3]), { mean: 2, std: 1, count: 2, excluded: 0 });
  assert.deepEqual(summarize([2, 4, 4, 4, 5, 5, 7, 9, Number.NaN, Infinity]), { mean: 5, std: 2, count: 8, excluded: 2 });
  const none = summarize([]);
  assert.ok(Number.isNaN(none.mean) && none.count === 0);
});

test('bad inputs are clear errors', () => {
  assert.throws(() => evaluateSideMad(new Float32Array(15), new Float32Array(15)), (e: unknown) => e instanceof Gan3dError && /not a square/.test(e.message));
  assert.throws(() => evaluateSideMad(new Float32Array(16), new Float32Array(25)), /predicted depth has 16 values/);
  const nan = gtSphere.slice();
  nan[5] = Number.NaN;
  assert.throws(() => evaluateSideMad(nan, gtSphere), /non-finite value \(NaN\) at index 5/);
});
