// UnsortedSegmentSum for the wasm backend, which ships without it; tf.gather's gradient calls it, so without this
// kernel every gather-based op (grid sampling, embedding lookups) fails to differentiate on wasm.
//
// Semantics follow tfjs's cpu kernel exactly: segmentIds of shape [S0, S1.., S(r-1)] (1 <= r <= rank R of x) gets
// R - r unit axes inserted after its first axis, [S0, 1.., 1, S1.., S(r-1)], and is broadcast against x to a shape B;
// out[s, b1..] = sum over b0 of x[b] where ids[b] == s. For 1-D ids (what tf.gather's gradient passes) this is
// TensorFlow's segment sum along axis 0. Ids outside [0, numSegments) are dropped. Output shape
// [numSegments, ...B.slice(1)]; dtype is x's sum type (int32 stays int32, as on webgl and in TensorFlow; the cpu
// kernel returns float32 there, with the same values).
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The cpu kernel's alignment of ids with x: unit axes go right after the first axis. */
function extendIds(idsShape: readonly number[], rank: number): number[] {
  return [idsShape[0], ...new Array<number>(rank - idsShape.length).fill(1), ...idsShape.slice(1)];
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/**
 * The kernel body on plain arrays, shared by the backend adapter and usable anywhere. Accumulates in float64 like the
 * cpu kernel's reduction, then rounds once into `out`.
 */
export function unsortedSegmentSumImpl(
  x: ArrayLike<number>,
  xShape: readonly number[],
  ids: ArrayLike<number>,
  idsShape: readonly number[],
  numSegments: number,
  out: { length: number; [i: number]: number },
): void {
  const rank = xShape.length;
  const idsExt = extendIds(idsShape, rank);
  const bShape = tf.backend_util.assertAndGetBroadcastShape(idsExt, [...xShape]);
  const inner = bShape.slice(1).reduce((a, b) => a * b, 1);
  const total = bShape.reduce((a, b) => a * b, 1);
  const acc = new Float64Array(numSegments * inner);
  const xIsB = bShape.every((d, i) => d === xShape[i]);
  const idsFull = idsExt.every((d, i) => d === xShape[i]);
  const idsRows = idsShape.length === 1 && idsShape[0] === xShape[0];

  if (xIsB && (idsFull || idsRows)) {
    // No broadcasting: x is read in order and the id for flat index f is ids[floor(f / idsBlock)].
    const idsBlock = idsFull ? 1 : inner;
    const idsCount = total / Math.max(idsBlock, 1);
    for (let k = 0; k < idsCount; k++) {
      const s = ids[k];
      if (!(s >= 0 && s < numSegments)) continue;
      const base = k * idsBlock;
      for (let j = 0; j < idsBlock; j++) {
        const f = base + j;
        acc[s * inner + (f % inner)] += x[f];
      }
    }
  } else {
    // General broadcasting: walk B with an odometer; broadcast axes get stride 0 in the operand that repeats.
    const xStr = stridesOf(xShape).map((st, i) => (xShape[i] === 1 ? 0 : st));
    const idStr = stridesOf(idsExt).map((st, i) => (idsExt[i] === 1 ? 0 : st));
    const pos = new Array<number>(rank).fill(0);
    let xi = 0;
    let ii = 0;
    for (let f = 0; f < total; f++) {
      const s = ids[ii];
      if (s >= 0 && s < numSegments) acc[s * inner + (f % inner)] += x[xi];
      for (let a = rank - 1; a >= 0; a--) {
        pos[a]++;
        xi += xStr[a];
        ii += idStr[a];
        if (pos[a] < bShape[a]) break;
        xi -= xStr[a] * pos[a];
        ii -= idStr[a] * pos[a];
        pos[a] = 0;
      }
    }
  }
  for (let i = 0; i < acc.length; i++) out[i] = acc[i];
}

export function outputShape(xShape: readonly number[], idsShape: readonly number[], numSegments: number): number[] {
  if (xShape.length === 0) throw new Error('unsortedSegmentSum: x must have rank >= 1');
  if (idsShape.length === 0 || idsShape.length > xShape.length) {
    throw new Error(`unsortedSegmentSum: segmentIds rank ${idsShape.length} must be in [1, rank of x = ${xShape.length}]`);
  }
  const idsExt = extendIds(idsShape, xShape.length);
  const bShape = tf.backend_util.assertAndGetBroadcastShape(idsExt, [...xShape]);
  return [numSegments, ...bShape.slice(1)];
}

const unsortedSegmentSumWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const shape = outputShape(x.shape, segmentIds.shape, numSegments);
  // makeOutput may grow the heap and detach earlier views, so every view is taken after it.
  const out = wasm.makeOutput(shape, tf.sumOutType(x.dtype));
  const xv = wasm.typedArrayFromHeap(x);
  const idv = wasm.typedArrayFromHeap(segmentIds);
  unsortedSegmentSumImpl(xv, x.shape, idv, segmentIds.shape, numSegments, wasm.typedArrayFromHeap(out));
  return out;
};

export function registerUnsortedSegmentSumWasm(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSumWasm });
}
