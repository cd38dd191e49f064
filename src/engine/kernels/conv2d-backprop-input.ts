// Conv2DBackpropInput (transposed convolution) for wasm. The stock kernel is a scalar loop (~10x slower than
// forward), so two other ways, chosen by the cost model:
// - 'phase': a stride-s transposed convolution split into its s*s output phases: phase r of each axis is a
//   stride-1 correlation of dy with the taps r, r+s, ... of the flipped filter. All phases are stacked as output
//   channels of ONE stride-1 Conv2D, and a copy loop interleaves them back into dx (depth-to-space) while
//   cropping the padding. Its filter is new on every call, which costs XNNPACK ~10 ns per weight.
// - 'col2im': colsT [kh*kw*ci, N*oh*ow] = filter [kh*kw*ci, co] x dyT [co, N*oh*ow], then each column is added
//   into the dx pixels its window covers. The filter is the matmul's A operand as stored (never packed); only
//   the transposed dy is packed. Exact work (no phase padding), so it wins for small spatial sizes and large
//   filters, e.g. the 1x1 -> 4x4 transposed conv of a bottleneck (12 ms -> under 1 ms at batch 8).
import * as tf from '@tensorflow/tfjs';
import { convCosts } from './conv2d.js';
import { copyNs, costs, gemmNs } from './cost-model.js';
import { explicitPad, WasmScope, type Pad, type RoundingMode } from './wasm-util.js';

/** Strategy override, memory cap and the path of the last call; exported for tests and benchmarks. */
export const inputGradTuning = {
  strategy: 'auto' as 'auto' | 'phase' | 'col2im',
  /** Largest colsT buffer (floats) before the batch is split into chunks. */
  maxColsFloats: 1 << 23,
  lastPath: 'phase' as 'phase' | 'col2im',
};

/** How one spatial axis of a transposed convolution maps onto a stride-1 "phase" convolution over dy. */
export interface PhaseAxis {
  /** Taps per phase: ceil(effectiveKernel / stride). */
  taps: number;
  /** Zero padding of dy before / after for the phase convolution. */
  before: number;
  after: number;
  /** Phase-conv output rows, and the phase row index `q` of its first row. */
  rows: number;
  first: number;
}

/**
 * dx[i] collects dy[o] * w[k] over i + pad = o*stride + k. Writing i + pad = q*stride + r, phase r is
 * out_r[q] = sum_t dy[q - (taps-1) + t] * g_r[t] with g_r[t] = w[r + (taps-1-t)*stride] (zero past the kernel).
 */
export function planPhaseAxis(inSize: number, dySize: number, kernel: number, stride: number, pad: number): PhaseAxis {
  const taps = Math.ceil(kernel / stride);
  const qLo = Math.floor(pad / stride);
  const qHi = Math.floor((pad + inSize - 1) / stride);
  // Padding cannot be negative: when the first needed row lies further in, compute from row taps-1 and skip.
  const first = Math.min(qLo, taps - 1);
  const before = taps - 1 - first;
  const after = Math.max(0, qHi - first + taps - dySize - before);
  return { taps, before, after, rows: dySize + before + after - taps + 1, first };
}

/**
 * Interleaves the phase-conv output z [n, rowsY, rowsX, sy*sx*groups*c] into dx [n, inH, inW, c], summing over
 * `groups` consecutive channel blocks (the channel multiplier of depthwise convolutions; 1 otherwise).
 * Phase-channel layout: ((ch*groups + g)*sy*sx + ry*sx + rx) when `phaseInner`, else ((ry*sx + rx)*c + ch).
 */
