import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/random.js';
import { type CameraConfig, cameraConfig } from '../../src/geometry/camera.js';
import { canonicalSampleGrid, meshInView } from '../../src/geometry/fused-warp.js';
import { renderDepth } from '../../src/geometry/rasterizer.js';
import { renderView } from '../../src/geometry/render.js';
import { shade } from '../../src/geometry/shading.js';
import { identityView, invertView } from '../../src/geometry/view.js';
import { bumpDepth, checkDirectional, interiorWeights, smoothImage, weighted } from './fixtures.js';

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor, margin: number): number {
  return tf.tidy(() => {
    const [n, h, w, c] = a.shape;
    const inner = (t: tf.Tensor) => tf.slice(t, [0, margin, margin, 0], [n, h - 2 * margin, w - 2 * margin, c]);
    return tf.max(tf.abs(tf.sub(inner(a), inner(b)))).dataSync()[0];
  });
}

test('the identity view returns the canonical image and depth', async () => {
  await initBackend('wasm');
  for (const s of [12, 64]) {
    tf.tidy(() => {
      const canonDepth = bumpDepth(s, 2);
      const canonImage = smoothImage(s, 3, 2);
      const out = renderView({ canonDepth, canonImage, view: identityView(2) });
      assert.ok(maxAbsDiff(out.viewDepth, canonDepth, 1) < 1e-5, `depth at ${s} px`);
      assert.ok(maxAbsDiff(out.image, canonImage, 1) < 1e-4, `image at ${s} px`);
      assert.equal(tf.min(out.mask).dataSync()[0], 1);
    });
  }
});

/**
 * 1 where a pixel's output is smooth across the step from `minus` to `plus` (both given as canonical depth and view):
 * its winning triangle and the bilinear cell it samples are the same at both ends. Elsewhere the output has a kink
 * (a triangle edge or a pixel boundary crosses the pixel), where the gradient is, by design, one-sided.
 */
function smoothAcross(ends: { d: tf.Tensor4D; v: tf.Tensor2D }[], cam: CameraConfig): tf.Tensor4D {
  return tf.tidy(() => {
    const s = cam.size;
    const looks = ends.map(({ d, v }) => {
      const { viewDepth, raster } = renderDepth(meshInView(d, v, cam), cam);
      const cell = tf.floor(tf.mul(tf.add(canonicalSampleGrid(viewDepth, v, cam), 1), (s - 1) / 2)).dataSync();
      return { face: raster.faceId, cell };
    });
    const [a, b] = looks;
    const same = Float32Array.from(a.face, (f, p) =>
      f === b.face[p] && a.cell[2 * p] === b.cell[2 * p] && a.cell[2 * p + 1] === b.cell[2 * p + 1] ? 1 : 0,
    );
    return tf.tensor4d(same, [ends[0].d.shape[0], s, s, 1]);
  });
}

