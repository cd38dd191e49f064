// The object-mask parser: a small fully convolutional encoder-decoder (a U-Net with three skips) that predicts the
// foreground mask of a 64×64 image. It stands in for GAN2Shape's BiSeNet / PSPNet, whose only use is the object mask
// the ellipsoid shape prior is built from (paper notes C.8).
//
//   x [N,64,64,3] in [-1,1]
//   stem   conv k3 p1 → GN → LReLU                         64×64×w0      ─┐ skip
//   down1  conv k4 s2 p1 → GN → LReLU                      32×32×w1      ─┤ skip
//   down2  conv k4 s2 p1 → GN → LReLU                      16×16×w2      ─┤ skip
//   down3  conv k4 s2 p1 → GN → LReLU, conv k3 p1 → GN → LReLU   8×8×w3  │
//   up     per level: convT k4 s2 p1 → GN → ReLU, concat skip, conv k3 p1 → GN → ReLU   16, 32, 64
//   head   conv k1 (+ bias) → logits [N,64,64,1];  mask = sigmoid(logits)
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';
import { Activation, type ActivationKind } from '../../nn/activation.js';
import { Conv2d, ConvTranspose2d } from '../../nn/conv.js';
import { Module, Sequential } from '../../nn/module.js';
import { GroupNorm } from '../../nn/norm.js';
import { parserConfig, type ParserConfig, type ParserOverrides } from './config.js';

export class ParserNet extends Module {
  readonly config: ParserConfig;
  readonly down: Sequential[];
  readonly up: Sequential[];
  readonly fuse: Sequential[];
  readonly head: Conv2d;

  constructor(seed: number, overrides: ParserOverrides = {}) {
    super();
    const c = parserConfig(overrides);
    this.config = c;
    const rng = new Rng(seed);
    const g = c.channelsPerGroup;
    const block = (kind: 'conv' | 'deconv', cin: number, cout: number, k: number, stride: number, pad: number, act: ActivationKind) => {
      const opts = { stride, padding: pad, bias: false, init: 'he' as const };
      const conv = kind === 'conv' ? new Conv2d(rng, cin, cout, k, opts) : new ConvTranspose2d(rng, cin, cout, k, opts);
      return new Sequential([conv, new GroupNorm(cout / g, cout), new Activation(act, c.leakySlope)]);
    };
    const [w0, w1, w2, w3] = c.widths;
    this.down = [
      this.child('stem', block('conv', 3, w0, 3, 1, 1, 'leakyRelu')),
      this.child('down1', block('conv', w0, w1, 4, 2, 1, 'leakyRelu')),
      this.child('down2', block('conv', w1, w2, 4, 2, 1, 'leakyRelu')),
      this.child('down3', new Sequential([block('conv', w2, w3, 4, 2, 1, 'leakyRelu'), block('conv', w3, w3, 3, 1, 1, 'leakyRelu')])),
    ];
    const levels: [number, number][] = [
      [w3, w2],
      [w2, w1],
      [w1, w0],
    ];
    this.up = levels.map(([cin, cout], i) => this.child(`up${i}`, block('deconv', cin, cout, 4, 2, 1, 'relu')));
    this.fuse = levels.map(([, cout], i) => this.child(`fuse${i}`, block('conv', 2 * cout, cout, 3, 1, 1, 'relu')));
    this.head = this.child('head', new Conv2d(rng, w0, 1, 1, { bias: true, init: 'pytorch' }));
  }

  private checkInput(x: tf.Tensor4D): void {
    const s = this.config.imageSize;
    if (x.rank !== 4 || x.shape[1] !== s || x.shape[2] !== s || x.shape[3] !== 3) {
      throw new Gan3dError(`The parser expects images [N, ${s}, ${s}, 3] in [-1, 1], got [${x.shape}]; resize them first.`, 'BAD_SHAPE');
    }
  }

  /** Mask logits [N, S, S, 1]. */
  logits(x: tf.Tensor4D): tf.Tensor4D {
    this.checkInput(x);
    return tf.tidy(() => {
      const skips: tf.Tensor4D[] = [];
      let h = x;
      for (const d of this.down) {
        h = d.apply(h);
        skips.push(h);
      }
      for (let i = 0; i < this.up.length; i++) {
        h = this.up[i].apply(h);
        h = this.fuse[i].apply(tf.concat([h, skips[skips.length - 2 - i]], 3));
      }
      return this.head.apply(h);
    });
  }

  /** Foreground probability [N, S, S, 1] in (0, 1). */
  predict(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.sigmoid(this.logits(x)));
  }

  /** Mean binary cross-entropy of the logits against target masks [N, S, S, 1] in [0, 1] (stable form). */
  loss(x: tf.Tensor4D, target: tf.Tensor4D): tf.Scalar {
    return tf.tidy(() => binaryCrossEntropyWithLogits(this.logits(x), target));
  }

  /** The Module interface: logits. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.logits(x);
  }
}

/** mean(max(z, 0) − z·y + log(1 + exp(−|z|))): BCE of sigmoid(z) against y without overflow. */
export function binaryCrossEntropyWithLogits(z: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))))) as tf.Scalar);
}

/** Intersection over union of masks thresholded at `threshold`, per image ([N] values; 1 when both are empty). */
export function maskIoU(pred: ArrayLike<number>, truth: ArrayLike<number>, pixelsPerImage: number, threshold = 0.5): number[] {
  const n = Math.round(pred.length / pixelsPerImage);
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    let inter = 0;
    let union = 0;
    for (let p = b * pixelsPerImage; p < (b + 1) * pixelsPerImage; p++) {
      const a = pred[p] >= threshold;
      const t = truth[p] >= threshold;
      if (a && t) inter++;
      if (a || t) union++;
    }
    out.push(union === 0 ? 1 : inter / union);
  }
  return out;
}
