// The feature network as a data-parallel replica (engine/parallel/data-parallel.ts): inputs { images, labels }.
import type * as tf from '@tensorflow/tfjs';
import type { Replica } from '../../engine/parallel/data-parallel.js';
import type { FeatureNetOverrides } from './config.js';
import { FeatureNet } from './model.js';

/** Structured-cloneable: it travels to every worker. */
export interface FeatureNetReplicaConfig {
  /** Seed of the initial weights (every replica must use the same one; DataParallel syncs them anyway). */
  seed: number;
  model?: FeatureNetOverrides;
}

export function createFeatureNetReplica(config: FeatureNetReplicaConfig): Replica & { model: FeatureNet } {
  const model = new FeatureNet(config.seed, config.model ?? {});
  return {
    model,
    variables: model.variables(),
    loss: (inputs) => model.loss(inputs.images as tf.Tensor4D, inputs.labels as tf.Tensor2D),
  };
}

/** The name DataParallel imports. */
export const createReplica = createFeatureNetReplica;
