import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { compareArrays, compareWithCpu, evaluateOn } from '../../src/engine/compare.js';
import { conv2dKernel, convCosts, convTuning } from '../../src/engine/kernels/conv2d.js';
import { conv2dBackpropFilterKernel, filterGradTuning } from '../../src/engine/kernels/conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel, inputGradTuning } from '../../src/engine/kernels/conv2d-backprop-input.js';
import { depthwiseBackpropFilterKernel, depthwiseBackpropInputKernel } from '../../src/engine/kernels/depthwise-backprop.js';
import type { Pad } from '../../src/engine/kernels/wasm-util.js';
import { Rng } from '../../src/engine/random.js';

const TOLERANCE = 1e-4;
const CONFIGS = 24;

type Shape4 = [number, number, number, number];
interface ConvCase {
  xShape: Shape4;
  filterShape: Shape4;
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dyShape: Shape4;
  label: string;
}

const KERNELS = [1, 3, 4, 5];

/**
 * A random convolution that still sweeps the listed features: config i cycles kernel size, stride and padding
 * mode, and channel counts include 1 and 3. `depthwise` makes the last filter axis a channel multiplier.
 */
function randomCase(rng: Rng, i: number, depthwise: boolean, dilation = 1): ConvCase {
  for (;;) {
    const kh = KERNELS[i % 4];
    const kw = i % 5 === 4 ? KERNELS[rng.int(4)] : kh;
    const s = [1, 2][(i >> 2) % 2];
    const strides: [number, number] = i % 7 === 6 ? [s, 3 - s] : [s, s];
    const d = dilation;
    const ci = [1, 3, 2, 8, 16, 5][i % 6];
    const last = depthwise ? [1, 2, 1, 3][i % 4] : [4, 1, 3, 8, 6][i % 5];
    const n = 1 + rng.int(4);
    const h = 3 + rng.int(10);
    const w = 3 + rng.int(10);
    let pad: Pad;
    let dimRoundingMode: ConvCase['dimRoundingMode'];
    switch (i % 4 === 3 ? 3 : i % 3) {
      case 0: pad = 'same'; break;
      case 1: pad = 'valid'; break;
      case 2: pad = [[0, 0], [rng.int(kh + 1), rng.int(kh + 1)], [rng.int(kw + 1), rng.int(kw + 1)], [0, 0]]; break;
      default:
        pad = rng.int(3);
        dimRoundingMode = (['floor', 'round', 'ceil'] as const)[rng.int(3)];
    }
    const xShape: Shape4 = [n, h, w, ci];
    const filterShape: Shape4 = [kh, kw, ci, last];
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, [d, d], pad, dimRoundingMode, depthwise);
    if (info.outHeight < 1 || info.outWidth < 1) continue;
    const label = `x=${xShape} f=${filterShape} s=${strides} d=${d} pad=${JSON.stringify(pad)} ${dimRoundingMode ?? ''}`;
    return { xShape, filterShape, strides, dilations: [d, d], pad, dimRoundingMode, dyShape: info.outShape, label };
  }
}

function attrsOf(c: ConvCase, extra: tf.NamedAttrMap): tf.NamedAttrMap {
  const attrs: tf.NamedAttrMap = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilations, ...extra };
  if (c.dimRoundingMode !== undefined) attrs.dimRoundingMode = c.dimRoundingMode;
  return attrs;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

async function assertClose(compute: () => tf.Tensor | tf.Tensor[], label: string): Promise<void> {
  let c: Awaited<ReturnType<typeof compareWithCpu>>;
  try {
    c = await compareWithCpu(compute);
  } catch (e) {
    throw new Error(`${label}: ${String(e)}`);
  }
  assert.ok(c.maxRelError <= TOLERANCE, `${label}: max rel. error ${c.maxRelError}`);
}

