// Adam over flat Float32Arrays (weights, moments and per-thread gradients in shared memory), so that every
// data-parallel thread can average the gradients and update its own slice of the parameters at the same time.
// The update is the one tf.train.adam applies (bias correction through accumulated β powers, ε outside the sqrt).

export interface AdamConfig {
  learningRate: number;
  beta1: number;
  beta2: number;
  /** tfjs's default for float32 is 1e-7; PyTorch's is 1e-8. */
  epsilon: number;
}

export const ADAM_DEFAULTS: AdamConfig = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

export interface FlatAdamBuffers {
  weights: Float32Array;
  firstMoment: Float32Array;
  secondMoment: Float32Array;
  /** One gradient buffer per thread, each holding that thread's shard-mean gradient. */
  grads: Float32Array[];
}

/**
 * Averages the threads' gradients (weighted by shard sizes) and applies Adam step number `step` (1-based) to
 * elements [start, end). Accumulates in float64 locals; touches only its own range, so threads never collide.
 */
export function adamUpdateRange(
  buffers: FlatAdamBuffers,
  shardSizes: number[],
  step: number,
  config: AdamConfig,
  start: number,
  end: number,
): void {
  const { weights, firstMoment: m, secondMoment: v, grads } = buffers;
  const total = shardSizes.reduce((a, b) => a + b, 0);
  const share = shardSizes.map((s) => s / total);
  const { beta1, beta2, epsilon } = config;
  const stepSize = config.learningRate / (1 - Math.pow(beta1, step));
  const secondScale = 1 / (1 - Math.pow(beta2, step));
  const keep1 = 1 - beta1;
  const keep2 = 1 - beta2;
  // More than two threads: fold the extra gradients into the second buffer first, so the hot loop below stays
  // a fixed two-term sum (a per-element helper or inner loop there doubled its time).
  const g0 = grads[0];
  const g1 = grads.length > 1 ? grads[1] : grads[0];
  const s0 = share[0];
  const s1 = grads.length > 1 ? share[1] : 0;
  if (grads.length > 2) {
    for (let t = 2; t < grads.length; t++) {
      const gt = grads[t];
      const r = share[t] / s1;
      for (let i = start; i < end; i++) g1[i] += gt[i] * r;
    }
  }
  for (let i = start; i < end; i++) {
    const g = g0[i] * s0 + g1[i] * s1;
    const mi = beta1 * m[i] + keep1 * g;
    const vi = beta2 * v[i] + keep2 * g * g;
    m[i] = mi;
    v[i] = vi;
    weights[i] -= (stepSize * mi) / (Math.sqrt(vi * secondScale) + epsilon);
  }
}

/** Splits [0, total) into `parts` contiguous ranges of nearly equal length. */
export function splitRange(total: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let p = 0; p < parts; p++) {
    out.push([Math.floor((total * p) / parts), Math.floor((total * (p + 1)) / parts)]);
  }
  return out;
}
