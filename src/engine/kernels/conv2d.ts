// Conv2D for wasm: the stock XNNPACK convolution, or a matmul formulation when the filter is new and that is
// cheaper (see cost-model.ts for why new filters are expensive for XNNPACK). Paths:
// - 'xnnpack': the stock kernel. Best for filters used again (XNNPACK keeps the packed operator per dataId).
// - 'im2col': cols [N*oh*ow, kh*kw*ci] x filter [kh*kw*ci, co] (HWIO is already that matrix). Each window row
//   is one contiguous run of x (kw*ci floats). A conv whose window covers the whole input needs no copy at all.
// - 'taps': for few output channels, z = x [N*H*W, ci] x filter^T [ci, kh*kw*co], then every output sums its
//   kh*kw taps out of z. XNNPACK runs narrow outputs (co=1) at a tenth of its speed, even with a cached filter.
import * as tf from '@tensorflow/tfjs';
import { copyNs, costs, gemmNs, SET_MIN_RUN, xnnConvNs } from './cost-model.js';
import { WasmScope, type Pad, type RoundingMode } from './wasm-util.js';

export type ConvPath = 'xnnpack' | 'im2col' | 'taps';

/** Strategy override, memory cap and the path of the last call; exported for tests and benchmarks. */
export const convTuning = {
  strategy: 'auto' as 'auto' | ConvPath,
  /** Largest cols / z buffer (floats) before the batch is split into chunks. */
  maxColsFloats: 1 << 23,
  lastPath: 'xnnpack' as ConvPath,
};

/**
 * Filters seen before, by dataId: from the second call on a filter is presumed to be reused (inference, or a
 * fixed-weight loop), so XNNPACK's cached operator is the fast choice. A WeakSet keeps this bounded by the live
 * tensors: a disposed tensor's dataId is collected with it.
 */
const seenFilters = new WeakSet<object>();

interface Geometry {
  n: number; h: number; w: number; ci: number; co: number; oh: number; ow: number;
  kh: number; kw: number; sy: number; sx: number; dh: number; dw: number; top: number; left: number;
}

function geometry(info: tf.backend_util.Conv2DInfo): Geometry {
  return {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, ci: info.inChannels, co: info.outChannels,
    oh: info.outHeight, ow: info.outWidth, kh: info.filterHeight, kw: info.filterWidth,
    sy: info.strideHeight, sx: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth,
    top: info.padInfo.top, left: info.padInfo.left,
  };
}

/** The window covers the whole input exactly: x itself is the cols matrix [N, kh*kw*ci]. */
function wholeWindow(g: Geometry): boolean {
  return g.oh === 1 && g.ow === 1 && g.kh === g.h && g.kw === g.w && g.top === 0 && g.left === 0 && g.dh === 1 && g.dw === 1;
}

/** Estimated cost of each path; `fresh` = the filter's dataId is new (XNNPACK and BatchMatMul must pack it). */
export function convCosts(info: tf.backend_util.Conv2DInfo, fresh: boolean): Record<ConvPath, number> {
  const g = geometry(info);
  const k = g.kh * g.kw * g.ci;
  const p = g.n * g.oh * g.ow;
  const macs = p * k * g.co;
  const xnn = xnnConvNs(macs, g.ci, g.co, k * g.co, fresh);
  let im2col = gemmNs(p, k, g.co, fresh);
  if (!wholeWindow(g)) {
    const runs = g.dw === 1 ? p * g.kh : p * g.kh * g.kw;
    im2col += copyNs(runs, (g.dw === 1 ? g.kw : 1) * g.ci) + costs.fillFloat * p * k;
  }
  const taps = gemmNs(g.n * g.h * g.w, g.ci, g.kh * g.kw * g.co, true) + costs.scatterFloat * p * g.kh * g.kw * g.co;
  return { xnnpack: xnn, im2col, taps };
}

/** XNNPACK unless another path is clearly (10%) cheaper: near ties are within the model's error. */
function cheapest(c: Record<ConvPath, number>): ConvPath {
  let best: ConvPath = 'xnnpack';
  for (const path of ['im2col', 'taps'] as const) if (c[path] < c[best]) best = path;
  return best !== 'xnnpack' && c[best] < 0.9 * c.xnnpack ? best : 'xnnpack';
}

