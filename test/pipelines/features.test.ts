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
import { listImageIds } from '../../src/data/image-folder.js';
import { trainFeaturesCommand, type TrainFeaturesOptions } from '../../src/cli/train.js';
import { scoreCommand } from '../../src/cli/score.js';
import { correlationGaps, folderFeatures, labelAgreement, labelFrechet, loadFeatureModel, realismFloor } from '../../src/pipelines/features-bundle.js';
import { labelErrors } from '../../src/pipelines/train-features.js';
import { FEATURE_LABELS, denormalizeLabel, labelVector } from '../../src/models/features/labels.js';
import type { FeatureNetOverrides } from '../../src/models/features/config.js';
import type { LogLine } from '../../src/train/loop.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// A tiny network: the test checks the plumbing, not the model.
const TINY: FeatureNetOverrides = { widths: [4, 4, 4, 8], featureDim: 8 };
let root = '';
let data = '';
let bundle = '';

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-features-'));
  data = path.join(root, 'synface');
  await generateSynface({ out: data, n: 30, size: 64, seed: 5, batch: 10 });
  bundle = path.join(root, 'models', 'features');
});
after(() => fs.rm(root, { recursive: true, force: true }));

function options(out: string, extra: Partial<TrainFeaturesOptions> = {}): TrainFeaturesOptions {
  return {
    data,
    out,
    steps: '2',
    batch: '4',
    seed: '3',
    checkpointEvery: '0',
    evalEvery: '2',
    evalImages: '3',
    model: TINY,
    workers: 1,
    quiet: true,
    write: () => {},
    ...extra,
  };
}

test('labels: 18 normalised SynFace parameters, inverse of the normalisation, R² of a perfect prediction is 1', async () => {
  const line = (await fs.readFile(path.join(data, 'train', 'params.jsonl'), 'utf8')).split('\n')[0];
  const rec = JSON.parse(line) as Record<string, unknown>;
  const y = labelVector(rec, FEATURE_LABELS);
  assert.equal(y.length, 18);
  assert.ok(y.every((v) => v >= -1 && v <= 1), `labels ${[...y]}`);
  const ry = FEATURE_LABELS.findIndex((l) => l.name === 'view.ry');
  assert.ok(Math.abs(denormalizeLabel(y[ry], FEATURE_LABELS[ry]) - (rec.view as number[])[1]) < 1e-6);
  const truth = Float32Array.from({ length: 36 }, (_, i) => Math.sin(i));
  const e = labelErrors(truth, truth, FEATURE_LABELS);
  assert.equal(e.meanR2, 1);
  assert.equal(e.meanAbsNormalized, 0);
});

