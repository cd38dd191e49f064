// `gan3d invert` on a tiny random GAN: the files of each image's folder (latent.json redraws reconstruction.png,
// side_by_side.png has four panels), the refusal to overwrite without --force, the encoder's GAN-id warning, and the
// one-line errors a user can cause (missing image, non-image file, missing model, bad flags), through main.ts too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { invertCommand, type InvertCommandOptions } from '../../src/cli/invert.js';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';
import { encodePng8, signedToUint8 } from '../../src/io/png.js';
import { Encoder } from '../../src/models/encoder/index.js';
import { Discriminator, Generator, type StyleGanConfig } from '../../src/models/stylegan/index.js';
import { saveEncoderBundle } from '../../src/pipelines/encoder-bundle.js';
import { saveGanBundle } from '../../src/pipelines/gan-bundle.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TINY: Partial<StyleGanConfig> = {
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 2,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 6, 16: 4 },
};
let root = '';
let ganDir = '';
let encoderDir = '';
let images = '';
let generator: Generator;

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-invert-cli-'));
  const rng = new Rng(21);
  generator = new Generator(rng, TINY);
  const discriminator = new Discriminator(rng, TINY);
  generator.estimateWAvg(new Rng(22), 256);
  ganDir = path.join(root, 'gan');
  await saveGanBundle(ganDir, { generator, discriminator }, { id: 'tiny-gan' });
  discriminator.dispose();
  encoderDir = path.join(root, 'encoder');
  const encoder = new Encoder(3, { imageSize: 16, wDim: 8, widths: [8, 8] });
  const gan = { id: 'another-gan', resolution: 16, zDim: 8, wDim: 8, numWs: generator.numWs, step: null };
  await saveEncoderBundle(encoderDir, encoder, { id: 'tiny-encoder', gan });
  encoder.dispose();
  // Two generated faces (one 32×24, centre-cropped and resized like `gan3d reconstruct` does) and a text file.
  images = path.join(root, 'images');
  await fs.mkdir(images);
  const x = tf.tidy(() => tf.clipByValue(generator.synthesize(generator.mapping(tf.tensor2d(new Rng(5).normalArray(16), [2, 8]))), -1, 1));
  const px = signedToUint8(x.dataSync() as Float32Array);
  x.dispose();
  await fs.writeFile(path.join(images, 'a.png'), await encodePng8(px.subarray(0, 768), 16, 16, 3));
  const big = await sharp(Buffer.from(px.subarray(768)), { raw: { width: 16, height: 16, channels: 3 } }).resize(24, 24).extend({ left: 4, right: 4, background: '#000' }).png().toBuffer();
  await fs.writeFile(path.join(images, 'b.png'), big);
  await fs.writeFile(path.join(root, 'notes.txt'), 'not an image');
});

