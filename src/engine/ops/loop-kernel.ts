// Registration helpers for the project's plain-loop kernels: one body (written against kernel-io's Io) registered for
// the cpu and the wasm backends, and a check whether the active backend has it (elsewhere, webgl or webgpu, each op
// falls back to a composition of tf ops with the same math).
import * as tf from '@tensorflow/tfjs';
import { WasmScope } from '../kernels/wasm-util.js';
import { cpuIo, wasmIo, type Io } from './kernel-io.js';

export interface LoopKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  attrs: tf.NamedAttrMap;
}

/**
 * Registers `body` as `kernelName` on cpu and wasm (once per process); it returns the kernel's outputs. `wasm`, when
 * given, runs instead of `body` on wasm: a composition of the stock SIMD kernels (WasmScope), for elementwise work
 * that they do several times faster than a JS loop.
 */
export function registerLoopKernel(
  kernelName: string,
  body: (io: Io, args: LoopKernelArgs) => tf.TensorInfo[],
  wasm?: (s: WasmScope, args: LoopKernelArgs) => tf.TensorInfo,
): void {
  for (const [backendName, io] of [['cpu', cpuIo], ['wasm', wasmIo]] as const) {
    if (tf.getKernel(kernelName, backendName)) continue;
    const kernelFunc: tf.KernelFunc = ({ inputs, backend, attrs }) => {
      if (backendName === 'wasm' && wasm) return WasmScope.run(backend, (s) => wasm(s, { inputs, attrs: attrs ?? {} }));
      const out = body(io(backend), { inputs, attrs: attrs ?? {} });
      return out.length === 1 ? out[0] : out;
    };
    tf.registerKernel({ kernelName, backendName, kernelFunc });
  }
}

/**
 * `enabled: false` makes the fused ops (bias-act, box-resample, modulation) take their tf-ops forms on every backend:
 * the reference the benchmark (bench/gan.ts) and the tests compare the loop kernels against.
 */
export const loopKernelTuning = { enabled: true };

/** True when the loop kernels are enabled and the active backend has every one of `kernelNames` (cpu, wasm). */
export function backendHas(...kernelNames: string[]): boolean {
  if (!loopKernelTuning.enabled) return false;
  const backend = tf.getBackend();
  return kernelNames.every((k) => tf.getKernel(k, backend) !== undefined);
}

/** Runs a kernel through the engine (recorded on the gradient tape when a gradient is registered for it). */
export function runKernel(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(kernelName, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}
