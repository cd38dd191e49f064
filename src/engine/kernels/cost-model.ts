// A small cost model (nanoseconds on one wasm SIMD core) for choosing between the stock XNNPACK convolution and
// matmul formulations. XNNPACK packs a filter into a new operator the first time it sees the filter's dataId
// (~10 ns per weight) and caches it; BatchMatMul packs its B operand the same way but ~3x cheaper. During
// training every filter is new on every call (weights change, tfjs clones saved tensors, and the gradient
// kernels build transformed filters), so that packing is a per-step cost that does not shrink with the batch.
// Constants measured on one core with the reference network's layer shapes at batch 8 (examples inline); the
// choices they make are what matters, and near ties are left to XNNPACK.

export const costs = {
  /** XNNPACK Conv2D operator creation, per filter weight (enc4: 10.4 ms fresh vs 5.0 ms cached, 524k weights). */
  convCreate: 10.5,
  /** XNNPACK fully-connected packing of a new B operand, per element (8x4096x128: 2.3 ms fresh vs 0.34 cached). */
  matmulPack: 3.7,
  /** TypedArray.set: cost per call and per float (im2col rows: 54 ns per run of 96, 89 ns per run of 512). */
  setCall: 45,
  setFloat: 0.15,
  /** JS element loops: a copy (plus a few ns per run), a read-add-write with one side strided, a zero fill. */
  loopFloat: 2,
  loopRun: 6,
  scatterFloat: 2.5,
  fillFloat: 0.2,
  /** Fixed cost of one kernel call through tfjs (allocation, bookkeeping). */
  call: 30,
};

/** Multiply-adds per ns of XNNPACK's GEMM by the output width n (narrow outputs leave the SIMD tile idle). */
export function gemmRate(n: number): number {
  // Measured: n=1 3.5 GFLOP/s, 4: 13, 8: 15, 16: 18, 25: 20, 32: 27, >=64: 30 (one multiply-add = 2 FLOP).
  if (n >= 64) return 15;
  if (n >= 32) return 13.5;
  if (n >= 16) return 9;
  if (n >= 8) return 7.5;
  if (n >= 4) return 6;
  return 1.8 * n;
}

/** A [m, k] x B [k, n]; `packB` when B is a new tensor (XNNPACK caches packed B by dataId). */
export function gemmNs(m: number, k: number, n: number, packB: boolean): number {
  return (m * k * n) / gemmRate(n) + (packB ? costs.matmulPack * k * n : 0) + costs.call;
}

/**
 * Multiply-adds per ns of the stock XNNPACK Conv2D. Measured at batch 8 (cached filters): co=1 1.85, co=4 6.3,
 * co>=8 15-16; a single input channel caps it near 8 (x[64,64,1] k5 -> 32: 3.2 ms for 26M).
 */
export function xnnConvRate(ci: number, co: number): number {
  const byCo = co >= 8 ? 15.5 : 1.6 * co;
  return ci < 3 ? Math.min(byCo, 8) : byCo;
}

/** Stock XNNPACK Conv2D; `fresh` adds the operator creation for a new filter of `weights` weights. */
export function xnnConvNs(macs: number, ci: number, co: number, weights: number, fresh: boolean): number {
  return macs / xnnConvRate(ci, co) + (fresh ? costs.convCreate * weights : 0) + costs.call;
}

/** Runs shorter than this are copied with a loop: TypedArray.set has a fixed cost per call. */
export const SET_MIN_RUN = 24;

/** Copying `runs` contiguous runs of `len` floats (TypedArray.set for long runs, a loop for short ones). */
export function copyNs(runs: number, len: number): number {
  return runs * (len >= SET_MIN_RUN ? costs.setCall + costs.setFloat * len : costs.loopFloat * len + costs.loopRun);
}
