// Runs the same computation on two backends and compares the results: how every project kernel is checked
// against tfjs's pure-JS cpu backend, in tests and in `gan3d engine check`.
import * as tf from '@tensorflow/tfjs';

export interface Comparison {
  maxAbsError: number;
  /** max |a - b| / max(|b|_inf, tiny): robust to near-zero entries. */
  maxRelError: number;
  size: number;
}

/** Evaluate `compute` on `backend` and return its output values; inputs must be created inside `compute`. */
export async function evaluateOn(backend: string, compute: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(() => {
      const r = compute();
      return Array.isArray(r) ? r : [r];
    });
    const values = outs.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(outs);
    return values;
  } finally {
    await tf.setBackend(previous);
  }
}

export function compareArrays(actual: Float32Array, expected: Float32Array): Comparison {
  if (actual.length !== expected.length) {
    throw new Error(`size mismatch: ${actual.length} vs ${expected.length}`);
  }
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbsError: maxAbs, maxRelError: maxAbs / Math.max(scale, 1e-12), size: expected.length };
}

/** Compare `compute` on the active backend against the cpu backend. */
export async function compareWithCpu(compute: () => tf.Tensor | tf.Tensor[]): Promise<Comparison> {
  const active = tf.getBackend();
  const actual = await evaluateOn(active, compute);
  const expected = await evaluateOn('cpu', compute);
  let worst: Comparison = { maxAbsError: 0, maxRelError: 0, size: 0 };
  for (let i = 0; i < actual.length; i++) {
    const c = compareArrays(actual[i], expected[i]);
    if (c.maxRelError >= worst.maxRelError) worst = { ...c, size: worst.size + c.size };
  }
  return worst;
}
