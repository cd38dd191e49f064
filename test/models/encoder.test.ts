// The GAN-inversion encoder (src/models/encoder) and its trainer (src/pipelines/train-encoder.ts) on a tiny random
// GAN: config checks, shapes and the mean-w offset, a short run with evaluation and a sample grid, exact resume, the
// image term, export through `gan3d model export` (kind detected) and the bundle round trip, and the GAN pinning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { modelExportCommand } from '../../src/cli/model.js';
import { trainEncoderCommand, type TrainEncoderOptions } from '../../src/cli/train.js';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { Encoder, encoderConfig } from '../../src/models/encoder/index.js';
import { Discriminator, Generator, type StyleGanConfig } from '../../src/models/stylegan/index.js';
import { encoderGanWarning, loadEncoderModel } from '../../src/pipelines/encoder-bundle.js';
import { loadGanModel, saveGanBundle } from '../../src/pipelines/gan-bundle.js';
import { createEncoderTrainer } from '../../src/pipelines/train-encoder.js';
import { runTraining, type LogLine } from '../../src/train/loop.js';

const TINY: Partial<StyleGanConfig> = {
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 2,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 6, 16: 4 },
};
const ENC = { widths: [8, 8] };
let root = '';
let ganDir = '';
let otherGanDir = '';

async function writeGan(dir: string, seed: number, id: string): Promise<void> {
  const rng = new Rng(seed);
  const generator = new Generator(rng, TINY);
  const discriminator = new Discriminator(rng, TINY);
  generator.estimateWAvg(new Rng(seed + 1), 256);
  // Noise on, so the 'random' sample noise matters.
  tf.tidy(() => generator.convs.forEach((c) => c.noise.strength.assign(tf.tensor1d([0.2]))));
  await saveGanBundle(dir, { generator, discriminator }, { id });
  generator.dispose();
  discriminator.dispose();
}

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-encoder-'));
  ganDir = path.join(root, 'gan');
  otherGanDir = path.join(root, 'gan-other');
  await writeGan(ganDir, 3, 'tiny-gan');
  await writeGan(otherGanDir, 4, 'other-gan');
});
after(() => fs.rm(root, { recursive: true, force: true }));

function options(out: string, extra: Partial<TrainEncoderOptions> = {}): TrainEncoderOptions {
  return {
    gan: ganDir,
    out,
    steps: '3',
    batch: '4',
    seed: '2',
    checkpointEvery: '0',
    sampleEvery: '0',
    evalEvery: '0',
    evalSamples: '8',
    model: ENC,
    quiet: true,
    write: () => undefined,
    ...extra,
  };
}