function conv2d(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const filter = args.inputs.filter as tf.TensorInfo;
  const attrs = args.attrs ?? {};
  const format = tf.backend_util.convertConv2DDataFormat((attrs.dataFormat ?? 'NHWC') as 'NHWC' | 'NCHW');
  const stock = () => WasmScope.run(args.backend, (s) => s.callStock('Conv2D', { x, filter }, attrs));
  // NCHW and empty tensors: the stock kernel's own behaviour (and error messages).
  if (format !== 'channelsLast' || tf.util.sizeFromShape(x.shape) === 0 || tf.util.sizeFromShape(filter.shape) === 0) {
    convTuning.lastPath = 'xnnpack';
    return stock();
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides as number | [number, number], (attrs.dilations ?? 1) as number | [number, number],
    attrs.pad as Pad, attrs.dimRoundingMode as RoundingMode, false, format,
  );
  const seen = seenFilters.has(filter.dataId);
  if (!seen) seenFilters.add(filter.dataId);
  const path = convTuning.strategy === 'auto' ? cheapest(convCosts(info, !seen)) : convTuning.strategy;
  convTuning.lastPath = path;
  if (tf.util.sizeFromShape(info.outShape) === 0) return stock();
  if (path === 'xnnpack') {
    const pad = stockPadding(info);
    if (pad === null) return stock();
    const { dimRoundingMode: _, ...rest } = attrs;
    return WasmScope.run(args.backend, (s) => {
      const y = s.callStock('Conv2D', { x, filter }, { ...rest, pad });
      if (y.shape[1] === info.outHeight && y.shape[2] === info.outWidth) return y;
      return s.call('Slice', { x: y }, { begin: [0, 0, 0, 0], size: info.outShape });
    });
  }
  return WasmScope.run(args.backend, (s) => (path === 'im2col' ? im2colConv(s, x, filter, info) : tapsConv(s, x, filter, info)));
}

/**
 * The stock kernel derives XNNPACK's output size from the stated padding, so when a rounding mode ('ceil',
 * 'round') makes the output larger it leaves rows unwritten, and when tfjs sizes a numeric padding with the
 * filter height on both axes (kh != kw) the output can also be smaller. Explicit bottom/right padding reaching
 * at least the output size fixes both (the caller crops any extra rows); null when the stated padding is exact.
 */
function stockPadding(info: tf.backend_util.Conv2DInfo): Pad | null {
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, strideHeight: sy, strideWidth: sx } = info;
  const { top, bottom, left, right } = info.padInfo;
  const rows = Math.floor((h + top + bottom - info.effectiveFilterHeight) / sy) + 1;
  const cols = Math.floor((w + left + right - info.effectiveFilterWidth) / sx) + 1;
  if (rows === oh && cols === ow) return null;
  const b = Math.max(0, (oh - 1) * sy + info.effectiveFilterHeight - h - top);
  const r = Math.max(0, (ow - 1) * sx + info.effectiveFilterWidth - w - left);
  return [[0, 0], [top, b], [left, r], [0, 0]];
}

/** Images per chunk so that a buffer of `perImage` floats per image stays under the cap. */
function chunkImages(n: number, perImage: number): number {
  return Math.max(1, Math.min(n, Math.floor(convTuning.maxColsFloats / Math.max(1, perImage))));
}

function im2colConv(s: WasmScope, x: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const g = geometry(info);
  const k = g.kh * g.kw * g.ci;
  const pixels = g.oh * g.ow;
  const w2 = s.reshape(filter, [k, g.co]);
  if (wholeWindow(g)) return s.reshape(s.matMul(s.reshape(x, [g.n, k]), w2), info.outShape);
  const chunk = chunkImages(g.n, pixels * k);
  let out: tf.TensorInfo | null = null;
  for (let b0 = 0; b0 < g.n; b0 += chunk) {
    const nb = Math.min(chunk, g.n - b0);
    const cols = s.alloc([nb * pixels, k]);
    fillCols(s.view(x), s.view(cols), g, b0, nb);
    const part = s.matMul(cols, w2);
    if (nb === g.n) return s.reshape(part, info.outShape);
    s.free(cols);
    if (out === null) out = s.alloc(info.outShape);
    s.view(out).set(s.view(part), b0 * pixels * g.co);
    s.free(part);
  }
  return out as tf.TensorInfo;
}

