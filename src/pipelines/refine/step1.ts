// Step 1 (C.1, C.7): fit the albedo net A alone so the input re-renders from the current depth, light and view.
// (The smoothness terms depend on depth and light only, which Step 1 does not train, so they are left out here.)
import type * as tf from '@tensorflow/tfjs';
import { perStage } from './config.js';
import { inputLoss } from './losses.js';
import { netVariables } from './nets.js';
import { AdamPhase } from './optim.js';
import { imageSize, type ProgressFn, type RefineSession } from './session.js';

/** Runs `iters` Step-1 iterations of stage `stage` with a fresh Adam; returns the loss of each. */
export async function runStep1(s: RefineSession, stage: number, iters: number, onProgress?: ProgressFn): Promise<number[]> {
  const { config, model } = s;
  const flip = perStage(config.flip1, stage);
  const phase = new AdamPhase({
    variables: netVariables(model, ['albedo']),
    lr: config.lr,
    weightDecay: config.weightDecay,
    loss: (x) => {
      const l = inputLoss(model, x.image as tf.Tensor4D, config, flip, false, s.objectMask);
      return l.total;
    },
  });
  const n = imageSize(s);
  const batch = { image: { data: s.image.dataSync() as Float32Array, shape: [1, n, n, 3] } };
  const losses: number[] = [];
  for (let i = 0; i < iters; i++) {
    losses.push(await phase.step(batch));
    onProgress?.({ phase: 'step1', stage, iter: i + 1, iters, loss: losses[i] });
  }
  return losses;
}
