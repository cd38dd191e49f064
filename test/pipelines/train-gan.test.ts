import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { generateSynface } from '../../src/data/synface/dataset.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { trainGanCommand, type TrainGanOptions } from '../../src/cli/train.js';
import type { StyleGanConfig } from '../../src/models/stylegan/config.js';
import { exportGanBundle } from '../../src/pipelines/gan-bundle.js';
import { createGanTrainer } from '../../src/pipelines/train-gan.js';
import { Discriminator } from '../../src/models/stylegan/index.js';
import { applyAugment } from '../../src/models/stylegan/augment.js';
import { Rng } from '../../src/engine/random.js';
import { runTraining, type LogLine } from '../../src/train/loop.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Narrow networks at 16×16: the test checks the plumbing, not the model. R1 every 2nd step, so runs of a few steps
// cross R1 steps; style mixing always on; a short EMA half-life so the EMA moves visibly.
const TINY: Partial<StyleGanConfig> = {
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 2,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 6, 16: 4 },
  r1Every: 2,
  styleMixingProb: 1,
  emaHalfLifeImages: 20,
};
let root = '';
let data = '';

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-train-gan-'));
  const synface = path.join(root, 'synface');
  await generateSynface({ out: synface, n: 12, size: 64, seed: 5, batch: 6 });
  data = path.join(synface, 'train');
});
after(() => fs.rm(root, { recursive: true, force: true }));

