// The parser as a data-parallel replica (engine/parallel/data-parallel.ts): inputs { images, masks }.
import type * as tf from '@tensorflow/tfjs';
import type { Replica } from '../../engine/parallel/data-parallel.js';
import type { ParserOverrides } from './config.js';
import { ParserNet } from './model.js';

/** Structured-cloneable: it travels to every worker. */
export interface ParserReplicaConfig {
  /** Seed of the initial weights (DataParallel syncs every replica to the main one anyway). */
  seed: number;
  model?: ParserOverrides;
}

export function createParserReplica(config: ParserReplicaConfig): Replica & { model: ParserNet } {
  const model = new ParserNet(config.seed, config.model ?? {});
  return {
    model,
    variables: model.variables(),
    loss: (inputs) => model.loss(inputs.images as tf.Tensor4D, inputs.masks as tf.Tensor4D),
  };
}

/** The name DataParallel imports. */
export const createReplica = createParserReplica;