async function readLog(outDir: string): Promise<LogLine[]> {
  return (await fs.readFile(path.join(outDir, 'log.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as LogLine);
}

test('encoder config: defaults at 64 px, widths per resolution, errors', () => {
  const c = encoderConfig();
  assert.deepEqual(c.widths, [32, 64, 128, 128]);
  assert.equal(encoderConfig({ imageSize: 16 }).widths.length, 2);
  assert.equal(encoderConfig({ imageSize: 128 }).widths.length, 5);
  assert.throws(() => encoderConfig({ imageSize: 48 }), /power of two/);
  assert.throws(() => encoderConfig({ imageSize: 16, widths: [8, 8, 8] }), /widths must be 2/);
  assert.throws(() => encoderConfig({ widths: [12, 64, 128, 128] }), /channelsPerGroup/);
});

test('encoder: w = mean w + offset, shapes checked', () => {
  const e = new Encoder(1, { imageSize: 16, wDim: 8, widths: [8, 8] });
  const [w, off, wAvg] = tf.tidy(() => {
    const x = tf.randomUniform([3, 16, 16, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const avg = tf.range(0, 8, 1, 'float32') as tf.Tensor1D;
    return [e.predictW(x, avg), e.offset(x), avg];
  });
  assert.deepEqual(w.shape, [3, 8]);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.sub(w, off), wAvg))).dataSync()[0]);
  assert.ok(d < 1e-6);
  assert.throws(() => e.offset(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D), /expects images \[N, 16, 16, 3\]/);
  assert.throws(() => e.predictW(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D, tf.zeros([4]) as tf.Tensor1D), /mean w has shape \[4\]/);
  tf.dispose([w, off, wAvg]);
  e.dispose();
});

test('train encoder: finite loss, eval metrics against the mean-w floor, a sample grid, the GAN pinned in the checkpoint', async () => {
  const out = path.join(root, 'run');
  const result = await trainEncoderCommand(options(out, { steps: '30', batch: '8', evalEvery: '30', sampleEvery: '30', lr: '3e-3' }));
  assert.equal(result.status, 'completed');
  const log = await readLog(out);
  const evals = log.filter((l) => l.type === 'eval');
  assert.equal(evals.length, 1);
  const ev = evals[0];
  for (const k of ['eval_w_mse', 'eval_psnr', 'eval_w_mse_mean_w', 'eval_psnr_mean_w']) assert.ok(Number.isFinite(ev[k]), k);
  assert.ok((ev.eval_w_mse as number) < (ev.eval_w_mse_mean_w as number), `w MSE ${String(ev.eval_w_mse)} vs mean w ${String(ev.eval_w_mse_mean_w)}`);
  const png = await fs.readFile(path.join(out, 'samples', 'step-000030.png'));
  // 2 panels × 16 px + 3 gaps of 2 = 38 wide; 8 rows: 8·16 + 9·2 = 146 high.
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [38, 146]);
  const ckpt = await loadCheckpoint(path.join(out, 'checkpoints'));
  assert.equal(ckpt.kind, 'encoder');
  const trainer = (ckpt.config as { trainer: { gan: { id: string }; loss: { lambdaImg: number } } }).trainer;
  assert.equal(trainer.gan.id, 'tiny-gan');
  assert.equal(trainer.loss.lambdaImg, 0);
  assert.equal((ckpt.state as { ganSource: string }).ganSource, path.resolve(ganDir));
});

test('train encoder: interrupted and resumed equals an uninterrupted run, bit for bit (resume finds its GAN)', async () => {
  const straight = path.join(root, 'straight');
  const split = path.join(root, 'split');
  const a = await trainEncoderCommand(options(straight, { steps: '4' }));
  const stop = new AbortController();
  const gan = await loadGanModel(ganDir);
  const trainer = await createEncoderTrainer({ gan, seed: 2, model: ENC, evalSamples: 8 });
  const first = await runTraining({
    trainer,
    outDir: split,
    maxSteps: 4,
    batchSize: 4,
    seed: 2,
    checkpointEvery: 0,
    quiet: true,
    handleSignals: false,
    signal: stop.signal,
    onStep: ({ step }) => {
      if (step === 2) stop.abort();
    },
  });
  trainer.dispose();
  gan.dispose();
  assert.equal(first.step, 2);
  const b = await trainEncoderCommand(options(split, { steps: '4', resume: true, gan: undefined, seed: undefined, model: undefined, evalSamples: undefined }));
  assert.equal(b.step, 4);
  assert.equal(b.loss, a.loss);
  const ckA = await loadCheckpoint(path.join(straight, 'checkpoints'));
  const ckB = await loadCheckpoint(path.join(split, 'checkpoints'));
  for (const file of ['weights.bin', 'optimizer.bin']) {
    assert.deepEqual(await fs.readFile(path.join(ckB.path, file)), await fs.readFile(path.join(ckA.path, file)), file);
  }
  assert.deepEqual(ckB.rng, ckA.rng);
  // Resuming against another GAN is refused with a clear message.
  await assert.rejects(
    trainEncoderCommand(options(split, { steps: '5', resume: true, gan: otherGanDir, seed: undefined, model: undefined })),
    (e: unknown) => e instanceof Gan3dError && e.code === 'CHECKPOINT_INCOMPATIBLE' && /tiny-gan/.test(e.message),
  );
  await assert.rejects(trainEncoderCommand(options(straight)), (e: unknown) => e instanceof Gan3dError && e.code === 'TRAIN_RUN_EXISTS');
  await assert.rejects(trainEncoderCommand(options(path.join(root, 'x'), { gan: undefined })), /--gan/);
  await assert.rejects(trainEncoderCommand(options(path.join(root, 'x'), { lambdaImg: '-1' })), /--lambda-img/);
});

