// Fused bias + leaky ReLU times a gain (StyleGAN2's fused bias_act 'lrelu'): y = gain · lrelu(x + b, alpha), with b
// on the last axis of x (any rank). On the wasm backend tfjs needs five kernels for this in the forward pass and about
// ten in the backward pass (the bias gradient reduces over the leading axes, which transposes the whole tensor); here
// it is one loop each way.
//
// Differentiable to any order, so R1 (a gradient of a gradient through the discriminator) passes:
//   forward  Gan3dBiasLrelu      (x, b)  -> y
//   backward Gan3dBiasLreluGrad  (dy, x, b) -> dx = dy · slope(x + b), db = Σ_{leading axes} dx, slope = gain
//            (x + b > 0) or gain · alpha; its own gradient is linear in the incoming gradients:
//            d(dy) = slope · (ddx + ddb), and zero with respect to x and b (the slope is piecewise constant, as
//            relu'' = 0 in autodiff).
// The backward pass keeps the inputs, not the output: tfjs records the clone of a saved *output* on the tape before
// the op that makes it, so a second-order gradient could not reach the inputs through it.
// On other backends (webgl, webgpu) the same function is composed from tf ops: gain (alpha z + (1 - alpha) relu(z)).
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Gan3dError } from '../errors.js';
import { WasmScope } from '../kernels/wasm-util.js';
import { backendHas, registerLoopKernel, runKernel } from './loop-kernel.js';

const FORWARD = 'Gan3dBiasLrelu';
const BACKWARD = 'Gan3dBiasLreluGrad';

interface Attrs {
  alpha: number;
  gain: number;
}

function attrsOf(a: tf.NamedAttrMap): Attrs {
  return { alpha: a.alpha as number, gain: a.gain as number };
}

/**
 * y[i] = z > 0 ? gain z : gain alpha z, z = x[i] + b[i mod c], computed without a branch as p z + q |z| with
 * p = gain (1 + alpha) / 2, q = gain (1 - alpha) / 2: the signs of activations are random, and a mispredicted branch
 * per value made the loop 5x slower.
 */
export function biasLreluLoop(x: ArrayLike<number>, b: ArrayLike<number>, c: number, { alpha, gain }: Attrs, y: Float32Array): void {
  const p = (gain * (1 + alpha)) / 2;
  const q = (gain * (1 - alpha)) / 2;
  const n = y.length;
  for (let o = 0; o < n; o += c) {
    for (let ch = 0; ch < c; ch++) {
      const z = x[o + ch] + b[ch];
      y[o + ch] = z * p + Math.abs(z) * q;
    }
  }
}

/** dx = dy · slope(x + b); db[ch] = Σ dx over the leading axes (float64 accumulation). */
export function biasLreluGradLoop(
  dy: ArrayLike<number>, x: ArrayLike<number>, b: ArrayLike<number>, c: number, { alpha, gain }: Attrs, dx: Float32Array, db: Float32Array,
): void {
  const neg = gain * alpha;
  const step = gain - neg;
  const acc = new Float64Array(c);
  const n = dx.length;
  for (let o = 0; o < n; o += c) {
    for (let ch = 0; ch < c; ch++) {
      // slope(y) without a branch: (y > 0) | 0 compiles to a set-on-compare.
      const g = dy[o + ch] * (neg + step * (((x[o + ch] + b[ch] > 0) as unknown as number) | 0));
      dx[o + ch] = g;
      acc[ch] += g;
    }
  }
  for (let ch = 0; ch < c; ch++) db[ch] = acc[ch];
}

registerLoopKernel(
  FORWARD,
  (io, { inputs, attrs }) => {
    const { x, b } = inputs as { x: tf.TensorInfo; b: tf.TensorInfo };
    const { infos, arrays } = io.outputs([x.shape]);
    biasLreluLoop(io.read(x), io.read(b), b.shape[0], attrsOf(attrs), arrays[0]);
    return infos;
  },
  // wasm: the same p z + q |z| from stock SIMD kernels (five passes, still ~2x faster than the loop; the stock
  // LeakyRelu is slower than either).
  (s, { inputs, attrs }) => {
    const { alpha, gain } = attrsOf(attrs);
    const scalar = (v: number) => {
      const t = s.alloc([]);
      s.view(t)[0] = v;
      return t;
    };
    const z = s.call('Add', { a: inputs.x as tf.TensorInfo, b: inputs.b as tf.TensorInfo });
    const pz = s.call('Multiply', { a: z, b: scalar((gain * (1 + alpha)) / 2) });
    const az = s.call('Abs', { x: z });
    s.free(z);
    const qz = s.call('Multiply', { a: az, b: scalar((gain * (1 - alpha)) / 2) });
    s.free(az);
    return s.call('Add', { a: pz, b: qz });
  },
);

