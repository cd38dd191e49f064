import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/engine/backend.js';
import { Rng } from '../../../src/engine/random.js';
import { rayPoints, viewRays } from '../../../src/geometry/rays.js';
import { importanceDepths, mergeSortedDepths, stratifiedDepths, volumeRender } from '../../../src/geometry/volume-render.js';
import { type Cips3dConfig, Cips3dGenerator, cips3dConfig, layerNorm } from '../../../src/models/cips3d/index.js';

// Small enough for a test: 8×8 images, narrow nets.
const TINY: Partial<Cips3dConfig> = {
  resolution: 8,
  zNerfDim: 8,
  wNerfDim: 8,
  zInrDim: 8,
  wInrDim: 8,
  nerfHidden: 16,
  nerfColorHidden: 8,
  featureDim: 6,
  inrWidth: 12,
  coarseSamples: 8,
  fineSamples: 8,
};

function latents(g: Cips3dGenerator, n: number, seed: number) {
  const rng = new Rng(seed);
  return { zNerf: tf.tensor2d(rng.normalArray(n * g.config.zNerfDim), [n, g.config.zNerfDim]), zInr: tf.tensor2d(rng.normalArray(n * g.config.zInrDim), [n, g.config.zInrDim]) };
}

const frontal = (n: number) => new Float32Array(n * 6);

test('CIPS-3D generator: image, aux, depth and opacity of the right shapes and ranges; seeded sampling', async () => {
  await initBackend('wasm');
  const g = new Cips3dGenerator(new Rng(1), TINY);
  const { zNerf, zInr } = latents(g, 2, 2);
  const views = Float32Array.from([0, 0.2, 0, 0, 0, 0, 0.1, -0.3, 0, 0, 0, 0]);
  const out = g.generate(zNerf, zInr, views);
  assert.deepEqual(out.image.shape, [2, 8, 8, 3]);
  assert.deepEqual(out.aux.shape, [2, 8, 8, 3]);
  assert.deepEqual(out.depth.shape, [2, 8, 8, 1]);
  const img = out.image.dataSync();
  assert.ok(img.every((v) => v > -1 && v < 1 && Number.isFinite(v)));
  const op = out.opacity.dataSync();
  const dp = out.depth.dataSync();
  // depth = Σ w t ≤ opacity · far, and ≥ opacity · near.
  for (let i = 0; i < op.length; i++) {
    assert.ok(op[i] >= 0 && op[i] <= 1 + 1e-5);
    assert.ok(dp[i] <= op[i] * g.config.far + 1e-4 && dp[i] >= op[i] * g.config.near - 1e-4, `depth ${dp[i]} opacity ${op[i]}`);
  }
  // Without an rng a render is a function of (z, view); with one, of the seed too.
  const again = g.generate(zNerf, zInr, views).image.dataSync();
  assert.deepEqual(Array.from(again), Array.from(img));
  const seeded = (s: number) => tf.tidy(() => Array.from(g.generate(zNerf, zInr, views, { rng: new Rng(s), densityNoise: 0.5 }).image.dataSync()));
  assert.deepEqual(seeded(3), seeded(3));
  assert.notDeepEqual(seeded(3), seeded(4));
  // The two samples differ (their own latents), and so do two views of one sample.
  const per = 8 * 8 * 3;
  assert.ok(img.slice(0, per).some((v, i) => Math.abs(v - img[per + i]) > 1e-4));
  const turned = tf.tidy(() => g.generate(tf.slice(zNerf, [0, 0], [1, -1]), tf.slice(zInr, [0, 0], [1, -1]), Float32Array.from([0, 0.5, 0, 0, 0, 0])).image.dataSync());
  assert.ok(turned.some((v, i) => Math.abs(v - img[i]) > 1e-4));
  tf.dispose([zNerf, zInr, out.image, out.aux, out.depth, out.opacity]);
  g.dispose();
});

