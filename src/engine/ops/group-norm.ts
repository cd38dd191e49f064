// Group normalization (Wu & He 2018), as PyTorch's nn.GroupNorm but NHWC: the C channels are split into `groups`
// consecutive groups; each (sample, group) is normalized by its own mean and biased variance over H, W and the
// group's channels; then an optional per-channel affine y = gamma * xhat + beta.
//
// Two implementations with the same semantics, both with the gradient in closed form (tf.customGrad):
// - plain JS loops registered as kernels for the cpu and wasm backends (statistics, normalization and affine in one
//   kernel; the backward pass in another);
// - a composition of tf ops (tf.moments on a grouped view) that runs on every backend, webgl included.
// `groupNorm` picks the kernels when the active backend has them: tf.moments over the non-adjacent axes of the grouped
// layout transposes on wasm, which made GroupNorm at 64x64x16 cost more than the convolution before it. Measured on wasm
// (1 thread, another training process busy on the 2 cores, both variants in the same run): the kernels' forward
// pass is 1.7-2.4x faster than the tf-ops version over the photogeo networks' GroupNorm shapes.
// `groupNormAutodiff` (autodiff through tf.moments) is kept as the cross-check the tests compare against.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../errors.js';
import { cpuIo, wasmIo, type Io } from './kernel-io.js';

const FORWARD = 'Gan3dGroupNorm';
const BACKWARD = 'Gan3dGroupNormGrad';

function checkArgs(x: tf.Tensor4D, groups: number, gamma?: tf.Tensor1D, beta?: tf.Tensor1D): number {
  if (x.rank !== 4) throw new Gan3dError(`groupNorm expects an NHWC tensor of rank 4, got shape [${x.shape}].`, 'BAD_SHAPE');
  const c = x.shape[3];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new Gan3dError(
      `groupNorm: groups must be a positive integer that divides the channel count ${c}, got ${groups}.`,
      'BAD_ARGUMENT',
    );
  }
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== c)) {
      throw new Gan3dError(`groupNorm: ${name} must have shape [${c}], got [${t.shape}].`, 'BAD_SHAPE');
    }
  }
  return c / groups;
}

/** Normalized x (xhat) and 1/sqrt(var + eps) per group, both in the grouped layout [N, H, W, G, C/G]. */
function normalize(x5: tf.Tensor, epsilon: number): { xhat: tf.Tensor; rstd: tf.Tensor } {
  const { mean, variance } = tf.moments(x5, [1, 2, 4], true);
  const rstd = tf.rsqrt(tf.add(variance, epsilon));
  return { xhat: tf.mul(tf.sub(x5, mean), rstd), rstd };
}

// ---- plain-loop kernels (cpu, wasm) -------------------------------------------------------------------------------

interface GroupDims {
  n: number;
  /** Pixels per sample (H * W). */
  pixels: number;
  c: number;
  groups: number;
  cg: number;
}

function groupDims(shape: number[], groups: number): GroupDims {
  const [n, h, w, c] = shape;
  return { n, pixels: h * w, c, groups, cg: c / groups };
}

/** y = gamma (x - mean) rstd + beta; mean and rstd per (sample, group), written to [N, G] outputs. Two-pass variance. */
function forwardLoop(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, d: GroupDims, eps: number, y: Float32Array, mean: Float32Array, rstd: Float32Array): void {
  const { n, pixels, c, groups, cg } = d;
  const count = pixels * cg;
  const acc = new Float64Array(groups);
  const m = new Float64Array(groups);
  const r = new Float64Array(groups);
  for (let b = 0; b < n; b++) {
    const base = b * pixels * c;
    acc.fill(0);
    for (let p = 0; p < pixels; p++) {
      const o = base + p * c;
      for (let g = 0, ch = 0; g < groups; g++) {
        let s = 0;
        for (let k = 0; k < cg; k++, ch++) s += x[o + ch];
        acc[g] += s;
      }
    }
    for (let g = 0; g < groups; g++) m[g] = acc[g] / count;
    acc.fill(0);
    for (let p = 0; p < pixels; p++) {
      const o = base + p * c;
      for (let g = 0, ch = 0; g < groups; g++) {
        const mg = m[g];
        let s = 0;
        for (let k = 0; k < cg; k++, ch++) {
          const v = x[o + ch] - mg;
          s += v * v;
        }
        acc[g] += s;
      }
    }
    for (let g = 0; g < groups; g++) {
      r[g] = 1 / Math.sqrt(acc[g] / count + eps);
      mean[b * groups + g] = m[g];
      rstd[b * groups + g] = r[g];
    }
    for (let p = 0; p < pixels; p++) {
      const o = base + p * c;
      for (let g = 0, ch = 0; g < groups; g++) {
        const mg = m[g];
        const rg = r[g];
        for (let k = 0; k < cg; k++, ch++) y[o + ch] = (x[o + ch] - mg) * rg * gamma[ch] + beta[ch];
      }
    }
  }
}

/** dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) per group, dxhat = dy gamma; dgamma = Σ dy xhat; dbeta = Σ dy. */
function backwardLoop(
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  gamma: ArrayLike<number>,
  dy: ArrayLike<number>,
  d: GroupDims,
  dx: Float32Array,
  dGamma: Float32Array,
  dBeta: Float32Array,
): void {
  const { n, pixels, c, groups, cg } = d;
  const count = pixels * cg;
  const s1 = new Float64Array(groups);
  const s2 = new Float64Array(groups);
  const dg = new Float64Array(c);
  const db = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    const base = b * pixels * c;
    s1.fill(0);
    s2.fill(0);
    for (let p = 0; p < pixels; p++) {
      const o = base + p * c;
      for (let g = 0, ch = 0; g < groups; g++) {
        const mg = mean[b * groups + g];
        const rg = rstd[b * groups + g];
        let a1 = 0;
        let a2 = 0;
        for (let k = 0; k < cg; k++, ch++) {
          const xhat = (x[o + ch] - mg) * rg;
          const g0 = dy[o + ch];
          const dxhat = g0 * gamma[ch];
          a1 += dxhat;
          a2 += dxhat * xhat;
          dg[ch] += g0 * xhat;
          db[ch] += g0;
        }
        s1[g] += a1;
        s2[g] += a2;
      }
    }
    for (let p = 0; p < pixels; p++) {
      const o = base + p * c;
      for (let g = 0, ch = 0; g < groups; g++) {
        const mg = mean[b * groups + g];
        const rg = rstd[b * groups + g];
        const m1 = s1[g] / count;
        const m2 = s2[g] / count;
        for (let k = 0; k < cg; k++, ch++) {
          const xhat = (x[o + ch] - mg) * rg;
          dx[o + ch] = rg * (dy[o + ch] * gamma[ch] - m1 - xhat * m2);
        }
      }
    }
  }
  for (let ch = 0; ch < c; ch++) {
    dGamma[ch] = dg[ch];
    dBeta[ch] = db[ch];
  }
}

function forwardKernel(io: (backend: unknown) => Io): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
    const { groups, epsilon } = attrs as unknown as { groups: number; epsilon: number };
    const b = io(backend);
    const d = groupDims(x.shape, groups);
    // Outputs first: on wasm an allocation can move the heap, which would detach views of the inputs.
    const { infos, arrays } = b.outputs([x.shape, [d.n, groups], [d.n, groups]]);
    forwardLoop(b.read(x), b.read(gamma), b.read(beta), d, epsilon, arrays[0], arrays[1], arrays[2]);
    return infos;
  };
}

function backwardKernel(io: (backend: unknown) => Io): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, mean, rstd, gamma, dy } = inputs as Record<'x' | 'mean' | 'rstd' | 'gamma' | 'dy', tf.TensorInfo>;
    const { groups } = attrs as unknown as { groups: number };
    const b = io(backend);
    const d = groupDims(x.shape, groups);
    const { infos, arrays } = b.outputs([x.shape, [d.c], [d.c]]);
    backwardLoop(b.read(x), b.read(mean), b.read(rstd), b.read(gamma), b.read(dy), d, arrays[0], arrays[1], arrays[2]);
    return infos;
  };
}

function registerKernels(): void {
  for (const [backendName, io] of [['cpu', cpuIo], ['wasm', wasmIo]] as const) {
    if (!tf.getKernel(FORWARD, backendName)) tf.registerKernel({ kernelName: FORWARD, backendName, kernelFunc: forwardKernel(io) });
    if (!tf.getKernel(BACKWARD, backendName)) tf.registerKernel({ kernelName: BACKWARD, backendName, kernelFunc: backwardKernel(io) });
  }
}
registerKernels();