async function readLog(outDir: string): Promise<LogLine[]> {
  return (await fs.readFile(path.join(outDir, 'log.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as LogLine);
}

function options(out: string, extra: Partial<TrainGanOptions> = {}): TrainGanOptions {
  // One thread: this file tests the single-threaded path; train-gan-threads.test.ts the data-parallel one.
  return { data, out, steps: '3', batch: '4', seed: '3', checkpointEvery: '0', sampleEvery: '3', threads: '1', model: TINY, quiet: true, write: () => {}, ...extra };
}

function cli(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', 'gan', ...args], { cwd: repo, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

test('train gan: finite D and G losses, a sample grid, a checkpoint with both Adam states and the EMA buffers', async () => {
  const out = path.join(root, 'run');
  const result = await trainGanCommand(options(out));
  assert.equal(result.status, 'completed');
  assert.equal(result.step, 3);
  const train = (await readLog(out)).filter((l) => l.type === 'train');
  assert.ok(train.length >= 1);
  for (const l of train) {
    for (const key of ['loss', 'loss_D', 'loss_G']) assert.ok(Number.isFinite(l[key]), `${key} ${String(l[key])}`);
    assert.ok((l.loss_D as number) > 0 && (l.loss_G as number) > 0);
  }
  const png = await fs.readFile(path.join(out, 'samples', 'step-000003.png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  // 8 × 8 cells of 16 px with 2 px gaps: 8·16 + 9·2 = 146 px square.
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [146, 146]);

  const ckpt = await loadCheckpoint(path.join(out, 'checkpoints'));
  assert.equal(ckpt.kind, 'stylegan');
  assert.equal(ckpt.step, 3);
  const names = ckpt.variables.map((v) => v.name);
  assert.ok(names[0].startsWith('D/'));
  for (const n of ['G/const', 'G_ema/const', 'G/w_avg', 'G_ema/w_avg']) assert.ok(names.includes(n), n);
  const byName = new Map(ckpt.variables.map((v) => [v.name, v.data]));
  assert.notDeepEqual(byName.get('G/w_avg'), new Float32Array(8), 'the tracked mean w moved');
  assert.deepEqual(byName.get('G_ema/w_avg'), byName.get('G/w_avg'));
  assert.notDeepEqual(byName.get('G_ema/rgb16/conv/w'), byName.get('G/rgb16/conv/w'), 'the EMA lags G');
  const opt = ckpt.optimizer!;
  assert.equal(opt.step, 3);
  assert.ok(Math.abs(opt.config['D.learningRate'] - 0.002 * (2 / 3)) < 1e-12, 'lazy-R1 correction of D\'s learning rate');
  assert.equal(opt.config['G.beta1'], 0);
  assert.equal(opt.config['G.beta2'], 0.99);
  const cfg = (ckpt.config as { trainer: { model: StyleGanConfig; data: { images: number } } }).trainer;
  assert.equal(cfg.model.resolution, 16);
  assert.equal(cfg.model.batchSize, 4);
  assert.equal(cfg.data.images, 10); // the train split of 12
});

test('train gan --init: a fine-tune starts from the run\'s G, D, EMA and means, with its own lr and EMA; resumes', async () => {
  const parent = path.join(root, 'parent');
  await trainGanCommand(options(parent, { steps: '2', sampleEvery: '0' }));
  const from = await loadCheckpoint(path.join(parent, 'checkpoints'));
  const fine = path.join(root, 'fine');
  // A learning rate of 1e-9 moves no weight by more than ~1e-9 per step: after one step G and D are the parent's.
  await trainGanCommand(options(fine, { init: parent, lr: '1e-9', emaHalfLife: '40', steps: '1', sampleEvery: '0', model: undefined }));
  const ckpt = await loadCheckpoint(path.join(fine, 'checkpoints'));
  const parentBy = new Map(from.variables.map((v) => [v.name, v.data]));
  let worst = 0;
  for (const v of ckpt.variables) {
    if (!v.name.startsWith('G/') && !v.name.startsWith('D/')) continue;
    if (v.name.endsWith('w_avg')) continue; // the tracked mean moves with the batch's w, not with the lr
    const p = parentBy.get(v.name)!;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - v.data[i]));
  }
  assert.ok(worst < 1e-6, `largest change ${worst}`);
  const t = (ckpt.config as { trainer: { model: StyleGanConfig; init: { step: number; imagesSeen: number; checkpoint: string } } }).trainer;
  assert.equal(t.model.lrG, 1e-9);
  assert.equal(t.model.emaHalfLifeImages, 40);
  assert.equal(t.model.resolution, 16, 'the parent\'s architecture');
  assert.deepEqual([t.init.step, t.init.imagesSeen], [2, 8]);
  // A fresh run of the same seed is far from the parent: the closeness above is the init's doing.
  const fresh = await createGanTrainer({ data, seed: 3, batchSize: 4, model: TINY });
  const g = fresh.generator.namedVariables().get('rgb16/conv/w')!.dataSync();
  const pg = parentBy.get('G/rgb16/conv/w')!;
  assert.ok(g.some((x, i) => Math.abs(x - pg[i]) > 1e-4));
  fresh.dispose();
  // Resume keeps the init record and the lr; another lr is refused.
  const more = await trainGanCommand(options(fine, { resume: true, steps: '2', sampleEvery: '0', seed: undefined, model: undefined }));
  assert.equal(more.step, 2);
  await assert.rejects(trainGanCommand(options(fine, { resume: true, steps: '3', lr: '0.01', seed: undefined, model: undefined })), /trained with lrG 1e-9/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'fine2'), { init: path.join(root, 'nothing'), model: undefined })), /no GAN training checkpoint/);
  await assert.rejects(trainGanCommand(options(fine, { init: parent, resume: true, model: undefined })), /give one of them/);
});

