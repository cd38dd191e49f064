// Conv2DBackpropFilter for wasm (the stock backend has none), two ways on the stock XNNPACK kernels:
// - im2col + one matmul: dW [kh*kw*ci, co] = colsT [kh*kw*ci, P] x dy [P, co] with P = n*oh*ow. Only untransposed
//   BatchMatMul is fast on wasm, so colsT is gathered directly in that layout from a padded, channel-major copy
//   of x (PadV2 + Transpose in wasm): each row of colsT is then a strided walk through one channel plane.
// - a forward conv with batch and channel axes swapped, for few output channels (see swappedConv).
import * as tf from '@tensorflow/tfjs';
import { explicitPad, WasmScope, type Pad, type RoundingMode } from './wasm-util.js';

/** Strategy override and im2col memory cap; exported for tests and benchmarks. */
export const filterGradTuning = {
  strategy: 'auto' as 'auto' | 'im2col' | 'swapped',
  /** Largest im2col buffer (floats) before the batch is split into chunks whose products are summed. */
  maxColsFloats: 1 << 24,
};

/**
 * Measured on one wasm SIMD core: im2col's copy costs as much as a matmul with ~30 output channels, so below
 * 16 channels the swapped conv is 2-3x faster; it also wins up to 64 channels once the batch (its reduction
 * channels per tap) and ci (its output pixels) are not tiny. Above that im2col is as fast or faster.
 */
function preferSwapped(n: number, ci: number, co: number): boolean {
  return co < 16 || (co < 64 && n >= 4 && ci >= 16);
}

function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const dy = args.inputs.dy as tf.TensorInfo;
  const attrs = args.attrs ?? {};
  const filterShape = attrs.filterShape as [number, number, number, number];
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat as 'NHWC' | 'NCHW');
  if (format !== 'channelsLast') throw new Error('wasm Conv2DBackpropFilter supports only NHWC (channelsLast) data.');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, attrs.strides as number | [number, number], 1,
    attrs.pad as Pad, attrs.dimRoundingMode as RoundingMode, false, format,
  );
  const { batchSize: n, outChannels: co } = info;

  return WasmScope.run(args.backend, (s) => {
    if (tf.util.sizeFromShape(x.shape) * tf.util.sizeFromShape(dy.shape) * tf.util.sizeFromShape(filterShape) === 0) {
      const zeros = s.alloc(filterShape);
      s.view(zeros).fill(0);
      return zeros;
    }
    const strategy = filterGradTuning.strategy === 'auto'
      ? (preferSwapped(n, info.inChannels, co) ? 'swapped' : 'im2col')
      : filterGradTuning.strategy;
    return strategy === 'swapped' ? swappedConv(s, x, dy, info) : im2col(s, x, dy, info);
  });
}

/**
 * Small co: the im2col copy costs more than the matmul it feeds, so run a forward conv with the batch as the
 * reduction channels instead: x as [ci, H, W, n] convolved with dy as filter [oh, ow, n, co] at dilation = stride
 * gives [ci, kh, kw, co] without materializing columns.
 */
function swappedConv(s: WasmScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const xt = s.transpose(x, [3, 1, 2, 0]);
  const f = s.transpose(dy, [1, 2, 0, 3]);
  const bottom = Math.max(0, kh + (oh - 1) * sy - h - top);
  const right = Math.max(0, kw + (ow - 1) * sx - w - left);
  const out = s.conv2d(xt, f, 1, explicitPad(top, bottom, left, right), [sy, sx]);
  const [, r, c] = out.shape;
  const cropped = r === kh && c === kw ? out : s.call('Slice', { x: out }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
  return s.transpose(cropped, [1, 2, 0, 3]);
}

function im2col(s: WasmScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const rows = kh * kw * ci;
  const pixels = oh * ow;
  // Pad so every window lies inside (ceil rounding can reach past the stated padding), then go channel-major.
  const hp = Math.max(h + top, (oh - 1) * sy + kh);
  const wp = Math.max(w + left, (ow - 1) * sx + kw);
  const xp = s.pad(x, [[0, 0], [top, hp - h - top], [left, wp - w - left], [0, 0]]);
  const xt = ci === 1 ? s.reshape(xp, [1, n, hp, wp]) : s.transpose(xp, [3, 0, 1, 2]);

  const chunk = Math.max(1, Math.min(n, Math.floor(filterGradTuning.maxColsFloats / (rows * pixels))));
  let acc: Float64Array | null = null;
  for (let n0 = 0; n0 < n; n0 += chunk) {
    const nb = Math.min(chunk, n - n0);
    let colsT: tf.TensorInfo;
    if (kh === 1 && kw === 1 && sy === 1 && sx === 1 && hp === oh && wp === ow && nb === n) {
      colsT = s.reshape(xt, [ci, n * pixels]);
    } else {
      colsT = s.alloc([rows, nb * pixels]);
      gatherColumns(s.view(xt), s.view(colsT), n, hp, wp, ci, kh, kw, sy, sx, oh, ow, n0, nb);
    }
    const dy2 = s.reshape(dy, [n * pixels, co]);
    const dyChunk = nb === n ? dy2 : s.call('Slice', { x: dy2 }, { begin: [n0 * pixels, 0], size: [nb * pixels, co] });
    const part = s.matMul(colsT, dyChunk);
    if (nb === n) return s.reshape(part, info.filterShape);
    // Several chunks: sum in float64, then write one output.
    const pv = s.view(part);
    if (acc === null) acc = new Float64Array(rows * co);
    for (let i = 0; i < acc.length; i++) acc[i] += pv[i];
  }
  const result = s.alloc(info.filterShape);
  s.view(result).set(acc as Float64Array);
  return result;
}

/** colsT[(ky, kx, c), (b, oy, ox)] = xt[c, n0 + b, oy*sy + ky, ox*sx + kx] with xt the padded [ci, n, hp, wp]. */
function gatherColumns(
  xt: Float32Array, cols: Float32Array, n: number, hp: number, wp: number, ci: number,
  kh: number, kw: number, sy: number, sx: number, oh: number, ow: number, n0: number, nb: number,
): void {
  let j = 0;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      for (let c = 0; c < ci; c++) {
        for (let b = n0; b < n0 + nb; b++) {
          const plane = (c * n + b) * hp;
          for (let oy = 0; oy < oh; oy++) {
            const base = (plane + oy * sy + ky) * wp + kx;
            if (sx === 1) {
              for (let ox = 0; ox < ow; ox++) cols[j++] = xt[base + ox];
            } else {
              for (let ox = 0, src = base; ox < ow; ox++, src += sx) cols[j++] = xt[src];
            }
          }
        }
      }
    }
  }
}

export const conv2dBackpropFilterKernel: tf.KernelFunc = conv2dBackpropFilter as tf.KernelFunc;