after(async () => {
  generator.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

const options = (out: string, extra: Partial<InvertCommandOptions> = {}): InvertCommandOptions => ({
  out: path.join(root, out),
  model: ganDir,
  encoder: false,
  stepsW: '8',
  stepsWplus: '8',
  lr: '0.1',
  quiet: true,
  write: () => undefined,
  warn: () => undefined,
  ...extra,
});

async function rejects(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Gan3dError, `expected a Gan3dError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('invert: one folder per image with latent.json, reconstruction.png, side_by_side.png and meta.json', async () => {
  const lines: string[] = [];
  const r = await invertCommand([images], options('out', { write: (t) => void lines.push(t) }));
  assert.deepEqual(r.images.map((i) => i.name), ['a', 'b']);
  assert.match(lines.join(''), /Inverted 2 images into GAN "tiny-gan" \(start: mean w; 8 W \+ 8 W\+ steps\).*mean PSNR start [\d.]+ dB, W [\d.]+ dB, W\+ [\d.]+ dB/);
  for (const name of ['a', 'b']) {
    const dir = path.join(root, 'out', name);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['latent.json', 'meta.json', 'reconstruction.png', 'side_by_side.png']);
    const latent = JSON.parse(await fs.readFile(path.join(dir, 'latent.json'), 'utf8')) as {
      gan: { id: string };
      encoder: null;
      start: string;
      w: number[];
      w_start: number[];
      w_plus: number[][];
      psnr: { start: number; w: number; w_plus: number };
    };
    assert.equal(latent.gan.id, 'tiny-gan');
    assert.equal(latent.encoder, null);
    assert.equal(latent.start, 'mean_w');
    assert.equal(latent.w.length, 8);
    assert.equal(latent.w_plus.length, generator.numWs);
    assert.ok(latent.psnr.w > latent.psnr.start, `${latent.psnr.w} vs ${latent.psnr.start}`);
    // latent.json's w_plus redraws reconstruction.png (to within the 8-bit rounding).
    const redraw = tf.tidy(() => tf.clipByValue(generator.synthesize(tf.tensor3d([latent.w_plus])), -1, 1));
    const expected = signedToUint8(redraw.dataSync() as Float32Array);
    redraw.dispose();
    const { data } = await sharp(path.join(dir, 'reconstruction.png')).raw().toBuffer({ resolveWithObject: true });
    assert.ok(Math.max(...Array.from(data, (v, k) => Math.abs(v - expected[k]))) <= 1);
    const side = await sharp(path.join(dir, 'side_by_side.png')).metadata();
    // input | start | W | W+: 4 × 16 px + 5 gaps of 2; one row: 16 + 2 × 2.
    assert.deepEqual([side.width, side.height], [74, 20]);
    const meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as { timingsMs: { total: number }; inversion: { stepsW: number } };
    assert.ok(meta.timingsMs.total > 0);
    assert.equal(meta.inversion.stepsW, 8);
  }
});

test('invert: existing output folders are refused without --force and replaced with it', async () => {
  const file = path.join(images, 'a.png');
  await invertCommand([file], options('again', { stepsW: '1', stepsWplus: '1' }));
  await rejects(invertCommand([file], options('again', { stepsW: '1', stepsWplus: '1' })), 'OUTPUT_EXISTS', /already has output folders for 1 of the 1 inputs \(a\).*--force/);
  await fs.writeFile(path.join(root, 'again', 'a', 'stale.txt'), 'x');
  await invertCommand([file], options('again', { stepsW: '1', stepsWplus: '1', force: true }));
  assert.ok(!(await fs.readdir(path.join(root, 'again', 'a'))).includes('stale.txt'), 'the folder was replaced');
});

test('invert: an encoder trained for another GAN warns in one line, and gives the start', async () => {
  const warnings: string[] = [];
  const r = await invertCommand([path.join(images, 'a.png')], options('enc', { encoder: encoderDir, stepsW: '1', stepsWplus: '1', warn: (t) => void warnings.push(t) }));
  assert.equal(r.encoder, 'tiny-encoder');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^warning: encoder "tiny-encoder" was trained for GAN "another-gan", not "tiny-gan"/);
  assert.ok(!warnings[0].includes('\n'));
  const latent = JSON.parse(await fs.readFile(path.join(root, 'enc', 'a', 'latent.json'), 'utf8')) as { start: string; encoder: { id: string } };
  assert.equal(latent.start, 'encoder');
  assert.equal(latent.encoder.id, 'tiny-encoder');
});

test('invert: clear errors for a missing image, a non-image file, a missing model and bad flags', async () => {
  await rejects(invertCommand([path.join(root, 'missing.png')], options('e1')), 'IO_NOT_FOUND', /Input not found: .*missing\.png/);
  await rejects(invertCommand([path.join(root, 'notes.txt')], options('e2')), 'IO_NOT_AN_IMAGE', /notes\.txt is not an image/);
  await rejects(invertCommand([images], options('e3', { model: path.join(root, 'no-gan') })), 'MODEL_NOT_FOUND', /No GAN at .*no-gan/);
  await rejects(invertCommand([images], options('e4', { encoder: path.join(root, 'no-encoder') })), 'MODEL_NOT_FOUND', /No encoder at/);
  await rejects(invertCommand([images], options('e5', { stepsW: '-3' })), 'BAD_ARGUMENT', /--steps-w must be a whole number/);
  await rejects(invertCommand([images], options('e6', { lr: '0' })), 'BAD_ARGUMENT', /--lr must be a positive number/);
  await rejects(invertCommand([images], options('e7', { noise: 'loud' })), 'BAD_ARGUMENT', /--noise must be none or fixed/);
  for (const e of ['e1', 'e2', 'e3', 'e4']) await assert.rejects(fs.stat(path.join(root, e, 'a')), 'nothing was written');
});

test('invert through main.ts: a missing model prints one line and exits with code 2', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'invert', path.join(images, 'a.png'), '-o', path.join(root, 'cli'), '--model', path.join(root, 'nope')], {
    cwd: repo,
    encoding: 'utf8',
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^gan3d: No GAN at .*nope: no such file or folder\./);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});
