// The feature network: a small CNN that regresses SynFace's labels from a 64×64 image, so that its penultimate layer
// (a globally pooled `featureDim` vector) describes pose, light, shape and appearance. Those features are what the
// project's offline FID/KID compare (src/metrics/fid.ts, kid.ts); they are not Inception features.
//
//   x [N,64,64,3] in [-1,1]
//   4 × (conv k4 s2 p1 → GroupNorm → LeakyReLU)       64 → 32 → 16 → 8 → 4, widths[0..3]
//   conv k3 s1 p1 → GroupNorm → LeakyReLU               4×4×featureDim
//   mean over the 4×4 positions                          features [N, featureDim]
//   linear head (weight + bias)                          labels [N, L], normalised to about [-1, 1]
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';
import { Activation } from '../../nn/activation.js';
import { Conv2d } from '../../nn/conv.js';
import { initBias, initWeight } from '../../nn/init.js';
import { Module, Sequential } from '../../nn/module.js';
import { GroupNorm } from '../../nn/norm.js';
import { featureNetConfig, type FeatureNetConfig, type FeatureNetOverrides } from './config.js';

export class FeatureNet extends Module {
  readonly config: FeatureNetConfig;
  readonly trunk: Sequential;
  readonly headWeight: tf.Variable;
  readonly headBias: tf.Variable;

  constructor(seed: number, overrides: FeatureNetOverrides = {}) {
    super();
    const c = featureNetConfig(overrides);
    this.config = c;
    const rng = new Rng(seed);
    const block = (cin: number, cout: number, k: number, stride: number, pad: number) =>
      new Sequential([
        new Conv2d(rng, cin, cout, k, { stride, padding: pad, bias: false, init: 'he' }),
        new GroupNorm(cout / c.channelsPerGroup, cout),
        new Activation('leakyRelu', c.leakySlope),
      ]);
    const [w0, w1, w2, w3] = c.widths;
    this.trunk = this.child(
      'trunk',
      new Sequential([block(3, w0, 4, 2, 1), block(w0, w1, 4, 2, 1), block(w1, w2, 4, 2, 1), block(w2, w3, 4, 2, 1), block(w3, c.featureDim, 3, 1, 1)]),
    );
    const l = c.labels.length;
    this.headWeight = this.param('head_w', initWeight(rng, [c.featureDim, l], c.featureDim, 'pytorch'));
    this.headBias = this.param('head_b', initBias(rng, l, c.featureDim, 'pytorch'));
  }

  private checkInput(x: tf.Tensor4D): void {
    const s = this.config.imageSize;
    if (x.rank !== 4 || x.shape[1] !== s || x.shape[2] !== s || x.shape[3] !== 3) {
      throw new Gan3dError(`The feature network expects images [N, ${s}, ${s}, 3], got [${x.shape}].`, 'BAD_SHAPE');
    }
  }

  /** The penultimate layer: [N, featureDim], the vector FID/KID compare. */
  features(x: tf.Tensor4D): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => tf.mean(this.trunk.apply(x), [1, 2]) as tf.Tensor2D);
  }

  /** Normalised labels from features: [N, L]. */
  head(features: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(features, this.headWeight as tf.Tensor2D), this.headBias));
  }

  /** Normalised labels: [N, L]. */
  predict(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.head(this.features(x)));
  }

  /** Mean squared error of the normalised labels, the training loss. */
  loss(x: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => tf.mean(tf.square(tf.sub(this.predict(x), labels))));
  }

  /** The Module interface: labels as [N, 1, 1, L]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.predict(x);
      return tf.reshape(y, [y.shape[0], 1, 1, y.shape[1]]);
    });
  }
}
