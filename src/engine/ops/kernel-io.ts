// Plain-loop kernels (ops/grid-sample.ts, ops/group-norm.ts) read their inputs and allocate their outputs through this
// interface, so each kernel body is written once for the cpu and the wasm backends.
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Reads inputs and allocates outputs on either backend, so each kernel body is written once. */
export interface Io {
  read(t: tf.TensorInfo): ArrayLike<number>;
  /** Allocates all outputs, then returns their writable arrays (wasm views are taken after every allocation). */
  outputs(shapes: number[][]): { infos: tf.TensorInfo[]; arrays: Float32Array[] };
}

export function cpuIo(backend: unknown): Io {
  const cpu = backend as tf.KernelBackend & {
    makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
  };
  return {
    read: (t) => cpu.readSync(t.dataId) as Float32Array,
    outputs: (shapes) => {
      const arrays = shapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
      return { infos: shapes.map((s, i) => cpu.makeTensorInfo(s, 'float32', arrays[i])), arrays };
    },
  };
}

export function wasmIo(backend: unknown): Io {
  const wasm = backend as BackendWasm;
  return {
    read: (t) => wasm.typedArrayFromHeap(t),
    outputs: (shapes) => {
      const infos = shapes.map((s) => wasm.makeOutput(s, 'float32'));
      return { infos, arrays: infos.map((t) => wasm.typedArrayFromHeap(t) as Float32Array) };
    },
  };
}
