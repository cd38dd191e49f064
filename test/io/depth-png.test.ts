import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Gan3dError } from '../../src/engine/errors.js';
import { decodeDepth16, encodeDepth16, readDepthPng, SYNFACE_DEPTH_RANGE, writeDepthPng } from '../../src/io/depth-png.js';
import { readPng16Grey, writePng16Grey } from '../../src/io/png.js';
import { sphereDepth, tempDir } from './helpers.js';

const tmp = await tempDir();
after(() => tmp.cleanup());
const file = (name: string) => path.join(tmp.dir, name);

test('synface convention: white is near, d = 1.1 − 0.2·v', () => {
  assert.deepEqual(Array.from(encodeDepth16(new Float32Array([0.9, 1.1, 1.0]))), [65535, 0, 32768]);
  const values = new Uint16Array([0, 65535, 16384, 49151]);
  const depth = decodeDepth16(values, SYNFACE_DEPTH_RANGE);
  values.forEach((v, k) => assert.ok(Math.abs(depth[k] - (1.1 - (0.2 * v) / 65535)) < 1e-7));
  const custom = decodeDepth16(new Uint16Array([0, 65535]), { minDepth: 2, maxDepth: 5 });
  assert.deepEqual(Array.from(custom), [5, 2]);
});

test('a depth map survives the PNG within the 16-bit quantisation step', async () => {
  const sphere = sphereDepth(48, 0.06, 1.0, 1.1);
  await writeDepthPng(file('sphere.png'), sphere);
  const back = await readDepthPng(file('sphere.png'));
  assert.deepEqual([back.width, back.height], [48, 48]);
  const step = 0.2 / 65535;
  sphere.data.forEach((d, k) => assert.ok(Math.abs(back.data[k] - d) <= step / 2 + 1e-7, `pixel ${k}`));
  const raw = await readPng16Grey(file('sphere.png'));
  assert.equal(raw.data[0], 0, 'background (1.1) is black');
});

test('depth PNGs read with crop and bilinear resize (synface protocol shape)', async () => {
  const data = new Uint16Array(256 * 256).fill(30000);
  await writePng16Grey(file('flat.png'), { data, width: 256, height: 256 });
  const depth = await readDepthPng(file('flat.png'), SYNFACE_DEPTH_RANGE, { crop: 'center', cropFraction: 170 / 256, size: 64 });
  assert.deepEqual([depth.width, depth.height], [64, 64]);
  const expected = 1.1 - (0.2 * 30000) / 65535;
  depth.data.forEach((d) => assert.ok(Math.abs(d - expected) < 1e-6));
});

test('NaN/Inf and out-of-range depths are refused by name unless clamped', async () => {
  const map = (values: number[]) => ({ data: new Float32Array(values), width: 2, height: 2 });
  await assert.rejects(writeDepthPng(file('nan.png'), map([1, Number.NaN, 1, 1])), (e: unknown) => {
    assert.ok(e instanceof Gan3dError && e.code === 'IO_BAD_DEPTH' && e.message.includes('nan.png'), String(e));
    return true;
  });
  await assert.rejects(writeDepthPng(file('inf.png'), map([1, Infinity, 1, 1])), Gan3dError);
  await assert.rejects(writeDepthPng(file('far.png'), map([1, 1.3, 1, 1])), /outside the PNG range \[0\.9, 1\.1\]; pass a wider range or clamp/);
  await writeDepthPng(file('clamped.png'), map([1, 1.3, 0.5, 1]), SYNFACE_DEPTH_RANGE, { clamp: true });
  assert.deepEqual(Array.from((await readPng16Grey(file('clamped.png'))).data), [32768, 0, 65535, 32768]);
});

test('float bilinear resize: constants stay constant, a ramp stays a ramp, the same size is the identity', async () => {
  const { resizeBilinear, centerSquare } = await import('../../src/io/resample.js');
  const ramp = Array.from({ length: 8 * 2 }, (_, k) => k % 8);
  const half = resizeBilinear(ramp, 8, 2, 4, 2);
  // Output pixel o covers input centres 2o+0.5 (Pillow BILINEAR); away from the edges a ramp is reproduced.
  for (const o of [1, 2]) assert.ok(Math.abs(half[o] - (2 * o + 0.5)) < 1e-12);
  assert.ok(resizeBilinear(new Array(9 * 7).fill(0.123), 9, 7, 4, 5).every((v) => Math.abs(v - 0.123) < 1e-15));
  assert.deepEqual(Array.from(resizeBilinear(ramp, 8, 2, 8, 2)), ramp);
  assert.deepEqual(centerSquare(256, 256, 170 / 256), { left: 43, top: 43, side: 170 });
});
