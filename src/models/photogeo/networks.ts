// The five networks of Unsup3d (64x64 input), at configurable widths. No conv has a bias (as in Unsup3d); GroupNorm
// uses channels / channelsPerGroup groups.
//   EDDeconv (D: 1 channel, no activation; A: 3 channels, tanh): encoder to a 1x1 bottleneck, decoder back to 64x64.
//   Encoder (L: 4, V: 6; tanh): plain conv stack to 1x1, no normalisation.
//   ConfNet: encoder like EDDeconv's, decoder to 16x16, then two softplus heads: 64x64x2 (L1) and 16x16x2 (perceptual).
// Every variable built takes part in the loss (DataParallel needs a gradient for each), so the perceptual head is
// only built when the perceptual term is on.
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../engine/random.js';
import { Activation, type ActivationKind, UpsampleNearest } from '../../nn/activation.js';
import { Conv2d, ConvTranspose2d } from '../../nn/conv.js';
import type { InitScheme } from '../../nn/init.js';
import { Module, Sequential } from '../../nn/module.js';
import { GroupNorm } from '../../nn/norm.js';

export interface NetOptions {
  channelsPerGroup: number;
  leakySlope: number;
  init: InitScheme;
}

interface BlockSpec {
  kind: 'conv' | 'deconv';
  cin: number;
  cout: number;
  k: number;
  stride?: number;
  pad?: number;
  norm?: boolean;
  act: ActivationKind;
}

/** conv/deconv [+ GroupNorm] [+ activation] as one Sequential. */
function block(rng: Rng, s: BlockSpec, o: NetOptions): Sequential {
  const opts = { stride: s.stride ?? 1, padding: s.pad ?? 0, bias: false, init: o.init };
  const layers: Module[] = [s.kind === 'conv' ? new Conv2d(rng, s.cin, s.cout, s.k, opts) : new ConvTranspose2d(rng, s.cin, s.cout, s.k, opts)];
  if (s.norm) layers.push(new GroupNorm(s.cout / o.channelsPerGroup, s.cout));
  if (s.act !== 'none') layers.push(new Activation(s.act, o.leakySlope));
  return new Sequential(layers);
}

/** Down k4 s2 p1. */
const down = (cin: number, cout: number, norm: boolean, act: ActivationKind): BlockSpec => ({ kind: 'conv', cin, cout, k: 4, stride: 2, pad: 1, norm, act });
/** Up k4 s2 p1. */
const up = (cin: number, cout: number): BlockSpec => ({ kind: 'deconv', cin, cout, k: 4, stride: 2, pad: 1, norm: true, act: 'relu' });
/** Same-size conv k (odd), padding (k - 1) / 2. */
const same = (cin: number, cout: number, k: number, norm: boolean, act: ActivationKind): BlockSpec => ({ kind: 'conv', cin, cout, k, pad: (k - 1) / 2, norm, act });

/** e1..e5 of EDDeconv and ConfNet: 64 -> 32 -> 16 -> 8 -> 4 -> 1 with GN + LeakyReLU on the first three. */
function encoderSpecs(cin: number, nf: number, zdim: number): BlockSpec[] {
  return [
    down(cin, nf, true, 'leakyRelu'),
    down(nf, 2 * nf, true, 'leakyRelu'),
    down(2 * nf, 4 * nf, true, 'leakyRelu'),
    down(4 * nf, 8 * nf, false, 'leakyRelu'),
    { kind: 'conv', cin: 8 * nf, cout: zdim, k: 4, act: 'relu' },
  ];
}

function sequence(rng: Rng, specs: BlockSpec[], o: NetOptions): Sequential {
  return new Sequential(specs.map((s) => block(rng, s, o)));
}

export class EDDeconv extends Module {
  readonly encoder: Sequential;
  readonly decoder: Sequential;

