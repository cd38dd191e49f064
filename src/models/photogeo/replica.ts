// The photo-geometric model as a data-parallel replica (engine/parallel/data-parallel.ts): inputs { images }.
import type * as tf from '@tensorflow/tfjs';
import type { Replica } from '../../engine/parallel/data-parallel.js';
import type { PhotoGeoOverrides } from './config.js';
import { photoGeoLoss } from './losses.js';
import { PhotoGeoModel } from './model.js';

/** Structured-cloneable: it travels to every worker. */
export interface PhotoGeoReplicaConfig {
  /** Seed of the initial weights (every replica must use the same one; DataParallel syncs them anyway). */
  seed: number;
  model?: PhotoGeoOverrides;
}

export function createPhotoGeoReplica(config: PhotoGeoReplicaConfig): Replica & { model: PhotoGeoModel } {
  const model = new PhotoGeoModel(config.seed, config.model ?? {});
  return {
    model,
    variables: model.variables,
    loss: (inputs) => {
      const images = inputs.images as tf.Tensor4D;
      return photoGeoLoss(model.config, images, model.reconstruct(images)).total;
    },
  };
}

/** The name DataParallel imports. */
export const createReplica = createPhotoGeoReplica;
