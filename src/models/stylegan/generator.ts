// StyleGAN2-style generator with skip (to-RGB) outputs: mapping z -> w, then a learned constant 4x4 input and, per
// resolution, styled convs and a to-RGB whose outputs are summed up the resolutions. Latent layout (numWs = 2 log2(R) - 2):
//   w[0]: the 4x4 conv, w[1]: the 4x4 to-RGB; resolution block b (8, 16, ...): w[2b+1] up conv, w[2b+2] conv,
//   w[2b+3] to-RGB (shared with the next block's up conv, as in StyleGAN2).
// Noise layers (numNoise = 2 log2(R) - 3): the 4x4 conv, then each block's two convs, at their resolution.
// The tracked mean w (`wAvg`) is a buffer, not a trainable variable: `namedBuffers()` names it for checkpoints.
// Conditional (config.conditionLabels): w = mapping(z) + labelEmbed(labels), with labels [N, L] normalised to [-1, 1];
// the label bank (a buffer [labelBankSize, L], the training set's labels) is where samples draw their labels from.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import type { Rng } from '../../engine/random.js';
import { LabelMlp } from '../../nn/label-mlp.js';
import { MappingNetwork } from '../../nn/mapping.js';
import { Module, ownedVariable } from '../../nn/module.js';
import { drawNoise } from '../../nn/noise.js';
import { StyledConv } from '../../nn/styled-conv.js';
import { ToRGB } from '../../nn/to-rgb.js';
import { type StyleGanConfig, resolutions, styleGanConfig } from './config.js';

/** Per-layer noise: an Rng draws fresh noise (deterministic for a seed), 'none' adds none, or one map per layer. */
export type NoiseInput = 'none' | Rng | tf.Tensor4D[];

export interface SynthesisOptions {
  /** Default 'none'. */
  noise?: NoiseInput;
}

export interface GenerateOptions extends SynthesisOptions {
  /** Truncation ψ toward the tracked mean w (1 = none). Default 1. */
  psi?: number;
  /** The labels [N, L] of a conditional generator (required there, refused by an unconditional one). */
  labels?: tf.Tensor2D;
}

export class Generator extends Module {
  readonly config: StyleGanConfig;
  readonly numWs: number;
  readonly numNoise: number;
  readonly mappingNet: MappingNetwork;
  /** [1, 4, 4, C4] ~ N(0, 1). */
  readonly constInput: tf.Variable;
  /** Styled convs in synthesis order: the 4x4 conv, then (up conv, conv) per resolution block. */
  readonly convs: StyledConv[];
  /** To-RGB layers per resolution 4, 8, ... */
  readonly toRgbs: ToRGB[];
  /** The tracked mean w [wDim] (not trainable). */
  readonly wAvg: tf.Variable;
  /** Labels per sample (0: unconditional). */
  readonly labelDim: number;
  /** labels → w offset (conditional only). */
  readonly labelEmbed: LabelMlp | null;
  /** [labelBankSize, L] (conditional only; not trainable). */
  readonly labelBank: tf.Variable | null;

  constructor(rng: Rng, config: Partial<StyleGanConfig> = {}) {
    super();
    const c = styleGanConfig(config);
    this.config = c;
    const res = resolutions(c.resolution);
    this.numWs = 2 * res.length;
    this.numNoise = 2 * res.length - 1;
    const ch = c.generatorChannels;
    this.mappingNet = this.child('mapping', new MappingNetwork(rng, { zDim: c.zDim, wDim: c.wDim, layers: c.mappingLayers, lrMul: c.mappingLrMul }));
    this.constInput = this.param('const', tf.tensor4d(rng.normalArray(16 * ch[4]), [1, 4, 4, ch[4]]));
    this.convs = [this.child('conv4', new StyledConv(rng, ch[4], ch[4], 3, c.wDim))];
    this.toRgbs = [this.child('rgb4', new ToRGB(rng, ch[4], c.wDim, 3, c.upsample))];
    for (const r of res.slice(1)) {
      this.convs.push(this.child(`up${r}`, new StyledConv(rng, ch[r / 2], ch[r], 3, c.wDim, { upsample: true, upsampleMode: c.upsample })));
      this.convs.push(this.child(`conv${r}`, new StyledConv(rng, ch[r], ch[r], 3, c.wDim)));
      this.toRgbs.push(this.child(`rgb${r}`, new ToRGB(rng, ch[r], c.wDim, 3, c.upsample)));
    }
    this.wAvg = ownedVariable(tf.zeros([c.wDim]), false);
    this.labelDim = c.conditionLabels.length;
    // Built last, so an unconditional generator's weights draw the same numbers from `rng` as before.
    this.labelEmbed = this.labelDim > 0 ? this.child('label_embed', new LabelMlp(rng, this.labelDim, c.wDim, c.wDim, c.labelLrMul)) : null;
    this.labelBank = this.labelDim > 0 ? ownedVariable(tf.zeros([c.labelBankSize, this.labelDim]), false) : null;
  }

