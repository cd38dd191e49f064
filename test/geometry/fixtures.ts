// Shared inputs and checks for the geometry tests: smooth surfaces and images, and finite-difference gradients.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/engine/random.js';

/** A smooth bump nearer the camera in the middle, tilted a little so that views see something asymmetric. */
export function bumpDepth(size: number, batch = 1, amplitude = 0.05): tf.Tensor4D {
  const values = new Float32Array(batch * size * size);
  const c = (size - 1) / 2;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const x = (j - c) / c;
        const y = (i - c) / c;
        values[(b * size + i) * size + j] = 1.0 - amplitude * Math.exp(-(x * x + y * y) / 0.5) + 0.01 * (b + 1) * x * y;
      }
    }
  }
  return tf.tensor4d(values, [batch, size, size, 1]);
}

/** Low-frequency colour patterns in [-1, 1], different per channel and per sample. */
export function smoothImage(size: number, channels = 3, batch = 1): tf.Tensor4D {
  const values = new Float32Array(batch * size * size * channels);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        for (let ch = 0; ch < channels; ch++) {
          const phase = 0.7 * ch + 0.3 * b;
          values[((b * size + i) * size + j) * channels + ch] =
            0.8 * Math.sin((2.1 * j) / size + (1.3 * i) / size * (ch + 1) + phase) * Math.cos((1.7 * i) / size - phase);
        }
      }
    }
  }
  return tf.tensor4d(values, [batch, size, size, channels]);
}

/** Weights that are random inside [margin, S - 1 - margin] and zero on the frame, broadcast over channels. */
export function interiorWeights(size: number, channels: number, batch: number, margin: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const values = new Float32Array(batch * size * size * channels);
  for (let b = 0; b < batch; b++) {
    for (let i = margin; i < size - margin; i++) {
      for (let j = margin; j < size - margin; j++) {
        for (let ch = 0; ch < channels; ch++) values[((b * size + i) * size + j) * channels + ch] = rng.normal();
      }
    }
  }
  return tf.tensor4d(values, [batch, size, size, channels]);
}

export interface DirectionalCheck {
  analytic: number;
  numeric: number;
  relError: number;
}

/**
 * Compares the gradient of `loss` at `x` with a central finite difference along `direction` (same size as x):
 * <grad, dx> / 2h against (loss(x + h dir) - loss(x - h dir)) / 2h, where dx is the difference of the two float32
 * inputs as actually stored (so input rounding does not count as error). The losses are summed in float64 from the
 * float32 outputs (`values`), so the difference loses less to rounding than a float32 sum would.
 */
export function checkDirectional(
  loss: (x: tf.Tensor) => tf.Scalar,
  values: (x: tf.Tensor) => Float64Array,
  x: tf.Tensor,
  h: number,
  direction: Float32Array,
): DirectionalCheck {
  return tf.tidy(() => {
    const dir = tf.tensor(direction, x.shape);
    const xPlus = tf.add(x, tf.mul(dir, h));
    const xMinus = tf.sub(x, tf.mul(dir, h));
    const g = tf.grad(loss)(x).dataSync();
    const [p, m] = [xPlus.dataSync(), xMinus.dataSync()];
    let analytic = 0;
    for (let k = 0; k < g.length; k++) analytic += (g[k] * (p[k] - m[k])) / (2 * h);
    const plus = values(xPlus);
    const minus = values(xMinus);
    let numeric = 0;
    for (let k = 0; k < plus.length; k++) numeric += (plus[k] - minus[k]) / (2 * h);
    return { analytic, numeric, relError: Math.abs(analytic - numeric) / Math.max(Math.abs(numeric), 1e-6) };
  });
}

/** The weighted terms w * out as float64, so a loss sum(w * out) can be formed exactly from float32 outputs. */
export function weighted(out: tf.Tensor, w: tf.Tensor): Float64Array {
  const o = out.dataSync();
  const wv = w.dataSync();
  return Float64Array.from(o, (v, k) => v * wv[k]);
}
