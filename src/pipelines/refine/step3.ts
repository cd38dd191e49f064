// Step 3 (C.7): train the nets of `step3Nets` (the paper: D, A, V and L) on the input (the Step-1 loss with
// smoothness) plus batches of projected samples from the bank, walked in a shuffled order (reshuffled from the
// session's Rng after each pass). Each projected sample gets its own predicted view and light but the input's depth
// and albedo.
import type * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import type { Rng } from '../../engine/random.js';
import { perStage } from './config.js';
import { inputLoss, projectedLoss } from './losses.js';
import { netVariables } from './nets.js';
import { AdamPhase } from './optim.js';
import { imageSize, type ProgressFn, type RefineSession } from './session.js';

/** Walks a shuffled permutation of [0, n), reshuffling from `rng` when it runs out. */
class BankWalk {
  private order: number[] = [];
  private at = 0;

  constructor(
    private readonly n: number,
    private readonly rng: Rng,
  ) {}

  next(k: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < k; i++) {
      if (this.at === this.order.length) {
        this.order = Array.from({ length: this.n }, (_, j) => j);
        for (let j = this.n - 1; j > 0; j--) {
          const r = this.rng.int(j + 1);
          [this.order[j], this.order[r]] = [this.order[r], this.order[j]];
        }
        this.at = 0;
      }
      out.push(this.order[this.at++]);
    }
    return out;
  }
}

/** Runs `iters` Step-3 iterations with a fresh Adam on the `step3Nets`; returns the loss of each. */
export async function runStep3(s: RefineSession, stage: number, iters: number, onProgress?: ProgressFn): Promise<number[]> {
  const { config, model, bank } = s;
  if (iters > 0 && bank.count === 0) throw new Gan3dError('Step 3 needs projected samples: the bank is empty (run Step 2 first).', 'BAD_ARGUMENT');
  const flip = perStage(config.flip3, stage);
  const n = imageSize(s);
  const b = Math.min(config.batch, Math.max(bank.count, 1));
  const phase = new AdamPhase({
    variables: netVariables(model, config.step3Nets),
    lr: config.lr,
    weightDecay: config.weightDecay,
    loss: (x) => {
      const input = inputLoss(model, x.image as tf.Tensor4D, config, flip, true, s.objectMask);
      const proj = projectedLoss(model, input.depth, input.albedo, x.projected as tf.Tensor4D, x.masks as tf.Tensor4D, config, flip);
      return input.total.add(proj.mul(config.lambdaProj));
    },
  });
  const walk = new BankWalk(bank.count, s.rng);
  const image = s.image.dataSync() as Float32Array;
  const per = n * n;
  const losses: number[] = [];
  for (let i = 0; i < iters; i++) {
    const idx = walk.next(b);
    const projected = new Float32Array(b * per * 3);
    const masks = new Float32Array(b * per);
    idx.forEach((j, k) => {
      projected.set(bank.images.subarray(j * per * 3, (j + 1) * per * 3), k * per * 3);
      masks.set(bank.masks.subarray(j * per, (j + 1) * per), k * per);
    });
    const batch = { image: { data: image, shape: [1, n, n, 3] }, projected: { data: projected, shape: [b, n, n, 3] }, masks: { data: masks, shape: [b, n, n, 1] } };
    losses.push(await phase.step(batch));
    onProgress?.({ phase: 'step3', stage, iter: i + 1, iters, loss: losses[i] });
  }
  return losses;
}
