import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import {
  DiscResBlock,
  EqualConv2d,
  EqualLinear,
  MappingNetwork,
  ModulatedConv2d,
  NoiseInjection,
  StyledConv,
  ToRGB,
  downsample2x,
  lreluGain,
  minibatchStd,
  pixelNorm,
  upsample2x,
} from '../../src/nn/index.js';

before(async () => {
  await initBackend('wasm');
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function randn(rng: Rng, shape: number[]): tf.Tensor {
  return tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
}

test('EqualLinear: stored weights N(0, 1/lrMul), run-time scale lrMul/sqrt(fanIn), bias times lrMul', () => {
  const rng = new Rng(1);
  const fc = new EqualLinear(rng, 256, 64, { lrMul: 0.01, biasInit: 0.5 });
  assert.ok(Math.abs(fc.scale - 0.01 / 16) < 1e-12);
  const m = tf.moments(fc.weight);
  assert.ok(Math.abs(Math.sqrt(m.variance.dataSync()[0]) - 100) < 3, 'weight std is 1 / lrMul');
  const x = randn(rng, [8, 256]) as tf.Tensor2D;
  const y = fc.forward(x);
  const expected = tf.tidy(() => tf.add(tf.matMul(x, tf.mul(fc.weight, 0.01 / 16) as tf.Tensor2D), tf.mul(fc.bias!, 0.01)));
  assert.ok(maxAbsDiff(y, expected) < 1e-4);
  // The effective bias is biasInit whatever lrMul; the effective weights have std 1/sqrt(fanIn): unit-variance in,
  // unit-variance out.
  const zero = fc.forward(tf.zeros([1, 256]));
  assert.ok(Math.max(...zero.dataSync().map((v) => Math.abs(v - 0.5))) < 1e-5);
  const big = randn(rng, [512, 256]) as tf.Tensor2D;
  const yv = tf.tidy(() => tf.moments(tf.sub(fc.forward(big), 0.5)).variance.dataSync()[0]);
  assert.ok(Math.abs(yv - 1) < 0.15, `output variance ${yv}`);
  assert.deepEqual([...fc.namedVariables().keys()], ['w', 'b']);
  tf.dispose([m.mean, m.variance, x, y, expected, zero, big]);
  fc.dispose();
});

test('EqualConv2d equals tf.conv2d with the scaled filter ("same" padding); lrelu adds the sqrt(2) gain', () => {
  const rng = new Rng(2);
  const x = randn(rng, [2, 6, 6, 5]) as tf.Tensor4D;
  for (const k of [1, 3]) {
    const conv = new EqualConv2d(rng, 5, 7, k, { activation: 'lrelu' });
    tf.tidy(() => conv.bias!.assign(randn(rng, [7])));
    assert.ok(Math.abs(conv.scale - 1 / Math.sqrt(5 * k * k)) < 1e-12);
    const y = conv.apply(x);
    const expected = tf.tidy(() => {
      const pre = tf.add(tf.conv2d(x, tf.mul(conv.weight, conv.scale) as tf.Tensor4D, 1, 'same'), conv.bias!);
      return tf.mul(tf.leakyRelu(pre, 0.2), Math.SQRT2);
    });
    assert.deepEqual(y.shape, [2, 6, 6, 7]);
    assert.ok(maxAbsDiff(y, expected) < 1e-4, `k${k}`);
    tf.dispose([y, expected]);
    conv.dispose();
  }
  const v = tf.tensor1d([-2, -0.5, 0, 0.5, 3]);
  const g = lreluGain(v);
  assert.deepEqual([...g.dataSync()].map((a) => +a.toFixed(5)), [-0.4, -0.1, 0, 0.5, 3].map((a) => +(a * Math.SQRT2).toFixed(5)));
  tf.dispose([x, v, g]);
});

/** Direct reference: one conv per sample with its own modulated (and demodulated) weight. */
function referenceModConv(layer: ModulatedConv2d, x: tf.Tensor4D, w: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const mod = layer.modulation;
    const s = tf.add(tf.matMul(w, tf.mul(mod.weight, mod.scale) as tf.Tensor2D), tf.mul(mod.bias!, mod.lrMul)); // [N, cin]
    const outs: tf.Tensor4D[] = [];
    for (let n = 0; n < x.shape[0]; n++) {
      const sn = tf.reshape(tf.slice(s, [n, 0], [1, layer.cin]), [1, 1, layer.cin, 1]);
      let wn = tf.mul(tf.mul(layer.weight, layer.scale), sn) as tf.Tensor4D;
      if (layer.demodulate) wn = tf.div(wn, tf.sqrt(tf.add(tf.sum(tf.square(wn), [0, 1, 2], true), 1e-8)));
      outs.push(tf.conv2d(tf.slice(x, [n, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D, wn, 1, 'same'));
    }
    return tf.concat(outs, 0);
  });
}

test('ModulatedConv2d (scale input, shared conv, demod coefficients) equals a direct per-sample modulated conv', () => {
  const rng = new Rng(3);
  for (const [k, demodulate] of [[3, true], [3, false], [1, true], [1, false]] as const) {
    const layer = new ModulatedConv2d(rng, 6, 5, k, 8, { demodulate });
    // Non-trivial styles: perturb the modulation's bias away from 1.
    tf.tidy(() => layer.modulation.bias!.assign(tf.add(1, tf.mul(randn(rng, [6]), 0.5))));
    const x = randn(rng, [3, 7, 7, 6]) as tf.Tensor4D;
    const w = randn(rng, [3, 8]) as tf.Tensor2D;
    const y = layer.apply(x, w);
    const ref = referenceModConv(layer, x, w);
    assert.deepEqual(y.shape, [3, 7, 7, 5]);
    const scaleOfY = tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]);
    assert.ok(maxAbsDiff(y, ref) < 1e-5 * Math.max(1, scaleOfY), `k${k} demod ${demodulate}: ${maxAbsDiff(y, ref)}`);
    tf.dispose([x, w, y, ref]);
    layer.dispose();
  }
  assert.throws(() => new ModulatedConv2d(rng, 2, 2, 2, 4), /odd/);
});