export function interleavePhases(
  z: Float32Array, dx: Float32Array, n: number, inH: number, inW: number, c: number,
  ay: PhaseAxis, ax: PhaseAxis, sy: number, sx: number, padTop: number, padLeft: number,
  groups: number, phaseInner: boolean,
): void {
  const phases = sy * sx;
  const zc = phases * c * groups;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let iy = 0; iy < inH; iy++) {
      const py = iy + padTop;
      const qy = Math.floor(py / sy);
      const ry = py - qy * sy;
      const rowBase = (b * ay.rows + qy - ay.first) * ax.rows;
      for (let ix = 0; ix < inW; ix++) {
        const px = ix + padLeft;
        const qx = Math.floor(px / sx);
        const rx = px - qx * sx;
        const ph = ry * sx + rx;
        const base = (rowBase + qx - ax.first) * zc;
        if (!phaseInner) {
          const src = base + ph * c;
          if (c >= 16) {
            dx.set(z.subarray(src, src + c), o);
            o += c;
          } else {
            for (let ch = 0; ch < c; ch++) dx[o++] = z[src + ch];
          }
        } else {
          for (let ch = 0; ch < c; ch++) {
            let acc = 0;
            let src = base + ch * groups * phases + ph;
            for (let g = 0; g < groups; g++, src += phases) acc += z[src];
            dx[o++] = acc;
          }
        }
      }
    }
  }
}

function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const dy = args.inputs.dy as tf.TensorInfo;
  const filter = args.inputs.filter as tf.TensorInfo;
  const attrs = args.attrs ?? {};
  const inputShape = attrs.inputShape as [number, number, number, number];
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat as 'NHWC' | 'NCHW');
  if (format !== 'channelsLast') throw new Error('wasm Conv2DBackpropInput supports only NHWC (channelsLast) data.');
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], attrs.strides as number | [number, number], 1,
    attrs.pad as Pad, attrs.dimRoundingMode as RoundingMode, false, format,
  );
  const { batchSize: n, inHeight: inH, inWidth: inW, inChannels: ci, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx } = info;
  const ay = planPhaseAxis(inH, info.outHeight, kh, sy, info.padInfo.top);
  const ax = planPhaseAxis(inW, info.outWidth, kw, sx, info.padInfo.left);
  const phaseChannels = sy * sx * ci;
  const strategy = inputGradTuning.strategy === 'auto' ? cheaperPath(info, ay, ax) : inputGradTuning.strategy;
  inputGradTuning.lastPath = strategy;

  return WasmScope.run(args.backend, (s) => {
    if (tf.util.sizeFromShape(dy.shape) === 0 || tf.util.sizeFromShape(filter.shape) === 0) {
      const zeros = s.alloc(info.inShape);
      s.view(zeros).fill(0);
      return zeros;
    }
    if (strategy === 'col2im') return col2imPath(s, dy, filter, info);
    // Stacked sub-filters g [tapsY, tapsX, co, phases*ci], flipped, zero where a phase has fewer taps.
    const g = s.alloc([ay.taps, ax.taps, co, phaseChannels]);
    const gv = s.view(g);
    const wv = s.view(filter);
    gv.fill(0);
    for (let ty = 0; ty < ay.taps; ty++) {
      for (let tx = 0; tx < ax.taps; tx++) {
        for (let ry = 0; ry < sy; ry++) {
          const ky = ry + (ay.taps - 1 - ty) * sy;
          if (ky >= kh) continue;
          for (let rx = 0; rx < sx; rx++) {
            const kx = rx + (ax.taps - 1 - tx) * sx;
            if (kx >= kw) continue;
            const dst0 = (ty * ax.taps + tx) * co * phaseChannels + (ry * sx + rx) * ci;
            const src0 = (ky * kw + kx) * ci * co;
            for (let c = 0; c < ci; c++) {
              let dst = dst0 + c;
              const src = src0 + c * co;
              for (let o = 0; o < co; o++, dst += phaseChannels) gv[dst] = wv[src + o];
            }
          }
        }
      }
    }
    const z = s.conv2d(dy, g, 1, explicitPad(ay.before, ay.after, ax.before, ax.after));
    const direct = sy === 1 && sx === 1 && ay.first === info.padInfo.top && ax.first === info.padInfo.left &&
      ay.rows === inH && ax.rows === inW;
    if (direct) return z;
    const dx = s.alloc(info.inShape);
    interleavePhases(s.view(z), s.view(dx), n, inH, inW, ci, ay, ax, sy, sx, info.padInfo.top, info.padInfo.left, 1, false);
    return dx;
  });
}

