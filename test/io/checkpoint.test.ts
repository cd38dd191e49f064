import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';
import {
  checkpointFolderName,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  saveCheckpoint,
  type CheckpointState,
} from '../../src/io/checkpoint.js';

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-ckpt-'));
}

function sampleState(step: number): CheckpointState {
  const rng = new Rng(step + 1);
  rng.normal(); // leaves a cached spare normal in the state
  const a = { name: 'enc/w', shape: [2, 3], data: new Rng(1).normalArray(6) };
  const b = { name: 'enc/b', shape: [3], data: Float32Array.from([1.5, -0, Number.MIN_VALUE]) };
  return {
    kind: 'tiny',
    config: { width: 4, nested: { lr: 1e-3 } },
    step,
    epoch: 2,
    variables: [a, b],
    optimizer: { kind: 'adam', step, config: { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, firstMoment: new Rng(2).normalArray(9), secondMoment: new Rng(3).uniformArray(9) },
    rng: { train: rng.getState(), fresh: new Rng(5).getState() },
    data: { epoch: 2, position: 3, seed: 9 },
    metrics: { loss: 0.25 },
    elapsedSeconds: 12.5,
    engine: { backend: 'wasm' },
  };
}

async function rejects(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Gan3dError, `expected Gan3dError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('a checkpoint round-trips weights, moments, Rng states (NaN included) and metadata bit for bit', async () => {
  const root = await tempDir();
  const state = sampleState(10);
  const dir = await saveCheckpoint(root, state);
  assert.equal(path.basename(dir), checkpointFolderName(10));
  assert.deepEqual((await fs.readdir(dir)).sort(), ['checkpoint.json', 'optimizer.bin', 'weights.bin']);
  const loaded = await loadCheckpoint(root, { kind: 'tiny', variables: [{ name: 'enc/w', shape: [2, 3] }, { name: 'enc/b', shape: [3] }] });
  assert.equal(loaded.path, dir);
  assert.equal(loaded.step, 10);
  assert.equal(loaded.epoch, 2);
  assert.deepEqual(loaded.config, state.config);
  loaded.variables.forEach((v, i) => {
    assert.equal(v.name, state.variables[i].name);
    assert.deepEqual(v.shape, state.variables[i].shape);
    assert.deepEqual(new Uint8Array(v.data.buffer), new Uint8Array(state.variables[i].data.slice().buffer));
  });
  assert.deepEqual(loaded.optimizer!.firstMoment, state.optimizer!.firstMoment);
  assert.deepEqual(loaded.optimizer!.secondMoment, state.optimizer!.secondMoment);
  assert.equal(loaded.optimizer!.step, 10);
  assert.deepEqual(loaded.rng, state.rng);
  assert.ok(Number.isNaN(loaded.rng!.fresh[4]));
  // The restored Rng continues the same stream.
  const original = new Rng(0);
  original.setState(state.rng!.train);
  const restored = new Rng(0);
  restored.setState(loaded.rng!.train);
  assert.deepEqual(restored.normalArray(5), original.normalArray(5));
  assert.deepEqual(loaded.data, state.data);
  assert.deepEqual(loaded.metrics, state.metrics);
  assert.equal(loaded.elapsedSeconds, 12.5);
  const json = JSON.parse(await fs.readFile(path.join(dir, 'checkpoint.json'), 'utf8'));
  assert.equal(json.formatVersion, 1);
  assert.deepEqual(json.variables.map((v: { offset: number }) => v.offset), [0, 6]);
  assert.ok(json.createdAt);
});

test('keeps only the newest K checkpoints and moves the latest pointer', async () => {
  const root = await tempDir();
  for (const step of [2, 4, 6, 8]) await saveCheckpoint(root, sampleState(step), { keep: 2 });
  assert.deepEqual((await listCheckpoints(root)).map((c) => c.step), [6, 8]);
  assert.equal((await fs.readFile(path.join(root, 'latest'), 'utf8')).trim(), checkpointFolderName(8));
  await saveCheckpoint(root, sampleState(9), { keep: 3 });
  assert.deepEqual((await listCheckpoints(root)).map((c) => c.step), [6, 8, 9]);
  // Saving the same step again replaces it; a stale temp folder from a crash is neither listed nor kept.
  await fs.mkdir(path.join(root, 'ckpt-00000010.tmp'));
  await saveCheckpoint(root, { ...sampleState(9), metrics: { loss: 1 } }, { keep: 3 });
  assert.deepEqual((await loadCheckpoint(root)).metrics, { loss: 1 });
  assert.ok(!(await fs.readdir(root)).some((n) => n.endsWith('.tmp')));
  // Without the pointer, the highest complete step is the latest.
  await fs.rm(path.join(root, 'latest'));
  assert.equal(path.basename((await latestCheckpoint(root))!), checkpointFolderName(9));
});

test('missing, truncated and corrupt files give clear errors', async () => {
  const root = await tempDir();
  const dir = await saveCheckpoint(root, sampleState(3));
  const weights = path.join(dir, 'weights.bin');
  const good = await fs.readFile(weights);

  await fs.writeFile(weights, good.subarray(0, good.length - 4));
  await rejects(loadCheckpoint(dir), 'CHECKPOINT_TRUNCATED', /truncated: weights\.bin has 32 bytes.*says 36/);
  const flipped = Buffer.from(good);
  flipped[5] ^= 0x10;
  await fs.writeFile(weights, flipped);
  await rejects(loadCheckpoint(dir), 'CHECKPOINT_CORRUPT', /weights\.bin does not match its SHA-256/);
  await fs.rm(weights);
  await rejects(loadCheckpoint(dir), 'CHECKPOINT_MISSING', /weights\.bin is missing/);
  await fs.writeFile(weights, good);

  const opt = path.join(dir, 'optimizer.bin');
  const optBytes = await fs.readFile(opt);
  await fs.writeFile(opt, optBytes.subarray(0, 10));
  await rejects(loadCheckpoint(dir), 'CHECKPOINT_TRUNCATED', /optimizer\.bin/);
  await fs.writeFile(opt, optBytes);

  const jsonPath = path.join(dir, 'checkpoint.json');
  const text = await fs.readFile(jsonPath, 'utf8');
  await fs.writeFile(jsonPath, text.slice(0, text.length / 2));
  await rejects(loadCheckpoint(dir), 'CHECKPOINT_CORRUPT', /not valid JSON/);
  await fs.writeFile(jsonPath, text.replace('"formatVersion": 1', '"formatVersion": 99'));
  await rejects(loadCheckpoint(dir), 'CHECKPOINT_VERSION', /format version 99; this gan3d reads version 1/);
  await fs.writeFile(jsonPath, text);
  assert.equal((await loadCheckpoint(dir)).step, 3);

  await rejects(loadCheckpoint(path.join(root, 'nowhere')), 'CHECKPOINT_MISSING', /No checkpoint at/);
});

test('a manifest that does not match the model is an incompatible config', async () => {
  const root = await tempDir();
  await saveCheckpoint(root, sampleState(1));
  const w = { name: 'enc/w', shape: [2, 3] };
  await rejects(loadCheckpoint(root, { variables: [w, { name: 'enc/b', shape: [4] }] }), 'CHECKPOINT_INCOMPATIBLE', /incompatible config: variable 1 is "enc\/b" \[3\].*\[4\]/);
  await rejects(loadCheckpoint(root, { variables: [w, { name: 'dec/b', shape: [3] }] }), 'CHECKPOINT_INCOMPATIBLE', /"dec\/b"/);
  await rejects(loadCheckpoint(root, { variables: [w] }), 'CHECKPOINT_INCOMPATIBLE', /2 variables, the model 1/);
  await rejects(loadCheckpoint(root, { kind: 'photogeo' }), 'CHECKPOINT_INCOMPATIBLE', /holds a "tiny" model, not "photogeo"/);
});

test('saving refuses variables whose data does not fit their shape', async () => {
  const root = await tempDir();
  const state = sampleState(1);
  state.variables[0] = { ...state.variables[0], shape: [4, 3] };
  await assert.rejects(saveCheckpoint(root, state), /needs 12 values, got 6/);
  assert.deepEqual(await listCheckpoints(root), []);
});
