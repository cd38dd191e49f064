// Conv2DBackpropFilter for wasm (the stock backend has none), two ways on the stock XNNPACK kernels:
// - im2col + one matmul: dW [kh*kw*ci, co] = colsT [kh*kw*ci, P] x dy [P, co] with P = n*oh*ow. Only untransposed
//   BatchMatMul is fast on wasm, so colsT is gathered directly in that layout from a padded, channel-major copy
//   of x (PadV2 + Transpose in wasm): each row of colsT is then a strided walk through one channel plane.
// - a forward conv with batch and channel axes swapped, for few output channels (see swappedConv).
// - 'taps', for very few output channels (see tapsGrad): one matmul whose A operand holds dy shifted once per
//   filter tap, against x as stored.
import * as tf from '@tensorflow/tfjs';
import { copyRun } from './conv2d.js';
import { explicitPad, WasmScope, type Pad, type RoundingMode } from './wasm-util.js';

type FilterGradPath = 'im2col' | 'swapped' | 'taps';

/** Strategy override, im2col memory cap and the path of the last call; exported for tests and benchmarks. */
export const filterGradTuning = {
  strategy: 'auto' as 'auto' | FilterGradPath,
  /** Largest im2col buffer (floats) before the batch is split into chunks whose products are summed. */
  maxColsFloats: 1 << 24,
  lastPath: 'im2col' as FilterGradPath,
  /** Stride-1 im2col gathers its columns over the padded row width by contiguous copies (see im2colFlat). */
  flatColumns: true,
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
      ? autoPath(n, info.inChannels, co, info.strideHeight * info.strideWidth, useFlatColumns(info))
      : filterGradTuning.strategy;
    filterGradTuning.lastPath = strategy;
    if (strategy === 'taps') return tapsGrad(s, x, dy, info);
    return strategy === 'swapped' ? swappedConv(s, x, dy, info) : im2col(s, x, dy, info);
  });
}

/**
 * Taps for co * stride^2 <= 4: its A operand has kh*kw*co rows over all input pixels, a stride leaving most of
 * them zero. Measured at batch 8 with fresh dy: x[64,64,32] k5 co=1 taps 3.3 ms vs swapped 19.7 (im2col 69);
 * x[32,32,32] k3 co=2/4/8: taps 0.9/1.5/3.9 ms vs swapped 2.5/2.7/2.8; x[64,64,16] k4 s2 co=4: 3.7 vs 2.1.
 */
function autoPath(n: number, ci: number, co: number, strideArea: number, flat: boolean): FilterGradPath {
  if (co * strideArea <= 4) return 'taps';
  // With stride 1 the columns are contiguous copies (im2colFlat), which moves the break-even down to 32 output
  // channels. Measured (CPU ms, batch 16, 3x3): x[64,64,64] co=32 flat 119 vs swapped 144; x[64,64,32] co=32 72 vs 74;
  // x[32,32,64] co=32 29 vs 34.
  if (flat && co >= 32) return 'im2col';
  return preferSwapped(n, ci, co) ? 'swapped' : 'im2col';
}

/**
 * dW as one matmul with the reduction over input pixels p = (b, iy, ix):
 * dWt[(ky, kx, o), c] = sum_p E[(ky, kx, o), p] * x[p, c], where row (ky, kx, o) of E is dy[.., o] placed at the
 * input pixels that tap (ky, kx) reads (zero elsewhere). E is the matmul's A operand, so only x is packed, and
 * with stride 1 every row of E is a shifted copy of dy built from contiguous runs. Chunked over the batch.
 */
function tapsGrad(s: WasmScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const t = kh * kw * co;
  const inPixels = h * w;
  const outPixels = oh * ow;
  // Channel-major dy [co, n*oh*ow] so that each output channel's rows are contiguous.
  const dyT = co === 1 ? dy : s.transpose2d(dy, 0, n * outPixels, co);
  const x2 = s.reshape(x, [n * inPixels, ci]);
  const chunk = Math.max(1, Math.min(n, Math.floor(filterGradTuning.maxColsFloats / (t * inPixels))));
  let acc: Float64Array | null = null;
  let single: tf.TensorInfo | null = null;
  for (let b0 = 0; b0 < n; b0 += chunk) {
    const nb = Math.min(chunk, n - b0);
    const e = s.alloc([t, nb * inPixels]);
    fillShiftedDy(s.view(dyT), s.view(e), info, b0, nb);
    const xs = nb === n ? x2 : s.call('Slice', { x: x2 }, { begin: [b0 * inPixels, 0], size: [nb * inPixels, ci] });
    const part = s.matMul(e, xs);
    if (nb === n) {
      single = part;
    } else {
      // Several chunks: sum in float64.
      const pv = s.view(part);
      if (acc === null) acc = new Float64Array(t * ci);
      for (let i = 0; i < acc.length; i++) acc[i] += pv[i];
      s.free(part);
      s.free(xs);
    }
    s.free(e);
  }
  // dW [ky, kx, c, o] from the [(ky, kx, o), c] product.
  const dW = s.alloc(info.filterShape);
  const src = single !== null ? s.view(single) : (acc as Float64Array);
  const dv = s.view(dW);
  for (let tap = 0; tap < kh * kw; tap++) {
    for (let o = 0; o < co; o++) {
      for (let c = 0; c < ci; c++) dv[(tap * ci + c) * co + o] = src[(tap * co + o) * ci + c];
    }
  }
  return dW;
}

