import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Gan3dError } from '../../src/engine/errors.js';
import { colorizeDepth, turbo } from '../../src/io/colormap.js';
import { encodeGif } from '../../src/io/gif.js';

test('turbo runs dark blue → green → dark red; colorizeDepth paints near warm and far cool, masked pixels plain', () => {
  const [r0, g0, b0] = turbo(0.1);
  const [r5, g5, b5] = turbo(0.5);
  const [r1, g1, b1] = turbo(1);
  assert.ok(Math.max(...turbo(0)) < 60, `turbo(0) = ${turbo(0)} is dark`);
  assert.ok(b0 > 1.5 * r0 && b0 > g0, `turbo(0.1) = ${[r0, g0, b0]}`);
  assert.ok(g5 > 200 && g5 > r5 && g5 > b5, `turbo(0.5) = ${[r5, g5, b5]}`);
  assert.ok(r1 > 100 && r1 > 5 * g1 && r1 > 5 * b1, `turbo(1) = ${[r1, g1, b1]}`);
  assert.deepEqual(turbo(-1), turbo(0));
  assert.deepEqual(turbo(Number.NaN), turbo(0));

  const { rgb, near, far } = colorizeDepth(Float32Array.from([0.9, 1.0, 1.1, 5]), { mask: [1, 1, 1, 0], background: [1, 2, 3] });
  assert.deepEqual([near, far], [Math.fround(0.9), Math.fround(1.1)]);
  assert.deepEqual([...rgb.subarray(0, 3)], turbo(1), 'nearest is the warm end');
  assert.deepEqual([...rgb.subarray(6, 9)], turbo(0), 'farthest is the cool end');
  assert.deepEqual([...rgb.subarray(9, 12)], [1, 2, 3], 'outside the mask');
});

test('encodeGif writes an animated, looping GIF with one page per frame and checks its input', async () => {
  const w = 10;
  const h = 6;
  const n = 4;
  const data = new Uint8Array(w * h * 3 * n);
  for (let f = 0; f < n; f++) data.fill(60 * f, f * w * h * 3, (f + 1) * w * h * 3);
  const gif = await encodeGif({ data, width: w, height: h, count: n }, { delayMs: 50 });
  const meta = await sharp(gif, { animated: true }).metadata();
  assert.deepEqual([meta.format, meta.pages, meta.pageHeight, meta.width, meta.loop], ['gif', n, h, w, 0]);
  assert.deepEqual(meta.delay, [50, 50, 50, 50]);
  const frames = await sharp(gif, { animated: true }).raw().toBuffer({ resolveWithObject: true });
  const channels = frames.info.channels;
  // Palette quantisation may move a grey level by one or two.
  for (let f = 0; f < n; f++) assert.ok(Math.abs(frames.data[f * w * h * channels] - 60 * f) <= 2, `frame ${f}`);
  await assert.rejects(encodeGif({ data, width: w, height: h, count: n + 1 }), (e: unknown) => e instanceof Gan3dError && /expected 5 RGB frames/.test(e.message));
});
