import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { DataParallel } from '../../src/engine/parallel/data-parallel.js';
import { Rng } from '../../src/engine/random.js';
import { renderView } from '../../src/geometry/render.js';
import { shade } from '../../src/geometry/shading.js';
import {
  PHOTOGEO_DEFAULTS,
  PhotoGeoModel,
  type PhotoGeoOverrides,
  type PhotoGeoPrediction,
  createReplica,
  depthSmoothness,
  flipWidth,
  photoGeoConfig,
  photoGeoLoss,
  photometricLoss,
} from '../../src/models/photogeo/index.js';

before(async () => {
  await initBackend('wasm');
});

const S = 64;
/** Narrow networks for the tests that train: the architecture is the same, the cost a fraction. */
const TINY: PhotoGeoOverrides = {
  depthNet: { nf: 8, zdim: 32 },
  albedoNet: { nf: 8, zdim: 32 },
  lightNet: { nf: 8 },
  viewNet: { nf: 8 },
  confNet: { nf: 8, zdim: 16 },
};

function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Face-like test images: a left-right symmetric bump with a symmetric albedo, shaded and seen from a few views. */
function syntheticFaces(n: number): tf.Tensor4D {
  return tf.tidy(() => {
    const depth = new Float32Array(S * S);
    const albedo = new Float32Array(S * S * 3);
    const c = (S - 1) / 2;
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const x = (j - c) / c;
        const y = (i - c) / c;
        const r2 = (x * x) / 0.45 + (y * y) / 0.7;
        depth[i * S + j] = 1.02 - 0.08 * Math.exp(-r2) - 0.02 * Math.exp(-(x * x + (y - 0.1) ** 2) / 0.02);
        const eyes = Math.exp(-((Math.abs(x) - 0.35) ** 2 + (y + 0.25) ** 2) / 0.01);
        albedo.set([0.5 - 0.9 * eyes, 0.2 - 0.6 * eyes - 0.3 * r2, 0.1 - 0.3 * r2], (i * S + j) * 3);
      }
    }
    const d = tf.tile(tf.tensor4d(depth, [1, S, S, 1]), [n, 1, 1, 1]) as tf.Tensor4D;
    const a = tf.tile(tf.tensor4d(albedo, [1, S, S, 3]), [n, 1, 1, 1]) as tf.Tensor4D;
    const lights = [[0.4, 0.6, 0.3, -0.2], [0.5, 0.5, -0.4, 0.1], [0.3, 0.7, 0.0, 0.3], [0.45, 0.5, 0.2, 0.2]];
    const views = [[0, 0.2, 0, 0, 0, 0], [0.1, -0.25, 0.05, 0.02, 0, 0], [-0.1, 0.1, 0, 0, 0.02, 0], [0, -0.1, -0.05, -0.02, 0, 0]];
    const light = tf.tensor2d(Array.from({ length: n }, (_, k) => lights[k % 4]));
    const view = tf.tensor2d(Array.from({ length: n }, (_, k) => views[k % 4]));
    const canonImage = shade(d, a, light).image;
    return renderView({ canonDepth: d, canonImage, view }).image;
  });
}

test('config: defaults in one place, overrides merged per field, bad values rejected', () => {
  const c = photoGeoConfig({ depthNet: { nf: 16 }, lambdaFlip: 1 });
  assert.equal(c.depthNet.nf, 16);
  assert.equal(c.depthNet.zdim, PHOTOGEO_DEFAULTS.depthNet.zdim);
  assert.equal(c.lambdaFlip, 1);
  assert.deepEqual(
    [c.minDepth, c.maxDepth, c.borderDepth, c.rotRangeDeg, c.xyTranslationRange, c.zTranslationRange, c.lambdaPerc, c.lr],
    [0.9, 1.1, 1.04, 60, 0.1, 0, 0, 1e-4],
  );
  assert.throws(() => photoGeoConfig({ imageSize: 128 }), /imageSize must be 64/);
  assert.throws(() => photoGeoConfig({ albedoNet: { nf: 30 } }), /multiple of channelsPerGroup/);
  assert.throws(() => photoGeoConfig({ minDepth: 1.2 }), /minDepth must be below maxDepth/);
  assert.equal(JSON.parse(JSON.stringify(c)).depthNet.nf, 16, 'the config is plain JSON for checkpoints');
});

