import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { Discriminator, Generator, STYLEGAN_DEFAULTS, type StyleGanConfig, styleGanConfig } from '../../src/models/stylegan/index.js';

before(async () => {
  await initBackend('wasm');
});

/** A small configuration that keeps every test fast. */
const TINY: Partial<StyleGanConfig> = {
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 3,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 6, 16: 4 },
};

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function randn(rng: Rng, shape: number[]): tf.Tensor {
  return tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
}

/** Gives every noise layer a non-zero strength (they start at 0, where noise has no effect). */
function turnOnNoise(g: Generator): void {
  tf.tidy(() => g.convs.forEach((c) => c.noise.strength.assign(tf.tensor1d([0.5]))));
}

test('config: defaults fit 64x64 on a CPU, overrides are checked', () => {
  const c = styleGanConfig();
  assert.equal(c.resolution, 64);
  assert.ok(c.wDim <= 256 && c.generatorChannels[8] <= 128 && c.generatorChannels[64] <= c.generatorChannels[8]);
  assert.equal(STYLEGAN_DEFAULTS.mappingLrMul, 0.01);
  assert.throws(() => styleGanConfig({ resolution: 48 }), /power of two/);
  assert.throws(() => styleGanConfig({ resolution: 256 }), /generatorChannels\[256\]/);
  assert.equal(styleGanConfig({ generatorChannels: { 64: 8 } }).generatorChannels[32], c.generatorChannels[32], 'partial tables merge');
});

test('generator: shapes of mapping and synthesis (w or ws), layer counts, 64 and 128 px', () => {
  const rng = new Rng(1);
  const g = new Generator(rng, TINY);
  assert.equal(g.numWs, 6);
  assert.equal(g.numNoise, 5);
  assert.deepEqual(g.noiseShapes(2).map((s) => s[1]), [4, 8, 8, 16, 16]);
  const z = randn(rng, [2, 8]) as tf.Tensor2D;
  const w = g.mapping(z);
  assert.deepEqual(w.shape, [2, 8]);
  const img = g.synthesize(w);
  assert.deepEqual(img.shape, [2, 16, 16, 3]);
  const img2 = g.synthesize(g.broadcastW(w));
  assert.ok(maxAbsDiff(img, img2) < 1e-6, 'w and the same w for every layer agree');
  assert.throws(() => g.synthesize(tf.zeros([2, 5, 8]) as tf.Tensor3D), /expects w/);
  tf.dispose([z, w, img, img2]);
  g.dispose();
  for (const resolution of [64, 128]) {
    const big = new Generator(new Rng(2), { ...TINY, resolution, generatorChannels: { 32: 4, 64: 4, 128: 4 } });
    const out = big.generate(randn(new Rng(3), [1, 8]) as tf.Tensor2D, { noise: new Rng(4) });
    assert.deepEqual(out.shape, [1, resolution, resolution, 3]);
    assert.equal(big.numWs, 2 * Math.log2(resolution) - 2);
    out.dispose();
    big.dispose();
  }
});

test('variables have stable hierarchical names; the tracked mean w is a buffer, not a trainable variable', () => {
  const a = new Generator(new Rng(5), TINY);
  const b = new Generator(new Rng(5), TINY);
  const names = [...a.namedVariables().keys()];
  for (const n of ['mapping/fc0/w', 'mapping/fc2/b', 'const', 'conv4/conv/w', 'conv4/noise/strength', 'rgb4/conv/mod/w', 'up8/conv/w', 'conv16/b', 'rgb16/b']) {
    assert.ok(names.includes(n), n);
  }
  assert.deepEqual([...b.namedVariables().keys()], names);
  for (const [n, v] of a.namedVariables()) assert.equal(maxAbsDiff(v, b.namedVariables().get(n)!), 0, n);
  assert.ok(!names.includes('w_avg'));
  assert.deepEqual([...a.namedBuffers('g/').keys()], ['g/w_avg']);
  assert.equal(a.wAvg.trainable, false);
  const d = new Discriminator(new Rng(6), TINY);
  assert.deepEqual([...d.namedVariables().keys()], [
    'rgb16/w', 'rgb16/b',
    'block16/conv1/w', 'block16/conv1/b', 'block16/conv2/w', 'block16/conv2/b', 'block16/skip/w',
    'block8/conv1/w', 'block8/conv1/b', 'block8/conv2/w', 'block8/conv2/b', 'block8/skip/w',
    'conv4/w', 'conv4/b', 'fc/w', 'fc/b', 'out/w', 'out/b',
  ]);
  a.dispose();
  b.dispose();
  d.dispose();
});

