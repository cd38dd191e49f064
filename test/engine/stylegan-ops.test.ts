// The fused StyleGAN ops (src/engine/ops/bias-act.ts, box-resample.ts, modulation.ts) and the no-copy Identity/Cast
// wasm kernels: values, gradients and (where R1 passes) second-order gradients of the loop kernels on wasm and on cpu,
// each against the tf-ops form of the same op evaluated on tfjs's cpu backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { compareArrays, evaluateOn } from '../../src/engine/compare.js';
import { identityTuning } from '../../src/engine/kernels/identity.js';
import { biasLrelu } from '../../src/engine/ops/bias-act.js';
import { boxDownsample2x } from '../../src/engine/ops/box-resample.js';
import { loopKernelTuning } from '../../src/engine/ops/loop-kernel.js';
import { modulatedAct, scaleChannels } from '../../src/engine/ops/modulation.js';
import { Rng } from '../../src/engine/random.js';
import { Discriminator, Generator } from '../../src/models/stylegan/index.js';

const TOL = 1e-4;

before(async () => {
  await initBackend('wasm');
});
after(() => {
  loopKernelTuning.enabled = true;
});

/** Random values with a few exact zeros (the leaky ReLU's kink) mixed in. */
function values(rng: Rng, n: number, zeros = true): Float32Array {
  const v = rng.normalArray(n);
  if (zeros) for (let i = 0; i < n; i += 17) v[i] = 0;
  return v;
}

/** `compute` with the loop kernels on `backend`, against the tf-ops forms on cpu; every output within TOL. */
async function checkAgainstReference(label: string, compute: () => tf.Tensor[]): Promise<void> {
  const expected = await (async () => {
    loopKernelTuning.enabled = false;
    try {
      return await evaluateOn('cpu', compute);
    } finally {
      loopKernelTuning.enabled = true;
    }
  })();
  for (const backend of ['wasm', 'cpu']) {
    const actual = await evaluateOn(backend, compute);
    assert.equal(actual.length, expected.length);
    actual.forEach((a, i) => {
      const c = compareArrays(a, expected[i]);
      assert.ok(c.maxRelError <= TOL, `${label} on ${backend}, output ${i}: relative error ${c.maxRelError}`);
    });
  }
}

test('biasLrelu: values, gradients and second-order gradients match the tf-ops form (any rank, with and without bias)', async () => {
  const rng = new Rng(11);
  for (const shape of [[2, 5, 6, 7], [3, 9], [4, 3, 3, 1], [2, 8, 8, 32]]) {
    const c = shape[shape.length - 1];
    const size = shape.reduce((a, b) => a * b, 1);
    const xv = values(rng, size);
    const bv = values(rng, c, false);
    const wv = rng.normalArray(size);
    for (const withBias of [true, false]) {
      await checkAgainstReference(`biasLrelu ${shape} bias=${withBias}`, () => {
        const x = tf.tensor(xv, shape);
        const b = withBias ? tf.tensor1d(bv) : undefined;
        const w = tf.tensor(wv, shape);
        const f = (xx: tf.Tensor, bb?: tf.Tensor) => biasLrelu(xx, bb as tf.Tensor1D | undefined);
        const y = f(x, b);
        // First order in x and b (a weighted sum, so every element's slope is checked).
        const loss = (xx: tf.Tensor, bb?: tf.Tensor) => tf.sum(tf.mul(f(xx, bb), w));
        const g1 = withBias ? tf.grads((xx: tf.Tensor, bb: tf.Tensor) => loss(xx, bb))([x, b!]) : [tf.grad((xx: tf.Tensor) => loss(xx))(x)];
        // Second order, R1-style: d/d(x, b) of |d loss / dx|^2 (weighted so it depends on the slopes).
        const r1 = (xx: tf.Tensor, bb?: tf.Tensor) => tf.sum(tf.square(tf.mul(tf.grad((z: tf.Tensor) => tf.sum(tf.mul(f(tf.mul(z, z), bb), w)))(xx), w)));
        const g2 = withBias ? tf.grads((xx: tf.Tensor, bb: tf.Tensor) => r1(xx, bb))([x, b!]) : [tf.grad((xx: tf.Tensor) => r1(xx))(x)];
        return [y, ...g1, ...g2];
      });
    }
  }
});