  constructor(rng: Rng, cin: number, cout: number, nf: number, zdim: number, outAct: ActivationKind, o: NetOptions) {
    super();
    this.encoder = this.child('enc', sequence(rng, encoderSpecs(cin, nf, zdim), o));
    const dec: Module[] = [
      block(rng, { kind: 'deconv', cin: zdim, cout: 8 * nf, k: 4, act: 'relu' }, o), // 1 -> 4
      block(rng, same(8 * nf, 8 * nf, 3, false, 'relu'), o),
      block(rng, up(8 * nf, 4 * nf), o), // 8
      block(rng, same(4 * nf, 4 * nf, 3, true, 'relu'), o),
      block(rng, up(4 * nf, 2 * nf), o), // 16
      block(rng, same(2 * nf, 2 * nf, 3, true, 'relu'), o),
      block(rng, up(2 * nf, nf), o), // 32
      block(rng, same(nf, nf, 3, true, 'relu'), o),
      new UpsampleNearest(2), // 64
      block(rng, same(nf, nf, 3, true, 'relu'), o),
      block(rng, same(nf, nf, 5, true, 'relu'), o),
      block(rng, same(nf, cout, 5, false, outAct), o),
    ];
    this.decoder = this.child('dec', new Sequential(dec));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.decoder.apply(this.encoder.apply(x));
  }
}

export class Encoder extends Module {
  readonly net: Sequential;

  constructor(rng: Rng, cin: number, cout: number, nf: number, o: NetOptions) {
    super();
    this.net = this.child(
      'net',
      sequence(
        rng,
        [
          down(cin, nf, false, 'relu'),
          down(nf, 2 * nf, false, 'relu'),
          down(2 * nf, 4 * nf, false, 'relu'),
          down(4 * nf, 8 * nf, false, 'relu'),
          { kind: 'conv', cin: 8 * nf, cout: 8 * nf, k: 4, act: 'relu' }, // 4 -> 1
          { kind: 'conv', cin: 8 * nf, cout, k: 1, act: 'tanh' },
        ],
        o,
      ),
    );
  }

  /** [N, 64, 64, cin] -> [N, 1, 1, cout]; see `vector`. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.net.apply(x);
  }

  /** [N, 64, 64, cin] -> [N, cout] in (-1, 1). */
  vector(x: tf.Tensor4D): tf.Tensor2D {
    const y = this.apply(x);
    return y.reshape([y.shape[0], y.shape[3]]);
  }
}

export interface ConfidenceMaps {
  /** σ for the photometric loss [N, 64, 64, 2]: channel 0 original, 1 flipped. */
  l1: tf.Tensor4D;
  /** σ for the perceptual loss [N, 16, 16, 2] (only with the perceptual head). */
  perc?: tf.Tensor4D;
}

export class ConfNet extends Module {
  readonly encoder: Sequential;
  readonly trunk: Sequential;
  readonly headL1: Sequential;
  readonly headPerc?: Sequential;

  /** `perceptualHead`: build the 16x16 head (only worth its variables when the perceptual term is on). */
  constructor(rng: Rng, cin: number, nf: number, zdim: number, o: NetOptions, perceptualHead = true) {
    super();
    this.encoder = this.child('enc', sequence(rng, encoderSpecs(cin, nf, zdim), o));
    this.trunk = this.child(
      'dec',
      sequence(rng, [{ kind: 'deconv', cin: zdim, cout: 8 * nf, k: 4, act: 'relu' }, up(8 * nf, 4 * nf), up(4 * nf, 2 * nf)], o),
    );
    this.headL1 = this.child('l1', sequence(rng, [up(2 * nf, nf), up(nf, nf), same(nf, 2, 5, false, 'softplus')], o));
    if (perceptualHead) this.headPerc = this.child('perc', sequence(rng, [same(2 * nf, 2, 3, false, 'softplus')], o));
  }

  /** The L1 head (use `maps` for both). */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.maps(x).l1;
  }

  maps(x: tf.Tensor4D): ConfidenceMaps {
    const h = this.trunk.apply(this.encoder.apply(x));
    return { l1: this.headL1.apply(h), ...(this.headPerc ? { perc: this.headPerc.apply(h) } : {}) };
  }
}