/** cols[(b, oy, ox), (ky, kx, c)] = x[b0 + b, oy*sy + ky*dh - top, ox*sx + kx*dw - left, c], zero outside. */
export function fillCols(xv: Float32Array, cv: Float32Array, g: Geometry, b0: number, nb: number): void {
  const { h, w, ci, oh, ow, kh, kw, sy, sx, dh, dw, top, left } = g;
  const k = kh * kw * ci;
  // Zero everything once when some window reaches into the padding; the copies below overwrite the rest.
  const padded = top > 0 || left > 0 || (oh - 1) * sy + (kh - 1) * dh - top >= h || (ow - 1) * sx + (kw - 1) * dw - left >= w;
  if (padded) cv.fill(0);
  let row = 0;
  for (let b = b0; b < b0 + nb; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, row += k) {
        const ix0 = ox * sx - left;
        // Taps kx in [kx0, kx1) land inside x.
        const kx0 = ix0 >= 0 ? 0 : Math.ceil(-ix0 / dw);
        const kx1 = Math.min(kw, Math.floor((w - 1 - ix0) / dw) + 1);
        if (kx1 <= kx0) continue;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sy + ky * dh - top;
          if (iy < 0 || iy >= h) continue;
          const rowX = (b * h + iy) * w;
          if (dw === 1) {
            copyRun(xv, (rowX + ix0 + kx0) * ci, cv, row + (ky * kw + kx0) * ci, (kx1 - kx0) * ci);
          } else {
            for (let kx = kx0; kx < kx1; kx++) copyRun(xv, (rowX + ix0 + kx * dw) * ci, cv, row + (ky * kw + kx) * ci, ci);
          }
        }
      }
    }
  }
}

export function copyRun(src: Float32Array, from: number, dst: Float32Array, to: number, len: number): void {
  if (len >= SET_MIN_RUN) {
    dst.set(src.subarray(from, from + len), to);
  } else {
    for (let i = 0; i < len; i++) dst[to + i] = src[from + i];
  }
}

function tapsConv(s: WasmScope, x: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const g = geometry(info);
  const taps = g.kh * g.kw;
  const t = taps * g.co;
  const inPixels = g.h * g.w;
  // wt [ci, (ky, kx, o)] from the HWIO filter [(ky, kx), ci, o].
  const wt = s.alloc([g.ci, t]);
  {
    const fv = s.view(filter);
    const wv = s.view(wt);
    for (let tap = 0; tap < taps; tap++) {
      for (let c = 0; c < g.ci; c++) {
        const src = (tap * g.ci + c) * g.co;
        const dst = c * t + tap * g.co;
        for (let o = 0; o < g.co; o++) wv[dst + o] = fv[src + o];
      }
    }
  }
  const out = s.alloc(info.outShape);
  s.view(out).fill(0);
  const x2 = s.reshape(x, [g.n * inPixels, g.ci]);
  const chunk = chunkImages(g.n, inPixels * t);
  for (let b0 = 0; b0 < g.n; b0 += chunk) {
    const nb = Math.min(chunk, g.n - b0);
    const xs = nb === g.n ? x2 : s.call('Slice', { x: x2 }, { begin: [b0 * inPixels, 0], size: [nb * inPixels, g.ci] });
    const z = s.matMul(xs, wt);
    gatherTaps(s.view(z), s.view(out), g, b0, nb);
    s.free(z);
    if (xs !== x2) s.free(xs);
  }
  return out;
}

/** out[b0 + b, oy, ox, o] += sum over taps inside x of z[(b, iy, ix), (ky, kx, o)]. */
function gatherTaps(zv: Float32Array, ov: Float32Array, g: Geometry, b0: number, nb: number): void {
  const { h, w, co, oh, ow, kh, kw, sy, sx, dh, dw, top, left } = g;
  const t = kh * kw * co;
  const zStep = sx * t;
  for (let b = 0; b < nb; b++) {
    for (let oy = 0; oy < oh; oy++) {
      const outRow = ((b0 + b) * oh + oy) * ow * co;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sy + ky * dh - top;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          // Outputs ox whose tap kx lands inside x.
          const off = kx * dw - left;
          const ox0 = off >= 0 ? 0 : Math.ceil(-off / sx);
          const ox1 = Math.min(ow, Math.floor((w - 1 - off) / sx) + 1);
          if (ox1 <= ox0) continue;
          let zi = ((b * h + iy) * w + ox0 * sx + off) * t + (ky * kw + kx) * co;
          let oi = outRow + ox0 * co;
          if (co === 1) {
            for (let ox = ox0; ox < ox1; ox++, zi += zStep, oi++) ov[oi] += zv[zi];
          } else {
            for (let ox = ox0; ox < ox1; ox++, zi += zStep, oi += co) {
              for (let o = 0; o < co; o++) ov[oi + o] += zv[zi + o];
            }
          }
        }
      }
    }
  }
}

export const conv2dKernel: tf.KernelFunc = conv2d as tf.KernelFunc;