test('determinism: the same seeds give the same weights, noise and images; another noise seed another image', () => {
  const make = () => {
    const g = new Generator(new Rng(7), TINY);
    turnOnNoise(g);
    return g;
  };
  const g1 = make();
  const g2 = make();
  const z = randn(new Rng(8), [2, 8]) as tf.Tensor2D;
  const a = g1.generate(z, { noise: new Rng(9) });
  const b = g2.generate(z, { noise: new Rng(9) });
  const c = g1.generate(z, { noise: new Rng(10) });
  assert.equal(maxAbsDiff(a, b), 0);
  assert.ok(maxAbsDiff(a, c) > 1e-3);
  // Explicit noise maps drawn from the same seed are the same noise.
  const maps = g1.makeNoise(new Rng(9), 2);
  const d = g1.generate(z, { noise: maps });
  assert.ok(maxAbsDiff(a, d) < 1e-6);
  tf.dispose([z, a, b, c, d, ...maps]);
  g1.dispose();
  g2.dispose();
});

test('truncation: psi = 0 gives the mean-w image, psi = 1 changes nothing; the mean w is tracked', () => {
  const rng = new Rng(11);
  const g = new Generator(rng, TINY);
  g.estimateWAvg(new Rng(12), 256);
  const wAvg = g.wAvg.dataSync();
  assert.ok(wAvg.some((v) => Math.abs(v) > 1e-3));
  const z = randn(rng, [3, 8]) as tf.Tensor2D;
  const truncated = g.generate(z, { psi: 0 });
  const meanImage = g.synthesize(tf.tile(tf.reshape(g.wAvg, [1, 8]), [3, 1]) as tf.Tensor2D);
  assert.ok(maxAbsDiff(truncated, meanImage) < 1e-5);
  const plain = g.generate(z, { psi: 1 });
  const direct = tf.tidy(() => g.synthesize(g.mapping(z)));
  assert.equal(maxAbsDiff(plain, direct), 0);
  const half = tf.tidy(() => g.truncate(g.mapping(z), 0.5));
  const expectedHalf = tf.tidy(() => tf.div(tf.add(g.mapping(z), g.wAvg), 2));
  assert.ok(maxAbsDiff(half, expectedHalf) < 1e-5);
  // updateWAvg: wAvg <- mean(w) + beta (wAvg - mean(w)).
  const w = randn(rng, [4, 8]) as tf.Tensor2D;
  const expected = tf.tidy(() => tf.add(tf.mean(w, 0), tf.mul(tf.sub(g.wAvg, tf.mean(w, 0)), 0.9)));
  g.updateWAvg(w, 0.9);
  assert.ok(maxAbsDiff(g.wAvg, expected) < 1e-6);
  tf.dispose([z, truncated, meanImage, plain, direct, half, expectedHalf, w, expected]);
  g.dispose();
});

test('style mixing: layers before the crossover take w1, the rest w2; mixing a w with itself changes nothing', () => {
  const rng = new Rng(13);
  const g = new Generator(rng, TINY);
  const w1 = randn(rng, [2, 8]) as tf.Tensor2D;
  const w2 = randn(rng, [2, 8]) as tf.Tensor2D;
  const ws = g.mixStyles(w1, w2, 2);
  const arr = ws.arraySync();
  const a1 = w1.arraySync();
  const a2 = w2.arraySync();
  for (let i = 0; i < g.numWs; i++) assert.deepEqual(arr[1][i], i < 2 ? a1[1] : a2[1]);
  const same = g.synthesize(g.mixStyles(w1, w1, 3));
  const ref = g.synthesize(w1);
  assert.ok(maxAbsDiff(same, ref) < 1e-6);
  const mixed = g.synthesize(ws);
  assert.ok(maxAbsDiff(mixed, ref) > 1e-4, 'the late layers follow w2');
  const latents = g.mixedLatents(new Rng(14), 4, 1);
  assert.deepEqual(latents.shape, [4, g.numWs, 8]);
  assert.throws(() => g.mixStyles(w1, w2, 7), /crossover/);
  tf.dispose([w1, w2, ws, same, ref, mixed, latents]);
  g.dispose();
});

