// Helpers for project kernels on the wasm backend: call the stock (XNNPACK-backed) kernels from inside a
// kernel function, allocate outputs on the wasm heap, and free every intermediate when the kernel returns.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
export type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/** Tracks what a kernel creates on the wasm heap; `run` frees everything except the returned tensor. */
export class WasmScope {
  private readonly temps: tf.TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Runs a registered wasm kernel (looked up at call time, so it is the one the backend set up). */
  call(kernel: string, inputs: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const config = tf.getKernel(kernel, 'wasm');
    if (config === undefined) throw new Error(`wasm kernel ${kernel} is not registered`);
    return this.track(kernel, config.kernelFunc({ inputs, backend: this.backend, attrs }));
  }

  /** Runs the stock kernel that a project kernel replaced (or the registered one if none was replaced). */
  callStock(kernel: string, inputs: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const config = stockKernels.get(kernel);
    if (config === undefined) return this.call(kernel, inputs, attrs);
    return this.track(kernel, config.kernelFunc({ inputs, backend: this.backend, attrs }));
  }

  private track(kernel: string, out: tf.TensorInfo | tf.TensorInfo[]): tf.TensorInfo {
    if (Array.isArray(out)) throw new Error(`wasm kernel ${kernel} returned several outputs`);
    this.temps.push(out);
    return out;
  }

  /** Frees an intermediate now (e.g. one chunk's columns) instead of when the kernel returns. */
  free(t: tf.TensorInfo): void {
    const i = this.temps.indexOf(t);
    if (i < 0) return;
    this.temps.splice(i, 1);
    this.backend.disposeData(t.dataId);
  }

  /** A float32 tensor on the wasm heap with uninitialized contents. */
  alloc(shape: number[]): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.temps.push(out);
    return out;
  }

  /** A view of a tensor's heap memory; take it again after any allocation (the heap may have grown). */
  view(t: tf.TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(t) as Float32Array;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.call('Reshape', { x }, { shape });
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.call('Transpose', { x }, { perm });
  }

  /** Zero padding; returns `x` itself when there is nothing to pad. */
  pad(x: tf.TensorInfo, paddings: [number, number][]): tf.TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.call('PadV2', { x }, { paddings, constantValue: 0 });
  }

  conv2d(x: tf.TensorInfo, filter: tf.TensorInfo, strides: number, pad: Pad, dilations: number | [number, number] = 1): tf.TensorInfo {
    return this.call('Conv2D', { x, filter }, { strides, pad, dilations, dataFormat: 'NHWC' });
  }

  depthwiseConv2d(x: tf.TensorInfo, filter: tf.TensorInfo, pad: Pad, dilations: [number, number] = [1, 1]): tf.TensorInfo {
    return this.call('DepthwiseConv2dNative', { x, filter }, { strides: 1, pad, dilations });
  }

  /** a [M, K] x b [K, N]. Only this untransposed, batch-1 form is fast on wasm (XNNPACK fully connected). */
  matMul(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return this.call('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /** A float32 [cols, rows] tensor holding the transpose of `src` read as [rows, cols] from offset `from`. */
  transpose2d(src: tf.TensorInfo, from: number, rows: number, cols: number): tf.TensorInfo {
    const out = this.alloc([cols, rows]);
    transpose2d(this.view(src), from, this.view(out), rows, cols);
    return out;
  }

  /** Runs `body` and frees every intermediate it made, keeping only the tensor it returns. */
  static run(backend: unknown, body: (s: WasmScope) => tf.TensorInfo): tf.TensorInfo {
    const scope = new WasmScope(backend as BackendWasm);
    let out: tf.TensorInfo | null = null;
    try {
      out = body(scope);
      return out;
    } finally {
      for (const t of scope.temps) if (t !== out) scope.backend.disposeData(t.dataId);
    }
  }
}

/** Stock wasm kernels replaced by project kernels, kept so that those can still call them. */
const stockKernels = new Map<string, tf.KernelConfig>();

/**
 * Registers `kernelFunc` for wasm, replacing a stock kernel of the same name. The stock setup function is kept:
 * it binds the wasm entry point the stock kernel calls, and it only runs when the backend initializes.
 */
export function registerWasmKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  const previous = tf.getKernel(kernelName, 'wasm');
  if (previous !== undefined) {
    if (!stockKernels.has(kernelName)) stockKernels.set(kernelName, previous);
    tf.unregisterKernel(kernelName, 'wasm');
  }
  const setupFunc = stockKernels.get(kernelName)?.setupFunc;
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, ...(setupFunc ? { setupFunc } : {}) });
}

/** dst [cols, rows] = transpose of src [rows, cols] (read from `from`), in cache-sized tiles. */
export function transpose2d(src: Float32Array, from: number, dst: Float32Array, rows: number, cols: number): void {
  const tile = 16;
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const r1 = Math.min(rows, r0 + tile);
    for (let c0 = 0; c0 < cols; c0 += tile) {
      const c1 = Math.min(cols, c0 + tile);
      for (let r = r0; r < r1; r++) {
        let s = from + r * cols + c0;
        let d = c0 * rows + r;
        for (let c = c0; c < c1; c++, s++, d += rows) dst[d] = src[s];
      }
    }
  }
}

/** Explicit-padding form that the stock wasm convolutions accept. */
export function explicitPad(top: number, bottom: number, left: number, right: number): Pad {
  return [[0, 0], [top, bottom], [left, right], [0, 0]];
}

/** The stock wasm kernel that a project kernel replaced (or the registered one if none was replaced). */
export function stockKernel(kernelName: string): tf.KernelConfig {
  const config = stockKernels.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
  if (config === undefined) throw new Error(`wasm kernel ${kernelName} is not registered`);
  return config;
}
