// Training the GAN-inversion encoder (src/models/encoder) on samples of a frozen GAN whose w is known: the "encoder"
// Trainer for the shared loop (src/train/loop.ts), single-threaded (the samples come from the GAN in this thread).
//
// Each step draws z ~ N(0, I) (and, with noise 'random', per-layer noise maps) from the loop's Rng, maps z through
// the EMA generator (w = wAvg + ψ (mapping(z) − wAvg)), renders x = G(w), and trains the encoder E on
//   loss = mean (E(x) − w)²  +  λ_img · mean |G(E(x)) − x|
// with the same noise maps in G(E(x)) as in x. λ_img = 0 skips the second generator pass and its backward (most of a
// step's cost); see DEFAULT_LAMBDA_IMG for the measured trade-off. Every random draw goes through the loop's Rng, so
// a checkpoint (encoder weights, Adam state, Rng state) resumes bit for bit.
// Evaluation: a fixed set of generated samples (their own seed): the w MSE and the PSNR of G(E(x)) against x, beside
// the same two numbers for the mean w (what an untrained encoder gives), the floor to beat.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import type { Batch, BatchInput, Replica } from '../engine/parallel/data-parallel.js';
import { Rng } from '../engine/random.js';
import { latestCheckpoint } from '../io/checkpoint.js';
import { Encoder, encoderConfig, type EncoderConfig, type EncoderOverrides } from '../models/encoder/index.js';
import type { Generator } from '../models/stylegan/index.js';
import { tileGrid } from '../train/grid.js';
import type { DataState, Trainer, TrainerContext } from '../train/loop.js';
import type { LoadedGan } from './gan-bundle.js';
import { psnrPerImage } from './invert.js';

export const ENCODER_KIND = 'encoder';
/** Mixed into the run's seed for the fixed evaluation samples, so they differ from the training stream. */
const EVAL_SEED_SALT = 0x0e1c_0de5;
/** Images per generator pass during evaluation. */
const EVAL_BATCH = 16;
/** Rows of the sample grid (target | encoder | mean w). */
const GRID_ROWS = 8;

/** Adam learning rate of the encoder. */
export const DEFAULT_ENCODER_LR = 1e-3;
/**
 * Weight of the image L1 term. 0 by default: with it on, each step also runs the generator forward and backward on
 * the predicted w. Measured at batch 16 with the default 64×64 GAN on this 2-core machine (two other trainings
 * running): drawing the 16 samples 0.55 s, the encoder step 0.3 s with λ_img = 0 and 1.6 s with λ_img > 0, so a step
 * costs about 0.85 s against 2.1 s (2.5×): in a fixed budget the w MSE alone sees 2.5× the samples. The inversion's
 * optimisation stages, which start from the encoder's w, do the pixel-level fitting.
 */
export const DEFAULT_LAMBDA_IMG = 0;

export type SampleNoise = 'random' | 'none';

export interface EncoderTrainerOptions {
  /** The frozen GAN whose samples the encoder learns to invert (its EMA generator draws them). */
  gan: LoadedGan;
  seed: number;
  /** Network overrides; imageSize and wDim always come from the GAN. */
  model?: EncoderOverrides;
  lr?: number;
  lambdaImg?: number;
  /** Truncation ψ of the training samples (default 1: the whole distribution). */
  psi?: number;
  /** Per-layer noise of the training samples: 'random' (default, drawn per sample) or 'none'. */
  noise?: SampleNoise;
  /** Samples in the fixed evaluation set (default 64). */
  evalSamples?: number;
}

/** The trainer's config, as written into every checkpoint and checked on resume. */
export interface EncoderTrainerConfig {
  seed: number;
  model: EncoderConfig;
  gan: { id: string; resolution: number; zDim: number; wDim: number; numWs: number; step: number | null };
  samples: { psi: number; noise: SampleNoise; source: string };
  loss: { lambdaImg: number; formula: string };
  optimizer: { kind: 'adam'; learningRate: number };
  eval: { samples: number; seed: number };
}

export type EncoderTrainer = Trainer & { config: EncoderTrainerConfig; encoder: Encoder; dispose(): void };

/** Host arrays of generated samples: z, w (after truncation), noise maps (per layer) and images. */
export interface GeneratedSamples {
  n: number;
  w: Float32Array;
  images: Float32Array;
  noise: Float32Array[];
}

