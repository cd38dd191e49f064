// GAN inversion: images → latents of a frozen StyleGAN prior, in three stages per batch of images.
//   start  the encoder's prediction w₀ = wAvg + E(x) (src/models/encoder), or the generator's mean w without one
//   W      optimise one w per image (the same w for every layer), starting from w₀
//   W+     optimise one w per layer, starting from the W result broadcast to every layer
// Loss per image (GAN2Shape's Step-2 loss, C.5 of ../shared/papers/gan2shape-unsup3d.md), summed over the batch:
//   mean |G(w) − x|  +  λ_feat · Σ_k mean |D_k(G(w)) − D_k(x)|  +  λ_reg · mean (w − w_stage_start)²
// with D_k the outputs of the discriminator's first `featureBlocks` residual blocks (GAN2Shape: the first four; D_k(x)
// is computed once, without gradient) and the regulariser pulling toward where the stage started (GAN2Shape: λ_reg
// 0.01 on the mean squared offset). Each image's loss depends on that image only (no minibatch statistics), so a
// batch is N independent optimisations done in one pass of the networks, and the result does not depend on which
// images share a batch.
// Optimiser: Adam (β = 0.9, 0.999) on the latents, on the host (the latents are small), with the step size ramped up
// over the first 5% of the steps and down along a cosine over the last 25% (the schedule of StyleGAN2's projector).
// Each stage returns, per image, the latent with the lowest loss seen (the loss is evaluated at every iterate anyway),
// so a stage never ends worse, in its own loss, than it started.
// Noise: 'none' (no per-layer noise) or 'fixed' (image i of a call draws its maps from Rng(seed + i), held for all
// steps). Deterministic for a seed. Default 'none': the noise is not optimised, so fixed random noise can only add a
// texture the latent has to fight (and the latent then reproduces only with those maps); without noise a latent file
// alone redraws its image, as `gan3d sample`'s latents do. (On the step-90 checkpoint measured below the learned noise
// strengths were still ≤ 0.0014, so the two modes could not be told apart there: re-measure with `--noise fixed` on a
// trained GAN.)
//
// Defaults, measured on 10 SynFace test images (data/synface/test/image, the first 10) with an early GAN checkpoint
// (runs/gan step 90: its samples are colour blobs, so the PSNRs say how the optimisation behaves, not what a trained
// GAN reaches), batch 10, on this 2-core machine with other jobs running (times are upper bounds):
//   start (mean w) 6.99 dB
//   50 W + 50 W+ steps, lr 0.05 / 0.02 (default):  W 13.84 dB, W+ 17.43 dB, 13.3 s/image
//   the same, lr 0.1 / 0.05:                       W 14.19 dB, W+ 17.10 dB, 15.1 s/image
//   the same, lr 0.02 / 0.01:                      W 12.37 dB, W+ 16.96 dB, 12.9 s/image
//   100 W + 100 W+, lr 0.05 / 0.02:                W 15.44 dB, W+ 18.89 dB, 25.5 s/image
//   50 + 50 without the feature term (λ_feat 0):    W 15.08 dB, W+ 18.57 dB, 7.2 s/image
// A step costs about 1.3 s for 10 images (G forward + backward, and D's first blocks forward + backward, which
// double it); the step counts are set so that the benchmark's 50 images take about 11 minutes. The feature term
// (GAN2Shape's loss) is kept by default although pixel-only L1 scored higher PSNR here: this D was barely trained.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import type { Encoder } from '../models/encoder/index.js';
import type { Discriminator, Generator } from '../models/stylegan/index.js';

export type InversionNoise = 'none' | 'fixed';

export interface InversionConfig {
  /** Adam steps in W (one w per image). */
  stepsW: number;
  /** Adam steps in W+ (one w per layer), after the W stage. */
  stepsWPlus: number;
  /** Peak Adam step sizes of the two stages. */
  lrW: number;
  lrWPlus: number;
  /** Weight of the discriminator-feature L1 (GAN2Shape: 1 per block). */
  lambdaFeat: number;
  /** Residual blocks of D whose outputs the feature loss compares (GAN2Shape: 4). */
  featureBlocks: number;
  /** Weight of mean (w − w_stage_start)² (GAN2Shape: 0.01). */
  lambdaReg: number;
  noise: InversionNoise;
  /** Seed of the fixed noise maps. */
  seed: number;
  /** Images optimised together in one batch. */
  batch: number;
}

