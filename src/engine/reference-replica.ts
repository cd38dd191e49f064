// The reference network as a data-parallel replica (see parallel/data-parallel.ts): L1 loss to a target map.
import type * as tf from '@tensorflow/tfjs';
import type { Replica } from './parallel/data-parallel.js';
import { ReferenceNetwork, REFERENCE_CONFIG, type ReferenceNetworkConfig } from './reference-network.js';
import { Rng } from './random.js';

export interface ReferenceReplicaConfig {
  seed: number;
  network?: ReferenceNetworkConfig;
}

export function createReplica(config: ReferenceReplicaConfig): Replica & { net: ReferenceNetwork } {
  const net = new ReferenceNetwork(new Rng(config.seed), config.network ?? REFERENCE_CONFIG);
  return {
    net,
    variables: net.variables,
    loss: (inputs) => net.l1Loss(inputs.images as tf.Tensor4D, inputs.target as tf.Tensor4D),
  };
}