// Finite differences through the whole renderer at 12 x 12 with moderate views (about 10 degrees), on interior pixels
// (the frame drops in and out of the mask as the mesh edge moves) whose output is smooth across the step (see
// smoothAcross: at a kink the two one-sided slopes differ by O(1), and on this coarse mesh by up to ~10%). Steps:
// depth 1e-4, view 1e-3 (rotation: 0.06 px of motion), light 1e-3, image and albedo 1e-2 (the output is linear in
// them). Float32 outputs rounded to ~6e-8 over 2h give ~3e-4 per pixel at h = 1e-4. Measured relative errors:
// depth 1e-6, image 4e-5, albedo 2e-7, light 2e-5, view 1e-6 to 1.5e-4, with 5% of pixel checks excluded; bound 1e-3.
test('renderView: gradients with respect to depth, image, view and light match central finite differences', async () => {
  await initBackend('wasm');
  const s = 12;
  const n = 2;
  const cam = cameraConfig(s);
  const rng = new Rng(21);
  const depth = bumpDepth(s, n);
  const albedo = smoothImage(s, 3, n);
  const light = tf.tensor2d([[0.3, 0.6, 0.4, -0.2], [0.5, 0.5, -0.3, 0.3]]);
  const view = tf.tensor2d([[0.1, 0.15, -0.05, 0.01, -0.01, 0.02], [-0.12, -0.1, 0.08, -0.005, 0.01, -0.01]]);
  const image = shade(depth, albedo, light, cam).image;
  const wImage = interiorWeights(s, 3, n, 3, 4);
  const wDepth = interiorWeights(s, 1, n, 3, 5);
  type Inputs = { d: tf.Tensor; a: tf.Tensor; l: tf.Tensor; v: tf.Tensor; im?: tf.Tensor };
  const outputs = ({ d, a, l, v, im }: Inputs) => {
    const canonImage = (im ?? shade(d as tf.Tensor4D, a as tf.Tensor4D, l as tf.Tensor2D, cam).image) as tf.Tensor4D;
    return renderView({ canonDepth: d as tf.Tensor4D, canonImage, view: v as tf.Tensor2D, camera: cam });
  };
  const base: Inputs = { d: depth, a: albedo, l: light, v: view };
  // Moves view component k of both samples.
  const along = (k: number) => Float32Array.from({ length: 12 }, (_, i) => (i % 6 === k ? 1 : 0));
  type Case = [string, keyof Inputs, number, Float32Array];
  const cases: Case[] = [
    ['depth (geometry and shading)', 'd', 1e-4, rng.normalArray(depth.size)],
    ['canonical image', 'im', 1e-2, rng.normalArray(image.size)],
    ['albedo', 'a', 1e-2, rng.normalArray(albedo.size)],
    ['light', 'l', 1e-3, rng.normalArray(light.size)],
    ...[0, 1, 2, 3, 4, 5].map((k): Case => [`view[${k}]`, 'v', 1e-3, along(k)]),
  ];
  let kinks = 0;
  for (const [name, key, h, direction] of cases) {
    const x = key === 'im' ? image : base[key]!;
    const withX = (t: tf.Tensor): Inputs => ({ ...base, [key]: t, ...(key === 'im' ? { im: t } : {}) });
    const smooth = tf.tidy(() => {
      const step = tf.mul(tf.tensor(direction, x.shape), h);
      const ends = [tf.add(x, step), tf.sub(x, step)].map(withX).map((e) => ({ d: e.d as tf.Tensor4D, v: e.v as tf.Tensor2D }));
      return smoothAcross(ends, cam);
    });
    kinks += n * s * s - tf.sum(smooth).dataSync()[0];
    const [wi, wd] = [tf.mul(wImage, smooth), tf.mul(wDepth, smooth)];
    const loss = (t: tf.Tensor) => {
      const o = outputs(withX(t));
      return tf.add(tf.sum(tf.mul(o.image, wi)), tf.sum(tf.mul(o.viewDepth, wd))) as tf.Scalar;
    };
    const values = (t: tf.Tensor) => {
      const o = outputs(withX(t));
      return Float64Array.from([...weighted(o.image, wi), ...weighted(o.viewDepth, wd)]);
    };
    const c = checkDirectional(loss, values, x, h, direction);
    tf.dispose([smooth, wi, wd]);
    assert.ok(c.relError < 1e-3, `${name}: analytic ${c.analytic} vs numeric ${c.numeric} (rel. ${c.relError})`);
  }
  // The exclusion must stay a small minority of pixels, or the check would prove little.
  assert.ok(kinks < 0.1 * cases.length * n * s * s, `${kinks} pixels excluded`);
  tf.dispose([depth, albedo, light, view, image, wImage, wDepth]);
});