test('demodulation: every output channel of every per-sample weight has unit norm', () => {
  const rng = new Rng(4);
  const layer = new ModulatedConv2d(rng, 8, 4, 3, 16);
  const plain = new ModulatedConv2d(rng, 8, 4, 3, 16, { demodulate: false });
  const w = tf.mul(randn(rng, [5, 16]), 3) as tf.Tensor2D;
  const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(layer.perSampleWeights(w)), [1, 2, 3])).dataSync());
  assert.equal(norms.length, 5 * 4);
  for (const v of norms) assert.ok(Math.abs(v - 1) < 1e-4, `norm ${v}`);
  const plainNorms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(plain.perSampleWeights(w)), [1, 2, 3])).dataSync());
  assert.ok(plainNorms.some((v) => Math.abs(v - 1) > 0.05), 'without demodulation the norms follow the style');
  // The coefficients used by apply() are the same normalisation.
  const coeff = tf.tidy(() => layer.demodCoefficients(layer.style(w)).dataSync());
  const raw = tf.tidy(() => tf.sqrt(tf.sum(tf.square(tf.mul(tf.expandDims(tf.mul(layer.weight, layer.scale), 0), tf.reshape(layer.style(w), [5, 1, 1, 8, 1]))), [1, 2, 3])).dataSync());
  coeff.forEach((c, i) => assert.ok(Math.abs(c * raw[i] - 1) < 1e-4));
  w.dispose();
  layer.dispose();
  plain.dispose();
});

test('NoiseInjection: learned strength times per-pixel noise, explicit or drawn deterministically from a seed', () => {
  const rng = new Rng(5);
  const layer = new NoiseInjection();
  const x = randn(rng, [2, 4, 4, 3]) as tf.Tensor4D;
  const y0 = layer.apply(x, new Rng(9));
  assert.equal(maxAbsDiff(y0, x), 0, 'strength starts at 0');
  tf.tidy(() => layer.strength.assign(tf.tensor1d([0.5])));
  const noise = randn(rng, [2, 4, 4, 1]) as tf.Tensor4D;
  const y = layer.apply(x, noise);
  const expected = tf.tidy(() => tf.add(x, tf.mul(noise, 0.5)));
  assert.ok(maxAbsDiff(y, expected) < 1e-6);
  const a = layer.apply(x, new Rng(7));
  const b = layer.apply(x, new Rng(7));
  const c = layer.apply(x, new Rng(8));
  assert.equal(maxAbsDiff(a, b), 0);
  assert.ok(maxAbsDiff(a, c) > 0.1);
  // One noise value per pixel, shared by the channels.
  const d = tf.tidy(() => tf.sub(a, x));
  const dd = d.arraySync() as number[][][][];
  assert.equal(dd[0][1][2][0], dd[0][1][2][2]);
  const none = layer.apply(x);
  assert.equal(maxAbsDiff(none, x), 0);
  assert.throws(() => layer.apply(x, tf.zeros([2, 3, 3, 1]) as tf.Tensor4D), /does not fit/);
  tf.dispose([x, y0, noise, y, expected, a, b, c, d, none]);
  layer.dispose();
});