  /** Buffers that belong in a checkpoint beside `namedVariables()`. */
  namedBuffers(prefix = ''): Map<string, tf.Variable> {
    const out = new Map([[`${prefix}w_avg`, this.wAvg]]);
    if (this.labelBank) out.set(`${prefix}label_bank`, this.labelBank);
    return out;
  }

  override dispose(): void {
    super.dispose();
    this.wAvg.dispose();
    this.labelBank?.dispose();
  }

  /** z [N, zDim] (and labels [N, L] when conditional) -> w [N, wDim]. */
  mapping(z: tf.Tensor2D, labels?: tf.Tensor2D): tf.Tensor2D {
    if (z.rank !== 2 || z.shape[1] !== this.config.zDim) {
      throw new Gan3dError(`Generator.mapping expects z [N, ${this.config.zDim}], got [${z.shape}].`, 'BAD_SHAPE');
    }
    if (!this.labelEmbed) {
      if (labels) throw new Gan3dError('This generator is unconditional: it takes no labels.', 'BAD_ARGUMENT');
      return this.mappingNet.forward(z);
    }
    if (!labels || labels.rank !== 2 || labels.shape[0] !== z.shape[0] || labels.shape[1] !== this.labelDim) {
      throw new Gan3dError(`This generator is conditional on ${this.labelDim} labels (${this.config.conditionLabels.join(', ')}): give labels [${z.shape[0]}, ${this.labelDim}]${labels ? `, not [${labels.shape}]` : ''}.`, 'BAD_ARGUMENT');
    }
    return tf.tidy(() => tf.add(this.mappingNet.forward(z), this.labelEmbed!.forward(labels)) as tf.Tensor2D);
  }

  /** `n` label rows [n, L] drawn uniformly from the label bank with `rng` (one int draw each); null when
   *  unconditional. */
  drawLabels(rng: Rng, n: number): Float32Array | null {
    if (!this.labelBank) return null;
    const rows = this.labelBank.shape[0];
    if (rows === 0) throw new Gan3dError('This conditional generator has an empty label bank.', 'MODEL_CORRUPT');
    const bank = this.labelBank.dataSync() as Float32Array;
    const L = this.labelDim;
    const out = new Float32Array(n * L);
    for (let i = 0; i < n; i++) {
      const r = rng.int(rows);
      out.set(bank.subarray(r * L, (r + 1) * L), i * L);
    }
    return out;
  }

  /** The labels tensor for `n` samples drawn from the bank (undefined when unconditional). */
  private labelsFor(rng: Rng, n: number): tf.Tensor2D | undefined {
    const rows = this.drawLabels(rng, n);
    return rows ? tf.tensor2d(rows, [n, this.labelDim]) : undefined;
  }

  /** Moves the tracked mean toward the batch mean of w [N, wDim]: wAvg = mean(w) + beta (wAvg - mean(w)). */
  updateWAvg(w: tf.Tensor2D, beta = this.config.wAvgBeta): void {
    tf.tidy(() => {
      const m = tf.mean(w, 0);
      this.wAvg.assign(tf.add(m, tf.mul(tf.sub(this.wAvg, m), beta)));
    });
  }

  /** Sets the tracked mean to the mean of mapping(z) over `samples` draws (StyleGAN's mean latent). */
  estimateWAvg(rng: Rng, samples = 4096): void {
    tf.tidy(() => {
      const z = tf.tensor2d(rng.normalArray(samples * this.config.zDim), [samples, this.config.zDim]);
      this.wAvg.assign(tf.mean(this.mapping(z, this.labelsFor(rng, samples)), 0));
    });
  }

  /** w' = wAvg + psi (w - wAvg), for w [N, wDim] or ws [N, numWs, wDim]. */
  truncate<T extends tf.Tensor2D | tf.Tensor3D>(w: T, psi: number): T {
    if (psi === 1) return tf.clone(w);
    return tf.tidy(() => tf.add(this.wAvg, tf.mul(tf.sub(w, this.wAvg), psi)) as T);
  }