test('boxDownsample2x: the 2x2 mean, its gradient and second-order gradient match reshape + mean', async () => {
  const rng = new Rng(12);
  for (const shape of [[1, 2, 2, 1], [2, 6, 4, 3], [3, 16, 16, 8]]) {
    const size = shape.reduce((a, b) => a * b, 1);
    const xv = values(rng, size);
    const wv = rng.normalArray(size / 4);
    await checkAgainstReference(`boxDownsample2x ${shape}`, () => {
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const w = tf.tensor(wv, [shape[0], shape[1] / 2, shape[2] / 2, shape[3]]);
      const f = (z: tf.Tensor) => tf.sum(tf.mul(boxDownsample2x(z as tf.Tensor4D), w));
      const g1 = tf.grad(f)(x);
      const g2 = tf.grad((z: tf.Tensor) => tf.sum(tf.square(tf.grad((u: tf.Tensor) => f(tf.mul(u, u)))(z))))(x);
      return [boxDownsample2x(x), g1, g2];
    });
  }
  assert.throws(() => boxDownsample2x(tf.zeros([1, 3, 4, 1])), /even/);
});

test('scaleChannels: x times a per-sample channel scale, gradients for x and s', async () => {
  const rng = new Rng(13);
  for (const shape of [[1, 1, 1, 1], [2, 5, 3, 4], [4, 8, 8, 16]]) {
    const [n, , , c] = shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const xv = values(rng, size);
    const sv = values(rng, n * c, false);
    const wv = rng.normalArray(size);
    await checkAgainstReference(`scaleChannels ${shape}`, () => {
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const s = tf.tensor2d(sv, [n, c]);
      const w = tf.tensor(wv, shape);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(scaleChannels(a as tf.Tensor4D, b as tf.Tensor2D), w)))([x, s]);
      return [scaleChannels(x, s), ...grads];
    });
  }
});

test('modulatedAct: demodulation, noise (per sample, shared or none), bias and leaky ReLU; all five gradients', async () => {
  const rng = new Rng(14);
  for (const [shape, noiseBatch] of [[[2, 5, 3, 4], 2], [[3, 4, 4, 6], 1], [[2, 3, 5, 3], 0], [[4, 16, 16, 32], 4]] as const) {
    const [n, h, w, c] = shape;
    const size = n * h * w * c;
    const yv = values(rng, size);
    const dv = values(rng, n * c, false);
    const bv = values(rng, c, false);
    const nv = rng.normalArray(Math.max(1, noiseBatch) * h * w);
    const sv = rng.normalArray(1);
    const wv = rng.normalArray(size);
    await checkAgainstReference(`modulatedAct ${shape} noise ${noiseBatch}`, () => {
      const y = tf.tensor4d(yv, shape as unknown as [number, number, number, number]);
      const d = tf.tensor2d(dv, [n, c]);
      const b = tf.tensor1d(bv);
      const z = tf.tensor4d(nv, [Math.max(1, noiseBatch), h, w, 1]);
      const st = tf.tensor1d(sv);
      const wt = tf.tensor(wv, shape as unknown as number[]);
      if (noiseBatch === 0) {
        const f = (a: tf.Tensor, dd: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(modulatedAct(a as tf.Tensor4D, dd as tf.Tensor2D, bb as tf.Tensor1D), wt));
        return [modulatedAct(y, d, b), ...tf.grads(f)([y, d, b])];
      }
      const f = (a: tf.Tensor, dd: tf.Tensor, bb: tf.Tensor, zz: tf.Tensor, ss: tf.Tensor) =>
        tf.sum(tf.mul(modulatedAct(a as tf.Tensor4D, dd as tf.Tensor2D, bb as tf.Tensor1D, zz as tf.Tensor4D, ss), wt));
      return [modulatedAct(y, d, b, z, st), ...tf.grads(f)([y, d, b, z, st])];
    });
  }
});

