// The bilinear 2x upsample (half-pixel centres): values against tfjs's resizeBilinear, gradients against central finite
// differences (tfjs's own ResizeBilinearGrad gets them wrong with halfPixelCenters), the kernel against the portable
// tf-ops form, second order, on cpu and wasm.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { bilinearUpsample2x, bilinearUpsample2xPortable } from '../../src/engine/ops/bilinear-up.js';
import { Rng } from '../../src/engine/random.js';

before(async () => {
  await initBackend('wasm');
});

const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [2, 4, 4, 3],
  [1, 3, 5, 2],
  [2, 8, 6, 4],
];

async function onBackend<T>(name: string, f: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(name);
  try {
    return f();
  } finally {
    await tf.setBackend(previous);
  }
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const backend of ['cpu', 'wasm']) {
  test(`bilinearUpsample2x on ${backend}: values equal tf.image.resizeBilinear(halfPixelCenters) and the portable form`, async () => {
    await onBackend(backend, () => {
      const rng = new Rng(1);
      for (const shape of SHAPES) {
        const x = tf.tensor4d(rng.normalArray(shape.reduce((a, b) => a * b)), shape);
        const size: [number, number] = [2 * shape[1], 2 * shape[2]];
        const ours = bilinearUpsample2x(x);
        const tfjs = tf.image.resizeBilinear(x, size, false, true);
        const portable = bilinearUpsample2xPortable(x);
        assert.deepEqual(ours.shape, [shape[0], ...size, shape[3]]);
        assert.ok(maxAbs(ours.dataSync(), tfjs.dataSync()) < 1e-5, `vs tfjs at [${shape}]`);
        assert.ok(maxAbs(ours.dataSync(), portable.dataSync()) < 1e-5, `vs portable at [${shape}]`);
        tf.dispose([x, ours, tfjs, portable]);
      }
    });
  });

  test(`bilinearUpsample2x on ${backend}: gradient matches central finite differences and the portable form's autodiff`, async () => {
    await onBackend(backend, () => {
      const rng = new Rng(2);
      for (const shape of SHAPES) {
        const n = shape.reduce((a, b) => a * b);
        const xs = Float64Array.from(rng.normalArray(n));
        const outShape = [shape[0], 2 * shape[1], 2 * shape[2], shape[3]];
        const r = tf.tensor4d(rng.normalArray(outShape.reduce((a, b) => a * b)), outShape as [number, number, number, number]);
        const loss = (f: (x: tf.Tensor4D) => tf.Tensor4D) => (x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor4D), r));
        const x = tf.tensor4d(Float32Array.from(xs), shape);
        const g = tf.grad(loss(bilinearUpsample2x))(x);
        const gp = tf.grad(loss(bilinearUpsample2xPortable))(x);
        const gv = g.dataSync();
        assert.ok(maxAbs(gv, gp.dataSync()) < 1e-4, `vs portable autodiff at [${shape}]`);
        // The loss is linear in x, so central differences are exact up to rounding.
        const eps = 0.5;
        for (let i = 0; i < Math.min(n, 12); i++) {
          const at = (d: number) => {
            const v = Float32Array.from(xs);
            v[i] += d;
            return tf.tidy(() => loss(bilinearUpsample2x)(tf.tensor4d(v, shape)).dataSync()[0]);
          };
          const fd = (at(eps) - at(-eps)) / (2 * eps);
          assert.ok(Math.abs(fd - gv[i]) < 1e-3 * Math.max(1, Math.abs(fd)), `[${shape}] index ${i}: fd ${fd} vs ${gv[i]}`);
        }
        tf.dispose([x, r, g, gp]);
      }
    });
  });
}

test('bilinearUpsample2x: second-order gradient (through the adjoint) matches the portable form', async () => {
  const rng = new Rng(3);
  const shape: [number, number, number, number] = [2, 4, 3, 2];
  const x = tf.tensor4d(rng.normalArray(48), shape);
  const w = tf.tensor4d(rng.normalArray(48), shape);
  // d/dw of ||d/dx sum(up(x)·up(w)·up(x))||²: every path goes through the upsample and its adjoint.
  const second = (up: (t: tf.Tensor4D) => tf.Tensor4D) =>
    tf.grad((wv: tf.Tensor) => {
      const gx = tf.grad((xv: tf.Tensor) => tf.sum(tf.mul(tf.square(up(xv as tf.Tensor4D)), up(wv as tf.Tensor4D))))(x);
      return tf.sum(tf.square(gx));
    })(w);
  const a = second(bilinearUpsample2x);
  const b = second(bilinearUpsample2xPortable);
  const scale = Math.max(...Array.from(b.dataSync(), Math.abs));
  assert.ok(maxAbs(a.dataSync(), b.dataSync()) < 1e-4 * scale, 'second order');
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    tf.grad((xv: tf.Tensor) => tf.sum(bilinearUpsample2x(xv as tf.Tensor4D)))(x);
  });
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  tf.dispose([x, w, a, b]);
});