  /** w [N, wDim] -> ws [N, numWs, wDim] (the same w for every layer). */
  broadcastW(w: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => tf.tile(tf.expandDims(w, 1), [1, this.numWs, 1]) as tf.Tensor3D);
  }

  /** Style mixing: ws[:, i] = w1 for i < crossover, w2 from there on. */
  mixStyles(w1: tf.Tensor2D, w2: tf.Tensor2D, crossover: number): tf.Tensor3D {
    if (!Number.isInteger(crossover) || crossover < 0 || crossover > this.numWs) {
      throw new Gan3dError(`mixStyles: crossover must be an integer in [0, ${this.numWs}], got ${crossover}.`, 'BAD_ARGUMENT');
    }
    return tf.tidy(() => {
      const a = tf.tile(tf.expandDims(w1, 1), [1, crossover, 1]);
      const b = tf.tile(tf.expandDims(w2, 1), [1, this.numWs - crossover, 1]);
      return tf.concat([a, b], 1) as tf.Tensor3D;
    });
  }

  /**
   * Training latents with style mixing (StyleGAN2): with probability `prob` a second z is mapped and takes over
   * from a crossover drawn uniformly in [1, numWs); otherwise one w for every layer. Returns ws [N, numWs, wDim].
   */
  mixedLatents(rng: Rng, n: number, prob = this.config.styleMixingProb): tf.Tensor3D {
    const zDim = this.config.zDim;
    return tf.tidy(() => {
      const z1 = tf.tensor2d(rng.normalArray(n * zDim), [n, zDim]);
      const labels = this.labelsFor(rng, n);
      const w1 = this.mapping(z1, labels);
      if (rng.uniform() >= prob) return this.broadcastW(w1);
      const w2 = this.mapping(tf.tensor2d(rng.normalArray(n * zDim), [n, zDim]), labels);
      return this.mixStyles(w1, w2, 1 + rng.int(this.numWs - 1));
    });
  }

  /** Noise map shapes [n, h, w, 1] of every noise layer, in synthesis order. */
  noiseShapes(n: number): [number, number, number, number][] {
    return this.convs.map((_, i) => {
      const r = 4 << Math.floor((i + 1) / 2);
      return [n, r, r, 1];
    });
  }

  /** Fresh noise maps for every layer (hold them to keep the noise fixed across calls). */
  makeNoise(rng: Rng, n: number): tf.Tensor4D[] {
    return this.noiseShapes(n).map(([b, h, w]) => drawNoise(rng, b, h, w));
  }

  /** ws [N, numWs, wDim] or w [N, wDim] -> images [N, R, R, 3] (not clamped; about [-1, 1] once trained). */
  synthesize(ws: tf.Tensor3D | tf.Tensor2D, options: SynthesisOptions = {}): tf.Tensor4D {
    const { wDim } = this.config;
    if ((ws.rank !== 2 && ws.rank !== 3) || ws.shape[ws.rank - 1] !== wDim || (ws.rank === 3 && ws.shape[1] !== this.numWs)) {
      throw new Gan3dError(`Generator.synthesize expects w [N, ${wDim}] or ws [N, ${this.numWs}, ${wDim}], got [${ws.shape}].`, 'BAD_SHAPE');
    }
    const noise = options.noise ?? 'none';
    if (Array.isArray(noise) && noise.length !== this.numNoise) {
      throw new Gan3dError(`Generator.synthesize: ${noise.length} noise maps given, ${this.numNoise} needed.`, 'BAD_ARGUMENT');
    }
    return tf.tidy(() => {
      const n = ws.shape[0];
      const wAt = (i: number): tf.Tensor2D =>
        ws.rank === 2 ? (ws as tf.Tensor2D) : tf.reshape(tf.slice(ws, [0, i, 0], [n, 1, wDim]), [n, wDim]);
      const noiseAt = (i: number): tf.Tensor4D | Rng | undefined => (noise === 'none' ? undefined : Array.isArray(noise) ? noise[i] : noise);
      let x = tf.tile(this.constInput, [n, 1, 1, 1]) as tf.Tensor4D;
      x = this.convs[0].apply(x, wAt(0), noiseAt(0));
      let rgb = this.toRgbs[0].apply(x, wAt(1));
      for (let b = 1; b < this.toRgbs.length; b++) {
        x = this.convs[2 * b - 1].apply(x, wAt(2 * b - 1), noiseAt(2 * b - 1));
        x = this.convs[2 * b].apply(x, wAt(2 * b), noiseAt(2 * b));
        rgb = this.toRgbs[b].apply(x, wAt(2 * b + 1), rgb);
      }
      return rgb;
    });
  }

  /** z [N, zDim] (and labels when conditional) -> images: mapping, truncation, synthesis. */
  generate(z: tf.Tensor2D, options: GenerateOptions = {}): tf.Tensor4D {
    return tf.tidy(() => this.synthesize(this.truncate(this.mapping(z, options.labels), options.psi ?? 1), options));
  }

  /** z as [N, 1, 1, zDim] -> images [N, R, R, 3] without noise (see `generate`; unconditional generators only). */
  apply(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.generate(tf.reshape(z, [z.shape[0], z.shape[3]])));
  }
}