/** Zero-inserted filter: the dilated filter written out at dilation 1. */
function dilateFilter(w: Float32Array, shape: Shape4, d: number): { values: Float32Array; shape: Shape4 } {
  const [kh, kw, c, m] = shape;
  const eh = (kh - 1) * d + 1;
  const ew = (kw - 1) * d + 1;
  const out = new Float32Array(eh * ew * c * m);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) out.set(w.subarray((y * kw + x) * c * m, (y * kw + x + 1) * c * m), (y * d * ew + x * d) * c * m);
  }
  return { values: out, shape: [eh, ew, c, m] };
}

test('the wasm backend runs the project conv gradient kernels', async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(tf.getKernel('Conv2D', 'wasm').kernelFunc, conv2dKernel);
  assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm').kernelFunc, conv2dBackpropFilterKernel);
  assert.equal(tf.getKernel('Conv2DBackpropInput', 'wasm').kernelFunc, conv2dBackpropInputKernel);
  assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm').kernelFunc, depthwiseBackpropFilterKernel);
  assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm').kernelFunc, depthwiseBackpropInputKernel);
});

test('Conv2DBackpropFilter matches cpu on random configurations', async () => {
  await initBackend('wasm');
  const rng = new Rng(101);
  for (let i = 0; i < CONFIGS; i++) {
    const c = randomCase(rng, i, false);
    const x = rng.normalArray(size(c.xShape));
    const dy = rng.normalArray(size(c.dyShape));
    // Every strategy on every case; every fourth with a tiny im2col budget, so the batch-chunked paths run too.
    for (const strategy of ['im2col', 'swapped', 'taps'] as const) {
      filterGradTuning.strategy = strategy;
      filterGradTuning.maxColsFloats = i % 4 === 1 ? 64 : 1 << 24;
      try {
        await assertClose(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, c.xShape), dy: tf.tensor4d(dy, c.dyShape) },
          attrsOf(c, { filterShape: c.filterShape, dilations: 1 })) as tf.Tensor, `${strategy} ${c.label}`);
        assert.equal(filterGradTuning.lastPath, strategy);
      } finally {
        filterGradTuning.strategy = 'auto';
        filterGradTuning.maxColsFloats = 1 << 24;
      }
    }
  }
});

test('Conv2DBackpropInput matches cpu on random configurations', async () => {
  await initBackend('wasm');
  const rng = new Rng(102);
  for (let i = 0; i < CONFIGS; i++) {
    const c = i % 6 === 5 ? wholeWindowCase(rng, i) : randomCase(rng, i, false);
    const w = rng.normalArray(size(c.filterShape));
    const dy = rng.normalArray(size(c.dyShape));
    // Both paths on every case (and the automatic choice); every fourth with a tiny col2im budget (chunks).
    for (const strategy of ['phase', 'col2im', 'auto'] as const) {
      inputGradTuning.strategy = strategy;
      inputGradTuning.maxColsFloats = i % 4 === 1 ? 64 : 1 << 23;
      try {
        await assertClose(() => tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor4d(dy, c.dyShape), filter: tf.tensor4d(w, c.filterShape) },
          attrsOf(c, { inputShape: c.xShape, dilations: 1 })) as tf.Tensor, `${strategy} ${c.label}`);
        if (strategy !== 'auto') assert.equal(inputGradTuning.lastPath, strategy);
      } finally {
        inputGradTuning.strategy = 'auto';
        inputGradTuning.maxColsFloats = 1 << 23;
      }
    }
  }
});

/** A conv whose window covers the whole input ('valid', output 1x1), as in a bottleneck layer. */
function wholeWindowCase(rng: Rng, i: number): ConvCase {
  const kh = 1 + rng.int(5);
  const kw = 1 + rng.int(5);
  const xShape: Shape4 = [1 + rng.int(4), kh, kw, [1, 3, 8, 16][i % 4]];
  const filterShape: Shape4 = [kh, kw, xShape[3], [1, 5, 12][i % 3]];
  const s = 1 + rng.int(2);
  return {
    xShape, filterShape, strides: [s, s], dilations: [1, 1], pad: 'valid', dyShape: [xShape[0], 1, 1, filterShape[3]],
    label: `x=${xShape} f=${filterShape} s=${s} whole window`,
  };
}

