import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { Activation, Conv2d, ConvTranspose2d, GroupNorm, Module, Sequential, UpsampleNearest, initWeight } from '../../src/nn/index.js';

before(async () => {
  await initBackend('wasm');
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function randomTensor(rng: Rng, shape: [number, number, number, number]): tf.Tensor4D {
  return tf.tensor4d(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
}

test('Conv2d: PyTorch padding and output sizes, equal to tf.conv2d on a zero-padded input', () => {
  const rng = new Rng(1);
  const x = randomTensor(rng, [2, 16, 16, 3]);
  for (const [k, s, p, out] of [[4, 2, 1, 8], [3, 1, 1, 16], [5, 1, 2, 16], [4, 1, 0, 13], [1, 1, 0, 16]]) {
    const conv = new Conv2d(rng, 3, 5, k, { stride: s, padding: p, bias: true });
    const y = conv.apply(x);
    assert.deepEqual(y.shape, [2, out, out, 5], `k${k} s${s} p${p}`);
    const expected = tf.tidy(() =>
      tf.add(tf.conv2d(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), conv.weight as tf.Tensor4D, s, 'valid'), conv.bias!),
    );
    assert.ok(maxAbsDiff(y, expected) < 1e-5, `k${k} s${s} p${p}`);
    tf.dispose([y, expected]);
    conv.dispose();
  }
  x.dispose();
});

// A transposed conv is the input gradient of the conv with the same kernel, stride and padding.
test('ConvTranspose2d equals the input gradient of tf.conv2d (k4 s2 p1, k3 s2 p1, k4 s1 p0 1x1 -> 4x4)', () => {
  const rng = new Rng(2);
  for (const [k, s, p, h, out] of [[4, 2, 1, 5, 10], [3, 2, 1, 5, 9], [4, 1, 0, 1, 4], [4, 2, 0, 3, 8]]) {
    const deconv = new ConvTranspose2d(rng, 6, 4, k, { stride: s, padding: p });
    const x = randomTensor(rng, [2, h, h, 6]);
    const y = deconv.apply(x);
    assert.deepEqual(y.shape, [2, out, out, 4], `k${k} s${s} p${p}`);
    const expected = tf.tidy(() => {
      const pad = p === 0 ? 'valid' : ([[0, 0], [p, p], [p, p], [0, 0]] as [[0, 0], [number, number], [number, number], [0, 0]]);
      const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(z as tf.Tensor4D, deconv.weight as tf.Tensor4D, s, pad), x)));
      return g(tf.zeros([2, out, out, 4]));
    });
    assert.ok(maxAbsDiff(y, expected) < 1e-4, `k${k} s${s} p${p}: ${maxAbsDiff(y, expected)}`);
    tf.dispose([x, y, expected]);
    deconv.dispose();
  }
});

test('GroupNorm normalises each group and starts as the identity affine', () => {
  const rng = new Rng(3);
  const gn = new GroupNorm(2, 8);
  const x = tf.tidy(() => tf.add(tf.mul(randomTensor(rng, [2, 4, 4, 8]), 3), 5)) as tf.Tensor4D;
  const y = gn.apply(x);
  const stats = tf.tidy(() => tf.moments(tf.reshape(y, [2, 4, 4, 2, 4]), [1, 2, 4]));
  assert.ok(Math.max(...stats.mean.dataSync().map(Math.abs)) < 1e-4);
  assert.ok(Math.max(...stats.variance.dataSync().map((v) => Math.abs(v - 1))) < 1e-3);
  assert.deepEqual([...gn.namedVariables().keys()], ['gamma', 'beta']);
  tf.dispose([x, y, stats.mean, stats.variance]);
  gn.dispose();
  assert.throws(() => new GroupNorm(3, 8), /do not divide/);
});

test('activations and nearest upsampling keep or scale the shape', () => {
  const x = tf.tensor4d([-1, 0, 2, -3], [1, 2, 2, 1]);
  const expected: Record<string, number[]> = {
    relu: [0, 0, 2, 0],
    leakyRelu: [-0.2, 0, 2, -0.6],
    tanh: [-1, 0, 2, -3].map(Math.tanh),
    softplus: [-1, 0, 2, -3].map((v) => Math.log1p(Math.exp(v))),
  };
  for (const [kind, want] of Object.entries(expected)) {
    const y = new Activation(kind as 'relu', 0.2).apply(x);
    y.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `${kind}[${i}]`));
    y.dispose();
  }
  const up = new UpsampleNearest(2).apply(x);
  assert.deepEqual(up.shape, [1, 4, 4, 1]);
  assert.deepEqual([...up.dataSync().slice(0, 4)], [-1, -1, 0, 0]);
  tf.dispose([x, up]);
});

class Block extends Module {
  readonly body: Sequential;
  constructor(rng: Rng) {
    super();
    this.body = this.child('body', new Sequential([new Conv2d(rng, 3, 8, 3, { padding: 1, bias: true }), new GroupNorm(2, 8), new Activation('relu')]));
    this.child('head', new ConvTranspose2d(rng, 8, 2, 4, { stride: 2, padding: 1 }));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return x;
  }
}

test('variables have stable, unique hierarchical names and creating them leaks no tensor', () => {
  const before = tf.memory().numTensors;
  const a = new Block(new Rng(4));
  const names = [...a.namedVariables().keys()];
  assert.deepEqual(names, ['body/0/w', 'body/0/b', 'body/1/gamma', 'body/1/beta', 'head/w']);
  assert.equal(tf.memory().numTensors, before + names.length, 'only the variables themselves were added');
  const b = new Block(new Rng(4));
  assert.deepEqual([...b.namedVariables().keys()], names);
  // Same seed, same weights; tfjs's own variable names stay unique across the two.
  for (const [name, v] of a.namedVariables()) assert.equal(maxAbsDiff(v, b.namedVariables().get(name)!), 0);
  const tfNames = new Set([...a.variables(), ...b.variables()].map((v) => v.name));
  assert.equal(tfNames.size, 2 * names.length);
  assert.equal(a.parameterCount(), 3 * 3 * 3 * 8 + 8 + 8 + 8 + 4 * 4 * 2 * 8);
  a.dispose();
  b.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('init schemes: he has std sqrt(2 / fanIn), pytorch is bounded by 1 / sqrt(fanIn)', () => {
  const rng = new Rng(5);
  const he = initWeight(rng, [3, 3, 64, 64], 9 * 64, 'he');
  const std = Math.sqrt(tf.tidy(() => tf.moments(he).variance.dataSync()[0]));
  assert.ok(Math.abs(std / Math.sqrt(2 / (9 * 64)) - 1) < 0.03, `std ${std}`);
  const pt = initWeight(rng, [3, 3, 64, 64], 9 * 64, 'pytorch');
  const max = tf.tidy(() => tf.max(tf.abs(pt)).dataSync()[0]);
  assert.ok(max <= 1 / 24 && max > 0.9 / 24, `max ${max}`);
  tf.dispose([he, pt]);
});
