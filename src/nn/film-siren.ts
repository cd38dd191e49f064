// FiLM-SIREN layer (pi-GAN; the shallow NeRF of CIPS-3D, paper notes A.3): a sine layer whose frequencies and phases
// are set per sample by a latent w,
//   h' = sin(γ(w) ⊙ (A h + a) + β(w)),  γ(w) = 15·(G w + g) + 30,  β(w) = B w + b.
// The 15·(…) + 30 keeps the frequencies near 30 at the start, SIREN's ω₀, whatever w is.
// Init (pi-GAN, as CIPS-3D keeps it): A ~ U(±√(6/fan_in)/25) so the sines stay in their well-behaved range, or
// U(±1/fan_in) for the first layer (it sees raw coordinates); the γ/β projection is PyTorch's default Linear init with
// its weights × 0.25; all biases PyTorch's default U(±1/√fan_in).
// Points are batched per sample: h [N, P, cin] (P points of sample n share its w), w [N, wDim].
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import type { Rng } from '../engine/random.js';
import { Module } from './module.js';

/** γ = FREQ_SCALE·(G w + g) + FREQ_SHIFT. */
export const FREQ_SCALE = 15;
export const FREQ_SHIFT = 30;

export interface FilmSirenOptions {
  /** pi-GAN's first-layer init U(±1/fan_in) for the layer that takes raw coordinates. Default false. */
  first?: boolean;
}

export class FilmSiren extends Module {
  readonly cin: number;
  readonly cout: number;
  readonly wDim: number;
  /** A [cin, cout] and a [cout]. */
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  /** [G | B]: [wDim, 2·cout] and [g | b]: [2·cout]. */
  readonly styleWeight: tf.Variable;
  readonly styleBias: tf.Variable;

  constructor(rng: Rng, cin: number, cout: number, wDim: number, options: FilmSirenOptions = {}) {
    super();
    for (const [k, v] of Object.entries({ cin, cout, wDim })) {
      if (!Number.isInteger(v) || v < 1) throw new Gan3dError(`FilmSiren: ${k} must be a whole number ≥ 1, got ${v}.`, 'BAD_ARGUMENT');
    }
    this.cin = cin;
    this.cout = cout;
    this.wDim = wDim;
    const bound = options.first ? 1 / cin : Math.sqrt(6 / cin) / 25;
    this.weight = this.param('w', tf.tensor(rng.uniformArray(cin * cout, -bound, bound), [cin, cout]));
    this.bias = this.param('b', tf.tensor(rng.uniformArray(cout, -1 / Math.sqrt(cin), 1 / Math.sqrt(cin)), [cout]));
    const sb = 1 / Math.sqrt(wDim);
    this.styleWeight = this.param('style_w', tf.tensor(rng.uniformArray(wDim * 2 * cout, -0.25 * sb, 0.25 * sb), [wDim, 2 * cout]));
    this.styleBias = this.param('style_b', tf.tensor(rng.uniformArray(2 * cout, -sb, sb), [2 * cout]));
  }

  /** Frequencies γ [N, cout] and phases β [N, cout] of latents w [N, wDim]. */
  film(w: tf.Tensor2D): { gamma: tf.Tensor2D; beta: tf.Tensor2D } {
    if (w.rank !== 2 || w.shape[1] !== this.wDim) throw new Gan3dError(`FilmSiren expects w [N, ${this.wDim}], got [${w.shape}].`, 'BAD_SHAPE');
    return tf.tidy(() => {
      const gb = tf.add(tf.matMul(w, this.styleWeight as tf.Tensor2D), this.styleBias);
      const [g, beta] = tf.split(gb, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
      return { gamma: tf.add(tf.mul(g, FREQ_SCALE), FREQ_SHIFT), beta };
    });
  }

  /** h [N, P, cin], w [N, wDim] → [N, P, cout]. */
  forward(h: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
    if (h.rank !== 3 || h.shape[2] !== this.cin || h.shape[0] !== w.shape[0]) {
      throw new Gan3dError(`FilmSiren expects h [${w.shape[0]}, P, ${this.cin}] for w [${w.shape}], got [${h.shape}].`, 'BAD_SHAPE');
    }
    return tf.tidy(() => {
      const [n, p] = [h.shape[0], h.shape[1]];
      const { gamma, beta } = this.film(w);
      const lin = tf.reshape(tf.add(tf.matMul(tf.reshape(h, [n * p, this.cin]), this.weight as tf.Tensor2D), this.bias), [n, p, this.cout]);
      return tf.sin(tf.add(tf.mul(lin, tf.expandDims(gamma, 1)), tf.expandDims(beta, 1))) as tf.Tensor3D;
    });
  }

  apply(): tf.Tensor4D {
    throw new Gan3dError('FilmSiren works on point sets: call forward(h [N, P, cin], w [N, wDim]).', 'BAD_ARGUMENT');
  }
}