test('Conv2D matches cpu on random configurations for every path', async () => {
  await initBackend('wasm');
  const rng = new Rng(108);
  for (let i = 0; i < CONFIGS; i++) {
    // Every third case dilated (strided and dilated at once too: the kernel must hold even where the op refuses).
    const c = i % 6 === 5 ? wholeWindowCase(rng, i) : randomCase(rng, i, false, i % 3 === 2 ? 2 : 1);
    const x = rng.normalArray(size(c.xShape));
    const w = rng.normalArray(size(c.filterShape));
    for (const strategy of ['xnnpack', 'im2col', 'taps', 'auto'] as const) {
      convTuning.strategy = strategy;
      convTuning.maxColsFloats = i % 4 === 1 ? 64 : 1 << 23;
      try {
        await assertClose(() => tf.engine().runKernel('Conv2D', { x: tf.tensor4d(x, c.xShape), filter: tf.tensor4d(w, c.filterShape) },
          attrsOf(c, {})) as tf.Tensor, `${strategy} ${c.label}`);
        if (strategy !== 'auto') assert.equal(convTuning.lastPath, strategy);
      } finally {
        convTuning.strategy = 'auto';
        convTuning.maxColsFloats = 1 << 23;
      }
    }
  }
});

test('Conv2D sends a filter it has seen before to XNNPACK, with the same results', async () => {
  await initBackend('wasm');
  const rng = new Rng(109);
  // A new filter of this shape is cheaper by im2col (the XNNPACK operator creation would dominate).
  const xShape: Shape4 = [2, 8, 8, 128];
  const filterShape: Shape4 = [4, 4, 128, 64];
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, 2, 1, 'same');
  const fresh = convCosts(info, true);
  assert.ok(fresh.im2col < fresh.xnnpack && fresh.im2col < fresh.taps);
  const seen = convCosts(info, false);
  assert.ok(seen.xnnpack < seen.im2col && seen.xnnpack < seen.taps);
  const xv = rng.normalArray(size(xShape));
  const wv = rng.normalArray(size(filterShape));
  const [expected] = await evaluateOn('cpu', () => tf.conv2d(tf.tensor4d(xv, xShape), tf.tensor4d(wv, filterShape), 2, 'same'));
  const x = tf.tensor4d(xv, xShape);
  const f = tf.tensor4d(wv, filterShape);
  const run = () => tf.tidy(() => tf.conv2d(x, f, 2, 'same').dataSync() as Float32Array);
  const paths: string[] = [];
  const results: Float32Array[] = [];
  for (let i = 0; i < 3; i++) {
    results.push(run());
    paths.push(convTuning.lastPath);
  }
  assert.deepEqual(paths, ['im2col', 'xnnpack', 'xnnpack']);
  for (const r of results) assert.ok(compareArrays(r, expected).maxRelError <= TOLERANCE);
  assert.ok(compareArrays(results[0], results[1]).maxRelError <= TOLERANCE);
  assert.deepEqual(results[1], results[2]);
  // The same values in a new tensor are a new filter again. (Not f.clone(): on wasm a clone shares f's buffer, see
  // src/engine/kernels/identity.ts, so XNNPACK's operator for f is still valid for it.)
  const f2 = tf.tensor4d(wv, filterShape);
  tf.tidy(() => tf.conv2d(x, f2, 2, 'same').dataSync());
  assert.equal(convTuning.lastPath, 'im2col');
  tf.dispose([x, f, f2]);
});

test('DepthwiseConv2dNativeBackpropFilter matches cpu on random configurations', async () => {
  await initBackend('wasm');
  const rng = new Rng(103);
  for (let i = 0; i < CONFIGS; i++) {
    const c = randomCase(rng, i, true);
    const x = rng.normalArray(size(c.xShape));
    const dy = rng.normalArray(size(c.dyShape));
    await assertClose(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor4d(x, c.xShape), dy: tf.tensor4d(dy, c.dyShape) },
      attrsOf(c, { filterShape: c.filterShape })) as tf.Tensor, c.label);
  }
});