/** Draws n samples' z, (with noise 'random') per-layer noise and (a conditional GAN) labels from the label bank
 *  from `rng`, in that order. */
function drawSampleInputs(g: Generator, rng: Rng, n: number, noise: SampleNoise): { z: Float32Array; noise: Float32Array[]; labels: Float32Array | null } {
  const z = rng.normalArray(n * g.config.zDim);
  const maps = noise === 'random' ? g.noiseShapes(n).map(([b, h, w]) => rng.normalArray(b * h * w)) : [];
  return { z, noise: maps, labels: g.drawLabels(rng, n) };
}

/** The noise input of a generator pass: the given maps as tensors, or 'none'. */
function noiseTensors(g: Generator, n: number, maps: Float32Array[] | tf.Tensor[]): tf.Tensor4D[] | 'none' {
  if (maps.length === 0) return 'none';
  return g.noiseShapes(n).map((shape, i) => {
    const m = maps[i];
    return (m instanceof tf.Tensor ? m : tf.tensor4d(m, shape)) as tf.Tensor4D;
  });
}

/** Renders samples of z (w = wAvg + ψ (mapping(z, labels) − wAvg)) with the given noise maps; host arrays out. */
export function renderSamples(g: Generator, z: Float32Array, noise: Float32Array[], psi: number, labels: Float32Array | null = null): GeneratedSamples {
  const n = z.length / g.config.zDim;
  const [w, x] = tf.tidy(() => {
    const c = labels ? tf.tensor2d(labels, [n, g.labelDim]) : undefined;
    const wt = g.truncate(g.mapping(tf.tensor2d(z, [n, g.config.zDim]), c), psi);
    return [wt, g.synthesize(wt, { noise: noiseTensors(g, n, noise) })];
  });
  try {
    // Read outside tf.tidy: tidy walks what its callback returns element by element.
    return { n, w: w.dataSync() as Float32Array, images: x.dataSync() as Float32Array, noise };
  } finally {
    tf.dispose([w, x]);
  }
}

/** The seed and settings a run in `outDir` was trained with (from its newest checkpoint), or null. */
export async function savedEncoderSettings(
  outDir: string,
): Promise<{ seed: number; model: EncoderConfig; gan: EncoderTrainerConfig['gan']; ganSource: string | null; lr: number; lambdaImg: number; psi: number; noise: SampleNoise; evalSamples: number } | null> {
  const ckpt = await latestCheckpoint(path.join(outDir, 'checkpoints'));
  if (!ckpt) return null;
  try {
    const json = JSON.parse(await fs.readFile(path.join(ckpt, 'checkpoint.json'), 'utf8')) as {
      config?: { trainer?: EncoderTrainerConfig };
      state?: { ganSource?: unknown };
    };
    const t = json.config?.trainer;
    if (!t || typeof t.seed !== 'number' || !t.model || !t.gan) return null;
    return {
      seed: t.seed,
      model: t.model,
      gan: t.gan,
      ganSource: typeof json.state?.ganSource === 'string' ? json.state.ganSource : null,
      lr: t.optimizer.learningRate,
      lambdaImg: t.loss.lambdaImg,
      psi: t.samples.psi,
      noise: t.samples.noise,
      evalSamples: t.eval.samples,
    };
  } catch {
    return null; // the loop's own resume reports a corrupt checkpoint properly
  }
}

function checkNumber(name: string, v: number, ok: boolean, what: string): number {
  if (!ok) throw new Gan3dError(`${name} must be ${what}, got ${v}.`, 'TRAIN_BAD_OPTION');
  return v;
}