test('PixelNorm gives unit RMS; the mapping network has 0.01 lr-mul layers, stable names and splits cleanly', () => {
  const rng = new Rng(6);
  const z = tf.mul(randn(rng, [4, 32]), 5) as tf.Tensor2D;
  const rms = tf.tidy(() => tf.sqrt(tf.mean(tf.square(pixelNorm(z)), 1)).dataSync());
  for (const v of rms) assert.ok(Math.abs(v - 1) < 1e-4);
  const mapping = new MappingNetwork(rng, { zDim: 32, wDim: 24, layers: 4 });
  assert.deepEqual([...mapping.namedVariables().keys()], ['fc0/w', 'fc0/b', 'fc1/w', 'fc1/b', 'fc2/w', 'fc2/b', 'fc3/w', 'fc3/b']);
  assert.equal(mapping.fcs[0].scale, 0.01 / Math.sqrt(32));
  assert.equal(mapping.fcs[1].scale, 0.01 / Math.sqrt(24));
  const w = mapping.forward(z);
  assert.deepEqual(w.shape, [4, 24]);
  // PixelNorm first: the scale of z does not matter.
  const w2 = mapping.forward(tf.mul(z, 0.1) as tf.Tensor2D);
  assert.ok(maxAbsDiff(w, w2) < 1e-4);
  const split = tf.tidy(() => mapping.forwardRange(mapping.forwardRange(z, 0, 3), 3, 5));
  assert.ok(maxAbsDiff(w, split) < 1e-6);
  assert.throws(() => mapping.forwardRange(z, 0, 6), /outside/);
  tf.dispose([z, w, w2, split]);
  mapping.dispose();
});

test('resampling: bilinear 2x (half-pixel centres, 0.75/0.25 weights), nearest 2x, 2x2 box downsampling', () => {
  const x = tf.tensor4d([1, 2, 3, 4], [1, 1, 4, 1]);
  const up = upsample2x(tf.tile(x, [1, 2, 1, 1]) as tf.Tensor4D, 'bilinear');
  assert.deepEqual(up.shape, [1, 4, 8, 1]);
  assert.deepEqual([...up.dataSync().slice(0, 8)], [1, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4]);
  const near = upsample2x(x, 'nearest');
  assert.deepEqual([...near.dataSync().slice(0, 8)], [1, 1, 2, 2, 3, 3, 4, 4]);
  const d = downsample2x(tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 4, 1]));
  assert.deepEqual([...d.dataSync()], [(1 + 2 + 5 + 6) / 4, (3 + 4 + 7 + 8) / 4]);
  tf.dispose([x, up, near, d]);
});

test('StyledConv upsamples then convolves; ToRGB adds the upsampled skip without demodulation', () => {
  const rng = new Rng(7);
  const conv = new StyledConv(rng, 6, 4, 3, 8, { upsample: true });
  const rgb = new ToRGB(rng, 4, 8);
  assert.equal(rgb.conv.demodulate, false);
  const x = randn(rng, [2, 4, 4, 6]) as tf.Tensor4D;
  const w = randn(rng, [2, 8]) as tf.Tensor2D;
  const h = conv.apply(x, w, new Rng(1));
  assert.deepEqual(h.shape, [2, 8, 8, 4]);
  const skip = randn(rng, [2, 4, 4, 3]) as tf.Tensor4D;
  const out = rgb.apply(h, w, skip);
  const expected = tf.tidy(() => tf.add(tf.add(rgb.conv.apply(h, w), rgb.bias), upsample2x(skip)));
  assert.ok(maxAbsDiff(out, expected) < 1e-5);
  assert.deepEqual([...conv.namedVariables().keys()], ['b', 'conv/w', 'conv/mod/w', 'conv/mod/b', 'noise/strength']);
  assert.throws(() => conv.apply(x), /needs the latents/);
  tf.dispose([x, w, h, skip, out, expected]);
  conv.dispose();
  rgb.dispose();
});

test('DiscResBlock: (conv3x3 -> down -> conv3x3) + (down -> 1x1) over sqrt(2)', () => {
  const rng = new Rng(8);
  const block = new DiscResBlock(rng, 4, 6);
  const x = randn(rng, [2, 8, 8, 4]) as tf.Tensor4D;
  const y = block.apply(x);
  assert.deepEqual(y.shape, [2, 4, 4, 6]);
  const expected = tf.tidy(() =>
    tf.div(tf.add(block.conv2.apply(downsample2x(block.conv1.apply(x))), block.skip.apply(downsample2x(x))), Math.SQRT2),
  );
  assert.ok(maxAbsDiff(y, expected) < 1e-5);
  assert.equal(block.skip.bias, undefined);
  tf.dispose([x, y, expected]);
  block.dispose();
});

