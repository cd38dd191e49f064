// GAN inversion (src/pipelines/invert.ts) on a tiny random GAN: on an image the generator made from a known W+ latent,
// the W stage beats the mean-w start and the W+ stage beats the W stage, each stage's loss goes down, the result is
// deterministic, batching does not change it, the gradient matches finite differences, the tensor count stays
// flat, and measureInversion reads a folder of PNGs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';
import { encodePng8, signedToUint8 } from '../../src/io/png.js';
import { Encoder } from '../../src/models/encoder/index.js';
import { Discriminator, Generator, type StyleGanConfig } from '../../src/models/stylegan/index.js';
import { saveGanBundle } from '../../src/pipelines/gan-bundle.js';
import {
  batchContext,
  disposeBatchContext,
  inversionConfig,
  inversionLoss,
  invertImages,
  mean,
  psnrPerImage,
  stepSizeFactor,
  type InversionNetworks,
} from '../../src/pipelines/invert.js';
import { measureInversion } from '../../src/pipelines/invert-bench.js';

// The tiny 16×16 GAN of test/pipelines/train-gan.test.ts (random weights: the test checks the optimisation).
const TINY: Partial<StyleGanConfig> = {
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 2,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 6, 16: 4 },
};
const R = 16;
const PER = R * R * 3;
let gan: InversionNetworks;
let root = '';

/** n targets made by the generator from style-mixed latents (layers < 3 from one w, the rest from another). */
function targets(n: number, seed: number): Float32Array {
  const g = gan.generator;
  const rng = new Rng(seed);
  const x = tf.tidy(() => {
    const w1 = g.mapping(tf.tensor2d(rng.normalArray(n * 8), [n, 8]));
    const w2 = g.mapping(tf.tensor2d(rng.normalArray(n * 8), [n, 8]));
    return tf.clipByValue(g.synthesize(g.mixStyles(w1, w2, 3)), -1, 1);
  });
  const data = Float32Array.from(x.dataSync() as Float32Array);
  x.dispose();
  return data;
}

before(async () => {
  await initBackend('wasm');
  const rng = new Rng(7);
  const generator = new Generator(rng, TINY);
  const discriminator = new Discriminator(rng, TINY);
  generator.estimateWAvg(new Rng(8), 256);
  gan = { generator, discriminator };
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-invert-'));
});

