// The GAN-inversion encoder: image → w in the generator's W space, relative to the generator's tracked mean w (the
// network predicts the offset, so an untrained encoder starts near the mean face rather than at an arbitrary w).
//
//   x [N,R,R,3] in [-1,1]
//   per stage (R → R/2 → … → 4): conv k4 s2 p1 → GroupNorm → LeakyReLU      widths[0..]
//   flatten 4×4×C                                                          (keeps where things are: pose, layout)
//   linear head (weight + bias) → Δw [N, wDim]
//   w = wAvg + Δw
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';
import { Activation } from '../../nn/activation.js';
import { Conv2d } from '../../nn/conv.js';
import { initWeight } from '../../nn/init.js';
import { Module, Sequential } from '../../nn/module.js';
import { GroupNorm } from '../../nn/norm.js';
import { encoderConfig, type EncoderConfig, type EncoderOverrides } from './config.js';

export class Encoder extends Module {
  readonly config: EncoderConfig;
  readonly trunk: Sequential;
  readonly headWeight: tf.Variable;
  readonly headBias: tf.Variable;

  constructor(seed: number, overrides: EncoderOverrides = {}) {
    super();
    const c = encoderConfig(overrides);
    this.config = c;
    const rng = new Rng(seed);
    let cin = 3;
    const stages = c.widths.map((cout) => {
      const block = new Sequential([
        new Conv2d(rng, cin, cout, 4, { stride: 2, padding: 1, bias: false, init: 'he' }),
        new GroupNorm(cout / c.channelsPerGroup, cout),
        new Activation('leakyRelu', c.leakySlope),
      ]);
      cin = cout;
      return block;
    });
    this.trunk = this.child('trunk', new Sequential(stages));
    const flat = 16 * cin;
    this.headWeight = this.param('head_w', initWeight(rng, [flat, c.wDim], flat, 'pytorch'));
    this.headBias = this.param('head_b', tf.zeros([c.wDim]));
  }

  private checkInput(x: tf.Tensor4D): void {
    const s = this.config.imageSize;
    if (x.rank !== 4 || x.shape[1] !== s || x.shape[2] !== s || x.shape[3] !== 3) {
      throw new Gan3dError(`The encoder expects images [N, ${s}, ${s}, 3], got [${x.shape}].`, 'BAD_SHAPE');
    }
  }

  /** The predicted offset from the mean w: [N, wDim]. */
  offset(x: tf.Tensor4D): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => {
      const h = this.trunk.apply(x);
      const flat = tf.reshape(h, [h.shape[0], h.shape[1] * h.shape[2] * h.shape[3]]) as tf.Tensor2D;
      return tf.add(tf.matMul(flat, this.headWeight as tf.Tensor2D), this.headBias) as tf.Tensor2D;
    });
  }

  /** w = wAvg + offset(x): [N, wDim], with wAvg [wDim] the generator's tracked mean w. */
  predictW(x: tf.Tensor4D, wAvg: tf.Tensor1D | tf.Variable): tf.Tensor2D {
    if (wAvg.rank !== 1 || wAvg.shape[0] !== this.config.wDim) {
      throw new Gan3dError(`The encoder predicts w of width ${this.config.wDim}; the generator's mean w has shape [${wAvg.shape}].`, 'BAD_SHAPE');
    }
    return tf.tidy(() => tf.add(this.offset(x), wAvg) as tf.Tensor2D);
  }

  /** The Module interface: the offset as [N, 1, 1, wDim]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.offset(x);
      return tf.reshape(y, [y.shape[0], 1, 1, y.shape[1]]);
    });
  }
}
