import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import {
  LatentProjector,
  OffsetEncoder,
  PretrainedOffsets,
  buildRefineNets,
  collectBank,
  optimizeBank,
  depthBeforeBorder,
  ellipsoidForRange,
  emptyBank,
  fitEllipsoid,
  inputLoss,
  inversionLoss,
  reconstructionL1,
  renderComposite,
  projectedLoss,
  pseudoSource,
  refineConfig,
  renderPseudo,
  runStep1,
  runStep2,
  runStep3,
  samplePseudoParams,
  secondOrderSmoothness,
  type RefineOverrides,
  type RefineSession,
} from '../../src/pipelines/refine/index.js';
import { Encoder } from '../../src/models/encoder/model.js';
import { predictLight, predictViewRaw } from '../../src/pipelines/refine/nets.js';
import { TINY_NETS, TINY_SCHEDULE, tinyWorld, type TinyWorld } from './fixtures/tiny-refine.js';

let world: TinyWorld;

before(async () => {
  await initBackend('wasm');
  world = tinyWorld(1);
});
after(() => world.dispose());

function session(overrides: RefineOverrides = {}): RefineSession {
  const config = refineConfig({ ...TINY_SCHEDULE, ...overrides });
  const model = buildRefineNets(config, world.photogeo);
  const projector = new LatentProjector(world.generator, world.discriminator, world.w, config.offsetDepth);
  const encoder = new OffsetEncoder(7, config.encoderWidth, projector.codeDim);
  return { config, model, encoder, projector, image: tf.tensor4d(world.image, [1, 64, 64, 3]), rng: new Rng(3), bank: emptyBank() };
}

function dispose(s: RefineSession): void {
  s.model.dispose();
  s.encoder.dispose();
  s.projector.dispose();
  s.image.dispose();
}

const scalar = (t: tf.Scalar): number => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

test('ellipsoid prior mapped into the model range; the depth-net fit lowers the MSE and lands near the prior', async () => {
  const e = ellipsoidForRange(0.96, 1.04, { threshold: 0.7, extendUp: 0 });
  assert.ok(Math.abs(e.near - 0.964) < 1e-12 && Math.abs(e.far - 1.008) < 1e-12 && Math.abs(e.radius - 0.16) < 1e-12, JSON.stringify(e));
  const paper = ellipsoidForRange(0.9, 1.1, { threshold: 0.7, extendUp: 0 });
  assert.ok(Math.abs(paper.near - 0.91) < 1e-12 && Math.abs(paper.far - 1.02) < 1e-12 && Math.abs(paper.radius - 0.4) < 1e-12);

  const config = refineConfig({ ...TINY_SCHEDULE, init: 'ellipsoid', depthRange: [0.96, 1.04] });
  const model = buildRefineNets(config);
  assert.equal(model.config.minDepth, 0.96);
  assert.equal(model.config.maxDepth, 1.04);
  assert.ok(Math.abs(model.config.borderDepth - 1.016) < 1e-12);
  model.dispose();
  // The fit itself on the tiny nets (same depth decoder, range 0.96–1.04).
  const s = session({ init: 'photogeo', ellipsoid: { steps: 60, lr: 3e-3 } });
  const fit = await fitEllipsoid(s.model, s.image, world.mask, s.config);
  assert.ok(fit.losses.at(-1)! < 0.3 * fit.losses[0], `MSE ${fit.losses[0]} → ${fit.losses.at(-1)}`);
  const depth = tf.tidy(() => depthBeforeBorder(s.model, s.image));
  const d = depth.dataSync();
  depth.dispose();
  let err = 0;
  for (let i = 0; i < d.length; i++) err += Math.abs(d[i] - fit.prior[i]);
  err /= d.length;
  const relief = Math.max(...fit.prior) - Math.min(...fit.prior);
  assert.ok(err < 0.25 * relief, `mean |depth − prior| ${err} against relief ${relief}`);
  // The prior is nearest at the mask's centre.
  assert.ok(fit.prior[30 * 64 + 32] < fit.prior[5 * 64 + 5]);
  dispose(s);
});

test('photogeo init copies D, A, V, L; second-order smoothness is zero on a plane', () => {
  const s = session();
  for (const [name, v] of s.model.namedVariables()) {
    assert.deepEqual(v.dataSync(), world.photogeo.namedVariables().get(name)!.dataSync(), name);
  }
  assert.equal(s.model.confNet, undefined);
  const plane = tf.tidy(() => tf.add(tf.mul(tf.range(0, 64).reshape([1, 1, 64, 1]), 0.01), tf.mul(tf.range(0, 64).reshape([1, 64, 1, 1]), 0.02)) as tf.Tensor4D);
  assert.ok(scalar(secondOrderSmoothness(plane)) < 1e-6);
  plane.dispose();
  dispose(s);
});