test('train gan --init --widths: a wider fine-tune starts as the same function (EMA samples match), records the start\'s widths; narrower is refused', async () => {
  const parent = path.join(root, 'parent-narrow');
  await trainGanCommand(options(parent, { steps: '2', sampleEvery: '0' }));
  const wide = path.join(root, 'wide');
  const wider = { generatorChannels: { 4: 8, 8: 9, 16: 6 }, discriminatorChannels: { 4: 8, 8: 7, 16: 5 } };
  // A learning rate of 1e-9 and a very long EMA half-life keep the EMA generator where the widening put it.
  await trainGanCommand(options(wide, { init: parent, lr: '1e-9', emaHalfLife: '1000000000', steps: '1', sampleEvery: '0', model: wider }));
  const ckpt = await loadCheckpoint(path.join(wide, 'checkpoints'));
  const t = (ckpt.config as { trainer: { model: StyleGanConfig; init: { widenedFrom?: { generatorChannels: Record<number, number> } } } }).trainer;
  const at = (table: Record<number, number> | undefined) => [4, 8, 16].map((r) => table?.[r]);
  assert.deepEqual(at(t.model.generatorChannels), [8, 9, 6]);
  assert.deepEqual(at(t.init.widenedFrom?.generatorChannels), [8, 6, 4]);
  // Both EMA generators, loaded from their checkpoints, draw the same images from the same latents.
  const { loadGanModel } = await import('../../src/pipelines/gan-bundle.js');
  const a = await loadGanModel(parent);
  const b = await loadGanModel(wide);
  assert.equal(b.generator.namedVariables().get('conv16/conv/w')!.shape[2], 6);
  const z = tf.tensor2d(new Rng(9).normalArray(4 * 8), [4, 8]);
  const noise = a.generator.noiseShapes(4).map((s) => tf.randomNormal([s[0], s[1], s[2], 1], 0, 1, 'float32', 5) as tf.Tensor4D);
  const ia = a.generator.generate(z, { noise });
  const ib = b.generator.generate(z, { noise });
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(ia, ib))).dataSync()[0]);
  assert.ok(diff < 1e-3, `EMA images differ by ${diff}`);
  tf.dispose([z, ...noise, ia, ib]);
  a.dispose();
  b.dispose();
  const narrower = { generatorChannels: { 4: 8, 8: 4, 16: 4 } };
  await assert.rejects(trainGanCommand(options(path.join(root, 'narrower'), { init: parent, steps: '1', model: narrower })), /would shrink/);
});

test('train gan --init <bundle>: G and G_ema start as the bundle\'s EMA generator, D as its D; the record counts the bundle\'s images', async () => {
  const parent = path.join(root, 'parent-b');
  await trainGanCommand(options(parent, { steps: '2', sampleEvery: '0' }));
  const bundle = path.join(root, 'bundle-b');
  await exportGanBundle(parent, bundle, {});
  const from = new Map((await loadCheckpoint(path.join(parent, 'checkpoints'))).variables.map((v) => [v.name, v.data]));
  const fine = path.join(root, 'fine-b');
  await trainGanCommand(options(fine, { init: bundle, lr: '1e-9', steps: '1', sampleEvery: '0', model: undefined }));
  const ckpt = await loadCheckpoint(path.join(fine, 'checkpoints'));
  const by = new Map(ckpt.variables.map((v) => [v.name, v.data]));
  const worstDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  let checked = 0;
  for (const [name, data] of by) {
    if (name.endsWith('w_avg')) continue; // the tracked mean moves with the batch's w, not with the lr
    const source = name.startsWith('G/') ? `G_ema/${name.slice(2)}` : name.startsWith('D/') || name.startsWith('G_ema/') ? name : null;
    if (!source) continue; // optimizer moments
    assert.ok(worstDiff(data, from.get(source)!) < 1e-6, `${name} differs from the bundle's ${source}`);
    checked++;
  }
  assert.ok(checked > 20, `compared ${checked} variables`);
  // The parent's raw G differs from its EMA generator, so the match above is with the EMA generator.
  assert.ok(worstDiff(from.get('G/rgb16/conv/w')!, from.get('G_ema/rgb16/conv/w')!) > 1e-6);
  const t = (ckpt.config as { trainer: { init: { step: number; imagesSeen: number; checkpoint: string } } }).trainer;
  assert.deepEqual([t.init.step, t.init.imagesSeen, t.init.checkpoint], [2, 8, bundle]);
});