test('minibatch std: groups of 4 (sample n in group n mod N/4), one feature, constant over pixels', () => {
  const rng = new Rng(9);
  // Batch 8 -> 2 groups: {0, 2, 4, 6} and {1, 3, 5, 7}. Make group {0, 2, 4, 6} identical.
  const base = rng.normalArray(3 * 3 * 2);
  const data = new Float32Array(8 * 18);
  for (let n = 0; n < 8; n++) data.set(n % 2 === 0 ? base : rng.normalArray(18), n * 18);
  const x = tf.tensor4d(data, [8, 3, 3, 2]);
  const y = minibatchStd(x, 4, 1);
  assert.deepEqual(y.shape, [8, 3, 3, 3]);
  const arr = y.arraySync() as number[][][][];
  // Expected statistic of the odd group: the mean over pixels and channels of the (biased) std over the group.
  let expectOdd = 0;
  for (let i = 0; i < 18; i++) {
    const vals = [1, 3, 5, 7].map((n) => data[n * 18 + i]);
    const mean = vals.reduce((a, b) => a + b, 0) / 4;
    expectOdd += Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / 4 + 1e-8) / 18;
  }
  for (let n = 0; n < 8; n++) {
    for (const [i, j] of [[0, 0], [2, 1]]) {
      const v = arr[n][i][j][2];
      if (n % 2 === 0) assert.ok(Math.abs(v - 1e-4) < 1e-6, `identical group -> sqrt(eps), got ${v}`);
      else assert.ok(Math.abs(v - expectOdd) < 1e-5, `sample ${n}: ${v} vs ${expectOdd}`);
    }
  }
  assert.equal(maxAbsDiff(tf.slice(y, [0, 0, 0, 0], [-1, -1, -1, 2]), x), 0, 'the input channels pass through');
  // A batch smaller than the group size is one group; one that does not divide is refused.
  const small = minibatchStd(tf.slice(x, [0, 0, 0, 0], [2, -1, -1, -1]) as tf.Tensor4D);
  assert.deepEqual(small.shape, [2, 3, 3, 3]);
  assert.throws(() => minibatchStd(tf.slice(x, [0, 0, 0, 0], [6, -1, -1, -1]) as tf.Tensor4D), /not a multiple/);
  tf.dispose([x, y, small]);
});

test('gradients of a styled conv + to-RGB chain match central finite differences (wasm, float32)', () => {
  const rng = new Rng(10);
  const conv = new StyledConv(rng, 3, 4, 3, 5, { upsample: true });
  const rgb = new ToRGB(rng, 4, 5);
  tf.tidy(() => {
    conv.noise.strength.assign(tf.tensor1d([0.3]));
    conv.bias.assign(tf.mul(randn(rng, [4]), 0.3));
  });
  const x = randn(rng, [2, 3, 3, 3]) as tf.Tensor4D;
  const w = randn(rng, [2, 5]) as tf.Tensor2D;
  const noise = randn(rng, [2, 6, 6, 1]) as tf.Tensor4D;
  const target = randn(rng, [2, 6, 6, 3]);
  const loss = () => tf.tidy(() => tf.sum(tf.mul(rgb.apply(conv.apply(x, w, noise), w), target)) as tf.Scalar);
  const vars = new Map([...conv.namedVariables('conv/'), ...rgb.namedVariables('rgb/')]);
  const { grads } = tf.variableGrads(loss, [...vars.values()]);
  const eps = 1e-2;
  let checked = 0;
  for (const [name, v] of vars) {
    const g = grads[v.name].dataSync();
    const base = v.dataSync().slice();
    for (const i of [0, Math.floor(base.length / 2), base.length - 1]) {
      const at = (d: number): number => {
        const c = base.slice();
        c[i] += d;
        tf.tidy(() => v.assign(tf.tensor(c, v.shape)));
        return loss().dataSync()[0];
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
      assert.ok(Math.abs(fd - g[i]) < 2e-2 * Math.max(1, Math.abs(g[i])), `${name}[${i}]: autodiff ${g[i]} vs FD ${fd}`);
      checked++;
    }
  }
  assert.equal(vars.size, 9);
  assert.equal(checked, 3 * vars.size);
  tf.dispose([x, w, noise, target, ...Object.values(grads)]);
  conv.dispose();
  rgb.dispose();
});
