import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { readImage } from '../../src/io/image.js';
import { readPng16Grey, signedToUint8, writeImagePng, writeImageTensor, writePng16Grey, writePng8 } from '../../src/io/png.js';
import { tempDir } from './helpers.js';

const tmp = await tempDir();
after(() => tmp.cleanup());
const file = (name: string) => path.join(tmp.dir, name);

test('16-bit grey PNG round-trips bit-exactly', async () => {
  const width = 37;
  const height = 23;
  const data = new Uint16Array(width * height);
  for (let k = 0; k < data.length; k++) data[k] = (k * 2654435761) % 65536;
  data[0] = 0;
  data[1] = 65535;
  await writePng16Grey(file('d16.png'), { data, width, height });
  const meta = await sharp(file('d16.png')).metadata();
  assert.deepEqual([meta.format, meta.depth, meta.channels], ['png', 'ushort', 1]);
  const back = await readPng16Grey(file('d16.png'));
  assert.deepEqual([back.width, back.height], [width, height]);
  assert.deepEqual(back.data, data);
});

test('8-bit PNGs are written as grey (1 channel) or RGB, and 8-bit grey reads back ×257', async () => {
  const grey = new Uint8Array([0, 64, 128, 255]);
  await writePng8(file('g8.png'), grey, 2, 2, 1);
  const meta = await sharp(file('g8.png')).metadata();
  assert.deepEqual([meta.channels, meta.depth], [1, 'uchar']);
  assert.deepEqual(Array.from((await readPng16Grey(file('g8.png'))).data), [0, 64 * 257, 128 * 257, 65535]);
  const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]);
  await writePng8(file('rgb8.png'), rgb, 2, 2, 3);
  const { data, info } = await sharp(file('rgb8.png')).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  assert.deepEqual(Array.from(data), Array.from(rgb));
});

test('[-1,1] floats map to bytes with clamping and rounding; float images and tensors write as PNG', async () => {
  assert.deepEqual(Array.from(signedToUint8(new Float32Array([-1, 1, 0, -2, 2, 0.5]))), [0, 255, 128, 0, 255, 191]);
  assert.throws(() => signedToUint8(new Float32Array([0, Number.NaN])), Gan3dError);
  const data = new Float32Array([-1, -0.5, 0, 0.5, 1, 1, -1, 0, 0.25, 0.75, -0.75, 0]);
  await writeImagePng(file('f.png'), { data, width: 2, height: 2, channels: 3 });
  const back = await readImage(file('f.png'), { crop: 'none' });
  data.forEach((v, k) => assert.ok(Math.abs(back.data[k] - v) <= 1 / 255 + 1e-6));
  await initBackend();
  const t = tf.tensor4d(data, [1, 2, 2, 3]);
  await writeImageTensor(file('t.png'), t);
  t.dispose();
  assert.deepEqual((await readImage(file('t.png'), { crop: 'none' })).data, back.data);
});

test('a wrong pixel count is a shape error', async () => {
  await assert.rejects(writePng8(file('bad.png'), new Uint8Array(5), 2, 2, 1), (e: unknown) => e instanceof Gan3dError && e.code === 'IO_BAD_SHAPE');
});
