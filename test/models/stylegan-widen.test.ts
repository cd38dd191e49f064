import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { Discriminator, Generator, styleGanConfig, type StyleGanConfig } from '../../src/models/stylegan/index.js';
import { wideningProblem, widenParameter } from '../../src/models/stylegan/widen.js';

before(async () => {
  await initBackend('wasm');
});

const NARROW = styleGanConfig({
  resolution: 16,
  zDim: 8,
  wDim: 8,
  mappingLayers: 2,
  generatorChannels: { 4: 8, 8: 6, 16: 4 },
  discriminatorChannels: { 4: 8, 8: 5, 16: 3 },
});
const WIDE = styleGanConfig({ ...NARROW, generatorChannels: { 4: 8, 8: 9, 16: 7 }, discriminatorChannels: { 4: 8, 8: 8, 16: 6 } });

/** Every variable of `narrow` set to random values (biases and noise strengths included, so that each one matters). */
function scramble(vars: Map<string, tf.Variable>, rng: Rng): void {
  for (const v of vars.values()) tf.tidy(() => v.assign(tf.tensor(rng.normalArray(v.size), v.shape).mul(0.5)));
}

/** Assigns `wide`'s variables the widened values of `narrow`'s. */
function grow(narrow: Map<string, tf.Variable>, wide: Map<string, tf.Variable>): void {
  for (const [name, v] of wide) {
    const old = narrow.get(name)!;
    const grown = widenParameter(name, old.dataSync() as Float32Array, old.shape, Float32Array.from(v.dataSync() as Float32Array), v.shape);
    tf.tidy(() => v.assign(tf.tensor(grown, v.shape)));
  }
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

test('widening: the wider G and D compute the narrow ones\' images and logits; the new channels get gradients', () => {
  const rng = new Rng(11);
  const g = new Generator(new Rng(1), NARROW);
  const d = new Discriminator(new Rng(2), NARROW);
  const gw = new Generator(new Rng(3), WIDE);
  const dw = new Discriminator(new Rng(4), WIDE);
  scramble(g.namedVariables(), rng);
  scramble(d.namedVariables(), rng);
  grow(g.namedVariables(), gw.namedVariables());
  grow(d.namedVariables(), dw.namedVariables());
  const ws = tf.tensor3d(rng.normalArray(4 * g.numWs * 8), [4, g.numWs, 8]);
  const noise = g.noiseShapes(4).map((s) => tf.tensor4d(rng.normalArray(s[0] * s[1] * s[2]), [s[0], s[1], s[2], 1]));
  const a = g.synthesize(ws, { noise });
  const b = gw.synthesize(ws, { noise });
  const scale = tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
  assert.ok(scale > 0.1, `images carry signal (max |x| ${scale})`);
  assert.ok(maxAbs(a, b) < 1e-4 * Math.max(1, scale), `G differs by ${maxAbs(a, b)}`);
  const la = d.forward(a).logits;
  const lb = dw.forward(a).logits;
  assert.ok(maxAbs(la, lb) < 1e-4 * Math.max(1, tf.tidy(() => tf.max(tf.abs(la)).dataSync()[0])), `D differs by ${maxAbs(la, lb)}`);
  // The zero block (new inputs → old outputs) of D's 8×8 conv and G's 16×16 conv learns: its gradient is not zero.
  const dConv = dw.namedVariables().get('block8/conv1/w')!;
  const gConv = gw.namedVariables().get('conv16/conv/w')!;
  const grads = tf.variableGrads(() => tf.add(tf.sum(dw.forward(gw.synthesize(ws, { noise })).logits), tf.mean(gw.synthesize(ws, { noise }))) as tf.Scalar, [dConv, gConv]);
  for (const [v, cin, cinOld, cout, coutOld] of [[dConv, 8, 5, 8, 5], [gConv, 7, 4, 7, 4]] as const) {
    const gr = grads.grads[v.name].dataSync();
    const w = v.dataSync();
    let zeroBlockGrad = 0;
    for (let k = 0; k < 9; k++) for (let i = cinOld; i < cin; i++) for (let o = 0; o < coutOld; o++) {
      assert.equal(w[(k * cin + i) * cout + o], 0);
      zeroBlockGrad = Math.max(zeroBlockGrad, Math.abs(gr[(k * cin + i) * cout + o]));
    }
    assert.ok(zeroBlockGrad > 1e-6, `${v.name}: gradient of the new inputs' weights ${zeroBlockGrad}`);
    assert.ok(coutOld < cout);
  }
  tf.dispose([ws, ...noise, a, b, la, lb, grads.value, ...Object.values(grads.grads)]);
  [g, d, gw, dw].forEach((m) => m.dispose());
});

test('widening: the rule on one weight (old block scaled by sqrt(in ratio), zero fan-in into old outputs, fresh elsewhere)', () => {
  const old = Float32Array.from([1, 2, 3, 4, 5, 6]); // [in 2, out 3]
  const fresh = Float32Array.from({ length: 4 * 5 }, (_, i) => 100 + i); // [in 4, out 5]
  const w = widenParameter('w', old, [2, 3], fresh, [4, 5]);
  const s = Math.sqrt(2);
  const expected = [1 * s, 2 * s, 3 * s, 103, 104, 4 * s, 5 * s, 6 * s, 108, 109, 0, 0, 0, 113, 114, 0, 0, 0, 118, 119];
  expected.forEach((e, i) => assert.ok(Math.abs(w[i] - e) < 1e-5, `entry ${i}: ${w[i]} vs ${e}`));
  assert.deepEqual([...widenParameter('b', Float32Array.from([7, 8]), [2], Float32Array.from([0, 0, 1]), [3])], [7, 8, 1]);
  assert.equal(widenParameter('same', old, [2, 3], Float32Array.from(old), [2, 3]), old);
  assert.throws(() => widenParameter('k', new Float32Array(9), [3, 3, 1, 1], new Float32Array(25), [5, 5, 1, 1]), /Cannot widen "k"/);
  assert.throws(() => widenParameter('s', new Float32Array(6), [2, 3], new Float32Array(4), [2, 2]), /Cannot widen "s"/);
});

test('widening: which configs can grow from which', () => {
  assert.equal(wideningProblem(NARROW, WIDE), null);
  assert.match(wideningProblem(WIDE, NARROW)!, /would shrink/);
  const c: StyleGanConfig = styleGanConfig({ ...NARROW, generatorChannels: { 4: 16, 8: 9, 16: 7 } });
  assert.match(wideningProblem(NARROW, c)!, /4×4 width cannot change/);
  assert.match(wideningProblem(NARROW, styleGanConfig({ ...WIDE, wDim: 16 }))!, /wDim differs/);
});