test('default model: output shapes and ranges, stable unique variable names, no leaked tensors', () => {
  const before = tf.memory().numTensors;
  const model = new PhotoGeoModel(7);
  const named = model.namedVariables();
  assert.equal(tf.memory().numTensors, before + named.size);
  const names = [...named.keys()];
  assert.equal(new Set(names).size, names.length);
  for (const prefix of ['depth/', 'albedo/', 'light/', 'view/', 'conf/']) assert.ok(names.some((n) => n.startsWith(prefix)), prefix);
  assert.ok(names.includes('depth/enc/0/0/w') && names.includes('depth/enc/0/1/gamma') && names.includes('conf/l1/2/0/w'));
  const again = new PhotoGeoModel(7);
  assert.deepEqual([...again.namedVariables().keys()], names);
  assert.equal(maxAbsDiff(named.get('albedo/dec/11/0/w')!, again.namedVariables().get('albedo/dec/11/0/w')!), 0);
  again.dispose();

  const rng = new Rng(8);
  const images = tf.tensor4d(rng.uniformArray(2 * S * S * 3, -1, 1), [2, S, S, 3]);
  const p = model.predict(images);
  assert.deepEqual(p.canonDepth.shape, [2, S, S, 1]);
  assert.deepEqual(p.canonAlbedo.shape, [2, S, S, 3]);
  assert.deepEqual(p.light.shape, [2, 4]);
  assert.deepEqual(p.view.shape, [2, 6]);
  assert.deepEqual(p.confidence!.l1.shape, [2, S, S, 2]);
  assert.equal(p.confidence!.perc, undefined, 'no perceptual head while lambdaPerc is 0');
  const depth = values(p.canonDepth);
  for (let k = 0; k < depth.length; k++) {
    const j = k % S;
    if (j < 2 || j >= S - 2) assert.ok(Math.abs(depth[k] - 1.04) < 1e-6, `border column ${j}: ${depth[k]}`);
    else assert.ok(depth[k] >= 0.9 && depth[k] <= 1.1, `depth ${depth[k]}`);
  }
  assert.ok(values(p.canonAlbedo).every((v) => v >= -1 && v <= 1));
  const light = values(p.light);
  const lightRaw = values(p.lightRaw);
  for (let b = 0; b < 2; b++) {
    for (const i of [0, 1]) assert.ok(light[4 * b + i] >= 0 && light[4 * b + i] <= 1);
    assert.ok(Math.abs(light[4 * b] - (lightRaw[4 * b] / 2 + 0.5)) < 1e-6);
    assert.equal(light[4 * b + 2], lightRaw[4 * b + 2]);
  }
  const view = values(p.view);
  const viewRaw = values(p.viewRaw);
  for (let b = 0; b < 2; b++) {
    for (let i = 0; i < 3; i++) {
      assert.ok(Math.abs(view[6 * b + i]) <= Math.PI / 3 + 1e-6);
      assert.ok(Math.abs(view[6 * b + i] - (viewRaw[6 * b + i] * Math.PI) / 3) < 1e-6);
    }
    for (const i of [3, 4]) assert.ok(Math.abs(view[6 * b + i]) <= 0.1 + 1e-7);
    assert.equal(Math.abs(view[6 * b + 5]), 0);
  }
  assert.ok(values(p.confidence!.l1).every((v) => v > 0));
  tf.dispose(p as unknown as tf.TensorContainer);
  images.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

/** The model with its canonical maps made left-right symmetric (mean of the map and its mirror image). */
class SymmetricModel extends PhotoGeoModel {
  override predict(images: tf.Tensor4D): PhotoGeoPrediction {
    const p = super.predict(images);
    const sym = (x: tf.Tensor4D) => tf.tidy(() => tf.div(tf.add(x, flipWidth(x)), 2) as tf.Tensor4D);
    const out = { ...p, canonDepth: sym(p.canonDepth), canonAlbedo: sym(p.canonAlbedo) };
    tf.dispose([p.canonDepth, p.canonAlbedo]);
    return out;
  }
}

test('flip branch: symmetric input and canonical maps give equal reconstructions; it renders the mirrored maps', () => {
  const images = tf.tidy(() => {
    const faces = syntheticFaces(2);
    return tf.div(tf.add(faces, flipWidth(faces)), 2) as tf.Tensor4D;
  });
  const sym = new SymmetricModel(3, TINY);
  const r = sym.reconstruct(images);
  assert.deepEqual(r.reconFlip!.shape, [2, S, S, 3]);
  assert.ok(values(r.mask).some((v) => v > 0));
  assert.ok(maxAbsDiff(r.recon, r.reconFlip!) < 1e-5, `${maxAbsDiff(r.recon, r.reconFlip!)}`);
  tf.dispose(r as unknown as tf.TensorContainer);
  sym.dispose();

  // In general: the flipped reconstruction is the mirrored depth and albedo, shaded and rendered with the same l, w.
  const model = new PhotoGeoModel(4, TINY);
  const q = model.reconstruct(images);
  const expected = tf.tidy(() => {
    const d = flipWidth(q.canonDepth);
    return renderView({ canonDepth: d, canonImage: shade(d, flipWidth(q.canonAlbedo), q.light).image, view: q.view }).image;
  });
  assert.ok(maxAbsDiff(q.reconFlip!, expected) < 1e-5);
  assert.ok(maxAbsDiff(q.recon, q.reconFlip!) > 1e-3, 'an unsymmetric model reconstructs two different images');
  const noFlip = model.reconstruct(images, { flip: false });
  assert.equal(noFlip.reconFlip, undefined);
  assert.ok(maxAbsDiff(noFlip.recon, q.recon) < 1e-5);
  tf.dispose([q, noFlip, expected] as unknown as tf.TensorContainer);
  model.dispose();
  images.dispose();
});

test('losses: Laplacian NLL, masked mean, smoothness, perceptual hook', () => {
  const a = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
  const b = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
  const mask = tf.tensor4d(Array.from({ length: 16 }, (_, k) => (k < 8 ? 1 : 0)), [1, 4, 4, 1]);
  // Masked-out pixels must not count, however wrong they are.
  const bMasked = tf.tidy(() => tf.add(b, tf.mul(tf.sub(1, mask), 9))) as tf.Tensor4D;
  assert.ok(Math.abs(photometricLoss(a, bMasked, mask).dataSync()[0] - 0.5) < 1e-6);
  const sigma = tf.fill([1, 4, 4, 1], 2) as tf.Tensor4D;
  const nll = photometricLoss(a, b, mask, sigma).dataSync()[0];
  assert.ok(Math.abs(nll - (Math.SQRT2 * 0.5) / 2 - Math.log(2)) < 1e-5, `${nll}`);
  // A plane rising by 0.01 per column: mean |dx| = 0.01, |dy| = 0; over a 0.2 range.
  const plane = tf.tidy(() => tf.reshape(tf.tile(tf.range(0, 0.04, 0.01), [4]), [1, 4, 4, 1])) as tf.Tensor4D;
  assert.ok(Math.abs(depthSmoothness(plane, 0.2).dataSync()[0] - 0.05) < 1e-6);
  tf.dispose([a, b, mask, bMasked, sigma, plane]);

  const images = syntheticFaces(2);
  const model = new PhotoGeoModel(5, { ...TINY, lambdaPerc: 1, lambdaSmooth: 0.1 });
  const r = model.reconstruct(images);
  assert.throws(() => photoGeoLoss(model.config, images, r), /perceptual feature network/);
  const features = (x: tf.Tensor4D) => [tf.avgPool(x, 4, 4, 'valid') as tf.Tensor4D];
  const loss = photoGeoLoss(model.config, images, r, { perceptual: features });
  assert.deepEqual(Object.keys(loss.parts).sort(), ['l1', 'l1Flip', 'perc', 'percFlip', 'smooth']);
  const parts = Object.fromEntries(Object.entries(loss.parts).map(([k, v]) => [k, v.dataSync()[0]]));
  const expected = parts.l1 + 0.5 * parts.l1Flip + (parts.perc + 0.5 * parts.percFlip) + 0.1 * parts.smooth;
  assert.ok(Math.abs(loss.total.dataSync()[0] - expected) < 1e-5);
  tf.dispose([r, loss, images] as unknown as tf.TensorContainer);
  model.dispose();
});

test('default widths: loss is finite and every variable gets a finite, non-zero gradient', () => {
  const model = new PhotoGeoModel(9);
  const images = syntheticFaces(2);
  const vars = model.variables;
  const { value, grads } = tf.variableGrads(() => photoGeoLoss(model.config, images, model.reconstruct(images)).total, vars);
  assert.ok(Number.isFinite(value.dataSync()[0]));
  const names = [...model.namedVariables().entries()];
  for (const [name, v] of names) {
    const g = grads[v.name];
    assert.ok(g, `no gradient for ${name}`);
    const norm = tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]);
    assert.ok(Number.isFinite(norm) && norm > 0, `${name}: gradient norm ${norm}`);
  }
  tf.dispose([value, images, ...Object.values(grads)]);
  model.dispose();
});

