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
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs });
    if (Array.isArray(out)) throw new Error(`wasm kernel ${kernel} returned several outputs`);
    this.temps.push(out);
    return out;
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

  matMul(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return this.call('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
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

/** Registers `kernelFunc` for wasm, replacing a stock kernel of the same name. */
export function registerWasmKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, 'wasm') !== undefined) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
}

/** Explicit-padding form that the stock wasm convolutions accept. */
export function explicitPad(top: number, bottom: number, left: number, right: number): Pad {
  return [[0, 0], [top, bottom], [left, right], [0, 0]];
}
