// Identity and same-dtype Cast without a copy on wasm. tfjs clones every tensor that a gradient function saves for
// the backward pass (engine.saveTensorsForBackwardMode → Identity), and the stock wasm Identity copies the whole buffer:
// a StyleGAN D step made ~1,200 such copies (60 ms, plus their allocations). Tensors are immutable, so a clone can
// share its data and count one more reference instead, as the cpu backend and wasm's own Reshape do.
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernel } from './wasm-util.js';

/** `share: false` restores the stock copying kernels (the reference for benchmarks). */
export const identityTuning = { share: true };

function share(x: tf.TensorInfo, backend: BackendWasm): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

function identity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === 'string' || !identityTuning.share) return stockKernel('Identity').kernelFunc(args as never) as tf.TensorInfo;
  return share(x, args.backend as BackendWasm);
}

function cast(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === args.attrs?.dtype && x.dtype !== 'string' && identityTuning.share) return share(x, args.backend as BackendWasm);
  return stockKernel('Cast').kernelFunc(args as never) as tf.TensorInfo;
}

export const identityKernel: tf.KernelFunc = identity as tf.KernelFunc;
export const castKernel: tf.KernelFunc = cast as tf.KernelFunc;