test('overfits 4 synthetic faces in 40 Adam steps; tensor count flat across steps', () => {
  const model = new PhotoGeoModel(11, TINY);
  const images = syntheticFaces(4);
  const optimizer = tf.train.adam(1e-3);
  const plainL1 = () => tf.tidy(() => {
    const r = model.reconstruct(images);
    return photometricLoss(r.recon, images, r.mask).dataSync()[0];
  });
  const step = () => {
    const loss = optimizer.minimize(() => photoGeoLoss(model.config, images, model.reconstruct(images)).total, true, model.variables)!;
    const v = loss.dataSync()[0];
    loss.dispose();
    return v;
  };
  const l1Before = plainL1();
  const first = step();
  const count = tf.memory().numTensors;
  let last = first;
  for (let i = 1; i < 40; i++) {
    last = step();
    assert.equal(tf.memory().numTensors, count, `tensor count changed at step ${i}`);
  }
  const l1After = plainL1();
  console.log(`overfit: total ${first.toFixed(3)} -> ${last.toFixed(3)}, masked L1 ${l1Before.toFixed(3)} -> ${l1After.toFixed(3)}`);
  assert.ok(Number.isFinite(last) && last < first - 0.5, `total loss ${first} -> ${last}`);
  assert.ok(l1After < 0.6 * l1Before, `masked L1 ${l1Before} -> ${l1After}`);
  tf.dispose(images);
  optimizer.dispose();
  model.dispose();
});

