// Depthwise convolution gradients for wasm (the stock backend has neither).
// Input gradient: the same phase decomposition as Conv2DBackpropInput, run as one stride-1 XNNPACK depthwise
// convolution whose channel multiplier holds the stride phases. Filter gradient: a direct loop with channels
// innermost (k*k*c multiply-adds per pixel are few; no im2col pays off).
// Dilation is honoured as the true adjoint of the dilated forward convolution (tfjs's cpu kernels use the
// dilation only for padding and shapes; gradients through tf.grads require dilation 1 anyway).
import * as tf from '@tensorflow/tfjs';
import { interleavePhases, planPhaseAxis } from './conv2d-backprop-input.js';
import { explicitPad, WasmScope, type Pad, type RoundingMode } from './wasm-util.js';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function depthwiseInfo(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides as number | [number, number], (attrs.dilations ?? 1) as number | [number, number],
    attrs.pad as Pad, attrs.dimRoundingMode as RoundingMode, true,
  );
}

function depthwiseBackpropInput(args: KernelArgs): tf.TensorInfo {
  const dy = args.inputs.dy as tf.TensorInfo;
  const filter = args.inputs.filter as tf.TensorInfo;
  const attrs = args.attrs ?? {};
  const info = depthwiseInfo(attrs.inputShape as number[], filter.shape, attrs);
  const { batchSize: n, inHeight: inH, inWidth: inW, inChannels: ci, outChannels: c2 } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx, dilationHeight: dh, dilationWidth: dw } = info;
  const mult = c2 / ci;
  // Stride 1: the flipped filter keeps its dilation. Strided: phases need the zero-inserted (effective) filter.
  const stride1 = sy === 1 && sx === 1;
  const ay = planPhaseAxis(inH, info.outHeight, info.effectiveFilterHeight, sy, info.padInfo.top);
  const ax = planPhaseAxis(inW, info.outWidth, info.effectiveFilterWidth, sx, info.padInfo.left);
  const phases = sy * sx;

  return WasmScope.run(args.backend, (s) => {
    if (tf.util.sizeFromShape(dy.shape) === 0 || tf.util.sizeFromShape(filter.shape) === 0) {
      const zeros = s.alloc(info.inShape);
      s.view(zeros).fill(0);
      return zeros;
    }
    const gh = stride1 ? kh : ay.taps;
    const gw = stride1 ? kw : ax.taps;
    // g [gh, gw, c2, phases]: depthwise filter over dy's c2 channels, one output per phase.
    const g = s.alloc([gh, gw, c2, phases]);
    const gv = s.view(g);
    const wv = s.view(filter);
    gv.fill(0);
    for (let ty = 0; ty < gh; ty++) {
      for (let tx = 0; tx < gw; tx++) {
        for (let ry = 0; ry < sy; ry++) {
          for (let rx = 0; rx < sx; rx++) {
            let ky: number;
            let kx: number;
            if (stride1) {
              ky = kh - 1 - ty;
              kx = kw - 1 - tx;
            } else {
              // Tap of the effective filter, mapped back to the compact one when it is not a dilation hole.
              const ey = ry + (ay.taps - 1 - ty) * sy;
              const ex = rx + (ax.taps - 1 - tx) * sx;
              if (ey % dh !== 0 || ex % dw !== 0) continue;
              ky = ey / dh;
              kx = ex / dw;
              if (ky >= kh || kx >= kw) continue;
            }
            const dst0 = (ty * gw + tx) * c2 * phases + ry * sx + rx;
            const src0 = (ky * kw + kx) * c2;
            for (let c = 0; c < c2; c++) gv[dst0 + c * phases] = wv[src0 + c];
          }
        }
      }
    }
    const z = s.depthwiseConv2d(dy, g, explicitPad(ay.before, ay.after, ax.before, ax.after), stride1 ? [dh, dw] : [1, 1]);
    const direct = stride1 && mult === 1 && ay.first === info.padInfo.top && ax.first === info.padInfo.left &&
      ay.rows === inH && ax.rows === inW;
    if (direct) return z;
    const dx = s.alloc(info.inShape);
    interleavePhases(s.view(z), s.view(dx), n, inH, inW, ci, ay, ax, sy, sx, info.padInfo.top, info.padInfo.left, mult, true);
    return dx;
  });
}

function depthwiseBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const dy = args.inputs.dy as tf.TensorInfo;
  const attrs = args.attrs ?? {};
  const filterShape = attrs.filterShape as number[];
  const info = depthwiseInfo(x.shape, filterShape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: c2, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sy, strideWidth: sx, dilationHeight: dh, dilationWidth: dw } = info;
  const mult = c2 / ci;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  return WasmScope.run(args.backend, (s) => {
    const xv = s.view(x);
    const dyv = s.view(dy);
    const acc = new Float64Array(kh * kw * c2);
    const row = new Float32Array(c2);
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        // Output columns whose tap (ky, kx) lands inside x; rows are checked one by one.
        const ox0 = Math.max(0, Math.ceil((left - kx * dw) / sx));
        const ox1 = Math.min(ow, Math.floor((w - 1 + left - kx * dw) / sx) + 1);
        if (ox1 <= ox0) continue;
        const aBase = (ky * kw + kx) * c2;
        for (let b = 0; b < n; b++) {
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sy - top + ky * dh;
            if (iy < 0 || iy >= h) continue;
            // Sum one output row in float32, then flush to float64: short float32 sums stay accurate.
            row.fill(0);
            let xb = ((b * h + iy) * w + ox0 * sx - left + kx * dw) * ci;
            let db = ((b * oh + oy) * ow + ox0) * c2;
            const xStep = sx * ci;
            for (let ox = ox0; ox < ox1; ox++, xb += xStep, db += c2) {
              if (mult === 1) {
                for (let c = 0; c < c2; c++) row[c] += xv[xb + c] * dyv[db + c];
              } else {
                for (let c = 0, j = 0; c < ci; c++) {
                  const xc = xv[xb + c];
                  for (let m = 0; m < mult; m++, j++) row[j] += xc * dyv[db + j];
                }
              }
            }
            for (let j = 0; j < c2; j++) acc[aBase + j] += row[j];
          }
        }
      }
    }
    const dW = s.alloc(filterShape);
    s.view(dW).set(acc);
    return dW;
  });
}

export const depthwiseBackpropInputKernel: tf.KernelFunc = depthwiseBackpropInput as tf.KernelFunc;
export const depthwiseBackpropFilterKernel: tf.KernelFunc = depthwiseBackpropFilter as tf.KernelFunc;