test('Step 1 lowers its loss (albedo only); tensor count flat', async () => {
  const s = session({ lr: 3e-3 });
  const depthBefore = Float32Array.from(s.model.depthNet.variables()[0].dataSync() as Float32Array);
  await runStep1(s, 0, 1); // warm-up
  const before = tf.memory().numTensors;
  const losses = await runStep1(s, 0, 6);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(losses.at(-1)! < losses[0], `Step 1 ${losses}`);
  assert.deepEqual(s.model.depthNet.variables()[0].dataSync(), depthBefore, 'Step 1 must not touch the depth net');
  dispose(s);
});

test('Step 2: relative encoding gives Δw = 0 for the unchanged input; the inversion loss falls on a fixed batch; bank', async () => {
  const s = session({ lr: 3e-3 });
  const zero = tf.tidy(() => s.projector.offset(s.projector.codes(s.encoder as OffsetEncoder, s.projector.inputRender, true)));
  assert.ok(zero.dataSync().every((v) => v === 0), 'Δw of the input itself');
  const same = tf.tidy(() => s.projector.projectImages(s.encoder, s.projector.inputRender, true).projected);
  assert.deepEqual(same.dataSync(), s.projector.inputRender.dataSync());
  // A non-relative encoder gives a non-zero offset for the same image.
  const abs = tf.tidy(() => s.projector.offset(s.projector.codes(s.encoder as OffsetEncoder, s.projector.inputRender, false)));
  assert.ok(abs.dataSync().some((v) => v !== 0));
  tf.dispose([zero, same, abs]);

  // The pseudo-samples: the same Rng state gives the same parameters.
  const src = pseudoSource(s);
  const a = samplePseudoParams(new Rng(9), 3, src, s.config);
  const b = samplePseudoParams(new Rng(9), 3, src, s.config);
  assert.deepEqual(a, b);
  const pseudo = renderPseudo(s.model, src, samplePseudoParams(new Rng(10), 4, src, s.config));
  tf.dispose([src.canonDepth, src.canonAlbedo, src.normals]);
  assert.deepEqual(pseudo.images.shape, [4, 64, 64, 3]);
  const opts = { relative: true, lambdaFeat: 1, featureBlocks: 4, lambdaReg: 0.01 };
  const lossOf = () => scalar(tf.tidy(() => inversionLoss(s.projector, s.encoder, pseudo.images, pseudo.masks, opts).total));
  const start = lossOf();
  await runStep2(s, 0, 1);
  const before = tf.memory().numTensors;
  await runStep2(s, 0, 10);
  assert.equal(tf.memory().numTensors, before);
  const end = lossOf();
  assert.ok(end < start, `inversion loss on a fixed batch ${start} → ${end}`);
  const bank = collectBank(s, 0);
  assert.equal(bank.count, s.config.collectIters * s.config.batch);
  assert.equal(bank.images.length, bank.count * 64 * 64 * 3);
  assert.ok(bank.images.every((v) => v >= -1 && v <= 1));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([pseudo.images, pseudo.masks]);
  dispose(s);
});

test("Step 2, projection 'optimize': each bank sample is fitted in W, nearer its pseudo-sample than G(w) is", async () => {
  const s = session({ projection: 'optimize', collectIters: 1, batch: 3 });
  s.rng = new Rng(7);
  // The same pseudo-samples optimizeBank draws: from a twin Rng.
  const src = pseudoSource(s);
  const pseudo = renderPseudo(s.model, src, samplePseudoParams(new Rng(7), 3, src, s.config));
  tf.dispose([src.canonDepth, src.canonAlbedo, src.normals]);
  const before = tf.memory().numTensors;
  const { bank, losses } = await optimizeBank(s, 0, 12);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(bank.count, 3);
  assert.equal(losses.length, 3);
  assert.ok(bank.images.every((v) => v >= -1 && v <= 1));
  assert.deepEqual(bank.masks, pseudo.masks.dataSync(), 'the bank keeps the pseudo-samples\' masks');
  const l1 = (a: tf.Tensor4D) => scalar(tf.tidy(() => tf.mean(tf.abs(tf.sub(a, pseudo.images))) as tf.Scalar));
  const fitted = l1(tf.tensor4d(bank.images, [3, 64, 64, 3]));
  const unmoved = l1(tf.tile(s.projector.inputRender, [3, 1, 1, 1]) as tf.Tensor4D);
  assert.ok(fitted < unmoved, `L1 to the pseudo-samples: fitted ${fitted} vs G(w) ${unmoved}`);
  tf.dispose([pseudo.images, pseudo.masks]);
  dispose(s);
});