test('train gan --low-res-d: D\'s loss is both discriminators\' logistic losses (the second on 2×2-mean downsampled images), R1 on both', async () => {
  const model = { ...TINY, lowResDiscriminator: 8 };
  const trainer = await createGanTrainer({ data, seed: 3, batchSize: 4, model });
  try {
    const rng = new Rng(11);
    for (const step of [0, 1]) {
      // r1Every 2: the first batch carries R1, the second not.
      const batch = trainer.nextBatch(rng, 4);
      const inputs = Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
      const got = tf.tidy(() => trainer.phases![0].replica.loss(inputs).dataSync()[0]);
      const lowD = new Discriminator(new Rng(0), { ...trainer.config.model, resolution: 8, lowResDiscriminator: 0 });
      // The trainer's second D, by its variables' order (the D phase's variables: D's, then the low D's).
      const dCount = trainer.discriminator.variables().length;
      const lowVars = trainer.phases![0].replica.variables.slice(dCount);
      lowD.variables().forEach((v, i) => v.assign(lowVars[i]));
      const want = tf.tidy(() => {
        const g = trainer.generator;
        const w1 = g.mapping(inputs.dZ as tf.Tensor2D);
        const w2 = g.mapping(inputs.dZ2 as tf.Tensor2D);
        const ws = tf.add(tf.expandDims(w1, 1), tf.mul(inputs.dMix, tf.expandDims(tf.sub(w2, w1), 1))) as tf.Tensor3D;
        const fake = g.synthesize(ws, { noise: Array.from({ length: g.numNoise }, (_, i) => inputs[`dNoise${i}`] as tf.Tensor4D) });
        const real = inputs.images as tf.Tensor4D;
        const down = (x: tf.Tensor4D) => tf.avgPool(x, 2, 2, 'valid') as tf.Tensor4D;
        const logistic = (d: Discriminator, f: tf.Tensor4D, r: tf.Tensor4D, gamma: number) => {
          let l = tf.add(tf.mean(tf.softplus(d.logits(f))), tf.mean(tf.softplus(tf.neg(d.logits(r)))));
          if (step === 0) {
            const gx = tf.grad((x: tf.Tensor) => tf.sum(d.logits(x as tf.Tensor4D)))(r);
            l = tf.add(l, tf.mul((gamma / 2) * 2, tf.mean(tf.sum(tf.square(gx), [1, 2, 3]))));
          }
          return l;
        };
        const gamma = trainer.config.model.r1Gamma;
        return tf.add(logistic(trainer.discriminator, fake, real, gamma), logistic(lowD, down(fake), down(real), gamma / 4)).dataSync()[0];
      });
      lowD.dispose();
      tf.dispose(Object.values(inputs));
      assert.ok(Math.abs(got - want) < 1e-5 * Math.abs(want), `step ${step}: ${got} vs ${want}`);
    }
    assert.match(trainer.config.losses.d, /second D on images box-downsampled to 8/);
  } finally {
    trainer.dispose();
  }
});