export const INVERSION_DEFAULTS: Readonly<InversionConfig> = Object.freeze({
  stepsW: 50,
  stepsWPlus: 50,
  lrW: 0.05,
  lrWPlus: 0.02,
  lambdaFeat: 1,
  featureBlocks: 4,
  lambdaReg: 0.01,
  noise: 'none',
  seed: 0,
  batch: 10,
});

/** Adam's constants and the step-size schedule (fractions of a stage's steps). */
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;
const RAMP_UP = 0.05;
const RAMP_DOWN = 0.25;

/** The GAN's networks inversion needs. */
export interface InversionNetworks {
  generator: Generator;
  discriminator: Discriminator;
}

export type InversionStage = 'start' | 'W' | 'W+';

export interface InversionProgress {
  stage: InversionStage;
  /** Steps done in this stage of this batch, and the stage's steps. */
  step: number;
  steps: number;
  /** Images of the call finished before this batch, this batch's size, all images. */
  done: number;
  batchSize: number;
  total: number;
}

export interface InvertOptions {
  /** Predicts the starting w; without it the generator's mean w is the start. */
  encoder?: Encoder | null;
  /** The starting w of every image [n, wDim] (instead of the encoder or the mean w). */
  start?: Float32Array;
  config?: Partial<InversionConfig>;
  /** Called after every optimisation step (and once per batch at the start). */
  onProgress?: (p: InversionProgress) => void;
  /** Index of the first image in a longer sequence (its fixed noise is Rng(seed + index)); default 0. */
  indexOffset?: number;
}

export interface StageResult {
  /** Per image. */
  psnr: number[];
  /** Loss per image at the stage's start and of the latent returned (the lowest seen). */
  lossStart: number[];
  lossEnd: number[];
  /** Milliseconds over all batches. */
  ms: number;
}

export interface InversionResult {
  n: number;
  resolution: number;
  wDim: number;
  numWs: number;
  start: 'given' | 'encoder' | 'mean_w';
  /** [n, wDim]: the start (encoder prediction or mean w), the W result. */
  wStart: Float32Array;
  w: Float32Array;
  /** [n, numWs, wDim]: the W+ result. */
  wPlus: Float32Array;
  /** [n, R, R, 3] in [-1, 1] (clamped): G of the start, the W and the W+ latents, with the inversion's noise. */
  images: { start: Float32Array; w: Float32Array; wPlus: Float32Array };
  /** PSNR (dB, on images mapped to [0, 1]) per image per stage; loss only for the optimised stages. */
  stages: { start: { psnr: number[]; ms: number }; w: StageResult; wPlus: StageResult };
  config: InversionConfig;
  totalMs: number;
}

/** Defaults overridden by `overrides`, checked. */
export function inversionConfig(overrides: Partial<InversionConfig> = {}): InversionConfig {
  const c: InversionConfig = { ...INVERSION_DEFAULTS, ...overrides };
  const bad = (what: string) => new Gan3dError(`Inversion: ${what}.`, 'BAD_ARGUMENT');
  for (const k of ['stepsW', 'stepsWPlus', 'featureBlocks'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 0)) throw bad(`${k} must be a whole number ≥ 0, got ${c[k]}`);
  }
  if (!(Number.isInteger(c.batch) && c.batch >= 1)) throw bad(`batch must be a whole number ≥ 1, got ${c.batch}`);
  for (const k of ['lrW', 'lrWPlus'] as const) if (!(c[k] > 0 && Number.isFinite(c[k]))) throw bad(`${k} must be a positive number, got ${c[k]}`);
  for (const k of ['lambdaFeat', 'lambdaReg'] as const) if (!(c[k] >= 0 && Number.isFinite(c[k]))) throw bad(`${k} must be a number ≥ 0, got ${c[k]}`);
  if (c.noise !== 'none' && c.noise !== 'fixed') throw bad(`noise must be none or fixed, got "${String(c.noise)}"`);
  if (!(Number.isInteger(c.seed) && c.seed >= 0 && c.seed <= 0xffff_ffff)) throw bad(`seed must be a whole number in 0..${0xffff_ffff}, got ${c.seed}`);
  return c;
}

/**
 * PSNR in dB per image of `a` against `b` ([N, H, W, C], values in [-1, 1], clamped), on the [0, 1] scale:
 * −10 log10(mean ((a − b) / 2)²), capped at 100 dB for identical images. Returns [N].
 */