test('DepthwiseConv2dNativeBackpropInput matches cpu on random configurations', async () => {
  await initBackend('wasm');
  const rng = new Rng(104);
  for (let i = 0; i < CONFIGS; i++) {
    const c = randomCase(rng, i, true);
    const w = rng.normalArray(size(c.filterShape));
    const dy = rng.normalArray(size(c.dyShape));
    await assertClose(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor4d(dy, c.dyShape), filter: tf.tensor4d(w, c.filterShape) },
      attrsOf(c, { inputShape: c.xShape })) as tf.Tensor, c.label);
  }
});

// tfjs's cpu depthwise backprops use the dilation only for shapes and padding, not in their loops, so with
// dilation the reference is the cpu kernel at dilation 1 with the zero-inserted filter: the true adjoint.
test('dilated depthwise gradients equal the gradients of the zero-inserted filter', async () => {
  await initBackend('wasm');
  const rng = new Rng(105);
  for (let i = 0; i < 20; i++) {
    // Strided and dilated at once only reaches the kernel directly (the ops refuse it), but it must hold too.
    const d = 2 + (i % 2);
    const c = randomCase(rng, i, true, d);
    const x = rng.normalArray(size(c.xShape));
    const w = rng.normalArray(size(c.filterShape));
    const dy = rng.normalArray(size(c.dyShape));
    const wide = dilateFilter(w, c.filterShape, d);
    const flat = { ...c, dilations: [1, 1] as [number, number] };
    const [gx, gw] = await evaluateOn('wasm', () => [
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor4d(dy, c.dyShape), filter: tf.tensor4d(w, c.filterShape) },
        attrsOf(c, { inputShape: c.xShape })) as tf.Tensor,
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor4d(x, c.xShape), dy: tf.tensor4d(dy, c.dyShape) },
        attrsOf(c, { filterShape: c.filterShape })) as tf.Tensor,
    ]);
    const [rx, rwWide] = await evaluateOn('cpu', () => [
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor4d(dy, c.dyShape), filter: tf.tensor4d(wide.values, wide.shape) },
        attrsOf(flat, { inputShape: c.xShape })) as tf.Tensor,
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor4d(x, c.xShape), dy: tf.tensor4d(dy, c.dyShape) },
        attrsOf(flat, { filterShape: wide.shape })) as tf.Tensor,
    ]);
    // Keep the taps of the wide filter gradient that correspond to real filter taps.
    const [kh, kw, ch, m] = c.filterShape;
    const rw = new Float32Array(gw.length);
    for (let y = 0; y < kh; y++) {
      for (let xx = 0; xx < kw; xx++) {
        const src = (y * d * wide.shape[1] + xx * d) * ch * m;
        rw.set(rwWide.subarray(src, src + ch * m), (y * kw + xx) * ch * m);
      }
    }
    for (const [a, b, what] of [[gx, rx, 'input'], [gw, rw, 'filter']] as const) {
      const cmp = compareArrays(a, b);
      assert.ok(cmp.maxRelError <= TOLERANCE, `${what} ${c.label}: max rel. error ${cmp.maxRelError}`);
    }
  }
});