test('train gan --augment: D sees augmented fakes and reals, R1 goes through the reals\' augmentation, G\'s fakes are augmented; resume keeps p', async () => {
  const model = { ...TINY, augmentProbability: 1 };
  const trainer = await createGanTrainer({ data, seed: 3, batchSize: 4, model });
  try {
    const rng = new Rng(11);
    for (const step of [0, 1]) {
      // r1Every 2: the first batch carries R1, the second not.
      const batch = trainer.nextBatch(rng, 4);
      const inputs = Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
      const [gotD, gotG] = tf.tidy(() => trainer.phases!.map((p) => p.replica.loss(inputs).dataSync()[0]));
      const [wantD, wantG] = tf.tidy(() => {
        const g = trainer.generator;
        const d = trainer.discriminator;
        const fakes = (prefix: string) => {
          const w1 = g.mapping(inputs[`${prefix}Z`] as tf.Tensor2D);
          const w2 = g.mapping(inputs[`${prefix}Z2`] as tf.Tensor2D);
          const ws = tf.add(tf.expandDims(w1, 1), tf.mul(inputs[`${prefix}Mix`], tf.expandDims(tf.sub(w2, w1), 1))) as tf.Tensor3D;
          return g.synthesize(ws, { noise: Array.from({ length: g.numNoise }, (_, i) => inputs[`${prefix}Noise${i}`] as tf.Tensor4D) });
        };
        const real = inputs.images as tf.Tensor4D;
        const augReal = (x: tf.Tensor) => applyAugment(x as tf.Tensor4D, inputs, 'r');
        let lossD = tf.add(tf.mean(tf.softplus(d.logits(applyAugment(fakes('d'), inputs, 'd')))), tf.mean(tf.softplus(tf.neg(d.logits(augReal(real))))));
        if (step === 0) {
          const gx = tf.grad((x: tf.Tensor) => tf.sum(d.logits(augReal(x))))(real);
          lossD = tf.add(lossD, tf.mul((trainer.config.model.r1Gamma / 2) * 2, tf.mean(tf.sum(tf.square(gx), [1, 2, 3]))));
        }
        const lossG = tf.mean(tf.softplus(tf.neg(d.logits(applyAugment(fakes('g'), inputs, 'g')))));
        // Without augmentation the losses differ (the transforms matter).
        const plainD = tf.add(tf.mean(tf.softplus(d.logits(fakes('d')))), tf.mean(tf.softplus(tf.neg(d.logits(real)))));
        assert.ok(Math.abs(plainD.dataSync()[0] - lossD.dataSync()[0]) > 1e-4);
        return [lossD.dataSync()[0], lossG.dataSync()[0]];
      });
      tf.dispose(Object.values(inputs));
      assert.ok(Math.abs(gotD - wantD) < 1e-5 * Math.abs(wantD), `step ${step} D: ${gotD} vs ${wantD}`);
      assert.ok(Math.abs(gotG - wantG) < 1e-5 * Math.abs(wantG), `step ${step} G: ${gotG} vs ${wantG}`);
    }
    assert.match(trainer.config.losses.augment ?? '', /DiffAugment .* p = 1/);
  } finally {
    trainer.dispose();
  }
  // Without --augment the batch carries no transforms (the Rng stream of older runs is unchanged), and the config has
  // no augmentProbability key, so that checkpoints written before the option existed still resume.
  const plain = await createGanTrainer({ data, seed: 3, batchSize: 4, model: TINY });
  try {
    assert.ok(!Object.keys(plain.nextBatch(new Rng(11), 4)).some((k) => k.includes('Aug')));
    assert.ok(!('augmentProbability' in plain.config.model));
  } finally {
    plain.dispose();
  }
  const out = path.join(root, 'augment');
  assert.equal((await trainGanCommand(options(out, { augment: '0.5', steps: '2', sampleEvery: '0', model: undefined }))).status, 'completed');
  const ckpt = await loadCheckpoint(path.join(out, 'checkpoints'));
  assert.equal((ckpt.config as { trainer: { model: StyleGanConfig } }).trainer.model.augmentProbability, 0.5);
  await assert.rejects(trainGanCommand(options(out, { resume: true, steps: '3', augment: '0.2', seed: undefined, model: undefined })), /trained with augmentProbability 0.5/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'augment-bad'), { augment: '1.5' })), /--augment must be a probability in \[0, 1\], got "1.5"/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'augment-low'), { augment: '0.5', lowResD: '8' })), /augmentProbability and lowResDiscriminator cannot be used together/);
});