export function psnrPerImage(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const d = tf.div(tf.sub(tf.clipByValue(a, -1, 1), tf.clipByValue(b, -1, 1)), 2);
    const mse = tf.maximum(tf.mean(tf.square(d), [1, 2, 3]), 1e-10);
    return tf.mul(tf.log(mse), -10 / Math.LN10) as tf.Tensor1D;
  });
}

/** The step-size factor at step t (0-based) of T: linear ramp-up, cosine ramp-down. */
export function stepSizeFactor(t: number, T: number): number {
  const f = (t + 1) / T;
  const down = Math.min(1, (1 - f + 1 / T) / RAMP_DOWN);
  return (0.5 - 0.5 * Math.cos(Math.min(1, down) * Math.PI)) * Math.min(1, f / RAMP_UP);
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Per-batch tensors that stay fixed while the latents move. */
export interface BatchContext {
  gan: InversionNetworks;
  config: InversionConfig;
  b: number;
  target: tf.Tensor4D;
  targetFeatures: tf.Tensor4D[];
  noise: tf.Tensor4D[] | 'none';
  ones: tf.Tensor1D;
}

/** The per-image loss [b] of `latent` ([b, wDim] or [b, numWs, wDim]) with the regulariser anchored at `anchor`. */
export function inversionLoss(ctx: BatchContext, latent: tf.Tensor, anchor: tf.Tensor): tf.Tensor1D {
  const { config } = ctx;
  return tf.tidy(() => {
    const img = ctx.gan.generator.synthesize(latent as tf.Tensor2D | tf.Tensor3D, { noise: ctx.noise });
    let per = tf.mean(tf.abs(tf.sub(img, ctx.target)), [1, 2, 3]) as tf.Tensor1D;
    if (config.lambdaFeat > 0 && ctx.targetFeatures.length > 0) {
      const feats = ctx.gan.discriminator.blockFeatures(img, ctx.targetFeatures.length);
      const terms = feats.map((f, k) => tf.mean(tf.abs(tf.sub(f, ctx.targetFeatures[k])), [1, 2, 3]));
      per = tf.add(per, tf.mul(tf.addN(terms), config.lambdaFeat));
    }
    if (config.lambdaReg > 0) {
      const axes = latent.rank === 2 ? [1] : [1, 2];
      per = tf.add(per, tf.mul(tf.mean(tf.square(tf.sub(latent, anchor)), axes), config.lambdaReg));
    }
    return per;
  });
}

/** Builds the fixed tensors of a batch (caller disposes them with {@link disposeBatchContext}). */
export function batchContext(gan: InversionNetworks, config: InversionConfig, images: Float32Array, b: number, firstIndex: number): BatchContext {
  const R = gan.generator.config.resolution;
  const k = Math.min(config.featureBlocks, gan.discriminator.blocks.length);
  const target = tf.tensor4d(images, [b, R, R, 3]);
  const targetFeatures = config.lambdaFeat > 0 && k > 0 ? gan.discriminator.blockFeatures(target, k) : [];
  let noise: tf.Tensor4D[] | 'none' = 'none';
  if (config.noise === 'fixed') {
    // Image i of the call: Rng(seed + i), layer by layer, so an image gets the same noise in any batch.
    const shapes = gan.generator.noiseShapes(1);
    const maps = shapes.map(([, h, w]) => new Float32Array(b * h * w));
    for (let i = 0; i < b; i++) {
      const rng = new Rng((config.seed + firstIndex + i) >>> 0);
      shapes.forEach(([, h, w], l) => maps[l].set(rng.normalArray(h * w), i * h * w));
    }
    noise = shapes.map(([, h, w], l) => tf.tensor4d(maps[l], [b, h, w, 1]));
  }
  return { gan, config, b, target, targetFeatures, noise, ones: tf.ones([b]) };
}

export function disposeBatchContext(ctx: BatchContext): void {
  tf.dispose([ctx.target, ...ctx.targetFeatures, ...(ctx.noise === 'none' ? [] : ctx.noise), ctx.ones]);
}

/** Loss per image and its gradient with respect to the latent, on the host. */
function lossAndGrad(ctx: BatchContext, latent: Float32Array, shape: number[], anchor: tf.Tensor): { loss: Float32Array; grad: Float32Array } {
  const x = tf.tensor(latent, shape);
  const { value, grad } = tf.valueAndGrad((l: tf.Tensor) => inversionLoss(ctx, l, anchor))(x, ctx.ones);
  try {
    return { loss: Float32Array.from(value.dataSync() as Float32Array), grad: Float32Array.from(grad.dataSync() as Float32Array) };
  } finally {
    tf.dispose([x, value, grad]);
  }
}

function lossOnly(ctx: BatchContext, latent: Float32Array, shape: number[], anchor: tf.Tensor): Float32Array {
  const l = tf.tidy(() => inversionLoss(ctx, tf.tensor(latent, shape), anchor));
  try {
    return Float32Array.from(l.dataSync() as Float32Array);
  } finally {
    l.dispose();
  }
}

/** G(latent) clamped to [-1, 1] and its PSNR per image against the target, on the host. */
function render(ctx: BatchContext, latent: Float32Array, shape: number[]): { images: Float32Array; psnr: number[] } {
  const [img, p] = tf.tidy(() => {
    const l: tf.Tensor = tf.tensor(latent, shape);
    const x = tf.clipByValue(ctx.gan.generator.synthesize(l as tf.Tensor2D | tf.Tensor3D, { noise: ctx.noise }), -1, 1);
    return [x, psnrPerImage(x, ctx.target)];
  });
  try {
    return { images: Float32Array.from(img.dataSync() as Float32Array), psnr: Array.from(p.dataSync()) };
  } finally {
    tf.dispose([img, p]);
  }
}

/**
 * Adam on the latents from `init` for `steps` steps; the regulariser is anchored at `init`. Returns per image the
 * latent of the lowest loss seen, that loss, and the loss at `init`.
 */
async function optimise(
  ctx: BatchContext,
  init: Float32Array,
  shape: number[],
  steps: number,
  lr: number,
  onStep: (step: number) => void,
): Promise<{ latent: Float32Array; lossStart: Float32Array; lossEnd: Float32Array }> {
  const b = ctx.b;
  const per = init.length / b;
  const x = init.slice();
  const m = new Float32Array(x.length);
  const v = new Float32Array(x.length);
  const best = init.slice();
  const bestLoss = new Float32Array(b).fill(Infinity);
  let lossStart: Float32Array | null = null;
  const anchor = tf.tensor(init, shape);
  const keepBest = (loss: Float32Array) => {
    for (let i = 0; i < b; i++) {
      if (loss[i] < bestLoss[i]) {
        bestLoss[i] = loss[i];
        best.set(x.subarray(i * per, (i + 1) * per), i * per);
      }
    }
  };
  try {
    for (let t = 0; t < steps; t++) {
      const { loss, grad } = lossAndGrad(ctx, x, shape, anchor);
      lossStart ??= loss;
      keepBest(loss);
      const a = lr * stepSizeFactor(t, steps);
      const c1 = 1 - Math.pow(BETA1, t + 1);
      const c2 = 1 - Math.pow(BETA2, t + 1);
      for (let k = 0; k < x.length; k++) {
        const g = grad[k];
        m[k] = BETA1 * m[k] + (1 - BETA1) * g;
        v[k] = BETA2 * v[k] + (1 - BETA2) * g * g;
        x[k] -= (a * (m[k] / c1)) / (Math.sqrt(v[k] / c2) + EPSILON);
      }
      onStep(t + 1);
      await yieldToEventLoop();
    }
    const last = lossOnly(ctx, x, shape, anchor);
    lossStart ??= last;
    keepBest(last);
    return { latent: best, lossStart, lossEnd: bestLoss };
  } finally {
    anchor.dispose();
  }
}

/**
 * Inverts `n` images ([n, R, R, 3] row-major, values in [-1, 1]) into the GAN's W and W+ spaces (see the file
 * header). Batches of `config.batch` images are optimised together.
 */
export async function invertImages(gan: InversionNetworks, images: Float32Array, n: number, options: InvertOptions = {}): Promise<InversionResult> {
  const config = inversionConfig(options.config);
  const g = gan.generator;
  const { resolution: R, wDim } = g.config;
  const numWs = g.numWs;
  const per = R * R * 3;
  if (!(Number.isInteger(n) && n >= 1) || images.length !== n * per) {
    throw new Gan3dError(`invertImages: expected ${n} images of ${R}×${R}×3 (${n * per} values), got ${images.length} values.`, 'BAD_SHAPE');
  }
  if (JSON.stringify(g.config) !== JSON.stringify(gan.discriminator.config)) {
    throw new Gan3dError('invertImages: the generator and the discriminator come from different GAN configs.', 'BAD_ARGUMENT');
  }
  const encoder = options.encoder ?? null;
  if (encoder && (encoder.config.imageSize !== R || encoder.config.wDim !== wDim)) {
    throw new Gan3dError(
      `The encoder works on ${encoder.config.imageSize}×${encoder.config.imageSize} images and predicts w of width ${encoder.config.wDim}; ` +
        `the GAN makes ${R}×${R} images from w of width ${wDim}. Use an encoder trained for this GAN (gan3d train encoder --gan …).`,
      'MODEL_INCOMPATIBLE',
    );
  }
  if (options.start && options.start.length !== n * wDim) {
    throw new Gan3dError(`invertImages: the start latents hold ${options.start.length} values; ${n} images need ${n * wDim}.`, 'BAD_SHAPE');
  }
  const t0 = performance.now();
  const wStart = new Float32Array(n * wDim);
  const wOut = new Float32Array(n * wDim);
  const wPlus = new Float32Array(n * numWs * wDim);
  const out = { start: new Float32Array(n * per), w: new Float32Array(n * per), wPlus: new Float32Array(n * per) };
  const stage = () => ({ psnr: [] as number[], lossStart: [] as number[], lossEnd: [] as number[], ms: 0 });
  const stages = { start: { psnr: [] as number[], ms: 0 }, w: stage(), wPlus: stage() };
  const progress = (s: InversionStage, step: number, steps: number, done: number, batchSize: number) =>
    options.onProgress?.({ stage: s, step, steps, done, batchSize, total: n });

  for (let done = 0; done < n; done += config.batch) {
    const b = Math.min(config.batch, n - done);
    const ctx = batchContext(gan, config, images.subarray(done * per, (done + b) * per), b, (options.indexOffset ?? 0) + done);
    try {
      // Start: the given latents, the encoder's w, or the mean w.
      let tStage = performance.now();
      progress('start', 0, 0, done, b);
      const given = options.start;
      const w0t = tf.tidy(() =>
        given
          ? tf.tensor2d(given.subarray(done * wDim, (done + b) * wDim), [b, wDim])
          : encoder
            ? encoder.predictW(ctx.target, g.wAvg)
            : (tf.tile(tf.expandDims(g.wAvg, 0), [b, 1]) as tf.Tensor2D),
      );
      const w0 = Float32Array.from(w0t.dataSync() as Float32Array);
      w0t.dispose();
      const r0 = render(ctx, w0, [b, wDim]);
      wStart.set(w0, done * wDim);
      out.start.set(r0.images, done * per);
      stages.start.psnr.push(...r0.psnr);
      stages.start.ms += performance.now() - tStage;

      // W: one w per image.
      tStage = performance.now();
      const rw = await optimise(ctx, w0, [b, wDim], config.stepsW, config.lrW, (s) => progress('W', s, config.stepsW, done, b));
      const r1 = render(ctx, rw.latent, [b, wDim]);
      wOut.set(rw.latent, done * wDim);
      out.w.set(r1.images, done * per);
      stages.w.psnr.push(...r1.psnr);
      stages.w.lossStart.push(...rw.lossStart);
      stages.w.lossEnd.push(...rw.lossEnd);
      stages.w.ms += performance.now() - tStage;

      // W+: one w per layer, from the W result on every layer.
      tStage = performance.now();
      const init = new Float32Array(b * numWs * wDim);
      for (let i = 0; i < b; i++) for (let l = 0; l < numWs; l++) init.set(rw.latent.subarray(i * wDim, (i + 1) * wDim), (i * numWs + l) * wDim);
      const rp = await optimise(ctx, init, [b, numWs, wDim], config.stepsWPlus, config.lrWPlus, (s) => progress('W+', s, config.stepsWPlus, done, b));
      const r2 = render(ctx, rp.latent, [b, numWs, wDim]);
      wPlus.set(rp.latent, done * numWs * wDim);
      out.wPlus.set(r2.images, done * per);
      stages.wPlus.psnr.push(...r2.psnr);
      stages.wPlus.lossStart.push(...rp.lossStart);
      stages.wPlus.lossEnd.push(...rp.lossEnd);
      stages.wPlus.ms += performance.now() - tStage;
    } finally {
      disposeBatchContext(ctx);
    }
  }
  return {
    n,
    resolution: R,
    wDim,
    numWs,
    start: options.start ? 'given' : encoder ? 'encoder' : 'mean_w',
    wStart,
    w: wOut,
    wPlus,
    images: out,
    stages,
    config,
    totalMs: performance.now() - t0,
  };
}

/** Mean of a list (NaN when empty). */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}