test('StyleGAN G and D with the fused ops give the same losses, gradients and R1 gradients as the tf-ops forms', async () => {
  await tf.setBackend('wasm');
  const config = { resolution: 16, zDim: 8, wDim: 8, mappingLayers: 2, generatorChannels: { 4: 8, 8: 6, 16: 4 }, discriminatorChannels: { 4: 8, 8: 6, 16: 4 } };
  const g = new Generator(new Rng(3), config);
  const d = new Discriminator(new Rng(4), config);
  // Non-zero noise strengths and biases so that every fused term matters.
  tf.tidy(() => {
    const rng = new Rng(5);
    for (const v of [...g.variables(), ...d.variables()]) if (v.shape.length <= 1) v.assign(tf.tensor(rng.normalArray(v.size, 0.3), v.shape));
  });
  const rng = new Rng(6);
  const z = tf.tensor2d(rng.normalArray(4 * 8), [4, 8]);
  const noise = g.makeNoise(new Rng(7), 4);
  const reals = tf.tensor4d(rng.normalArray(4 * 16 * 16 * 3), [4, 16, 16, 3]);
  const run = (): Float32Array[] => {
    const gStep = tf.variableGrads(() => tf.mean(tf.softplus(tf.neg(d.logits(g.synthesize(g.mapping(z), { noise }))))) as tf.Scalar, g.variables());
    const r1 = tf.variableGrads(() => {
      const gx = tf.grad((x: tf.Tensor) => tf.sum(d.logits(x as tf.Tensor4D)))(reals);
      return tf.add(tf.mean(tf.softplus(tf.neg(d.logits(reals)))), tf.sum(tf.square(gx))) as tf.Scalar;
    }, d.variables());
    const out = [gStep.value, ...g.variables().map((v) => gStep.grads[v.name]), r1.value, ...d.variables().map((v) => r1.grads[v.name])].map((t) => Float32Array.from(t.dataSync()));
    tf.dispose([gStep.value, r1.value, ...Object.values(gStep.grads), ...Object.values(r1.grads)]);
    return out;
  };
  const fused = run();
  loopKernelTuning.enabled = false;
  identityTuning.share = false;
  let reference: Float32Array[];
  try {
    reference = run();
  } finally {
    loopKernelTuning.enabled = true;
    identityTuning.share = true;
  }
  fused.forEach((a, i) => {
    const c = compareArrays(a, reference[i]);
    assert.ok(c.maxRelError <= 2e-4, `output ${i}: relative error ${c.maxRelError}`);
  });
  // Flat tensor count across repeated steps.
  const before = tf.memory().numTensors;
  run();
  run();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([z, reals, ...noise]);
  g.dispose();
  d.dispose();
});

test('wasm Identity and same-dtype Cast share the buffer; disposing either side leaves the other intact', async () => {
  await tf.setBackend('wasm');
  const start = tf.memory();
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  const c = tf.cast(x, 'float32');
  const i = tf.cast(x, 'int32');
  assert.equal(tf.memory().numBytes - start.numBytes, 4 * 12);
  x.dispose();
  assert.deepEqual([...y.dataSync()], [1, 2, 3]);
  y.dispose();
  assert.deepEqual([...c.dataSync()], [1, 2, 3]);
  assert.deepEqual([...i.dataSync()], [1, 2, 3]);
  assert.equal(i.dtype, 'int32');
  c.dispose();
  i.dispose();
  const s = tf.tensor1d(['a', 'b'], 'string');
  assert.deepEqual(tf.clone(s).dataSync(), ['a', 'b']);
  s.dispose();
  assert.equal(tf.memory().numTensors, start.numTensors + 1); // the string clone above, not disposed on purpose
});

test('Conv2DBackpropFilter, stride-1 im2col over the padded row width (im2colFlat) matches the cpu backend', async () => {
  await tf.setBackend('wasm');
  const { filterGradTuning } = await import('../../src/engine/kernels/conv2d-backprop-filter.js');
  const rng = new Rng(15);
  const saved = { ...filterGradTuning };
  try {
    filterGradTuning.strategy = 'im2col';
    filterGradTuning.flatColumns = true;
    let i = 0;
    for (const [kh, kw] of [[3, 3], [1, 3], [5, 2], [2, 2], [1, 1]]) {
      for (const pad of ['same', 'valid', [[0, 0], [2, 0], [0, 1], [0, 0]]] as const) {
        const n = 1 + (i % 3);
        const h = 4 + rng.int(6);
        const w = 16 + rng.int(6);
        const ci = [1, 3, 8][i % 3];
        const co = [2, 8, 33][(i >> 1) % 3];
        // Small caps force the batch into chunks on some configurations.
        filterGradTuning.maxColsFloats = i % 2 ? 1 << 24 : 200;
        i++;
        const xv = rng.normalArray(n * h * w * ci);
        const info = tf.backend_util.computeConv2DInfo([n, h, w, ci], [kh, kw, ci, co], 1, 1, pad as never);
        const dyv = rng.normalArray(n * info.outHeight * info.outWidth * co);
        const compute = () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(xv, [n, h, w, ci]), dy: tf.tensor4d(dyv, [n, info.outHeight, info.outWidth, co]) }, {
            strides: 1, pad, dataFormat: 'NHWC', filterShape: [kh, kw, ci, co],
          } as never) as tf.Tensor;
        const [actual] = await evaluateOn('wasm', compute);
        const [expected] = await evaluateOn('cpu', compute);
        const c = compareArrays(actual, expected);
        assert.ok(c.maxRelError <= TOL, `k ${kh}x${kw} pad ${JSON.stringify(pad)} x [${n},${h},${w},${ci}] co ${co}: ${c.maxRelError}`);
      }
    }
  } finally {
    Object.assign(filterGradTuning, saved);
  }
});