/** Cost-model choice: the phase conv (build g, a conv with a new filter, interleave) against matmul + col2im. */
function cheaperPath(info: tf.backend_util.Conv2DInfo, ay: PhaseAxis, ax: PhaseAxis): 'phase' | 'col2im' {
  const { batchSize: n, inHeight: inH, inWidth: inW, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx } = info;
  const gSize = ay.taps * ax.taps * co * sy * sx * ci;
  const phaseInfo = tf.backend_util.computeConv2DInfo(
    [n, oh, ow, co], [ay.taps, ax.taps, co, sy * sx * ci], 1, 1, explicitPad(ay.before, ay.after, ax.before, ax.after),
  );
  const conv = convCosts(phaseInfo, true);
  const phase = costs.loopFloat * gSize + Math.min(conv.xnnpack, conv.im2col, conv.taps) + copyNs(n * inH * inW, ci);
  const p = n * oh * ow;
  const k = kh * kw * ci;
  const col2im = costs.scatterFloat * p * co + gemmNs(k, co, p, true) + costs.scatterFloat * k * p + costs.fillFloat * n * inH * inW * ci;
  return col2im < phase ? 'col2im' : 'phase';
}

/** dx = col2im(filter [kh*kw*ci, co] x dyT [co, P]), batch-chunked so colsT stays under the cap. */
function col2imPath(s: WasmScope, dy: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { batchSize: n, outChannels: co, outHeight: oh, outWidth: ow, inChannels: ci } = info;
  const k = info.filterHeight * info.filterWidth * ci;
  const pixels = oh * ow;
  const w2 = s.reshape(filter, [k, co]);
  const dx = s.alloc(info.inShape);
  s.view(dx).fill(0);
  const chunk = Math.max(1, Math.min(n, Math.floor(inputGradTuning.maxColsFloats / (k * pixels))));
  for (let b0 = 0; b0 < n; b0 += chunk) {
    const nb = Math.min(chunk, n - b0);
    const dyT = s.transpose2d(dy, b0 * pixels * co, nb * pixels, co);
    const colsT = s.matMul(w2, dyT);
    scatterColumns(s.view(colsT), s.view(dx), info, b0, nb);
    s.free(colsT);
    s.free(dyT);
  }
  return dx;
}

/** dx[b0 + b, oy*sy + ky - top, ox*sx + kx - left, c] += colsT[(ky, kx, c), (b, oy, ox)] where inside dx. */
function scatterColumns(cv: Float32Array, dxv: Float32Array, info: tf.backend_util.Conv2DInfo, b0: number, nb: number): void {
  const { inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const cols = nb * oh * ow;
  const step = sx * ci;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const off = kx - left;
      const ox0 = off >= 0 ? 0 : Math.ceil(-off / sx);
      const ox1 = Math.min(ow, Math.floor((w - 1 - off) / sx) + 1);
      if (ox1 <= ox0) continue;
      for (let c = 0; c < ci; c++) {
        const row = ((ky * kw + kx) * ci + c) * cols;
        for (let b = 0; b < nb; b++) {
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sy + ky - top;
            if (iy < 0 || iy >= h) continue;
            let src = row + (b * oh + oy) * ow + ox0;
            let dst = (((b0 + b) * h + iy) * w + ox0 * sx + off) * ci + c;
            for (let ox = ox0; ox < ox1; ox++, src++, dst += step) dxv[dst] += cv[src];
          }
        }
      }
    }
  }
}

export const conv2dBackpropInputKernel: tf.KernelFunc = conv2dBackpropInput as tf.KernelFunc;
