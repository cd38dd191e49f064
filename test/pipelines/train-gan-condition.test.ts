import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { generateSynface } from '../../src/data/synface/dataset.js';
import { listImageIds, loadImageBatch } from '../../src/data/image-folder.js';
import { readSplitLabels } from '../../src/data/split-labels.js';
import { Rng } from '../../src/engine/random.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { trainGanCommand, type TrainGanOptions } from '../../src/cli/train.js';
import { labelsNamed, mirrorLabels } from '../../src/models/features/labels.js';
import type { StyleGanConfig } from '../../src/models/stylegan/config.js';
import { exportGanBundle, loadGanModel, sampleGan } from '../../src/pipelines/gan-bundle.js';
import { createGanTrainer } from '../../src/pipelines/train-gan.js';
import { sampleCommand } from '../../src/cli/sample.js';

// Narrow networks at 16×16 (as train-gan.test.ts): the plumbing of conditioning, not the model.
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
const LABELS = ['view.ry', 'view.rz', 'expression.smile'];
let root = '';
let data = '';

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-train-gan-cond-'));
  await generateSynface({ out: path.join(root, 'synface'), n: 12, size: 64, seed: 5, batch: 6 });
  data = path.join(root, 'synface', 'train');
});
after(() => fs.rm(root, { recursive: true, force: true }));