/** Builds the encoder Trainer for a loaded GAN (left for the caller to dispose). */
export async function createEncoderTrainer(options: EncoderTrainerOptions): Promise<EncoderTrainer> {
  await initBackend();
  const { gan } = options;
  const g = gan.generator;
  const lr = checkNumber('lr', options.lr ?? DEFAULT_ENCODER_LR, (options.lr ?? DEFAULT_ENCODER_LR) > 0, 'a positive number');
  const lambdaImg = options.lambdaImg ?? DEFAULT_LAMBDA_IMG;
  checkNumber('lambdaImg', lambdaImg, lambdaImg >= 0 && Number.isFinite(lambdaImg), 'a number ≥ 0');
  const psi = options.psi ?? 1;
  checkNumber('psi', psi, psi >= 0 && psi <= 2, 'a number in [0, 2]');
  const noiseMode = options.noise ?? 'random';
  if (noiseMode !== 'random' && noiseMode !== 'none') throw new Gan3dError(`noise must be random or none, got "${String(noiseMode)}".`, 'TRAIN_BAD_OPTION');
  const evalSamples = options.evalSamples ?? 64;
  checkNumber('evalSamples', evalSamples, Number.isInteger(evalSamples) && evalSamples >= 1, 'a whole number ≥ 1');

  const model = encoderConfig({ ...options.model, imageSize: gan.config.resolution, wDim: gan.config.wDim });
  const encoder = new Encoder(options.seed, model);
  const variableNames = [...encoder.namedVariables().keys()];
  const R = gan.config.resolution;
  const evalSeed = (options.seed ^ EVAL_SEED_SALT) >>> 0;
  const step = typeof gan.meta.training.step === 'number' ? gan.meta.training.step : null;
  const config: EncoderTrainerConfig = {
    seed: options.seed,
    model,
    gan: { id: gan.id, resolution: R, zDim: gan.config.zDim, wDim: gan.config.wDim, numWs: g.numWs, step },
    samples: {
      psi,
      noise: noiseMode,
      source: `EMA generator; z ~ N(0, I)${noiseMode === 'random' ? ' and per-layer noise' : ''} from the loop Rng; w = wAvg + psi (mapping(z) - wAvg)`,
    },
    loss: { lambdaImg, formula: 'mean (E(x) - w)^2 + lambdaImg * mean |G(E(x)) - x| (same noise as x)' },
    optimizer: { kind: 'adam', learningRate: lr },
    eval: { samples: evalSamples, seed: evalSeed },
  };
  // The folder the GAN's weights came from (a bundle, or the exact checkpoint of a run), recorded in the checkpoint's
  // trainer state so that a resume finds the same GAN again even after its run has moved on.
  const ganSource = path.resolve(gan.meta.path);

  const replica: Replica = {
    variables: encoder.variables(),
    loss: (inputs) =>
      tf.tidy(() => {
        const x = inputs.images as tf.Tensor4D;
        const wPred = encoder.predictW(x, g.wAvg);
        let loss = tf.mean(tf.square(tf.sub(wPred, inputs.w))) as tf.Scalar;
        if (lambdaImg > 0) {
          const n = x.shape[0];
          const maps = noiseMode === 'random' ? g.noiseShapes(n).map((_, i) => inputs[`noise${i}`]) : [];
          const recon = g.synthesize(wPred, { noise: noiseTensors(g, n, maps) });
          loss = tf.add(loss, tf.mul(tf.mean(tf.abs(tf.sub(recon, x))), lambdaImg)) as tf.Scalar;
        }
        return loss;
      }),
  };

  // The evaluation set: drawn once per session from its own seed (so it is the same in every session).
  let evalSet: GeneratedSamples | null = null;
  let meanWScores: { w_mse: number; psnr: number } | null = null;
  const evalData = (): GeneratedSamples => {
    if (evalSet) return evalSet;
    const rng = new Rng(evalSeed);
    const parts: GeneratedSamples[] = [];
    for (let start = 0; start < evalSamples; start += EVAL_BATCH) {
      const b = Math.min(EVAL_BATCH, evalSamples - start);
      const { z, noise, labels } = drawSampleInputs(g, rng, b, noiseMode);
      parts.push(renderSamples(g, z, noise, psi, labels));
    }
    evalSet = concatSamples(parts);
    return evalSet;
  };
  /** w MSE and mean PSNR of G(w) against the eval images, for the encoder's w or (encoder null) the mean w. */
  const score = (useEncoder: boolean): { w_mse: number; psnr: number; wPred: Float32Array; recon: Float32Array } => {
    const s = evalData();
    const wDim = model.wDim;
    const per = R * R * 3;
    const wPred = new Float32Array(s.n * wDim);
    const recon = new Float32Array(s.n * per);
    let sq = 0;
    let psnr = 0;
    for (let start = 0; start < s.n; start += EVAL_BATCH) {
      const b = Math.min(EVAL_BATCH, s.n - start);
      const maps = s.noise.length === 0 ? [] : g.noiseShapes(b).map(([, h, w], i) => s.noise[i].subarray(start * h * w, (start + b) * h * w));
      const [wt, xt, pt] = tf.tidy(() => {
        const x = tf.tensor4d(s.images.subarray(start * per, (start + b) * per), [b, R, R, 3]);
        const w = useEncoder ? encoder.predictW(x, g.wAvg) : (tf.tile(tf.expandDims(g.wAvg, 0), [b, 1]) as tf.Tensor2D);
        const img = tf.clipByValue(g.synthesize(w, { noise: noiseTensors(g, b, maps) }), -1, 1);
        return [w, img, psnrPerImage(img, x)];
      });
      const wv = wt.dataSync() as Float32Array;
      wPred.set(wv, start * wDim);
      recon.set(xt.dataSync() as Float32Array, start * per);
      const truth = s.w.subarray(start * wDim, (start + b) * wDim);
      for (let k = 0; k < wv.length; k++) sq += (wv[k] - truth[k]) ** 2;
      for (const p of pt.dataSync()) psnr += p;
      tf.dispose([wt, xt, pt]);
    }
    return { w_mse: sq / (s.n * wDim), psnr: psnr / s.n, wPred, recon };
  };
  const round = (x: number) => Math.round(x * 1e5) / 1e5;

  return {
    kind: ENCODER_KIND,
    config,
    encoder,
    replica,
    adam: { learningRate: lr },
    variableNames,

    nextBatch(rng: Rng, batchSize: number): Batch {
      const { z, noise, labels } = drawSampleInputs(g, rng, batchSize, noiseMode);
      const s = renderSamples(g, z, noise, psi, labels);
      const batch: Batch = {
        images: { data: s.images, shape: [batchSize, R, R, 3] },
        w: { data: s.w, shape: [batchSize, model.wDim] },
      };
      // The noise maps travel with the batch only when the image term renders G(E(x)) with them.
      if (lambdaImg > 0) {
        g.noiseShapes(batchSize).forEach((shape, i) => {
          if (noise[i]) batch[`noise${i}`] = { data: noise[i], shape } as BatchInput;
        });
      }
      return batch;
    },
    // Samples are drawn fresh every step: there is no data order to save, only the loop's Rng.
    getDataState: (): DataState => ({ epoch: 0 }),
    setDataState: () => undefined,
    getState: () => ({ ganSource }),
    setState: () => undefined,

    async evaluate(_ctx: TrainerContext): Promise<Record<string, number>> {
      meanWScores ??= (({ w_mse, psnr }) => ({ w_mse, psnr }))(score(false));
      const e = score(true);
      return {
        eval_w_mse: round(e.w_mse),
        eval_psnr: round(e.psnr),
        eval_w_mse_mean_w: round(meanWScores.w_mse),
        eval_psnr_mean_w: round(meanWScores.psnr),
      };
    },

    async makeSampleGrid(): Promise<Uint8Array> {
      const s = evalData();
      const rows = Math.min(GRID_ROWS, s.n);
      const per = R * R * 3;
      const e = score(true);
      const shape = [rows, R, R, 3];
      return tileGrid([
        { name: 'sample', images: { data: s.images.slice(0, rows * per), shape } },
        { name: 'G(E(x))', images: { data: e.recon.slice(0, rows * per), shape } },
      ]);
    },

    dispose(): void {
      encoder.dispose();
    },
  };
}

function concatSamples(parts: GeneratedSamples[]): GeneratedSamples {
  const n = parts.reduce((a, p) => a + p.n, 0);
  const cat = (arrays: Float32Array[]) => {
    const out = new Float32Array(arrays.reduce((a, x) => a + x.length, 0));
    let at = 0;
    for (const x of arrays) {
      out.set(x, at);
      at += x.length;
    }
    return out;
  };
  const layers = parts[0]?.noise.length ?? 0;
  return {
    n,
    w: cat(parts.map((p) => p.w)),
    images: cat(parts.map((p) => p.images)),
    noise: Array.from({ length: layers }, (_, i) => cat(parts.map((p) => p.noise[i]))),
  };
}
