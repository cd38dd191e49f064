// Differentiable augmentation of the discriminator's inputs (DiffAugment, Zhao et al. 2020: colour, translation and
// cutout, the same kind of transform on real and fake images in D's loss and on the fakes in G's, so D cannot tell
// them apart by anything the transforms hide and G still learns the un-augmented images). Each image gets each of the
// five transforms with probability p (as StyleGAN2-ADA applies its pipeline with probability p), identity otherwise.
// Why here: the discriminator of the SynFace GAN separates real from fake almost perfectly (sign of its logit positive
// on 93 % of training faces, ADA's overfitting signal r_t = 0.87 against ADA's target 0.6) and by texture.
//
// Every random draw is made on the main thread into the batch (drawAugment), so a step is a function of its batch:
// data-parallel shards and resumes see the same transforms. The transforms are linear in the image (translation and
// cutout as multiplications by 0/1 matrices and masks, colour as affine maps), so R1's nested gradient goes through
// them with the engine's ordinary kernels.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import type { Batch } from '../../engine/parallel/data-parallel.js';
import type { Rng } from '../../engine/random.js';

/** DiffAugment's ranges: brightness offset ±0.5, saturation ×[0, 2], contrast ×[0.5, 1.5], translation up to 1/8 of
 *  the side (zero fill), a cutout square of half the side centred anywhere in the image. */
export const AUGMENT_RANGES = Object.freeze({ brightness: 0.5, saturation: [0, 2], contrast: [0.5, 1.5], translation: 1 / 8, cutout: 1 / 2 });

/** Names of one augmentation's batch inputs for the phase `prefix` (d: D's fakes, r: D's reals, g: G's fakes). */
function keys(prefix: string) {
  return { color: `${prefix}AugColor`, rows: `${prefix}AugRows`, cols: `${prefix}AugCols`, mask: `${prefix}AugMask` };
}

/** Shift matrix rows: out[i] = in[i − shift] (zero where that falls outside). */
function shiftMatrix(out: Float32Array, offset: number, size: number, shift: number): void {
  for (let i = 0; i < size; i++) {
    const j = i - shift;
    if (j >= 0 && j < size) out[offset + i * size + j] = 1;
  }
}

/**
 * Draws the transforms of `n` images of side `size`, each applied with probability `p`, into `batch` under the
 * phase's prefix: colour [n, 3] (brightness offset, saturation factor, contrast factor), row and column shift
 * matrices [n, size, size] and the cutout mask [n, size, size, 1].
 */
export function drawAugment(rng: Rng, n: number, size: number, p: number, prefix: string, batch: Batch): void {
  if (!(p >= 0 && p <= 1)) throw new Gan3dError(`Augmentation probability must be in [0, 1], got ${p}.`, 'BAD_CONFIG');
  const k = keys(prefix);
  const color = new Float32Array(n * 3);
  const rows = new Float32Array(n * size * size);
  const cols = new Float32Array(n * size * size);
  const mask = new Float32Array(n * size * size).fill(1);
  const maxShift = Math.floor(size * AUGMENT_RANGES.translation);
  const cut = Math.floor(size * AUGMENT_RANGES.cutout);
  const [s0, s1] = AUGMENT_RANGES.saturation;
  const [c0, c1] = AUGMENT_RANGES.contrast;
  for (let b = 0; b < n; b++) {
    // Every draw is made whether or not the transform applies, so the stream does not depend on the outcomes.
    const on = () => rng.uniform() < p;
    const [bOn, bV] = [on(), rng.uniform()];
    const [sOn, sV] = [on(), rng.uniform()];
    const [cOn, cV] = [on(), rng.uniform()];
    color[b * 3] = bOn ? (2 * bV - 1) * AUGMENT_RANGES.brightness : 0;
    color[b * 3 + 1] = sOn ? s0 + (s1 - s0) * sV : 1;
    color[b * 3 + 2] = cOn ? c0 + (c1 - c0) * cV : 1;
    const [tOn, dy, dx] = [on(), rng.int(2 * maxShift + 1) - maxShift, rng.int(2 * maxShift + 1) - maxShift];
    shiftMatrix(rows, b * size * size, size, tOn ? dy : 0);
    shiftMatrix(cols, b * size * size, size, tOn ? dx : 0);
    const [kOn, cy, cx] = [on(), rng.int(size + 1), rng.int(size + 1)];
    if (kOn) {
      const half = Math.floor(cut / 2);
      const [y0, y1] = [Math.max(0, cy - half), Math.min(size, cy - half + cut)];
      const [x0, x1] = [Math.max(0, cx - half), Math.min(size, cx - half + cut)];
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[(b * size + y) * size + x] = 0;
    }
  }
  batch[k.color] = { data: color, shape: [n, 3] };
  batch[k.rows] = { data: rows, shape: [n, size, size] };
  batch[k.cols] = { data: cols, shape: [n, size, size] };
  batch[k.mask] = { data: mask, shape: [n, size, size, 1] };
}

/** Whether the batch carries augmentations for the phase `prefix`. */
export function hasAugment(inputs: Record<string, unknown>, prefix: string): boolean {
  return keys(prefix).color in inputs;
}

/** Applies the drawn transforms to images x [N, S, S, C]: brightness, saturation, contrast, translation, cutout. */
export function applyAugment(x: tf.Tensor4D, inputs: Record<string, tf.Tensor>, prefix: string): tf.Tensor4D {
  const k = keys(prefix);
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const color = inputs[k.color];
    if (!color || color.shape[0] !== n || inputs[k.rows].shape[1] !== h || inputs[k.cols].shape[1] !== w) {
      throw new Gan3dError(`Augmentation inputs "${prefix}" do not match images [${x.shape}].`, 'BAD_SHAPE');
    }
    const per = (i: number) => tf.reshape(tf.slice(color, [0, i], [n, 1]), [n, 1, 1, 1]);
    let y: tf.Tensor = tf.add(x, per(0));
    const pixelMean = tf.mean(y, 3, true);
    y = tf.add(tf.mul(tf.sub(y, pixelMean), per(1)), pixelMean);
    const imageMean = tf.mean(y, [1, 2, 3], true);
    y = tf.add(tf.mul(tf.sub(y, imageMean), per(2)), imageMean);
    // Rows: [n, h, h] × [n, h, w·c]; columns the same on the transposed image.
    y = tf.reshape(tf.matMul(inputs[k.rows] as tf.Tensor3D, tf.reshape(y, [n, h, w * c]) as tf.Tensor3D), [n, h, w, c]);
    const t = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [n, w, h * c]) as tf.Tensor3D;
    y = tf.transpose(tf.reshape(tf.matMul(inputs[k.cols] as tf.Tensor3D, t), [n, w, h, c]), [0, 2, 1, 3]);
    return tf.mul(y, inputs[k.mask]) as tf.Tensor4D;
  });
}