test('discriminator: logits [N, 1], residual block features, minibatch std couples samples of a group', () => {
  const rng = new Rng(15);
  const d = new Discriminator(rng, TINY);
  const x = randn(rng, [8, 16, 16, 3]) as tf.Tensor4D;
  const { logits, features } = d.forward(x, { features: true });
  assert.deepEqual(logits.shape, [8, 1]);
  assert.deepEqual(features.map((f) => f.shape), [[8, 8, 8, 6], [8, 4, 4, 8]]);
  assert.equal(d.forward(x).features.length, 0);
  // Sample 0 is grouped with 2, 4, 6 (batch 8, groups of 4): changing sample 2 changes logit 0, changing 1 does not.
  const change = (n: number) =>
    tf.tidy(() => {
      const mask = tf.oneHot([n], 8).reshape([8, 1, 1, 1]);
      return d.logits(tf.add(x, tf.mul(mask, 3)) as tf.Tensor4D).dataSync()[0];
    });
  const l0 = logits.dataSync()[0];
  assert.ok(Math.abs(change(2) - l0) > 1e-5, 'same group');
  assert.ok(Math.abs(change(1) - l0) < 1e-6, 'other group');
  assert.throws(() => d.forward(tf.zeros([2, 8, 8, 3]) as tf.Tensor4D), /expects images/);
  tf.dispose([x, logits, ...features]);
  d.dispose();
});

test('no tensor leaks across repeated generator, discriminator and gradient calls', () => {
  const rng = new Rng(16);
  const g = new Generator(rng, TINY);
  const d = new Discriminator(rng, TINY);
  const real = randn(rng, [4, 16, 16, 3]) as tf.Tensor4D;
  const step = () => {
    const z = randn(rng, [4, 8]) as tf.Tensor2D;
    const img = g.generate(z, { noise: rng, psi: 0.7 });
    const out = d.forward(img, { features: true });
    tf.dispose([z, img, out.logits, ...out.features]);
    // Features left to an enclosing tidy are released by it.
    tf.tidy(() => {
      d.forward(real, { features: true });
    });
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.softplus(tf.neg(d.logits(g.synthesize(g.mixedLatents(rng, 4), { noise: rng }))))) as tf.Scalar, g.variables());
    const dg = tf.variableGrads(() => tf.mean(tf.softplus(d.logits(real))) as tf.Scalar, d.variables());
    tf.dispose([value, dg.value, ...Object.values(grads), ...Object.values(dg.grads)]);
  };
  step();
  const count = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, count);
  real.dispose();
  g.dispose();
  d.dispose();
});

test('R1: a gradient of the input gradient runs through the discriminator on wasm and matches finite differences', () => {
  const rng = new Rng(17);
  const d = new Discriminator(rng, { ...TINY, resolution: 8, discriminatorChannels: { 4: 4, 8: 4 } });
  const x = randn(rng, [4, 8, 8, 3]) as tf.Tensor4D;
  const r1 = () =>
    tf.tidy(() => {
      const gx = tf.grad((xi: tf.Tensor) => tf.sum(d.logits(xi as tf.Tensor4D)))(x);
      return tf.mean(tf.sum(tf.square(gx), [1, 2, 3])) as tf.Scalar;
    });
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(r1, d.variables());
  assert.ok(value.dataSync()[0] > 0);
  // R1 is piecewise smooth (ReLU kinks): a small step and entries away from kinks for this seed.
  const eps = 1e-3;
  for (const name of ['block8/conv2/w', 'block8/skip/w', 'conv4/w', 'fc/w']) {
    const v = d.namedVariables().get(name)!;
    const base = v.dataSync().slice();
    const at = (delta: number): number => {
      const c = base.slice();
      c[3] += delta;
      tf.tidy(() => v.assign(tf.tensor(c, v.shape)));
      return tf.tidy(() => r1().dataSync()[0]);
    };
    const fd = (at(eps) - at(-eps)) / (2 * eps);
    tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
    const g = grads[v.name].dataSync()[3];
    assert.ok(Math.abs(fd - g) < 0.02 * Math.abs(g) + 2e-5, `${name}: autodiff ${g} vs FD ${fd}`);
  }
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  d.dispose();
});