test('train gan --init --low-res-d: a fine-tune adds a fresh second D to a run without one; resume keeps it; export leaves it out', async () => {
  const parent = path.join(root, 'parent-low');
  await trainGanCommand(options(parent, { steps: '2', sampleEvery: '0' }));
  const fine = path.join(root, 'fine-low');
  await trainGanCommand(options(fine, { init: parent, lowResD: '8', lr: '1e-9', steps: '1', sampleEvery: '0', model: undefined }));
  const ckpt = await loadCheckpoint(path.join(fine, 'checkpoints'));
  const from = new Map((await loadCheckpoint(path.join(parent, 'checkpoints'))).variables.map((v) => [v.name, v.data]));
  const low = ckpt.variables.filter((v) => v.name.startsWith('Dlow/'));
  assert.ok(low.length > 5, `${low.length} low-resolution D variables`);
  for (const v of ckpt.variables.filter((x) => x.name.startsWith('D/'))) {
    assert.ok(v.data.every((x, i) => Math.abs(x - from.get(v.name)![i]) < 1e-6), `${v.name} is the parent's`);
  }
  // The second D starts from its initialisation: the from-RGB weights of a fresh one, not zeros.
  const fresh = await createGanTrainer({ data, seed: 3, batchSize: 4, model: { ...TINY, lowResDiscriminator: 8 } });
  const rgb = fresh.phases![0].replica.variables[fresh.discriminator.variables().length].dataSync();
  const saved = low[0].data;
  assert.ok(saved.some((x) => x !== 0) && saved.every((x, i) => Math.abs(x - rgb[i]) < 1e-6), 'Dlow starts as a fresh init');
  fresh.dispose();
  assert.equal((ckpt.config as { trainer: { model: StyleGanConfig } }).trainer.model.lowResDiscriminator, 8);
  const more = await trainGanCommand(options(fine, { resume: true, steps: '2', sampleEvery: '0', seed: undefined, model: undefined }));
  assert.equal(more.step, 2);
  await assert.rejects(trainGanCommand(options(fine, { resume: true, steps: '3', lowResD: '0', seed: undefined, model: undefined })), /trained with lowResDiscriminator 8/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'low-bad'), { lowResD: '12' })), /lowResDiscriminator must be 0 \(none\) or a power of two from 8 to 8, got 12/);
  const bundle = path.join(root, 'bundle-low');
  await exportGanBundle(fine, bundle, {});
  const json = JSON.parse(await fs.readFile(path.join(bundle, 'model.json'), 'utf8')) as { variables: { name: string }[] };
  assert.ok(json.variables.length > 0 && json.variables.every((v) => !v.name.startsWith('Dlow/')));
});

test('train gan: interrupted and resumed equals an uninterrupted run of the same length, bit for bit', async () => {
  const straight = path.join(root, 'straight');
  const split = path.join(root, 'split');
  const a = await trainGanCommand(options(straight, { steps: '5', sampleEvery: '0' }));
  assert.equal(a.step, 5);
  // Stop after step 2 like Ctrl-C (the loop saves a checkpoint), then resume in a fresh trainer as a new process would.
  const stop = new AbortController();
  const trainer = await createGanTrainer({ data, seed: 3, batchSize: 4, model: TINY });
  const first = await runTraining({
    trainer,
    outDir: split,
    maxSteps: 5,
    batchSize: 4,
    seed: 3,
    checkpointEvery: 0,
    sampleEvery: 0,
    workers: 0,
    quiet: true,
    handleSignals: false,
    signal: stop.signal,
    onStep: ({ step }) => {
      if (step === 2) stop.abort();
    },
  });
  trainer.dispose();
  assert.equal(first.status, 'interrupted');
  assert.equal(first.step, 2);
  const b = await trainGanCommand(options(split, { steps: '5', sampleEvery: '0', resume: true, seed: undefined, model: undefined }));
  assert.equal(b.step, 5);
  assert.equal(b.loss, a.loss);

  const ckA = await loadCheckpoint(path.join(straight, 'checkpoints'));
  const ckB = await loadCheckpoint(path.join(split, 'checkpoints'));
  for (const file of ['weights.bin', 'optimizer.bin']) {
    assert.deepEqual(await fs.readFile(path.join(ckB.path, file)), await fs.readFile(path.join(ckA.path, file)), file);
  }
  assert.deepEqual(ckB.rng, ckA.rng);
  assert.deepEqual(ckB.state, ckA.state);
  // The log's window means cover different steps (the resumed session logs from step 3); the last step's loss agrees.
  const lastOf = async (out: string) => (await readLog(out)).filter((l) => l.type === 'train').map((l) => [l.step, l.lastLoss]).at(-1);
  assert.deepEqual(await lastOf(split), await lastOf(straight));
  // The weights did move between the interruption and the end: the comparison has teeth.
  const ck2 = await loadCheckpoint(path.join(split, 'checkpoints', 'ckpt-00000002'));
  assert.notDeepEqual(ck2.variables[0].data, ckA.variables[0].data);
});