test('replica: one DataParallel step on the main thread (workers 0) changes the weights', async () => {
  const spec = { moduleUrl: new URL('../../src/models/photogeo/replica.ts', import.meta.url).href, config: { seed: 2, model: TINY } };
  const dp = await DataParallel.create(spec, { workers: 0 });
  try {
    const replica = createReplica(spec.config);
    assert.equal(replica.variables.length, dp.replica.variables.length);
    replica.model.dispose();
    const images = syntheticFaces(2);
    const first = dp.replica.variables[0];
    const before = tf.tensor(Float32Array.from(first.dataSync()), first.shape);
    const loss = await dp.step({ images: { data: Float32Array.from(images.dataSync()), shape: images.shape } });
    assert.ok(Number.isFinite(loss));
    assert.ok(maxAbsDiff(before, first) > 0);
    tf.dispose([images, before]);
  } finally {
    await dp.dispose();
  }
});

test('inference without the confidence net: the same reconstruction and depth, no σ maps', () => {
  const model = new PhotoGeoModel(3, TINY);
  const x = syntheticFaces(2);
  const before = tf.memory().numTensors;
  const full = model.reconstruct(x, { flip: false });
  const lean = model.reconstruct(x, { flip: false, confidence: false });
  assert.ok(full.confidence, 'the config uses confidence: the default runs the net');
  assert.equal(lean.confidence, undefined);
  assert.equal(maxAbsDiff(full.recon, lean.recon), 0);
  assert.equal(maxAbsDiff(full.viewDepth, lean.viewDepth), 0);
  tf.dispose([full as unknown as tf.TensorContainer, lean as unknown as tf.TensorContainer]);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});