test("Step 2, projection 'pretrained': the inversion encoder's offsets (relative and absolute), fine-tuned on pseudo-samples", async () => {
  const s = session({ projection: 'pretrained', lr: 3e-3 });
  s.encoder.dispose();
  const inversion = new Encoder(5, { imageSize: 64, wDim: 16, widths: [8, 8, 8, 8] });
  s.encoder = new PretrainedOffsets(inversion);
  const zero = tf.tidy(() => s.encoder.deltaW(s.projector, s.projector.inputRender, true));
  assert.ok(zero.dataSync().every((v) => v === 0), 'Δw of the input itself');
  // Absolute: Δw = E(I′) − w, i.e. w′ = wAvg + offset(I′), what the encoder predicts on its own.
  const src = pseudoSource(s);
  const pseudo = renderPseudo(s.model, src, samplePseudoParams(new Rng(10), 3, src, s.config));
  tf.dispose([src.canonDepth, src.canonAlbedo, src.normals]);
  const abs = tf.tidy(() => tf.add(s.encoder.deltaW(s.projector, pseudo.images, false), s.projector.w));
  const direct = tf.tidy(() => inversion.predictW(pseudo.images, s.projector.generator.wAvg));
  const gap = Math.max(...(tf.tidy(() => tf.abs(tf.sub(abs, direct))).dataSync() as Float32Array));
  assert.ok(gap < 1e-5, `absolute offsets off by ${gap}`);
  // Relative: the input's w moved by the encoder's change between G(w) and the pseudo-image.
  const rel = tf.tidy(() => s.encoder.deltaW(s.projector, pseudo.images, true));
  const expected = tf.tidy(() => tf.sub(inversion.offset(pseudo.images), inversion.offset(s.projector.inputRender)));
  const relGap = Math.max(...(tf.tidy(() => tf.abs(tf.sub(rel, expected))).dataSync() as Float32Array));
  assert.ok(relGap < 1e-5, `relative offsets off by ${relGap}`);
  tf.dispose([zero, abs, direct, rel, expected]);
  // Step 2 trains the encoder's own variables and lowers C.5's loss on a fixed batch.
  const opts = { relative: true, lambdaFeat: 1, featureBlocks: 4, lambdaReg: 0.01 };
  const lossOf = () => scalar(tf.tidy(() => inversionLoss(s.projector, s.encoder, pseudo.images, pseudo.masks, opts).total));
  const start = lossOf();
  const head = Float32Array.from(inversion.headWeight.dataSync() as Float32Array);
  await runStep2(s, 0, 1);
  const before = tf.memory().numTensors;
  await runStep2(s, 0, 10);
  assert.equal(tf.memory().numTensors, before);
  assert.ok((inversion.headWeight.dataSync() as Float32Array).some((v, i) => v !== head[i]), 'the encoder is trained');
  const end = lossOf();
  assert.ok(end < start, `inversion loss on a fixed batch ${start} → ${end}`);
  const bank = collectBank(s, 0);
  assert.equal(bank.count, s.config.collectIters * s.config.batch);
  assert.ok(bank.images.every((v) => v >= -1 && v <= 1));
  tf.dispose([pseudo.images, pseudo.masks]);
  dispose(s);
});

test('Step 3 lowers its loss on a fixed batch and trains D, A, V, L; tensor count flat', async () => {
  const s = session({ lr: 3e-3, collectIters: 2, batch: 2 });
  await runStep2(s, 0, 1);
  s.bank = collectBank(s, 0);
  const projected = tf.tensor4d(s.bank.images, [s.bank.count, 64, 64, 3]);
  const masks = tf.tensor4d(s.bank.masks, [s.bank.count, 64, 64, 1]);
  const lossOf = () =>
    scalar(
      tf.tidy(() => {
        const input = inputLoss(s.model, s.image, s.config, true, true);
        return tf.add(input.total, projectedLoss(s.model, input.depth, input.albedo, projected, masks, s.config, true)) as tf.Scalar;
      }),
    );
  const start = lossOf();
  const depthBefore = Float32Array.from(s.model.depthNet.variables()[0].dataSync() as Float32Array);
  await runStep3(s, 0, 1);
  const before = tf.memory().numTensors;
  const losses = await runStep3(s, 0, 8);
  assert.equal(tf.memory().numTensors, before);
  const end = lossOf();
  assert.ok(end < start, `Step 3 loss on the whole bank ${start} → ${end} (per iteration ${losses})`);
  assert.notDeepEqual(s.model.depthNet.variables()[0].dataSync(), depthBefore, 'Step 3 trains the depth net');
  tf.dispose([projected, masks]);
  dispose(s);
});

