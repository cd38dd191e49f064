import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';
import sharp from 'sharp';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { readImage, readImageTensor } from '../../src/io/image.js';
import { tempDir } from './helpers.js';

const tmp = await tempDir();
after(() => tmp.cleanup());
const file = (name: string) => path.join(tmp.dir, name);

/** 8-bit pixels with distinct values per position, so crops can be checked by value. */
function pattern(width: number, height: number, channels: number): Uint8Array {
  const px = new Uint8Array(width * height * channels);
  for (let k = 0; k < px.length; k++) px[k] = (k * 37 + 11) % 256;
  return px;
}

async function writeRaw(name: string, px: Uint8Array | Uint16Array, width: number, height: number, channels: 1 | 2 | 3 | 4, format: 'png' | 'jpeg' | 'webp') {
  let img = sharp(px, { raw: { width, height, channels } });
  if (px instanceof Uint16Array) img = img.toColourspace(channels >= 3 ? 'rgb16' : 'grey16');
  else if (channels <= 2) img = img.toColourspace('b-w');
  const out = format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 100, chromaSubsampling: '4:4:4' }) : img.webp({ lossless: true });
  await out.toFile(file(name));
  return file(name);
}

const to8 = (x: number) => Math.round(((x + 1) * 255) / 2);

/** A Gan3dError whose message names the file, with the given code, and no stack trace in the message. */
function userError(code: string, names: string) {
  return (e: unknown) => {
    assert.ok(e instanceof Gan3dError, `expected Gan3dError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(names), `message should name ${names}: ${e.message}`);
    assert.ok(!/\n\s+at /.test(e.message), 'no stack in the message');
    return true;
  };
}

test('PNG RGB reads exactly into [-1,1] as [H,W,3]', async () => {
  const px = pattern(5, 3, 3);
  const img = await readImage(await writeRaw('rgb.png', px, 5, 3, 3, 'png'), { crop: 'none' });
  assert.deepEqual([img.height, img.width, img.channels], [3, 5, 3]);
  px.forEach((v, k) => assert.ok(Math.abs(img.data[k] - (v / 127.5 - 1)) < 1e-6));
  assert.ok(img.data.every((v) => v >= -1 && v <= 1));
});

test('lossless WebP is exact and JPEG (q100, 4:4:4) is close', async () => {
  const px = pattern(8, 8, 3);
  const webp = await readImage(await writeRaw('a.webp', px, 8, 8, 3, 'webp'));
  px.forEach((v, k) => assert.equal(to8(webp.data[k]), v));
  const smooth = new Uint8Array(16 * 16 * 3).map((_, k) => 60 + (Math.floor(k / 3) % 16) * 8);
  const jpeg = await readImage(await writeRaw('a.jpg', smooth, 16, 16, 3, 'jpeg'));
  let worst = 0;
  smooth.forEach((v, k) => (worst = Math.max(worst, Math.abs(to8(jpeg.data[k]) - v))));
  assert.ok(worst <= 3, `JPEG error ${worst}`);
});

test('greyscale is replicated to three channels', async () => {
  const px = pattern(4, 4, 1);
  const img = await readImage(await writeRaw('grey.png', px, 4, 4, 1, 'png'));
  for (let p = 0; p < 16; p++) for (let c = 0; c < 3; c++) assert.equal(to8(img.data[3 * p + c]), px[p]);
});

test('alpha is composited over black', async () => {
  const px = new Uint8Array([255, 0, 0, 128, 0, 255, 0, 0, 10, 20, 30, 255, 200, 200, 200, 64]);
  const img = await readImage(await writeRaw('alpha.png', px, 4, 1, 4, 'png'), { crop: 'none' });
  const got = Array.from(img.data, to8);
  const want = [0, 1, 2, 3].flatMap((p) => [0, 1, 2].map((c) => Math.round((px[4 * p + c] * px[4 * p + 3]) / 255)));
  got.forEach((v, k) => assert.ok(Math.abs(v - want[k]) <= 1, `channel ${k}: ${v} vs ${want[k]}`));
  assert.deepEqual(got.slice(3, 6), [0, 0, 0], 'a fully transparent pixel is black');
});

test('16-bit PNGs (RGB and grey+alpha) keep 16-bit precision', async () => {
  const rgb = new Uint16Array([0, 1000, 65535, 12345, 40000, 257, 300, 301, 302, 65534, 1, 2]);
  const img = await readImage(await writeRaw('rgb16.png', rgb, 2, 2, 3, 'png'), { crop: 'none' });
  rgb.forEach((v, k) => assert.ok(Math.abs(img.data[k] - (v / 32767.5 - 1)) < 1e-6, `${k}`));
  assert.notEqual(img.data[6], img.data[7], '300 and 301 stay distinct (8 bits would merge them)');
  const greyAlpha = new Uint16Array([30000, 65535, 500, 0]);
  const ga = await readImage(await writeRaw('ga16.png', greyAlpha, 2, 1, 2, 'png'), { crop: 'none' });
  assert.ok(Math.abs(ga.data[0] - (30000 / 32767.5 - 1)) < 1e-6);
  assert.deepEqual(Array.from(ga.data.slice(3)), [-1, -1, -1]);
});

test('centre crop takes the middle square, like torchvision CenterCrop (synface: 170 of 256 starts at 43)', async () => {
  const w = 256;
  const px = new Uint8Array(w * w).map((_, k) => k % w); // value = column
  const name = await writeRaw('cols.png', px, w, w, 1, 'png');
  const img = await readImage(name, { crop: 'center', cropFraction: 170 / 256 });
  assert.deepEqual([img.width, img.height], [170, 170]);
  assert.equal(to8(img.data[0]), 43);
  assert.equal(to8(img.data[3 * 169]), 43 + 169);

  const wide = await readImage(await writeRaw('wide.png', pattern(6, 4, 3), 6, 4, 3, 'png'));
  assert.deepEqual([wide.width, wide.height], [4, 4]);
  const full = pattern(6, 4, 3);
  assert.equal(to8(wide.data[0]), full[3 * 1], 'first kept column is column 1');

  const resized = await readImage(name, { crop: 'center', cropFraction: 170 / 256, size: 64 });
  assert.deepEqual([resized.width, resized.height], [64, 64]);
  const stretched = await readImage(await writeRaw('wide2.png', pattern(6, 4, 3), 6, 4, 3, 'png'), { crop: 'none', size: 8 });
  assert.deepEqual([stretched.width, stretched.height], [8, 8]);
});

test('readImageTensor gives an [H,W,3] float32 tensor', async () => {
  await initBackend();
  const t = await readImageTensor(await writeRaw('t.png', pattern(4, 4, 3), 4, 4, 3, 'png'), { size: 2 });
  assert.deepEqual(t.shape, [2, 2, 3]);
  assert.equal(t.dtype, 'float32');
  t.dispose();
});

test('missing file, folder, empty file and bad options are clear errors', async () => {
  await assert.rejects(readImage(file('nope.png')), userError('IO_NOT_FOUND', 'nope.png'));
  await assert.rejects(readImage(tmp.dir), userError('IO_NOT_A_FILE', tmp.dir));
  await fs.writeFile(file('empty.png'), '');
  await assert.rejects(readImage(file('empty.png')), userError('IO_EMPTY_FILE', 'empty.png'));
  const ok = await writeRaw('ok.png', pattern(4, 4, 3), 4, 4, 3, 'png');
  await assert.rejects(readImage(ok, { size: 0 }), userError('IO_BAD_ARGUMENT', 'ok.png'));
  await assert.rejects(readImage(ok, { cropFraction: 1.5 }), userError('IO_BAD_ARGUMENT', 'ok.png'));
});

test('unreadable file is a permission error', { skip: process.getuid?.() === 0 ? 'running as root: permissions are not enforced' : false }, async () => {
  const name = await writeRaw('locked.png', pattern(4, 4, 3), 4, 4, 3, 'png');
  await fs.chmod(name, 0o000);
  await assert.rejects(readImage(name), userError('IO_PERMISSION', 'locked.png'));
});

test('a text file named .png and an unsupported format are refused by name', async () => {
  await fs.writeFile(file('notes.png'), 'these are not pixels\n');
  await assert.rejects(readImage(file('notes.png')), userError('IO_NOT_AN_IMAGE', 'notes.png'));
  await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).gif().toFile(file('anim.gif'));
  await assert.rejects(readImage(file('anim.gif')), userError('IO_UNSUPPORTED_FORMAT', 'anim.gif'));
});

test('truncated PNG, JPEG and WebP are reported as truncated or corrupt', async () => {
  const noise = { create: { width: 64, height: 64, channels: 3 as const, background: '#000', noise: { type: 'gaussian' as const, mean: 128, sigma: 40 } } };
  for (const [name, bytes] of [
    ['cut.png', await sharp(noise).png().toBuffer()],
    ['cut.jpg', await sharp(noise).jpeg().toBuffer()],
    ['cut.webp', await sharp(noise).webp().toBuffer()],
  ] as const) {
    await fs.writeFile(file(name), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(readImage(file(name)), userError('IO_CORRUPT_IMAGE', name));
  }
});

/** A PNG whose header claims width × height but holds almost no data: a decompression-bomb shape. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(10))), chunk('IEND', Buffer.alloc(0))]);
}

test('images over the pixel limit (100 MP by default) are refused before decoding', async () => {
  await fs.writeFile(file('huge.png'), pngHeaderOnly(12000, 12000));
  await assert.rejects(readImage(file('huge.png')), (e: unknown) => {
    userError('IO_IMAGE_TOO_LARGE', 'huge.png')(e);
    assert.match((e as Error).message, /12000×12000 = 144\.0 megapixels, over the limit of 100 megapixels/);
    return true;
  });
  const small = await writeRaw('small.png', pattern(20, 20, 3), 20, 20, 3, 'png');
  await assert.rejects(readImage(small, { maxPixels: 100 }), userError('IO_IMAGE_TOO_LARGE', 'small.png'));
});