test('CIPS-3D generator: the fine pass equals the NeRF run at the merged coarse + fine depths and rendered directly', async () => {
  await initBackend('wasm');
  const g = new Cips3dGenerator(new Rng(5), TINY);
  const { zNerf, zInr } = latents(g, 2, 6);
  const views = Float32Array.from([0, 0.3, 0, 0, 0, 0, -0.1, 0, 0.1, 0, 0, 0]);
  const c = g.config;
  const P = 64;
  // By hand, without the generator's gather: coarse depths, their weights, importance depths, merge, one NeRF pass.
  const byHand = tf.tidy(() => {
    const { wNerf, wInr } = g.mapping(zNerf, zInr);
    const rays = viewRays(g.camera, views);
    const lengths = tf.tensor1d([...rays.rayLengths, ...rays.rayLengths]);
    const coarse = stratifiedDepths(2 * P, c.coarseSamples, c.near, c.far);
    const nerfAt = (d: Float32Array, k: number) => g.nerf.forward(tf.reshape(rayPoints(rays, tf.tensor3d(d, [2, P, k])), [2, P * k, 3]) as tf.Tensor3D, wNerf);
    const first = nerfAt(coarse, c.coarseSamples);
    const weights = volumeRender({
      sigma: tf.reshape(first.sigma, [2 * P, c.coarseSamples]) as tf.Tensor2D,
      values: tf.zeros([2 * P, c.coarseSamples, 1]),
      depths: tf.tensor2d(coarse, [2 * P, c.coarseSamples]),
      rayLengths: lengths,
    }).weights.dataSync() as Float32Array;
    const fine = importanceDepths(coarse, weights, c.coarseSamples, c.fineSamples);
    const K = c.coarseSamples + c.fineSamples;
    const { merged } = mergeSortedDepths(coarse, c.coarseSamples, fine, c.fineSamples);
    const all = nerfAt(merged, K);
    const r = volumeRender({
      sigma: tf.reshape(all.sigma, [2 * P, K]) as tf.Tensor2D,
      values: tf.reshape(all.features, [2 * P, K, c.featureDim]) as tf.Tensor3D,
      depths: tf.tensor2d(merged, [2 * P, K]),
      rayLengths: lengths,
    });
    const feat = tf.reshape(r.values, [2, P, c.featureDim]) as tf.Tensor3D;
    return { image: g.inr.forward(feat, wInr).dataSync(), depth: r.depth.dataSync() };
  });
  const out = g.generate(zNerf, zInr, views);
  const [image, depth] = [out.image.dataSync(), out.depth.dataSync()];
  byHand.image.forEach((v, i) => assert.ok(Math.abs(v - image[i]) < 1e-5, `image[${i}] ${image[i]} vs ${v}`));
  byHand.depth.forEach((v, i) => assert.ok(Math.abs(v - depth[i]) < 1e-5, `depth[${i}] ${depth[i]} vs ${v}`));
  // …and differs from the coarse pass alone (the fine samples do something).
  const coarseOnly = tf.tidy(() => g.generate(zNerf, zInr, views, { hierarchical: false }).depth.dataSync());
  assert.ok(coarseOnly.some((v, i) => Math.abs(v - depth[i]) > 1e-4));
  tf.dispose([zNerf, zInr, out.image, out.aux, out.depth, out.opacity]);
  g.dispose();
});

