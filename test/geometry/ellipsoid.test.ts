import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ellipsoidPrior, ELLIPSOID_DEFAULTS } from '../../src/geometry/ellipsoid.js';

const FAR = Math.fround(1.02);

function boxMask(size: number, y0: number, y1: number, x0: number, x1: number): Float32Array {
  const m = new Float32Array(size * size);
  for (let i = y0; i <= y1; i++) for (let j = x0; j <= x1; j++) m[i * size + j] = 1;
  return m;
}

test('ellipsoid prior: near at the centre, far at the rim and outside, radially increasing', () => {
  const S = 64;
  // A box centred on the image, so the stretch about S/2 and the box centre agree.
  const noExtend = { ...ELLIPSOID_DEFAULTS, extendUp: 0 };
  const d = ellipsoidPrior(boxMask(S, 16, 47, 16, 47), S, noExtend);
  const centre = d[31 * S + 31];
  assert.ok(Math.abs(centre - 0.91) < 2e-3, `centre ${centre}`);
  assert.equal(d[0], FAR);
  assert.equal(d[31 * S + 2], FAR);
  // Along the row through the centre the depth rises monotonically towards the rim.
  for (let j = 32; j < 47; j++) assert.ok(d[31 * S + j + 1] >= d[31 * S + j] - 1e-7);
  // At the rim (distance = r) the cap reaches the far depth.
  assert.ok(Math.abs(d[31 * S + 47] - 1.02) < 5e-3, `rim ${d[31 * S + 47]}`);
  // Left–right symmetric about the box centre (31.5).
  for (let j = 0; j < 32; j++) assert.ok(Math.abs(d[31 * S + j] - d[31 * S + 63 - j]) < 1e-6);
});

test('ellipsoid prior: the synface upward extension lifts the top of the ellipse; empty masks give the far plane', () => {
  const S = 64;
  const mask = boxMask(S, 24, 55, 16, 47);
  const plain = ellipsoidPrior(mask, S, { ...ELLIPSOID_DEFAULTS, extendUp: 0 });
  const extended = ellipsoidPrior(mask, S);
  const topRow = (d: Float32Array) => {
    for (let i = 0; i < S; i++) if (d[i * S + 31] < FAR) return i;
    return S;
  };
  assert.ok(topRow(extended) < topRow(plain), `${topRow(extended)} vs ${topRow(plain)}`);
  assert.ok(ellipsoidPrior(new Float32Array(S * S), S).every((v) => v === FAR));
});
