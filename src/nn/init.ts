// Weight initialisation from a seeded Rng.
// - 'he': normal with std sqrt(2 / fanIn) (He et al. 2015), right for ReLU stacks without normalisation.
// - 'pytorch': uniform in +-1 / sqrt(fanIn), what PyTorch's default conv init amounts to (kaiming_uniform with
//   a = sqrt(5)); Unsup3d keeps it, and its smaller scale keeps the final tanh heads out of saturation at the start.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../engine/random.js';

export type InitScheme = 'he' | 'pytorch';

/** A weight tensor of `shape` drawn for a layer with `fanIn` inputs per output. */
export function initWeight(rng: Rng, shape: number[], fanIn: number, scheme: InitScheme): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (scheme === 'he') return tf.tensor(rng.normalArray(n, Math.sqrt(2 / fanIn)), shape);
  const bound = 1 / Math.sqrt(fanIn);
  return tf.tensor(rng.uniformArray(n, -bound, bound), shape);
}

/** A bias of `size`: zeros for 'he', uniform in +-1/sqrt(fanIn) for 'pytorch' (as PyTorch does). */
export function initBias(rng: Rng, size: number, fanIn: number, scheme: InitScheme): tf.Tensor {
  if (scheme === 'he') return tf.zeros([size]);
  const bound = 1 / Math.sqrt(fanIn);
  return tf.tensor(rng.uniformArray(size, -bound, bound), [size]);
}