// Render the canonical depth into view v, then render that view depth with the inverse view: where the canonical
// surface was seen from v, it comes back. "Seen from v" is the first mask carried back as an extra image channel
// (exactly 1 only where all four bilinear neighbours were seen); pixels within 2 of the second mask's edge (where the
// mesh stretches from the surface to the far clamp) and of the frame are skipped. Each render resamples piecewise-
// linearly, so what remains is interpolation error: for this bump (curvature ~1e-3 per px^2) ~1e-4 in depth per
// pass, measured 4e-4 after both; for the image, two bilinear passes, measured 6e-3.
test('a view and its inverse agree where visible', async () => {
  await initBackend('wasm');
  const s = 32;
  tf.tidy(() => {
    const canonDepth = bumpDepth(s, 2);
    const canonImage = smoothImage(s, 3, 2);
    const view = tf.tensor2d([[0.2, -0.25, 0.1, 0.01, 0.02, 0], [-0.15, 0.3, -0.2, -0.02, 0, 0.01]]);
    const there = renderView({ canonDepth, canonImage, view });
    const back = renderView({
      canonDepth: there.viewDepth,
      canonImage: tf.concat([there.image, there.mask], 3),
      view: invertView(view),
    });
    const [backImage, seenFromView] = tf.split(back.image, [3, 1], 3);
    const eroded = tf.sub(1, tf.maxPool(tf.sub(1, back.mask) as tf.Tensor4D, 5, 1, 'same'));
    const frame = tf.pad(tf.ones([2, s - 4, s - 4, 1]), [[0, 0], [2, 2], [2, 2], [0, 0]]);
    const compare = tf.mul(tf.mul(eroded, frame), tf.cast(tf.greaterEqual(seenFromView, 1 - 1e-6), 'float32'));
    const compared = tf.sum(compare).dataSync()[0];
    assert.ok(compared > 0.5 * 2 * s * s, `only ${compared} pixels to compare`);
    const worst = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.mul(tf.abs(tf.sub(a, b)), compare)).dataSync()[0];
    const depthError = worst(back.viewDepth, canonDepth);
    const imageError = worst(backImage, canonImage);
    assert.ok(depthError < 1e-3, `depth error ${depthError}`);
    assert.ok(imageError < 2e-2, `image error ${imageError}`);
  });
});

test('renderView: tensor count is stable over repeated renders with gradients', async () => {
  await initBackend('wasm');
  const s = 16;
  const depth = bumpDepth(s, 2);
  const image = smoothImage(s, 3, 2);
  const view = tf.tensor2d([[0.1, 0.2, 0, 0, 0, 0], [0, -0.3, 0.1, 0.01, 0, 0]]);
  const step = () =>
    tf.tidy(() => {
      const grads = tf.grads((d: tf.Tensor, im: tf.Tensor, v: tf.Tensor) => {
        const o = renderView({ canonDepth: d as tf.Tensor4D, canonImage: im as tf.Tensor4D, view: v as tf.Tensor2D });
        return tf.add(tf.sum(o.image), tf.sum(o.viewDepth));
      })([depth, image, view]);
      grads.forEach((g) => g.dataSync());
    });
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 4; i++) step();
  const out = renderView({ canonDepth: depth, canonImage: image, view });
  tf.dispose([out.image, out.viewDepth, out.mask]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([depth, image, view]);
});

test('renderView: mismatched shapes are user-facing errors that name the expected shape', async () => {
  await initBackend('wasm');
  tf.tidy(() => {
    const canonDepth = bumpDepth(8, 2);
    const canonImage = smoothImage(8, 3, 2);
    const isShapeError = (pattern: RegExp) => (e: unknown) => e instanceof Gan3dError && pattern.test(e.message);
    assert.throws(() => renderView({ canonDepth, canonImage, view: identityView(3) }), isShapeError(/view must have shape \[2, 6\]/));
    assert.throws(() => renderView({ canonDepth, canonImage: smoothImage(8, 3, 1), view: identityView(2) }), isShapeError(/canonImage/));
    assert.throws(
      () => renderView({ canonDepth, canonImage, view: identityView(2), camera: cameraConfig(16) }),
      isShapeError(/canonDepth must have shape \[N, 16, 16, 1\]/),
    );
  });
});