function options(out: string, extra: Partial<TrainGanOptions> = {}): TrainGanOptions {
  return { data, out, steps: '2', batch: '4', seed: '3', checkpointEvery: '0', sampleEvery: '0', threads: '1', model: TINY, quiet: true, write: () => {}, ...extra };
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => a.length === b.length && Array.from(a).every((x, i) => Math.abs(x - b[i]) <= tol);

test('conditional trainer: each real image carries its own labels (mirrored with it), fakes draw theirs from the bank; the losses use them', async () => {
  const specs = labelsNamed(LABELS);
  const ids = listImageIds(path.join(data, 'image'));
  const truth = await readSplitLabels(data, ids, specs);
  const pixels = (await loadImageBatch(path.join(data, 'image'), ids, 16)).data;
  const per = 16 * 16 * 3;
  const mirrored = (k: number) => {
    const m = new Float32Array(per);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) for (let ch = 0; ch < 3; ch++) m[(y * 16 + x) * 3 + ch] = pixels[k * per + (y * 16 + 15 - x) * 3 + ch];
    return m;
  };
  const labelsOf = (k: number, flip: boolean) => {
    const row = truth.slice(k * 3, k * 3 + 3);
    if (flip) mirrorLabels(specs, row);
    return row;
  };
  const trainer = await createGanTrainer({ data, seed: 3, batchSize: 4, model: { ...TINY, conditionLabels: LABELS, labelLossWeight: 0.5 } });
  try {
    assert.equal(trainer.config.model.labelBankSize, ids.length);
    assert.match(trainer.config.losses.condition ?? '', /3 labels view.ry, view.rz, expression.smile.*plus 0.5 · mean \(labelHead/);
    // The bank: every training image's labels once, as they are or mirrored.
    const bank = trainer.generator.labelBank!.dataSync() as Float32Array;
    let flippedRows = 0;
    ids.forEach((_, k) => {
      const row = bank.subarray(k * 3, k * 3 + 3);
      assert.ok(close(row, labelsOf(k, false)) || close(row, labelsOf(k, true)), `bank row ${k}`);
      if (!close(row, labelsOf(k, false))) flippedRows++;
    });
    assert.ok(flippedRows > 0 && flippedRows < ids.length, `${flippedRows} mirrored rows`);
    assert.ok(close(trainer.ema.labelBank!.dataSync(), bank));
    const rng = new Rng(11);
    let flips = 0;
    for (let step = 0; step < 4; step++) {
      const batch = trainer.nextBatch(rng, 4);
      for (let b = 0; b < 4; b++) {
        const image = batch.images.data.subarray(b * per, (b + 1) * per);
        const k = ids.findIndex((_, j) => close(image, pixels.subarray(j * per, (j + 1) * per), 1e-6) || close(image, mirrored(j), 1e-6));
        assert.ok(k >= 0, 'a training image');
        const flip = !close(image, pixels.subarray(k * per, (k + 1) * per), 1e-6);
        flips += flip ? 1 : 0;
        assert.ok(close(batch.labels.data.subarray(b * 3, b * 3 + 3), labelsOf(k, flip)), `step ${step} image ${b}: its labels${flip ? ', mirrored' : ''}`);
        for (const key of ['dC', 'gC']) {
          const row = batch[key].data.subarray(b * 3, b * 3 + 3);
          assert.ok(ids.some((_, j) => close(row, bank.subarray(j * 3, j * 3 + 3))), `${key} row from the bank`);
        }
      }
    }
    assert.ok(flips > 0 && flips < 16, `${flips} of 16 images mirrored`);

    // With the label layers awake, the trainer's D and G losses are the logistic losses of D(x, c) on the batch's labels.
    const wake = new Rng(7);
    for (const m of [trainer.generator.labelEmbed!, trainer.discriminator.labelProj!]) {
      tf.tidy(() => m.output.weight.assign(tf.tensor(wake.normalArray(m.output.weight.size), m.output.weight.shape)));
    }
    const batch = trainer.nextBatch(new Rng(12), 4);
    const inputs = Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
    try {
      const [gotD, gotG] = tf.tidy(() => trainer.phases!.map((p) => p.replica.loss(inputs).dataSync()[0]));
      const reference = (labels: Record<string, tf.Tensor>) =>
        tf.tidy(() => {
          const g = trainer.generator;
          const d = trainer.discriminator;
          const fakes = (prefix: string) => {
            const c = labels[`${prefix}C`] as tf.Tensor2D;
            const w1 = g.mapping(inputs[`${prefix}Z`] as tf.Tensor2D, c);
            const w2 = g.mapping(inputs[`${prefix}Z2`] as tf.Tensor2D, c);
            const ws = tf.add(tf.expandDims(w1, 1), tf.mul(inputs[`${prefix}Mix`], tf.expandDims(tf.sub(w2, w1), 1))) as tf.Tensor3D;
            return g.synthesize(ws, { noise: Array.from({ length: g.numNoise }, (_, i) => inputs[`${prefix}Noise${i}`] as tf.Tensor4D) });
          };
          const real = inputs.images as tf.Tensor4D;
          const cReal = labels.labels as tf.Tensor2D;
          const r1 = (inputs.r1.dataSync() as Float32Array)[0];
          // The auxiliary regression: 0.5 · mean (head(φ) − c)², on the reals for D, on G's fakes for G.
          const aux = (x: tf.Tensor4D, c: tf.Tensor2D) => tf.mul(tf.mean(tf.square(tf.sub(d.forward(x, { labels: c }).labelPred!, c))), 0.5);
          let lossD = tf.add(tf.mean(tf.softplus(d.logits(fakes('d'), labels.dC as tf.Tensor2D))), tf.mean(tf.softplus(tf.neg(d.logits(real, cReal)))));
          lossD = tf.add(lossD, aux(real, cReal));
          if (r1 > 0) {
            const gx = tf.grad((x: tf.Tensor) => tf.sum(d.logits(x as tf.Tensor4D, cReal)))(real);
            lossD = tf.add(lossD, tf.mul(r1, tf.mean(tf.sum(tf.square(gx), [1, 2, 3]))));
          }
          const lossG = tf.add(tf.mean(tf.softplus(tf.neg(d.logits(fakes('g'), labels.gC as tf.Tensor2D)))), aux(fakes('g'), labels.gC as tf.Tensor2D));
          return [lossD.dataSync()[0], lossG.dataSync()[0]];
        });
      const [wantD, wantG] = reference(inputs);
      assert.ok(Math.abs(gotD - wantD) < 1e-5 * Math.abs(wantD), `D: ${gotD} vs ${wantD}`);
      assert.ok(Math.abs(gotG - wantG) < 1e-5 * Math.abs(wantG), `G: ${gotG} vs ${wantG}`);
      // Other labels give other losses: the labels reach both networks.
      const shuffled = Object.fromEntries(['labels', 'dC', 'gC'].map((k) => [k, tf.reverse(inputs[k], 0)]));
      const [otherD, otherG] = reference(shuffled);
      tf.dispose(Object.values(shuffled));
      assert.ok(Math.abs(otherD - wantD) > 1e-4 && Math.abs(otherG - wantG) > 1e-4, `${otherD} ${wantD} ${otherG} ${wantG}`);
    } finally {
      tf.dispose(Object.values(inputs));
    }
  } finally {
    trainer.dispose();
  }
  // Unconditional: no label entries in the batch, no conditioning keys in the config (older checkpoints resume).
  const plain = await createGanTrainer({ data, seed: 3, batchSize: 4, model: TINY });
  try {
    const batch = plain.nextBatch(new Rng(11), 4);
    assert.ok(!('labels' in batch) && !('dC' in batch) && !('gC' in batch));
    assert.ok(!('conditionLabels' in plain.config.model) && !('labelBankSize' in plain.config.model));
  } finally {
    plain.dispose();
  }
});

test('train gan --init --condition: an unconditional GAN grown into a conditional one samples the same images at first; resume, export and fixed labels', async () => {
  const parent = path.join(root, 'parent');
  await trainGanCommand(options(parent));
  const fine = path.join(root, 'fine');
  // A learning rate of 1e-9 and an EMA that does not move: the fine-tune's first step leaves the networks as they were.
  await trainGanCommand(options(fine, { init: parent, condition: 'view.rz,expression.smile,view.ry', lr: '1e-9', emaHalfLife: '1000000000', steps: '1', model: undefined }));
  const ckpt = await loadCheckpoint(path.join(fine, 'checkpoints'));
  const model = (ckpt.config as { trainer: { model: StyleGanConfig } }).trainer.model;
  assert.deepEqual(model.conditionLabels, LABELS);
  assert.equal(model.labelLossWeight, 1, '--condition defaults to the auxiliary regression at weight 1');
  const names = ckpt.variables.map((v) => v.name);
  for (const k of ['G/label_embed/fc1/w', 'G_ema/label_bank', 'D/label_proj/fc0/w']) assert.ok(names.includes(k), k);
  const [before, after] = [await loadGanModel(parent), await loadGanModel(fine)];
  try {
    const a = sampleGan(before.generator, { n: 3, psi: 1, seed: 4 });
    const b = sampleGan(after.generator, { n: 3, psi: 1, seed: 4 });
    assert.equal(a.labels, null);
    assert.equal(b.labels!.length, 9);
    assert.ok(close(a.images, b.images, 1e-4), 'same images');
    // Fixed labels: the named ones hold their value, the others come from the bank.
    const fixed = sampleGan(after.generator, { n: 3, psi: 1, seed: 4, fixedLabels: { 'view.rz': 0.5 } });
    for (let i = 0; i < 3; i++) {
      assert.equal(fixed.labels![i * 3 + 1], 0.5);
      assert.equal(fixed.labels![i * 3], b.labels![i * 3]);
    }
    assert.throws(() => sampleGan(after.generator, { n: 1, psi: 1, seed: 0, fixedLabels: { 'view.rx': 0 } }), /not conditional on "view.rx": its labels are view.ry, view.rz, expression.smile/);
    assert.throws(() => sampleGan(before.generator, { n: 1, psi: 1, seed: 0, fixedLabels: { 'view.rz': 0 } }), /unconditional/);
  } finally {
    before.dispose();
    after.dispose();
  }
  // Resume keeps the labels; other labels are refused; so are unknown ones.
  assert.equal((await trainGanCommand(options(fine, { resume: true, steps: '2', seed: undefined, model: undefined }))).step, 2);
  await assert.rejects(trainGanCommand(options(fine, { resume: true, steps: '3', condition: 'view', seed: undefined, model: undefined })), /trained conditional on view.ry,view.rz,expression.smile/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'bad'), { condition: 'view.yaw' })), /--condition: Unknown label "view.yaw"/);
  await assert.rejects(trainGanCommand(options(fine, { resume: true, steps: '3', conditionLoss: '0', seed: undefined, model: undefined })), /trained with labelLossWeight 1/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'bad3'), { conditionLoss: '1' })), /labelLossWeight needs conditionLabels/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'bad4'), { condition: 'view', conditionLoss: '-1' })), /--condition-loss must be a number ≥ 0/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'bad2'), { init: fine, condition: 'view', model: undefined })), /keeps its labels/);
  await assert.rejects(trainGanCommand(options(path.join(root, 'bad5'), { init: fine, conditionLrMul: '10', model: undefined })), /stored for --condition-lr-mul 1: a fine-tune keeps it/);
  await assert.rejects(trainGanCommand(options(fine, { resume: true, steps: '3', conditionLrMul: '5', seed: undefined, model: undefined })), /trained with labelLrMul 1/);
  // The bundle holds the bank and samples like the checkpoint.
  const bundle = path.join(root, 'bundle');
  await exportGanBundle(fine, bundle, {});
  const [fromRun, fromBundle] = [await loadGanModel(fine), await loadGanModel(bundle)];
  try {
    assert.deepEqual(fromBundle.config.conditionLabels, LABELS);
    const x = sampleGan(fromRun.generator, { n: 2, psi: 0.7, seed: 8 });
    const y = sampleGan(fromBundle.generator, { n: 2, psi: 0.7, seed: 8 });
    assert.ok(close(x.images, y.images, 1e-6) && close(x.labels!, y.labels!, 0));
  } finally {
    fromRun.dispose();
    fromBundle.dispose();
  }
  // gan3d sample --label: the fixed label in degrees in latents.json, the others as drawn; bad pairs are refused.
  const out = path.join(root, 'samples');
  await sampleCommand({ model: bundle, n: '3', seed: '2', label: 'view.rz=3.5', out, write: () => {} });
  const latents = JSON.parse(await fs.readFile(path.join(out, 'latents.json'), 'utf8')) as { fixedLabels: Record<string, number>; samples: { labels: Record<string, number> }[] };
  assert.deepEqual(latents.fixedLabels, { 'view.rz': 3.5 });
  assert.equal(latents.samples.length, 3);
  for (const sample of latents.samples) {
    assert.deepEqual(Object.keys(sample.labels), LABELS);
    assert.equal(sample.labels['view.rz'], 3.5);
    assert.ok(Math.abs(sample.labels['view.ry']) <= 25 && sample.labels['expression.smile'] >= 0);
  }
  await assert.rejects(sampleCommand({ model: bundle, label: 'view.rz:3', out: path.join(root, 's2') }), /--label takes name=value pairs/);
  await assert.rejects(sampleCommand({ model: bundle, label: 'light.lx=0.1', out: path.join(root, 's3') }), /not conditional on "light.lx"/);
});