test('train encoder: the image term (λ_img > 0) trains too; the tensor count stays flat', async () => {
  const gan = await loadGanModel(ganDir);
  const trainer = await createEncoderTrainer({ gan, seed: 5, model: ENC, lambdaImg: 1, evalSamples: 4 });
  const counts: number[] = [];
  try {
    const r = await runTraining({
      trainer,
      outDir: path.join(root, 'img'),
      maxSteps: 5,
      batchSize: 4,
      evalEvery: 2,
      sampleEvery: 2,
      checkpointEvery: 2,
      quiet: true,
      handleSignals: false,
      onStep: () => void counts.push(tf.memory().numTensors),
    });
    assert.ok(Number.isFinite(r.loss));
  } finally {
    trainer.dispose();
    gan.dispose();
  }
  assert.ok(counts.every((c) => c === counts[0]), `counts ${counts.join(',')}`);
});

test('model export: an encoder run becomes a bundle (kind detected) that loads to the same predictions', async () => {
  const run = path.join(root, 'run');
  const bundle = path.join(root, 'models', 'gan-encoder');
  const lines: string[] = [];
  await modelExportCommand(run, { out: bundle, write: (t) => void lines.push(t) });
  assert.match(lines.join(''), /Wrote encoder "run-step30" \(for GAN "tiny-gan"\)/);
  const doc = JSON.parse(await fs.readFile(path.join(bundle, 'model.json'), 'utf8')) as { kind: string; gan: { id: string }; config: { widths: number[] } };
  assert.equal(doc.kind, 'encoder');
  assert.equal(doc.gan.id, 'tiny-gan');
  assert.deepEqual(doc.config.widths, [8, 8]);
  await assert.rejects(modelExportCommand(run, { out: bundle, write: () => undefined }), (e: unknown) => e instanceof Gan3dError && e.code === 'MODEL_EXISTS');
  const fromBundle = await loadEncoderModel(bundle);
  const fromRun = await loadEncoderModel(run);
  try {
    assert.equal(fromBundle.id, 'run-step30');
    assert.equal(fromBundle.meta.source, 'bundle');
    assert.equal(fromBundle.gan.id, 'tiny-gan');
    const x = tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 9) as tf.Tensor4D;
    const [p, q] = [fromBundle.encoder.offset(x), fromRun.encoder.offset(x)];
    assert.deepEqual(p.dataSync(), q.dataSync());
    tf.dispose([x, p, q]);
    assert.equal(encoderGanWarning(fromBundle, 'tiny-gan'), null);
    assert.match(encoderGanWarning(fromBundle, 'other-gan') ?? '', /^warning: encoder "run-step30" was trained for GAN "tiny-gan", not "other-gan"/);
  } finally {
    fromBundle.dispose();
    fromRun.dispose();
  }
  // A corrupt bundle says so.
  await fs.writeFile(path.join(bundle, 'weights.bin'), new Uint8Array(8));
  await assert.rejects(loadEncoderModel(bundle), (e: unknown) => e instanceof Gan3dError && /truncated|corrupt/.test(e.message));
  await assert.rejects(loadEncoderModel(path.join(root, 'nope')), (e: unknown) => e instanceof Gan3dError && e.code === 'MODEL_NOT_FOUND');
  await assert.rejects(loadEncoderModel(ganDir), (e: unknown) => e instanceof Gan3dError && e.code === 'MODEL_INCOMPATIBLE');
});
