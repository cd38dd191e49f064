import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { FEATURE_LABELS, labelsNamed, mirrorLabels } from '../../src/models/features/labels.js';
import { Discriminator, Generator, type StyleGanConfig, styleGanConfig } from '../../src/models/stylegan/index.js';
import { minibatchStd } from '../../src/nn/minibatch-std.js';
import { LabelMlp } from '../../src/nn/label-mlp.js';

before(async () => {
  await initBackend('wasm');
});

const TINY: Partial<StyleGanConfig> = {
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 3,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 6, 16: 4 },
};
const LABELS = ['view.ry', 'view.rz', 'expression.smile'];
const COND: Partial<StyleGanConfig> = { ...TINY, conditionLabels: LABELS, labelBankSize: 5 };

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Random values in the zero-initialised output layers, so that the labels have an effect. */
function wakeLabels(m: LabelMlp, rng: Rng): void {
  tf.tidy(() => m.output.weight.assign(tf.tensor(rng.normalArray(m.output.weight.size), m.output.weight.shape)));
}

test('labelsNamed: groups and names in FEATURE_LABELS order without duplicates; unknown names list the choices', () => {
  assert.deepEqual(labelsNamed(['expression.smile', 'view']).map((s) => s.name), ['view.rx', 'view.ry', 'view.rz', 'expression.smile']);
  assert.deepEqual(labelsNamed(['view.rz', 'view']).map((s) => s.name), ['view.rx', 'view.ry', 'view.rz']);
  assert.equal(labelsNamed(['view', 'light', 'shape', 'expression', 'albedo']).length, FEATURE_LABELS.length);
  assert.throws(() => labelsNamed(['view.yaw']), /Unknown label "view.yaw": give groups \(view, light, shape, expression, albedo\)/);
});

test('mirrorLabels negates yaw, roll and the light\'s x only', () => {
  const specs = labelsNamed(['view', 'light', 'expression.smile']);
  const row = Float32Array.from(specs.map((_, j) => j + 1));
  mirrorLabels(specs, row);
  assert.deepEqual(Array.from(row), [1, -2, -3, 4, 5, -6, 7, 8]);
});

test('config: conditionLabels are checked (known, distinct, in order; not with a low-resolution D)', () => {
  assert.deepEqual(styleGanConfig(COND).conditionLabels, LABELS);
  assert.deepEqual(styleGanConfig(TINY).conditionLabels, []);
  assert.throws(() => styleGanConfig({ ...TINY, conditionLabels: ['view.rz', 'view.ry'] }), /distinct label names in the order of FEATURE_LABELS/);
  assert.throws(() => styleGanConfig({ ...TINY, conditionLabels: ['nose'] }), /Unknown label "nose"/);
  assert.throws(() => styleGanConfig({ ...TINY, conditionLabels: ['view.ry'], lowResDiscriminator: 8 }), /cannot be used together/);
  assert.throws(() => styleGanConfig({ ...TINY, labelBankSize: -1 }), /labelBankSize/);
  assert.throws(() => styleGanConfig({ ...TINY, labelLossWeight: 1 }), /labelLossWeight needs conditionLabels/);
  assert.throws(() => styleGanConfig({ ...COND, labelLossWeight: -1 }), /labelLossWeight must be a number ≥ 0/);
  assert.throws(() => styleGanConfig({ ...COND, labelLrMul: 0 }), /labelLrMul must be a positive number/);
});