function groupNormWithKernel(x: tf.Tensor4D, groups: number, gamma: tf.Tensor1D | undefined, beta: tf.Tensor1D | undefined, epsilon: number): tf.Tensor4D {
  const c = x.shape[3];
  const inputs: tf.Tensor[] = [x];
  if (gamma) inputs.push(gamma);
  if (beta) inputs.push(beta);
  const attrs = { groups, epsilon } as unknown as tf.NamedAttrMap;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xIn, ...rest] = args as tf.Tensor[];
    const g = gamma ? rest.shift()! : tf.ones([c]);
    const b = beta ? rest.shift()! : tf.zeros([c]);
    const [y, mean, rstd] = tf.engine().runKernel(FORWARD, { x: xIn, gamma: g, beta: b }, attrs) as tf.Tensor[];
    save([xIn, mean, rstd, g]);
    return {
      value: y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sMean, sRstd, sGamma] = saved;
        const [dx, dGamma, dBeta] = tf.engine().runKernel(BACKWARD, { x: sx, mean: sMean, rstd: sRstd, gamma: sGamma, dy }, attrs) as tf.Tensor[];
        return [dx, ...(gamma ? [dGamma] : []), ...(beta ? [dBeta] : [])];
      },
    };
  });
  return tf.tidy(() => f(...inputs) as tf.Tensor4D);
}

/**
 * y = gamma * (x - mean) / sqrt(var + eps) + beta, statistics per (sample, group) over H, W and the group's channels.
 * Differentiable in x, gamma and beta on every backend; loop kernels on cpu and wasm, tf ops elsewhere.
 */
export function groupNorm(
  x: tf.Tensor4D,
  groups: number,
  gamma?: tf.Tensor1D,
  beta?: tf.Tensor1D,
  epsilon = 1e-5,
): tf.Tensor4D {
  checkArgs(x, groups, gamma, beta);
  if (x.dtype === 'float32' && tf.getKernel(FORWARD, tf.getBackend())) return groupNormWithKernel(x, groups, gamma, beta, epsilon);
  return groupNormPortable(x, groups, gamma, beta, epsilon);
}

/** The tf-ops composition with the closed-form gradient, usable on every backend. */
export function groupNormPortable(
  x: tf.Tensor4D,
  groups: number,
  gamma?: tf.Tensor1D,
  beta?: tf.Tensor1D,
  epsilon = 1e-5,
): tf.Tensor4D {
  const cg = checkArgs(x, groups, gamma, beta);
  const [n, h, w] = x.shape;
  const grouped = [n, h, w, groups, cg];
  const inputs: tf.Tensor[] = [x];
  if (gamma) inputs.push(gamma);
  if (beta) inputs.push(beta);

  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xIn, ...rest] = args as tf.Tensor[];
    const g = gamma ? rest.shift() : undefined;
    const b = beta ? rest.shift() : undefined;
    const { xhat, rstd } = normalize(tf.reshape(xIn, grouped), epsilon);
    let y = tf.reshape(xhat, x.shape);
    if (g) y = tf.mul(y, g);
    if (b) y = tf.add(y, b);
    save([xhat, rstd, ...(g ? [g] : [])]);
    return {
      value: y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sXhat, sRstd, sGamma] = saved;
        // dxhat = dy * gamma; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) over each group.
        const dxhat = tf.reshape(sGamma ? tf.mul(dy, sGamma) : dy, grouped);
        const m1 = tf.mean(dxhat, [1, 2, 4], true);
        const m2 = tf.mean(tf.mul(dxhat, sXhat), [1, 2, 4], true);
        const dx = tf.reshape(tf.mul(sRstd, tf.sub(tf.sub(dxhat, m1), tf.mul(sXhat, m2))), x.shape);
        const grads: tf.Tensor[] = [dx];
        if (gamma) grads.push(tf.sum(tf.mul(dy, tf.reshape(sXhat, x.shape)), [0, 1, 2]));
        if (beta) grads.push(tf.sum(dy, [0, 1, 2]));
        return grads;
      },
    };
  });
  return f(...inputs) as tf.Tensor4D;
}

/** The same function left to autodiff; slower on wasm, kept as a cross-check for the closed-form gradient. */
export function groupNormAutodiff(
  x: tf.Tensor4D,
  groups: number,
  gamma?: tf.Tensor1D,
  beta?: tf.Tensor1D,
  epsilon = 1e-5,
): tf.Tensor4D {
  const cg = checkArgs(x, groups, gamma, beta);
  const [n, h, w] = x.shape;
  return tf.tidy(() => {
    let y = tf.reshape(normalize(tf.reshape(x, [n, h, w, groups, cg]), epsilon).xhat, x.shape);
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return y as tf.Tensor4D;
  });
}