test('inputObjectMask: the input L1 counts only pixels of the object mask; Step 1 trains on it', async () => {
  const s = session({ init: 'photogeo' });
  const mask = Float32Array.from(world.mask);
  s.objectMask = tf.tensor4d(mask, [1, 64, 64, 1]);
  // Scramble the target outside the mask: the masked loss must not move, the unmasked one must.
  const scrambled = Float32Array.from(world.image, (v, i) => (mask[Math.floor(i / 3)] > 0 ? v : -v * 0.7 + 0.3));
  const other = tf.tensor4d(scrambled, [1, 64, 64, 3]);
  const l1 = (x: tf.Tensor4D, m?: tf.Tensor4D) =>
    tf.tidy(() => {
      const l = inputLoss(s.model, x, s.config, false, false, m);
      return l.l1.dataSync()[0];
    });
  const masked = l1(s.image, s.objectMask);
  const unmasked = l1(s.image);
  assert.ok(Number.isFinite(masked) && Math.abs(masked - unmasked) > 1e-6, `${masked} vs ${unmasked}`);
  // By hand: the render's mask times the object mask, through reconstructionL1.
  const byHand = tf.tidy(() => {
    const depth = s.model.decodeDepth(s.model.depthNet.apply(s.image));
    const albedo = s.model.albedoNet.apply(s.image);
    const r = renderComposite(s.model, depth, albedo, predictLight(s.model, s.image), s.model.decodeView(predictViewRaw(s.model, s.image)), false);
    const outside = reconstructionL1(r.recon, r.reconFlip, other, tf.mul(r.mask, s.objectMask!) as tf.Tensor4D).dataSync()[0];
    const inside = reconstructionL1(r.recon, r.reconFlip, s.image, tf.mul(r.mask, s.objectMask!) as tf.Tensor4D).dataSync()[0];
    return [outside, inside];
  });
  assert.ok(Math.abs(byHand[1] - masked) < 1e-6, `${byHand[1]} vs ${masked}`);
  assert.ok(Math.abs(byHand[0] - byHand[1]) < 1e-6, 'pixels outside the object mask do not count');
  // Step 1 trains on the masked loss: its first loss is the masked L1 at the start.
  const losses = await runStep1(s, 0, 2);
  assert.ok(Math.abs(losses[0] - masked) < 1e-5, `${losses[0]} vs ${masked}`);
  other.dispose();
  s.objectMask.dispose();
  dispose(s);
});

test('Step 3 trains only the nets of step3Nets', async () => {
  const s = session({ lr: 3e-3, collectIters: 1, batch: 2, step3Nets: ['depth', 'albedo'] });
  await runStep2(s, 0, 1);
  s.bank = collectBank(s, 0);
  const snapshot = () => new Map([...s.model.namedVariables()].map(([k, v]) => [k, Float32Array.from(v.dataSync() as Float32Array)]));
  const before = snapshot();
  await runStep3(s, 0, 3);
  const changed = new Set([...snapshot()].filter(([k, v]) => v.some((x, i) => x !== before.get(k)![i])).map(([k]) => k.split('/')[0]));
  assert.deepEqual([...changed].sort(), ['albedo', 'depth']);
  dispose(s);
});

test('config: the prior means default on for the ellipsoid init only; bad values are refused', () => {
  assert.equal(refineConfig({ init: 'ellipsoid' }).addPriorMean, true);
  assert.equal(refineConfig({ init: 'photogeo' }).addPriorMean, false);
  assert.throws(() => refineConfig({ batch: 0 }), /batch must be a whole number ≥ 1/);
  assert.throws(() => refineConfig({ depthRange: [1.1, 0.9] }), /depthRange/);
  assert.throws(() => refineConfig({ step3Nets: [] }), /step3Nets/);
  assert.throws(() => refineConfig({ step3Nets: ['depth', 'depth'] }), /step3Nets/);
  assert.throws(() => refineConfig({ step3Nets: ['shape' as never] }), /step3Nets/);
  assert.throws(() => refineConfig({ projection: 'magic' as never }), /projection must be one of encoder, pretrained, optimize/);
  assert.throws(() => buildRefineNets(refineConfig({ init: 'photogeo' })), /needs the model/);
  void TINY_NETS;
});