test('conditional G and D start as the unconditional networks of the same seed; labels then act as specified', () => {
  const g0 = new Generator(new Rng(4), TINY);
  const g1 = new Generator(new Rng(4), COND);
  const d0 = new Discriminator(new Rng(6), TINY);
  const d1 = new Discriminator(new Rng(6), COND);
  const rng = new Rng(9);
  const z = tf.tensor2d(rng.normalArray(4 * 8), [4, 8]);
  const c = tf.tensor2d(rng.normalArray(4 * 3), [4, 3]);
  const x = tf.tensor4d(rng.normalArray(4 * 16 * 16 * 3), [4, 16, 16, 3]);
  try {
    // Same weights where the two share names (the label layers are built last), the same function at the start.
    const v0 = g0.namedVariables();
    for (const [k, v] of g1.namedVariables()) if (!k.startsWith('label_embed/')) assert.equal(maxAbsDiff(v, v0.get(k)!), 0, k);
    assert.equal(maxAbsDiff(g1.mapping(z, c), g0.mapping(z)), 0);
    assert.equal(maxAbsDiff(d1.logits(x, c), d0.logits(x)), 0);
    assert.deepEqual([...g1.namedBuffers().keys()], ['w_avg', 'label_bank']);
    // Wrong or missing labels are refused with the labels' names.
    assert.throws(() => g1.mapping(z), /conditional on 3 labels \(view.ry, view.rz, expression.smile\): give labels \[4, 3\]/);
    assert.throws(() => g1.mapping(z, tf.zeros([4, 2]) as tf.Tensor2D), /not \[4,2\]/);
    assert.throws(() => g0.mapping(z, c), /unconditional/);
    assert.throws(() => d1.logits(x), /conditional on 3 labels/);
    assert.throws(() => d0.logits(x, c), /unconditional/);

    wakeLabels(g1.labelEmbed!, rng);
    wakeLabels(d1.labelProj!, rng);
    // G: w = mapping(z) + MLP(c), the MLP a leaky-ReLU layer (gain √2) then a linear one, equalized (weights / √fan-in).
    const embed = g1.labelEmbed!;
    const mlp = (m: LabelMlp, labels: tf.Tensor2D) =>
      tf.tidy(() => {
        const h0 = tf.add(tf.matMul(labels, tf.div(m.hidden.weight, Math.sqrt(m.labelDim))), m.hidden.bias!);
        const h = tf.mul(tf.leakyRelu(h0, 0.2), Math.SQRT2) as tf.Tensor2D;
        return tf.add(tf.matMul(h, tf.div(m.output.weight, Math.sqrt(h.shape[1]))), m.output.bias!) as tf.Tensor2D;
      });
    assert.ok(maxAbsDiff(g1.mapping(z, c), tf.add(g0.mapping(z), mlp(embed, c))) < 1e-5);
    assert.ok(maxAbsDiff(g1.mapping(z, c), g0.mapping(z)) > 1e-2);
    // D: logit = out(φ) + ⟨φ, MLP(c)⟩ / √C4 with φ the fc layer's output, recomputed layer by layer.
    const want = tf.tidy(() => {
      let h = d1.fromRgb.apply(x);
      for (const b of d1.blocks) h = b.apply(h);
      h = d1.finalConv.apply(minibatchStd(h, d1.config.mbstdGroupSize, d1.config.mbstdFeatures));
      const phi = d1.fc.forward(tf.reshape(h, [4, -1]) as tf.Tensor2D);
      return tf.add(d1.out.forward(phi), tf.div(tf.sum(tf.mul(phi, mlp(d1.labelProj!, c)), 1, true), Math.sqrt(phi.shape[1])));
    });
    assert.ok(maxAbsDiff(d1.logits(x, c), want) < 1e-4, `${maxAbsDiff(d1.logits(x, c), want)}`);
    assert.ok(maxAbsDiff(d1.logits(x, c), d0.logits(x)) > 1e-2);
    want.dispose();
    // No label head without the auxiliary regression; with it, labelPred = head(φ) and the logit is unchanged.
    assert.equal(d1.labelHead, null);
    assert.equal(d1.forward(x, { labels: c }).labelPred, null);
    const d2 = new Discriminator(new Rng(6), { ...COND, labelLossWeight: 1 });
    try {
      for (const [k, v] of d1.namedVariables()) if (!k.startsWith('label_proj/fc1')) assert.equal(maxAbsDiff(v, d2.namedVariables().get(k)!), 0, k);
      const out = d2.forward(x, { labels: c });
      const phi = tf.tidy(() => {
        let h = d2.fromRgb.apply(x);
        for (const b of d2.blocks) h = b.apply(h);
        h = d2.finalConv.apply(minibatchStd(h, d2.config.mbstdGroupSize, d2.config.mbstdFeatures));
        return d2.fc.forward(tf.reshape(h, [4, -1]) as tf.Tensor2D);
      });
      const head = tf.tidy(() => tf.add(tf.matMul(phi, tf.div(d2.labelHead!.weight, Math.sqrt(phi.shape[1]))), d2.labelHead!.bias!));
      assert.deepEqual(out.labelPred!.shape, [4, 3]);
      assert.ok(maxAbsDiff(out.labelPred!, head) < 1e-5);
      assert.ok(maxAbsDiff(out.logits, d0.logits(x)) < 1e-6, 'the label head leaves the logit alone');
      tf.dispose([out.logits, out.labelPred!, phi, head]);
    } finally {
      d2.dispose();
    }
  } finally {
    tf.dispose([z, c, x]);
    [g0, g1, d0, d1].forEach((m) => m.dispose());
  }
});

