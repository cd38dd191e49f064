import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { generateSynface } from '../../src/data/synface/dataset.js';
import { ParserNet, binaryCrossEntropyWithLogits, maskIoU, parserConfig } from '../../src/models/parser/index.js';
import { trainParserCommand, type TrainParserOptions } from '../../src/cli/train-parser.js';
import { loadParserModel, saveParserBundle } from '../../src/pipelines/parser-bundle.js';
import { loadMaskedSplit, maskedBatch, scoreParser } from '../../src/pipelines/train-parser.js';
import type { LogLine } from '../../src/train/loop.js';

// A tiny network: the test checks the plumbing, not the model.
const TINY = { widths: [4, 4, 8, 8] as [number, number, number, number] };
let root = '';
let data = '';

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-parser-'));
  data = path.join(root, 'synface');
  await generateSynface({ out: data, n: 30, size: 64, seed: 5, batch: 10 });
});
after(() => fs.rm(root, { recursive: true, force: true }));

function options(out: string, extra: Partial<TrainParserOptions> = {}): TrainParserOptions {
  return { data, out, steps: '2', batch: '4', seed: '3', checkpointEvery: '1', evalEvery: '2', evalImages: '3', model: TINY, workers: 0, quiet: true, write: () => {}, ...extra };
}

async function weightsOf(source: string): Promise<Float32Array[]> {
  const loaded = await loadParserModel(source);
  const out = loaded.model.variables().map((v) => Float32Array.from(v.dataSync() as Float32Array));
  loaded.model.dispose();
  return out;
}

test('parser: shapes, BCE against a direct formula, IoU, config checks, no leaked tensors', () => {
  const net = new ParserNet(1, TINY);
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 64 * 64 * 3 }, (_, i) => Math.sin(i)), [2, 64, 64, 3]);
  tf.dispose(net.predict(x)); // warm-up: first calls may create cached constants
  const before = tf.memory().numTensors;
  const p = net.predict(x);
  assert.deepEqual(p.shape, [2, 64, 64, 1]);
  const v = p.dataSync();
  assert.ok(v.every((y) => y > 0 && y < 1));
  const z = tf.tensor1d([-30, -1, 0, 2, 40]);
  const y = tf.tensor1d([0, 1, 1, 0, 1]);
  const direct = [-30, -1, 0, 2, 40].map((zi, i) => {
    const yi = [0, 1, 1, 0, 1][i];
    const s = 1 / (1 + Math.exp(-zi));
    return -(yi * Math.log(Math.max(s, 1e-300)) + (1 - yi) * Math.log(Math.max(1 - s, 1e-300)));
  });
  const loss = binaryCrossEntropyWithLogits(z, y);
  const bce = loss.dataSync()[0];
  assert.ok(Math.abs(bce - direct.reduce((a, b) => a + b, 0) / 5) < 1e-5, `${bce}`);
  tf.dispose([p, z, y, loss]);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  assert.deepEqual(maskIoU([1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 0], 4), [1 / 3, 1]);
  assert.throws(() => parserConfig({ widths: [3, 4, 8, 8] }), /channelsPerGroup 4 must divide/);
  net.dispose();
});

test('train parser 2 steps, resume equals an uninterrupted run, bundle round trip', async () => {
  // Masks are loaded and mirrored with their images.
  const split = await loadMaskedSplit(data, 'val', 64, 2);
  const plain = maskedBatch(split, [0]);
  const mirrored = maskedBatch(split, [0], [true]);
  assert.equal(mirrored.masks[5], plain.masks[63 - 5]);
  assert.ok(plain.masks.some((m) => m === 1) && plain.masks.some((m) => m === 0));

  const straight = path.join(root, 'straight');
  const r = await trainParserCommand(options(straight, { steps: '4' }));
  assert.equal(r.status, 'completed');
  const log = (await fs.readFile(path.join(straight, 'log.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as LogLine);
  const ev = log.filter((l) => l.type === 'eval');
  assert.equal(ev.length, 2);
  assert.ok(ev.every((e) => (e.val_iou as number) >= 0 && (e.val_iou as number) <= 1), JSON.stringify(ev));

  const split2 = path.join(root, 'split');
  await trainParserCommand(options(split2, { steps: '2' }));
  await trainParserCommand(options(split2, { steps: '4', resume: true, seed: undefined, model: undefined }));
  const a = await weightsOf(straight);
  const b = await weightsOf(split2);
  assert.equal(a.length, b.length);
  a.forEach((w, i) => assert.deepEqual(b[i], w, `variable ${i} differs after resume`));

  // Export → load → same predictions; the bundle is small; a corrupt one is refused.
  const bundle = path.join(root, 'models', 'parser');
  await trainParserCommand(options(path.join(root, 'exp'), { export: bundle }));
  const fromBundle = await loadParserModel(bundle);
  const fromRun = await loadParserModel(path.join(root, 'exp'));
  assert.equal(fromBundle.meta.source, 'bundle');
  const doc = JSON.parse(await fs.readFile(path.join(bundle, 'model.json'), 'utf8')) as { kind: string; training: { step: number } };
  assert.equal(doc.kind, 'parser');
  assert.equal(doc.training.step, 2);
  const s1 = scoreParser(fromBundle.model, split);
  const s2 = scoreParser(fromRun.model, split);
  assert.deepEqual(s1, s2);
  await assert.rejects(saveParserBundle(bundle, fromBundle.model, { id: 'x' }), /already holds a model bundle/);
  fromBundle.model.dispose();
  fromRun.model.dispose();
  const broken = path.join(root, 'broken');
  await fs.cp(bundle, broken, { recursive: true });
  const w = await fs.readFile(path.join(broken, 'weights.bin'));
  w[0] ^= 0xff;
  await fs.writeFile(path.join(broken, 'weights.bin'), w);
  await assert.rejects(loadParserModel(broken), /does not match the SHA-256 digest/);
  await assert.rejects(loadParserModel(path.join(root, 'nope')), /No object-mask parser at/);
  await assert.rejects(trainParserCommand(options(straight)), /already holds a training run/);
  await assert.rejects(trainParserCommand(options(path.join(root, 'r9'), { widths: '8,8' })), /--widths must be four whole numbers/);
});
