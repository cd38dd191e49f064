// One small representative case per project kernel, used by `gan3d engine check` (the full randomized sweep
// lives in test/engine/kernels.test.ts). Each case builds its inputs from a seed, so both backends see the same.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../random.js';

export interface KernelCheck {
  kernel: string;
  /** Returns a computation that creates its own inputs and runs the kernel (through its op or gradient). */
  build: (rng: Rng) => () => tf.Tensor | tf.Tensor[];
}

export const kernelChecks: KernelCheck[] = [];