test('CIPS-3D generator: every trainable variable gets a gradient; a directional derivative matches finite differences', async () => {
  await initBackend('wasm');
  const g = new Cips3dGenerator(new Rng(7), TINY);
  const { zNerf, zInr } = latents(g, 2, 8);
  const rng = new Rng(9);
  const target = tf.tensor4d(rng.uniformArray(2 * 8 * 8 * 3, -1, 1), [2, 8, 8, 3]);
  const views = Float32Array.from([0, 0.1, 0, 0, 0, 0, 0.05, -0.1, 0, 0, 0, 0]);
  const loss = () => {
    const out = g.generate(zNerf, zInr, views, { rng: new Rng(10) });
    return tf.add(tf.mean(tf.square(tf.sub(out.image, target))), tf.mean(tf.square(tf.sub(out.aux, target)))) as tf.Scalar;
  };
  const { grads, value } = tf.variableGrads(loss);
  for (const [name, v] of g.namedVariables()) {
    const gv = grads[v.name];
    assert.ok(gv, `no gradient for ${name}`);
    assert.ok(tf.tidy(() => tf.max(tf.abs(gv)).dataSync()[0]) > 0, `zero gradient for ${name}`);
  }
  // The derivative along a random direction of the NeRF's feature-head weights, with the fine pass on: the sample
  // positions depend on σ only, so they stay put, and the gradient runs through the depth-order gather.
  const head = g.nerf.featureHead.weight;
  const start = head.clone();
  const dir = tf.tensor(rng.normalArray(head.size), head.shape);
  const auxLoss = () => tf.tidy(() => tf.mean(tf.square(tf.sub(g.generate(zNerf, zInr, views).aux, target))) as tf.Scalar);
  const { grads: headGrads, value: v0 } = tf.variableGrads(auxLoss, [head]);
  const analytic = tf.tidy(() => tf.sum(tf.mul(headGrads[head.name], dir)).dataSync()[0]);
  const at = (h: number) => {
    tf.tidy(() => head.assign(tf.add(start, tf.mul(dir, h))));
    return auxLoss().dataSync()[0];
  };
  const h = 1e-2;
  const numeric = (at(h) - at(-h)) / (2 * h);
  head.assign(start);
  assert.ok(Math.abs(analytic - numeric) < 0.01 * Math.abs(numeric) + 1e-6, `directional derivative ${analytic} vs ${numeric}`);
  tf.dispose([start, dir, v0, headGrads[head.name]]);
  tf.dispose([zNerf, zInr, target, value, ...Object.values(grads)]);
  g.dispose();
});

test('CIPS-3D generator: truncation ψ = 0 gives every latent the mean-w image; tensors do not leak', async () => {
  await initBackend('wasm');
  const g = new Cips3dGenerator(new Rng(11), TINY);
  g.computeWAvg(new Rng(12), 2000);
  const { zNerf, zInr } = latents(g, 3, 13);
  const before = tf.memory().numTensors;
  const img = tf.tidy(() => g.generate(zNerf, zInr, frontal(3), { psi: 0 }).image.dataSync());
  const per = 8 * 8 * 3;
  for (let i = 0; i < per; i++) assert.ok(Math.abs(img[i] - img[per + i]) < 1e-5 && Math.abs(img[i] - img[2 * per + i]) < 1e-5);
  for (let k = 0; k < 2; k++) {
    tf.tidy(() => {
      g.generate(zNerf, zInr, frontal(3), { rng: new Rng(k), densityNoise: 1 });
    });
  }
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => g.generate(zNerf, zInr, frontal(2)), /3 latents need 3 views/);
  assert.throws(() => g.mapping(zInr, zNerf, 3), /truncation/);
  assert.throws(() => new Cips3dGenerator(new Rng(0), { resolution: 12 }), /power of two/);
  tf.dispose([zNerf, zInr]);
  g.dispose();
});

test('layerNorm: zero mean and unit variance over the last axis', async () => {
  await initBackend('wasm');
  const x = tf.tensor2d([1, 2, 3, 4, 10, -10, 0, 5], [2, 4]);
  const y = layerNorm(x);
  const { mean, variance } = tf.moments(y, -1);
  mean.dataSync().forEach((v) => assert.ok(Math.abs(v) < 1e-6));
  variance.dataSync().forEach((v) => assert.ok(Math.abs(v - 1) < 1e-3));
  assert.ok(cips3dConfig().resolution === 32);
  tf.dispose([x, y, mean, variance]);
});