test('labelLrMul: the label layers store weights / k and scale by k at run time (Adam then moves them k times faster); the start is still the unconditional function', () => {
  const g0 = new Generator(new Rng(4), TINY);
  const g1 = new Generator(new Rng(4), { ...COND, labelLrMul: 10 });
  const g2 = new Generator(new Rng(4), COND);
  const rng = new Rng(3);
  const z = tf.tensor2d(rng.normalArray(2 * 8), [2, 8]);
  const c = tf.tensor2d(rng.normalArray(2 * 3), [2, 3]);
  try {
    assert.equal(maxAbsDiff(g1.mapping(z, c), g0.mapping(z)), 0);
    const [w1, w2] = [g1.labelEmbed!.hidden.weight, g2.labelEmbed!.hidden.weight];
    assert.ok(maxAbsDiff(tf.mul(w1, 10), w2) < 1e-6, 'stored / 10');
    // The same runtime function once the output layers hold the same runtime weights.
    tf.tidy(() => {
      const out = tf.tensor(rng.normalArray(g2.labelEmbed!.output.weight.size), g2.labelEmbed!.output.weight.shape);
      g2.labelEmbed!.output.weight.assign(out);
      g1.labelEmbed!.output.weight.assign(tf.div(out, 10));
    });
    assert.ok(maxAbsDiff(g1.mapping(z, c), g2.mapping(z, c)) < 1e-5);
    assert.ok(maxAbsDiff(g1.mapping(z, c), g0.mapping(z)) > 1e-2);
  } finally {
    tf.dispose([z, c]);
    [g0, g1, g2].forEach((m) => m.dispose());
  }
});

test('the label bank: drawLabels picks whole rows uniformly; generate and estimateWAvg draw labels from it', () => {
  const g = new Generator(new Rng(4), COND);
  try {
    const bank = Float32Array.from({ length: 15 }, (_, i) => i);
    tf.tidy(() => g.labelBank!.assign(tf.tensor2d(bank, [5, 3])));
    const rows = g.drawLabels(new Rng(1), 2000)!;
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 2000; i++) {
      const r = rows[i * 3] / 3;
      assert.deepEqual(Array.from(rows.subarray(i * 3, i * 3 + 3)), [3 * r, 3 * r + 1, 3 * r + 2]);
      counts[r]++;
    }
    assert.ok(counts.every((n) => n > 330 && n < 470), counts.join(' '));
    assert.equal(new Generator(new Rng(4), TINY).drawLabels(new Rng(1), 3), null);
    const empty = new Generator(new Rng(4), { ...COND, labelBankSize: 0 });
    assert.throws(() => empty.drawLabels(new Rng(1), 1), /empty label bank/);
    empty.dispose();
    wakeLabels(g.labelEmbed!, new Rng(2));
    g.estimateWAvg(new Rng(3), 64);
    assert.ok(g.wAvg.dataSync().every(Number.isFinite));
    const ws = g.mixedLatents(new Rng(5), 3);
    assert.deepEqual(ws.shape, [3, g.numWs, 8]);
    ws.dispose();
  } finally {
    g.dispose();
  }
});
