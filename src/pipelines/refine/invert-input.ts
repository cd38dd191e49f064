// The input's latent for a refinement of a real image (C.1: GAN2Shape needs the image's w in W; for real images it
// comes from GAN inversion): the W stage of src/pipelines/invert.ts alone (GAN2Shape's offset is one w for every
// layer, not W+), on the 64×64 input resized to the GAN's resolution. Shared by `gan3d refine` and bench/refine.
import * as tf from '@tensorflow/tfjs';
import { invertImages, type InversionNetworks } from '../invert.js';

export const DEFAULT_INVERT_STEPS = 100;

/** A `projectInput` for refineImage: image [1, S, S, 3] → w [wDim] by `steps` Adam steps in W from the mean w. */
export function inversionProjector(gan: InversionNetworks, steps: number = DEFAULT_INVERT_STEPS): (image: tf.Tensor4D) => Promise<Float32Array> {
  return async (x) => {
    const r = gan.generator.config.resolution;
    const atR = tf.tidy(() => (x.shape[1] === r ? tf.clone(x) : tf.image.resizeBilinear(x, [r, r])));
    const data = atR.dataSync() as Float32Array;
    atR.dispose();
    const inv = await invertImages(gan, data, 1, { config: { stepsW: steps, stepsWPlus: 0 } });
    return inv.w;
  };
}