test('conv2d, conv2dTranspose and depthwiseConv2d gradients through tf.grads match cpu', async () => {
  await initBackend('wasm');
  const rng = new Rng(106);
  for (let i = 0; i < CONFIGS; i++) {
    // The gradient ops do not pass dimRoundingMode on, so the public path is swept without it.
    let c = randomCase(rng, i, false);
    while (c.dimRoundingMode !== undefined) c = randomCase(rng, i + 1, false);
    const x = rng.normalArray(size(c.xShape));
    const w = rng.normalArray(size(c.filterShape));
    const r = rng.normalArray(size(c.dyShape));
    await assertClose(() => tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad).mul(tf.tensor4d(r, c.dyShape)).sum())(
      [tf.tensor4d(x, c.xShape), tf.tensor4d(w, c.filterShape)]), `conv2d ${c.label}`);
    // Transposed conv: its gradients are a forward conv and Conv2DBackpropFilter with x and dy swapped.
    const up = rng.normalArray(size(c.xShape));
    await assertClose(() => tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, c.xShape, c.strides, c.pad).mul(tf.tensor4d(up, c.xShape)).sum())(
      [tf.tensor4d(r, c.dyShape), tf.tensor4d(w, c.filterShape)]), `conv2dTranspose ${c.label}`);

    let dc = randomCase(rng, i, true);
    while (dc.dimRoundingMode !== undefined) dc = randomCase(rng, i + 1, true);
    const dx = rng.normalArray(size(dc.xShape));
    const dw = rng.normalArray(size(dc.filterShape));
    const dr = rng.normalArray(size(dc.dyShape));
    await assertClose(() => tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, dc.strides, dc.pad).mul(tf.tensor4d(dr, dc.dyShape)).sum())(
      [tf.tensor4d(dx, dc.xShape), tf.tensor4d(dw, dc.filterShape)]), `depthwiseConv2d ${dc.label}`);
  }
});

test('the kernels free every intermediate on the wasm heap', async () => {
  await initBackend('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const rng = new Rng(107);
  const x = tf.tensor4d(rng.normalArray(2 * 9 * 9 * 3), [2, 9, 9, 3]);
  const w = tf.tensor4d(rng.normalArray(4 * 4 * 3 * 5), [4, 4, 3, 5]);
  const dw = tf.tensor4d(rng.normalArray(3 * 3 * 3 * 2), [3, 3, 3, 2]);
  const step = () => tf.tidy(() => {
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').square().sum())([x, w]);
    const [hx, hw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').square().sum())([x, dw]);
    // A transposed conv too: its forward is Conv2DBackpropInput, its input gradient a Conv2D.
    const y = tf.conv2d(x, w, 2, 'same');
    const [tx] = tf.grads((a: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, w, [2, 9, 9, 3], 2, 'same').square().sum())([y]);
    return tf.addN([gx.sum(), gw.sum(), hx.sum(), hw.sum(), tx.sum()]).dataSync();
  });
  step();
  const ids = backend.numDataIds();
  const tensors = tf.memory().numTensors;
  try {
    // Every path of the three conv kernels, each once with a budget small enough to chunk the batch.
    for (const strategy of ['im2col', 'swapped', 'taps'] as const) {
      filterGradTuning.strategy = strategy;
      for (const cap of [1 << 24, 300]) {
        filterGradTuning.maxColsFloats = cap;
        step();
      }
    }
    filterGradTuning.strategy = 'auto';
    filterGradTuning.maxColsFloats = 1 << 24;
    for (const strategy of ['xnnpack', 'im2col', 'taps'] as const) {
      convTuning.strategy = strategy;
      for (const cap of [1 << 23, 300]) {
        convTuning.maxColsFloats = cap;
        step();
      }
    }
    convTuning.strategy = 'auto';
    convTuning.maxColsFloats = 1 << 23;
    for (const strategy of ['phase', 'col2im'] as const) {
      inputGradTuning.strategy = strategy;
      for (const cap of [1 << 23, 300]) {
        inputGradTuning.maxColsFloats = cap;
        step();
      }
    }
  } finally {
    filterGradTuning.strategy = 'auto';
    filterGradTuning.maxColsFloats = 1 << 24;
    convTuning.strategy = 'auto';
    convTuning.maxColsFloats = 1 << 23;
    inputGradTuning.strategy = 'auto';
    inputGradTuning.maxColsFloats = 1 << 23;
  }
  assert.equal(backend.numDataIds(), ids);
  assert.equal(tf.memory().numTensors, tensors);
  tf.dispose([x, w, dw]);
});