/** E[(ky, kx, o), (b, iy, ix)] = dyT[o, (b0 + b, oy, ox)] for iy = oy*sy + ky - top, ix = ox*sx + kx - left. */
function fillShiftedDy(dv: Float32Array, ev: Float32Array, info: tf.backend_util.Conv2DInfo, b0: number, nb: number): void {
  const { batchSize: n, inHeight: h, inWidth: w, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const cols = nb * h * w;
  ev.fill(0);
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const off = kx - left;
      const ox0 = off >= 0 ? 0 : Math.ceil(-off / sx);
      const ox1 = Math.min(ow, Math.floor((w - 1 - off) / sx) + 1);
      if (ox1 <= ox0) continue;
      for (let o = 0; o < co; o++) {
        const row = ((ky * kw + kx) * co + o) * cols;
        for (let b = 0; b < nb; b++) {
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sy + ky - top;
            if (iy < 0 || iy >= h) continue;
            const src = (o * n + b0 + b) * oh * ow + oy * ow + ox0;
            const dst = row + (b * h + iy) * w + ox0 * sx + off;
            if (sx === 1) {
              copyRun(dv, src, ev, dst, ox1 - ox0);
            } else {
              for (let ox = ox0, si = src, di = dst; ox < ox1; ox++, si++, di += sx) ev[di] = dv[si];
            }
          }
        }
      }
    }
  }
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

  if (useFlatColumns(info) && !(kh === 1 && kw === 1 && hp === oh && wp === ow)) {
    return im2colFlat(s, xt, dy, info, hp, wp);
  }
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

/**
 * Stride 1 and outputs at least 16 wide: below that the padded width's extra matmul work ((kw - 1) / ow) costs more
 * than the copies save (measured: 8x8x128 -> 128 at batch 16, 24 vs 13 ms; 4x4: 8 vs 5 ms; 16x16: equal).
 */
function useFlatColumns(info: tf.backend_util.Conv2DInfo): boolean {
  return filterGradTuning.flatColumns && info.strideHeight === 1 && info.strideWidth === 1 && info.outWidth >= 16;
}

/**
 * Stride 1: the columns over the padded row width, so that every (tap, channel, image) row of colsT is one contiguous
 * copy of the channel-major padded x: colsT[(ky, kx, c), (b, oy, x')] = xt[c, b, oy + ky, x' + kx] for x' in [0, wp).
 * The columns x' >= ow read past the row (into the next one); dy is padded to the same width with zero rows there,
 * so they add nothing. Costs (wp / ow - 1) more matmul work than im2col and saves its per-value gather (measured:
 * the gather took about as long as the matmul at 32x32 and 16x16).
 */
function im2colFlat(s: WasmScope, xt: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, hp: number, wp: number): tf.TensorInfo {
  const { batchSize: n, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const rows = kh * kw * ci;
  const run = oh * wp;
  const chunk = Math.max(1, Math.min(n, Math.floor(filterGradTuning.maxColsFloats / (rows * run))));
  let acc: Float64Array | null = null;
  for (let n0 = 0; n0 < n; n0 += chunk) {
    const nb = Math.min(chunk, n - n0);
    const cols = s.alloc([rows, nb * run]);
    const dyq = s.alloc([nb * run, co]);
    {
      const xv = s.view(xt);
      const cv = s.view(cols);
      const end = xv.length;
      let j = 0;
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          for (let c = 0; c < ci; c++) {
            for (let b = n0; b < n0 + nb; b++, j += run) {
              const from = ((c * n + b) * hp + ky) * wp + kx;
              const len = Math.min(run, end - from);
              cv.set(xv.subarray(from, from + len), j);
              if (len < run) cv.fill(0, j + len, j + run);
            }
          }
        }
      }
      const dv = s.view(dy);
      const qv = s.view(dyq);
      qv.fill(0);
      const rowLen = ow * co;
      for (let b = 0; b < nb; b++) {
        for (let oy = 0; oy < oh; oy++) {
          const src = ((n0 + b) * oh + oy) * rowLen;
          qv.set(dv.subarray(src, src + rowLen), (b * run + oy * wp) * co);
        }
      }
    }
    const part = s.matMul(cols, dyq);
    if (nb === n) return s.reshape(part, info.filterShape);
    const pv = s.view(part);
    if (acc === null) acc = new Float64Array(rows * co);
    for (let i = 0; i < acc.length; i++) acc[i] += pv[i];
    s.free(part);
    s.free(cols);
    s.free(dyq);
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