test('train gan: the tensor count stays flat across steps, samples and checkpoints', async () => {
  const trainer = await createGanTrainer({ data, seed: 4, batchSize: 4, model: TINY });
  const counts: number[] = [];
  await runTraining({
    trainer,
    outDir: path.join(root, 'memory'),
    maxSteps: 6,
    batchSize: 4,
    checkpointEvery: 2,
    sampleEvery: 2,
    workers: 0,
    quiet: true,
    handleSignals: false,
    onStep: () => void counts.push(tf.memory().numTensors),
  });
  trainer.dispose();
  assert.ok(counts.every((c) => c === counts[0]), `tensor counts ${counts.join(',')}`);
});

test('train gan --keep-checkpoints: that many of the newest checkpoints stay (the default keeps 2)', async () => {
  const listed = async (out: string) => (await fs.readdir(path.join(out, 'checkpoints'))).filter((f) => f.startsWith('ckpt-')).sort();
  const kept = path.join(root, 'keep3');
  await trainGanCommand(options(kept, { steps: '4', checkpointEvery: '1', sampleEvery: '0', keepCheckpoints: '3' }));
  assert.deepEqual(await listed(kept), ['ckpt-00000002', 'ckpt-00000003', 'ckpt-00000004']);
  const plain = path.join(root, 'keep-default');
  await trainGanCommand(options(plain, { steps: '4', checkpointEvery: '1', sampleEvery: '0' }));
  assert.deepEqual(await listed(plain), ['ckpt-00000003', 'ckpt-00000004']);
});

test('train gan: clear errors for bad input', async () => {
  const out = path.join(root, 'bad');
  await assert.rejects(trainGanCommand(options(out, { data: path.join(root, 'nope') })), /no such folder/);
  await assert.rejects(trainGanCommand(options(out, { data: root })), /expected PNG images in/);
  await assert.rejects(trainGanCommand(options(out, { batch: '0' })), /--batch must be a whole number ≥ 1/);
  await assert.rejects(trainGanCommand(options(out, { sampleEvery: '-1' })), /--sample-every must be a whole number ≥ 0/);
  await assert.rejects(trainGanCommand(options(out, { keepCheckpoints: '0' })), /--keep-checkpoints must be a whole number ≥ 1/);
  await assert.rejects(trainGanCommand(options(out, { steps: undefined })), /--steps N or --epochs E/);
  await assert.rejects(trainGanCommand(options(out, { resume: true, force: true })), /give one of them/);
  await assert.rejects(trainGanCommand(options(out, { resume: true })), /Nothing to resume/);
  await assert.rejects(trainGanCommand(options(out, { model: { ...TINY, resolution: 12 } })), /power of two/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'run'), { resume: true, batch: '2' })), /trained with --batch 4/);
  await assert.rejects(trainGanCommand(options(out, { widths: 'huge' })), /--widths must be one of default, small/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'run'), { resume: true, widths: 'small' })), /trained with other widths/);
  const refused = cli('--data', data, '--out', path.join(root, 'run'), '--steps', '2');
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /already holds a training run.*--resume.*--force/);
});