after(async () => {
  gan.generator.dispose();
  gan.discriminator.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

test('psnrPerImage: identical images score 100 dB, a known error its value; stepSizeFactor ramps up and down', () => {
  const [same, known] = tf.tidy(() => {
    const a = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
    // A difference of 0.2 in [-1, 1] is 0.1 on [0, 1]: MSE 0.01, 20 dB.
    const b = tf.fill([2, 4, 4, 3], 0.2) as tf.Tensor4D;
    return [psnrPerImage(a, a), psnrPerImage(a, b)];
  });
  for (const v of same.dataSync()) assert.ok(Math.abs(v - 100) < 1e-4, `${v}`);
  for (const v of known.dataSync()) assert.ok(Math.abs(v - 20) < 1e-4, `${v}`);
  tf.dispose([same, known]);
  const f = Array.from({ length: 100 }, (_, t) => stepSizeFactor(t, 100));
  assert.ok(f[0] > 0 && f[0] < 0.5, 'ramp-up');
  assert.equal(Math.max(...f), 1);
  assert.ok(f[99] > 0 && f[99] < 0.05, 'ramp-down');
  assert.ok(f.every((x) => x > 0 && x <= 1));
  assert.throws(() => inversionConfig({ stepsW: -1 }), /stepsW/);
  assert.throws(() => inversionConfig({ lrW: 0 }), /lrW/);
  assert.throws(() => inversionConfig({ noise: 'random' as 'none' }), /noise/);
});

test('invert: W beats the mean-w start and W+ beats W on W+ targets; losses fall; deterministic', async () => {
  const n = 3;
  const x = targets(n, 11);
  // PSNR margins with the pixel loss alone: a random discriminator's features say little about pixels.
  const config = { stepsW: 40, stepsWPlus: 40, lrW: 0.1, lrWPlus: 0.05, lambdaFeat: 0 };
  const r = await invertImages(gan, x, n, { config });
  assert.equal(r.start, 'mean_w');
  assert.equal(r.wPlus.length, n * gan.generator.numWs * 8);
  const s = mean(r.stages.start.psnr);
  const w = mean(r.stages.w.psnr);
  const wp = mean(r.stages.wPlus.psnr);
  assert.ok(w > s + 2, `PSNR W ${w} vs start ${s}`);
  assert.ok(wp > w + 1, `PSNR W+ ${wp} vs W ${w}`);
  for (let i = 0; i < n; i++) {
    assert.ok(r.stages.w.lossEnd[i] < 0.9 * r.stages.w.lossStart[i], `W loss of image ${i}`);
    assert.ok(r.stages.wPlus.lossEnd[i] < 0.9 * r.stages.wPlus.lossStart[i], `W+ loss of image ${i}`);
    assert.ok(r.stages.wPlus.psnr[i] > r.stages.start.psnr[i], `image ${i}: W+ ${r.stages.wPlus.psnr[i]} vs start ${r.stages.start.psnr[i]}`);
  }
  // The full loss (discriminator features and regulariser on) falls in both stages too.
  const full = await invertImages(gan, x, n, { config: { stepsW: 10, stepsWPlus: 10 } });
  for (let i = 0; i < n; i++) {
    assert.ok(full.stages.w.lossEnd[i] < full.stages.w.lossStart[i], `full W loss of image ${i}`);
    assert.ok(full.stages.wPlus.lossEnd[i] < full.stages.wPlus.lossStart[i], `full W+ loss of image ${i}`);
  }
  // The W+ latent redraws the reported W+ image.
  const again = tf.tidy(() => tf.clipByValue(gan.generator.synthesize(tf.tensor3d(r.wPlus, [n, gan.generator.numWs, 8])), -1, 1));
  const d = Math.max(...Array.from(again.dataSync(), (v, k) => Math.abs(v - r.images.wPlus[k])));
  again.dispose();
  assert.ok(d < 1e-5, `redraw differs by ${d}`);
  // Same inputs, same seed: the same bits.
  const r2 = await invertImages(gan, x, n, { config });
  assert.deepEqual(r2.wPlus, r.wPlus);
  assert.deepEqual(r2.stages.wPlus.psnr, r.stages.wPlus.psnr);
});

test('invert: batching does not change the result; fixed noise is seeded per image', async () => {
  const x = targets(2, 12);
  const config = { stepsW: 5, stepsWPlus: 5, noise: 'fixed' as const, seed: 3 };
  // Noise only matters once the layers' strengths are non-zero.
  tf.tidy(() => gan.generator.convs.forEach((c) => c.noise.strength.assign(tf.tensor1d([0.3]))));
  try {
    const together = await invertImages(gan, x, 2, { config: { ...config, batch: 2 } });
    const apart = await invertImages(gan, x, 2, { config: { ...config, batch: 1 } });
    const diff = Math.max(...Array.from(together.wPlus, (v, k) => Math.abs(v - apart.wPlus[k])));
    assert.ok(diff < 1e-3, `batch 2 vs batch 1: ${diff}`);
    const second = await invertImages(gan, x.subarray(PER), 1, { config, indexOffset: 1 });
    const d2 = Math.max(...Array.from(second.wPlus, (v, k) => Math.abs(v - apart.wPlus[gan.generator.numWs * 8 + k])));
    assert.ok(d2 < 1e-6, `image 1 alone with its index offset: ${d2}`);
    const otherSeed = await invertImages(gan, x, 2, { config: { ...config, seed: 4 } });
    assert.notDeepEqual(otherSeed.images.start, together.images.start, 'the noise changes the start image');
  } finally {
    tf.tidy(() => gan.generator.convs.forEach((c) => c.noise.strength.assign(tf.zeros([1]))));
  }
});

test('invert: the loss gradient matches finite differences (W and W+ latents, regulariser on)', () => {
  const n = 2;
  const x = targets(n, 13);
  const config = inversionConfig({ lambdaReg: 0.5, lambdaFeat: 1 });
  // Nearest upsampling: tfjs's ResizeBilinearGrad ignores halfPixelCenters, so the default bilinear generator's own
  // gradient is off (by about 12% here, before any inversion code); that is a generator matter, not the loss's.
  const rngN = new Rng(17);
  const nearest = { generator: new Generator(rngN, { ...TINY, upsample: 'nearest' }), discriminator: new Discriminator(rngN, TINY) };
  const ctx = batchContext(nearest, config, x, n, 0);
  try {
    const rng = new Rng(5);
    for (const shape of [[n, 8], [n, gan.generator.numWs, 8]]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const latent = tf.tensor(rng.normalArray(size, 0.5), shape);
      const anchor = tf.tensor(rng.normalArray(size, 0.5), shape);
      const dir = tf.tensor(rng.normalArray(size), shape);
      const total = (l: tf.Tensor) => tf.sum(inversionLoss(ctx, l, anchor));
      const [analytic, numeric] = tf.tidy(() => {
        const g = tf.grad(total)(latent);
        const a = tf.sum(tf.mul(g, dir)).dataSync()[0];
        const eps = 3e-3;
        const up = total(tf.add(latent, tf.mul(dir, eps))).dataSync()[0];
        const down = total(tf.sub(latent, tf.mul(dir, eps))).dataSync()[0];
        return [a, (up - down) / (2 * eps)];
      });
      assert.ok(Math.abs(analytic - numeric) <= 0.02 * Math.abs(numeric) + 1e-4, `shape [${shape}]: ${analytic} vs ${numeric}`);
      // The regulariser alone: λ · mean (w − anchor)², gradient 2λ (w − anchor) / (elements per image).
      const [gReg, expected] = tf.tidy(() => {
        const none = { ...ctx, config: { ...config, lambdaFeat: 0 } };
        const withReg = tf.grad((l: tf.Tensor) => tf.sum(inversionLoss(none, l, anchor)))(latent);
        const noReg = tf.grad((l: tf.Tensor) => tf.sum(inversionLoss({ ...none, config: { ...none.config, lambdaReg: 0 } }, l, anchor)))(latent);
        return [tf.sub(withReg, noReg), tf.mul(tf.sub(latent, anchor), (2 * 0.5) / (size / n))];
      });
      const err = Math.max(...Array.from(gReg.dataSync() as Float32Array, (v, k) => Math.abs(v - expected.dataSync()[k])));
      assert.ok(err < 1e-5, `regulariser gradient off by ${err}`);
      tf.dispose([latent, anchor, dir, gReg, expected]);
    }
  } finally {
    disposeBatchContext(ctx);
    nearest.generator.dispose();
    nearest.discriminator.dispose();
  }
});

test('invert: the tensor count stays flat across steps, stages and calls', async () => {
  const x = targets(2, 14);
  const baseline = tf.memory().numTensors;
  const counts: number[] = [];
  await invertImages(gan, x, 2, { config: { stepsW: 6, stepsWPlus: 6 }, onProgress: (p) => p.step > 0 && counts.push(tf.memory().numTensors) });
  assert.equal(counts.length, 12);
  assert.ok(counts.every((c) => c === counts[0]), `counts ${counts.join(',')}`);
  assert.equal(tf.memory().numTensors, baseline, 'nothing left behind after the call');
  await invertImages(gan, x, 2, { config: { stepsW: 2, stepsWPlus: 2 } });
  assert.equal(tf.memory().numTensors, baseline);
});

test('invert: an encoder gives the start; one of the wrong shape is refused', async () => {
  const x = targets(2, 15);
  const encoder = new Encoder(1, { imageSize: R, wDim: 8, widths: [8, 8] });
  const wrong = new Encoder(1, { imageSize: R, wDim: 4, widths: [8, 8] });
  try {
    const r = await invertImages(gan, x, 2, { encoder, config: { stepsW: 1, stepsWPlus: 1 } });
    assert.equal(r.start, 'encoder');
    const expected = tf.tidy(() => encoder.predictW(tf.tensor4d(x, [2, R, R, 3]), gan.generator.wAvg));
    assert.deepEqual(r.wStart, expected.dataSync());
    expected.dispose();
    await assert.rejects(invertImages(gan, x, 2, { encoder: wrong }), (e: unknown) => e instanceof Gan3dError && e.code === 'MODEL_INCOMPATIBLE');
    await assert.rejects(invertImages(gan, x.subarray(1), 2), (e: unknown) => e instanceof Gan3dError && e.code === 'BAD_SHAPE');
  } finally {
    encoder.dispose();
    wrong.dispose();
  }
});

test('measureInversion: a folder of PNGs (and a data split with image/), mean PSNRs and seconds per image', async () => {
  const bundle = path.join(root, 'gan');
  await saveGanBundle(bundle, gan, { id: 'tiny-gan' });
  const split = path.join(root, 'split');
  await fs.mkdir(path.join(split, 'image'), { recursive: true });
  const x = targets(3, 16);
  for (let i = 0; i < 3; i++) {
    await fs.writeFile(path.join(split, 'image', `00${i}.png`), await encodePng8(signedToUint8(x.subarray(i * PER, (i + 1) * PER)), R, R, 3));
  }
  const m = await measureInversion({ gan: bundle, folder: split, count: 2, config: { stepsW: 10, stepsWPlus: 10, lrW: 0.1 } });
  assert.equal(m.images, 2);
  assert.equal(m.gan, 'tiny-gan');
  assert.equal(m.invert_psnr_encoder, null);
  assert.ok(m.invert_psnr_w > m.invert_psnr_start, `${m.invert_psnr_w} vs ${m.invert_psnr_start}`);
  assert.ok(m.invert_psnr_wplus >= m.invert_psnr_w - 0.1);
  assert.ok(m.seconds_per_image > 0);
  const files = await measureInversion({ gan: bundle, images: [path.join(split, 'image', '002.png')], config: { stepsW: 1, stepsWPlus: 1 } });
  assert.equal(files.images, 1);
});