test('train features 2 steps on the shared loop, export, load, features, score and floor', async () => {
  const out = path.join(root, 'run');
  const result = await trainFeaturesCommand(options(out, { export: bundle }));
  assert.equal(result.status, 'completed');
  assert.equal(result.step, 2);
  const log = (await fs.readFile(path.join(out, 'log.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as LogLine);
  const ev = log.find((l) => l.type === 'eval')!;
  assert.ok(Number.isFinite(ev.val_r2) && Number.isFinite(ev.val_mae) && Number.isFinite(ev['mae_view.ry']), JSON.stringify(ev));
  assert.equal((log[0].config as { training: { batchSize: number } }).training.batchSize, 4);

  // The bundle holds the checkpoint's weights.
  const fromBundle = await loadFeatureModel(bundle);
  const fromRun = await loadFeatureModel(out);
  assert.equal(fromBundle.config.featureDim, 8);
  assert.equal(fromBundle.meta.source, 'bundle');
  const doc = JSON.parse(await fs.readFile(path.join(bundle, 'model.json'), 'utf8')) as { kind: string; note: string };
  assert.equal(doc.kind, 'features');
  assert.match(doc.note, /NOT comparable to Inception/);
  const dir = path.join(data, 'val', 'image');
  const ids = listImageIds(dir);
  const before = tf.memory().numTensors;
  const f = await folderFeatures(fromBundle.model, dir, ids, 2);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(f.length, ids.length * 8);
  assert.ok(f.every(Number.isFinite));
  assert.deepEqual(await folderFeatures(fromRun.model, dir, ids), f);
  fromRun.model.dispose();

  // score: two folders (a split with image/, a plain folder), the floor, JSON output; a `gan3d sample` grid.png in the
  // generated folder is not counted as a sample.
  await fs.copyFile(path.join(dir, `${ids[0]}.png`), path.join(dir, 'grid.png'));
  const json = path.join(root, 'score.json');
  const report = await scoreCommand({ real: path.join(data, 'train'), fake: dir, floor: path.join(data, 'train'), model: bundle, json, kidSubsets: '5', write: () => {} });
  for (const k of ['fid', 'kid', 'kid_std'] as const) assert.ok(Number.isFinite(report[k]), `${k} = ${report[k]}`);
  assert.equal(report.images_real, 24);
  assert.equal(report.images_fake, 3);
  assert.equal(report.features_model, fromBundle.id);
  assert.ok(report.floor && Number.isFinite(report.floor.fid) && report.floor.images_real === 12 && report.floor.images_fake === 12);
  const written = JSON.parse(await fs.readFile(json, 'utf8')) as Record<string, unknown>;
  for (const k of ['fid', 'kid', 'kid_std', 'images_real', 'images_fake', 'features_model']) assert.ok(k in written, k);
  await assert.rejects(scoreCommand({ real: dir, fake: dir, model: bundle, json, write: () => {} }), /already exists: pass --force/);
  await fs.rm(path.join(dir, 'grid.png'));
  // --labels: each predicted label's spread. A folder scored against itself has the same spread (ratio 1); a folder of
  // one image repeated has none (ratio 0); the means are the head's predictions averaged by hand.
  const same = await scoreCommand({ real: dir, fake: dir, model: bundle, labels: true, kidSubsets: '2', write: () => {} });
  assert.equal(same.labels!.length, fromBundle.config.labels.length);
  assert.equal(same.labels![0].label, fromBundle.config.labels[0].name);
  for (const l of same.labels!) assert.ok(Math.abs(l.std_ratio - 1) < 1e-6 && l.real_std > 0, JSON.stringify(l));
  const repeated = path.join(root, 'repeated');
  await fs.mkdir(repeated, { recursive: true });
  for (const k of [0, 1, 2]) await fs.copyFile(path.join(dir, `${ids[0]}.png`), path.join(repeated, `copy-${k}.png`));
  const printed: string[] = [];
  const flat = await scoreCommand({ real: dir, fake: repeated, model: bundle, labels: true, kidSubsets: '2', write: (t) => printed.push(t) });
  const predicted = tf.tidy(() => fromBundle.model.head(tf.tensor2d(f, [ids.length, 8])).dataSync());
  const L = fromBundle.config.labels.length;
  flat.labels!.forEach((l, j) => {
    assert.ok(l.fake_std < 1e-5 && l.std_ratio < 1e-4, JSON.stringify(l));
    const mean = ids.reduce((a, _, i) => a + predicted[i * L + j], 0) / ids.length;
    assert.ok(Math.abs(l.real_mean - mean) < 1e-5 && Math.abs(l.fake_mean - predicted[j]) < 1e-5);
  });
  assert.match(printed.join(''), /Predicted labels[\s\S]*view\.ry .*std ratio 0\.00/);
  // Against itself, no pair's correlation differs; the repeated image has none (0).
  assert.ok(same.label_correlations!.every((g) => Math.abs(g.gap) < 1e-6), JSON.stringify(same.label_correlations));
  assert.ok(flat.label_correlations!.every((g) => g.fake_corr === 0));
  assert.match(printed.join(''), /Label pairs whose correlation differs most/);
  // The label-space Fréchet distance: 0 against itself; label by label, the same sums done by hand on the head's output.
  const lf = labelFrechet(fromBundle, f, f);
  assert.ok(Math.abs(lf.label_fid) < 1e-6 && Math.abs(lf.label_fid_independent) < 1e-9, JSON.stringify(lf));
  const one = Float32Array.from({ length: 3 * 8 }, (_, i) => f[i % 8]);
  const lone = labelFrechet(fromBundle, f, one);
  let byHand = 0;
  for (let j = 0; j < L; j++) {
    const col = ids.map((_, i) => predicted[i * L + j]);
    const m = col.reduce((a, b) => a + b, 0) / col.length;
    const sd = Math.sqrt(col.reduce((a, b) => a + (b - m) ** 2, 0) / (col.length - 1));
    byHand += (m - predicted[j]) ** 2 + sd ** 2;
  }
  assert.ok(Math.abs(lone.label_fid_independent - byHand) < 1e-4 * byHand, `${lone.label_fid_independent} vs ${byHand}`);
  // Against one repeated image (no covariance) the co-variation adds nothing: both are |Δmean|² + trace(cov_real).
  assert.ok(Math.abs(lone.label_fid - lone.label_fid_independent) < 1e-3 * byHand, JSON.stringify(lone));
  // Label agreement: the head's own predictions as the given labels agree perfectly (r 1, rmse 0); an affine change of
  // them keeps r and moves the rmse by exactly the change; a label the network does not predict is refused.
  const names = ['view.rz', 'light.ambient'];
  const cols = names.map((nm) => fromBundle.config.labels.findIndex((l) => l.name === nm));
  const own = Float32Array.from({ length: ids.length * 2 }, (_, t) => predicted[Math.floor(t / 2) * L + cols[t % 2]]);
  for (const a of labelAgreement(fromBundle, f, own, names)) assert.ok(Math.abs(a.r - 1) < 1e-5 && a.rmse < 1e-6, JSON.stringify(a));
  const shifted = own.map((v, t) => (t % 2 === 0 ? v + 0.25 : -v));
  const [rz, amb] = labelAgreement(fromBundle, f, shifted, names);
  assert.ok(Math.abs(rz.r - 1) < 1e-5 && Math.abs(rz.rmse - 0.25) < 1e-5, JSON.stringify(rz));
  const ambRms = Math.sqrt(ids.reduce((a, _, i) => a + (2 * predicted[i * L + cols[1]]) ** 2, 0) / ids.length);
  assert.ok(Math.abs(amb.r + 1) < 1e-5 && Math.abs(amb.rmse - ambRms) < 1e-5, JSON.stringify(amb));
  assert.throws(() => labelAgreement(fromBundle, f, own, ['view.rz', 'nose']), /does not predict "nose"/);
  assert.throws(() => labelAgreement(fromBundle, f, own.subarray(2), names), /label rows for/);
  // The floor helper alone, with the same model, is the report's floor.
  const floor = await realismFloor(path.join(data, 'train'), { model: fromBundle, subsets: 5 });
  assert.equal(floor.fid, report.floor.fid);
  assert.equal(floor.kid, report.floor.kid);
  fromBundle.model.dispose();
});

test('clear errors: empty folder, missing model, corrupt bundle, bad arguments', async () => {
  const empty = path.join(root, 'empty');
  await fs.mkdir(empty, { recursive: true });
  const val = path.join(data, 'val', 'image');
  await assert.rejects(scoreCommand({ real: empty, fake: val, model: bundle, write: () => {} }), /no PNG images found/);
  await assert.rejects(scoreCommand({ real: path.join(root, 'nope'), fake: val, model: bundle, write: () => {} }), /--real .*no such folder/);
  await assert.rejects(scoreCommand({ real: val, fake: val, model: path.join(root, 'no-model'), write: () => {} }), /No feature network at .*gan3d train features/);
  await assert.rejects(scoreCommand({ real: val, write: () => {} }), /Give both --real <dir> and --fake <dir>/);
  await assert.rejects(scoreCommand({ write: () => {} }), /Say what to score/);
  await assert.rejects(scoreCommand({ floor: val, model: bundle, write: () => {} }), /the floor needs at least 4 images/);
  await assert.rejects(scoreCommand({ floor: val, model: bundle, kidSubsets: '0', write: () => {} }), /--kid-subsets must be a whole number ≥ 1/);
  const broken = path.join(root, 'broken');
  await fs.cp(bundle, broken, { recursive: true });
  const w = await fs.readFile(path.join(broken, 'weights.bin'));
  w[0] ^= 0xff;
  await fs.writeFile(path.join(broken, 'weights.bin'), w);
  await assert.rejects(loadFeatureModel(broken), /does not match the SHA-256 digest/);
  await assert.rejects(loadFeatureModel(path.join(data, 'train')), /is not a feature network/);
  await assert.rejects(trainFeaturesCommand(options(path.join(root, 'r2'), { data: path.join(root, 'nope') })), /expected .*train\/image/);
  await assert.rejects(trainFeaturesCommand(options(path.join(root, 'r2'), { widths: '8,8' })), /--widths must be four whole numbers/);
  await assert.rejects(trainFeaturesCommand(options(path.join(root, 'run'))), /already holds a training run/);
  await assert.rejects(trainFeaturesCommand(options(path.join(root, 'r3'), { export: bundle })), /already holds a model bundle: pass --export-force/);
  // The command line prints the message, not a stack, and exits with 2.
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'score', '--real', empty, '--fake', val, '--model', bundle], { cwd: repo, encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^gan3d: .*no PNG images found/m);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
});

test('correlationGaps: Pearson correlations of each label pair, real against fake, largest difference first', () => {
  // Three labels over 4 rows. Real: a and b uncorrelated (exactly 0), c = −a. Fake: b = a, c = −a.
  const real = Float32Array.from([1, 1, -1, 1, -1, -1, -1, 1, 1, -1, -1, 1]);
  const fake = new Float32Array(12);
  [0.5, -2, 1, 3].forEach((a, i) => fake.set([a, a, -a], i * 3));
  const gaps = correlationGaps(real, fake, ['a', 'b', 'c'], 3);
  assert.deepEqual(gaps.map((g) => g.labels.join('')), ['ab', 'bc', 'ac']);
  const near = (x: number, y: number) => Math.abs(x - y) < 1e-9;
  assert.ok(near(gaps[0].real_corr, 0) && near(gaps[0].fake_corr, 1) && near(gaps[0].gap, 1), JSON.stringify(gaps[0]));
  assert.ok(near(gaps[1].real_corr, 0) && near(gaps[1].fake_corr, -1), JSON.stringify(gaps[1]));
  assert.ok(near(gaps[2].real_corr, -1) && near(gaps[2].fake_corr, -1) && near(gaps[2].gap, 0), JSON.stringify(gaps[2]));
  assert.equal(correlationGaps(real, fake, ['a', 'b', 'c'], 1).length, 1);
  assert.throws(() => correlationGaps(real.subarray(0, 3), fake, ['a', 'b', 'c']), /at least 2 rows/);
});