// wasm: dx = gain · dy · step(x + b, alpha) from stock SIMD kernels, then db summed from dx in one read-only loop
// (about half the time of the all-in-one loop, whose per-element slope select is the slow part in JS).
tf.registerKernel({
  kernelName: BACKWARD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, x, b } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; b: tf.TensorInfo };
    const { alpha, gain } = attrsOf(attrs ?? {});
    const c = b.shape[0];
    const dx = WasmScope.run(backend, (s) => {
      const z = s.call('Add', { a: x, b });
      const slope = s.call('Step', { x: z }, { alpha });
      s.free(z);
      const m = s.call('Multiply', { a: dy, b: slope });
      s.free(slope);
      const g = s.alloc([]);
      s.view(g)[0] = gain;
      return s.call('Multiply', { a: m, b: g });
    });
    const wasm = backend as BackendWasm;
    const db = wasm.makeOutput([c], 'float32');
    sumLastAxis(wasm.typedArrayFromHeap(dx) as Float32Array, c, wasm.typedArrayFromHeap(db) as Float32Array);
    return [dx, db];
  },
});

/** out[ch] = Σ v[i] over i ≡ ch (mod c), in float64. */
export function sumLastAxis(v: Float32Array, c: number, out: Float32Array): void {
  const acc = new Float64Array(c);
  const n = v.length;
  const c4 = c % 4 === 0 ? c : 0; // four channels per iteration when c allows (faster in V8)
  for (let o = 0; o < n; o += c) {
    for (let ch = 0; ch < c4; ch += 4) {
      acc[ch] += v[o + ch];
      acc[ch + 1] += v[o + ch + 1];
      acc[ch + 2] += v[o + ch + 2];
      acc[ch + 3] += v[o + ch + 3];
    }
    for (let ch = c4; ch < c; ch++) acc[ch] += v[o + ch];
  }
  for (let ch = 0; ch < c; ch++) out[ch] = acc[ch];
}

registerLoopKernel(BACKWARD, (io, { inputs, attrs }) => {
  const { dy, x, b } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; b: tf.TensorInfo };
  const c = b.shape[0];
  const { infos, arrays } = io.outputs([x.shape, [c]]);
  biasLreluGradLoop(io.read(dy), io.read(x), io.read(b), c, attrsOf(attrs), arrays[0], arrays[1]);
  return infos;
});

tf.registerGradient({
  kernelName: FORWARD,
  inputsToSave: ['x', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [dx, db] = runKernel(BACKWARD, { dy: dy as tf.Tensor, x: saved[0], b: saved[1] }, attrs);
    return { x: () => dx, b: () => db };
  },
});

tf.registerGradient({
  kernelName: BACKWARD,
  inputsToSave: ['x', 'b'],
  gradFunc: (dys, saved, attrs) => {
    const [ddx, ddb] = dys as tf.Tensor[];
    const [x, b] = saved;
    const [ddy] = runKernel(BACKWARD, { dy: tf.add(ddx, ddb), x, b }, attrs);
    return { dy: () => ddy, x: () => tf.zerosLike(x), b: () => tf.zerosLike(b) };
  },
});

/** gain · (alpha z + (1 - alpha) relu(z)), z = x + b: the tf-ops form (twice differentiable through relu's step). */
export function biasLreluPortable<T extends tf.Tensor>(x: T, b: tf.Tensor1D | undefined, alpha = 0.2, gain = Math.SQRT2): T {
  return tf.tidy(() => {
    const z = b ? tf.add(x, b) : x;
    return tf.add(tf.mul(z, alpha * gain), tf.mul(tf.relu(z), (1 - alpha) * gain)) as T;
  });
}

/**
 * gain · leakyRelu(x + b, alpha) with b [C] on the last axis of x (b may be left out). Loop kernels on cpu and wasm,
 * differentiable to any order; tf ops elsewhere.
 */
export function biasLrelu<T extends tf.Tensor>(x: T, b?: tf.Tensor1D, alpha = 0.2, gain = Math.SQRT2): T {
  const c = x.shape[x.rank - 1];
  if (b && (b.rank !== 1 || b.shape[0] !== c)) throw new Gan3dError(`biasLrelu: bias [${b.shape}] does not fit the last axis of [${x.shape}].`, 'BAD_SHAPE');
  if (!(gain > 0) || !(alpha > 0)) throw new Gan3dError(`biasLrelu needs gain > 0 and alpha > 0, got ${gain} and ${alpha}.`, 'BAD_ARGUMENT');
  if (x.dtype !== 'float32' || x.size === 0 || !backendHas(FORWARD, BACKWARD)) return biasLreluPortable(x, b, alpha, gain);
  return tf.tidy(() => runKernel(FORWARD, { x, b: b ?? tf.zeros([c]) }, { alpha, gain })[0] as T);
}
