// Training the 2D StyleGAN2-style prior on an image folder: the GAN Trainer for the shared loop (src/train/loop.ts).
// Each step runs two optimizer phases on one batch: D, then G.
//   D: softplus(D(G(z))) + softplus(-D(x)), plus lazy R1 every r1Every-th step: (γ/2)·‖∇ₓD(x)‖²·r1Every, in the
//      same gradient as the main loss (nested tf.grad; notes/r1-findings.md). Adam lr·c, β = (0, 0.99^c), c = k/(k+1).
//   G: softplus(-D(G(z))) (non-saturating), Adam lr, β = (0, 0.99).
// Latents (with style mixing), per-layer noise, flips and the R1 schedule are all drawn into the batch from the loop's
// Rng, so the checkpoint's Rng state, Adam states, weights and buffers (EMA generator, tracked mean w) resume exactly.
// After each step the EMA generator moves toward G (half-life in images) and the tracked mean w toward the batch's.
// Sample grids: 8×8 images of the EMA generator from fixed latents and fixed noise.
//
// Threads (`gan3d train gan --threads N`; default GAN3D_THREADS, else the core count capped at 2). One thread: the
// loop's PhasedStepper. More: PhasedDataParallel (src/engine/parallel/phased-data-parallel.ts). Every worker builds G
// and D from this module's createReplica; per step the batch (all its random draws made on the main thread) is
// sharded once, then each thread computes its shard's D gradients, they are averaged, Adam updates D, D's new weights
// reach every replica, and the same for G (two gradient rounds): the single-threaded step's losses and update order.
// The EMA generator and the tracked mean w live on the main thread and follow G after each step. Checkpoints do not
// depend on the thread count: a run resumes with any, and resumes exactly with the same one.
// Minibatch std: the loop shards by whole mbstd groups (groupedShards, from shardGroupSize below), so each shard's
// statistics are exactly the whole batch's groups (batch 16, group 4: rows {0,4,8,12} and {1,5,9,13} on one thread,
// {2,6,10,14} and {3,7,11,15} on the other). StyleGAN2 on several GPUs instead takes mbstd per GPU over that GPU's own
// samples, which changes the groups with the GPU count; here no group spans threads, and a batch with fewer groups
// than threads leaves a thread idle rather than split one. So 1 and 2 threads compute the same step up to float
// summation order, not bit for bit: on the tiny test networks the weights agree to 2.4e-7 after 3 steps; at batch 16,
// --widths small (measured, scratch run of 5 steps from seed 1) the losses agree to 1e-7 relative for 2 steps, then the
// GAN's dynamics amplify the rounding (Adam with β1 = 0 and ε = 1e-8 turns rounding in near-zero gradients into
// visible updates): rms weight difference 9e-8 after step 1, 1.3e-5 after step 4 and 7e-5 after step 5 (4 % of one
// step's movement), losses 1e-3 apart by step 5. The two are equally valid runs, not the same trajectory.
//
// Speed: `npm run bench:gan` (bench/results/gan.json) on the project's 2-core AMD EPYC, wasm SIMD with one thread,
// single-threaded stepper, batch 16, default widths (G 1.06 M, D 1.06 M parameters): a step (D phase + G phase + EMA
// and mean-w update) 3.32 s, an R1 step 4.64 s, about 4.7 images/s amortised; 1.16x the plain tf-ops layers measured
// in the same run. The step is convolution-bound (~85 %), so `--widths small` (G 0.86 M parameters, 2.6x fewer
// multiply-adds) is what makes training practical here: 1.48 s of CPU per step before the fused ops.
// Two threads (batch 16, --widths small; bench:gan and a scratch script alternating 1 and 2 threads in one process,
// 2026-11-24, with another training and other jobs holding the 2 cores at load 3-4): a step costs 1.54-1.62 s of CPU
// on 1 thread and 1.74-1.78 s on 2 (+10-15 %: half-batch convs, extra weight loads); per thread 0.84-0.86 s (main) and
// 0.82 s (worker), so with both cores free a step would take no less than about 0.85 s: at most ~1.8x (an upper bound
// from per-thread CPU time, which ignores the two cores' shared memory bandwidth; the cores were never free to time
// it, and the engine's reference step reached 1.60x). Under that load the wall time was 0.82-0.90x of one thread's
// (2.73 s against 2.37 s): the threads meet four times per step (gradients and Adam, per phase) and wait whenever the
// other is descheduled, so a 2-thread run pays only on an otherwise idle machine. R1 steps: 2.22 s of CPU on 1
// thread, 2.35 s on 2.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import fsSync from 'node:fs';
import path from 'node:path';
import { ImageFolderDataset, type ImageFolderInfo } from '../data/image-folder.js';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import type { Batch, PhasedReplica, Replica } from '../engine/parallel/data-parallel.js';
import { boxDownsample2x } from '../engine/ops/box-resample.js';
import { Rng } from '../engine/random.js';
import { latestCheckpoint, loadCheckpoint } from '../io/checkpoint.js';
import { Discriminator, Generator, styleGanConfig, type StyleGanConfig } from '../models/stylegan/index.js';
import { labelsNamed, mirrorLabels } from '../models/features/labels.js';
import { readSplitLabels } from '../data/split-labels.js';
import { applyAugment, drawAugment, hasAugment } from '../models/stylegan/augment.js';
import { wideningProblem, widenParameter } from '../models/stylegan/widen.js';
import type { EpochIteratorState } from '../train/data-iterator.js';
import { tileGrid } from '../train/grid.js';
import type { DataState, Trainer, TrainerPhase } from '../train/loop.js';
import { loadGanBundle } from './gan-bundle.js';
import { MODEL_JSON } from './model-bundle.js';

/** Checkpoint names of the low-resolution discriminator's variables. */
export const LOW_D_PREFIX = 'Dlow/';
/** The sample grid: GRID × GRID images of the EMA generator. */
const GRID = 8;
/** Mixed into the run's seed for the fixed sample latents, so they differ from the weights' stream. */
const SAMPLE_SEED_SALT = 0x5a3c_e11d;
/** Mixed into the run's seed for the label bank's mirror draws. */
const LABEL_BANK_SALT = 0x1abe_1b4c;

export interface GanTrainerOptions {
  /** An image folder: `<dir>/*.png` named `image/`, a split folder holding `image/`, or a dataset root with `train/image/`. */
  data: string;
  /** Seed of the initial weights, the epoch shuffles and the fixed sample latents. */
  seed: number;
  /** Images per step (recorded in the config; sets the EMA's per-step decay). */
  batchSize: number;
  /** Overrides on STYLEGAN_DEFAULTS (tests train tiny networks). */
  model?: Partial<StyleGanConfig>;
  /** Probability of mirroring each real image (default 0.5). */
  flipProbability?: number;
  /** Fine-tuning: start from another run's checkpoint (loadGanInit). On resume give its `record` alone (the run's
   *  checkpoint holds the weights; the record must match). */
  init?: { record: GanInitRecord; weights?: Map<string, Float32Array> };
  onLoadProgress?: (done: number, total: number) => void;
}

/** Where a fine-tuning run started: written into its config (and so into the bundle's training record). */
export interface GanInitRecord {
  checkpoint: string;
  step: number;
  /** Images the starting run had seen (step × its batch) and its training wall time. */
  imagesSeen: number;
  elapsedSeconds: number;
  /** When the fine-tune is wider than its start (`--init … --widths`): the start's channel tables. Its weights were
   *  grown by src/models/stylegan/widen.ts (the same function at step 0). */
  widenedFrom?: { generatorChannels: Record<number, number>; discriminatorChannels: Record<number, number> };
}

/** The StyleGAN config fields that fix the networks' shapes and function; a fine-tune may change only the others
 *  (learning rates, betas, R1, style mixing, batch, EMA half-life, truncation of samples). */
const ARCHITECTURE_KEYS = ['resolution', 'zDim', 'wDim', 'mappingLayers', 'mappingLrMul', 'generatorChannels', 'discriminatorChannels', 'upsample', 'mbstdGroupSize', 'mbstdFeatures', 'wAvgBeta'] as const;

export type GanArchitecture = Pick<StyleGanConfig, (typeof ARCHITECTURE_KEYS)[number]>;

/** The architecture part of a StyleGAN config. */
export function ganArchitecture(c: StyleGanConfig): GanArchitecture {
  return Object.fromEntries(ARCHITECTURE_KEYS.map((k) => [k, c[k]])) as GanArchitecture;
}

/** Reads a `gan3d train gan` checkpoint (a run folder: its newest; or a ckpt-XXXXXXXX folder) to start a fine-tune:
 *  every weight and buffer (G, D, G_ema, tracked means) by name, the model config and the record. */
export async function loadGanInit(source: string): Promise<{ record: GanInitRecord; weights: Map<string, Float32Array>; model: StyleGanConfig }> {
  const dir = path.resolve(source);
  if (fsSync.existsSync(path.join(dir, MODEL_JSON))) return loadGanInitFromBundle(dir);
  const runCheckpoints = path.join(dir, 'checkpoints');
  let ckptDir: string | null = dir;
  if (!fsSync.existsSync(path.join(dir, 'checkpoint.json'))) ckptDir = fsSync.existsSync(runCheckpoints) ? await latestCheckpoint(runCheckpoints) : await latestCheckpoint(dir);
  if (!ckptDir || !fsSync.existsSync(ckptDir)) {
    throw new Gan3dError(`--init ${source}: no GAN training checkpoint there (give a run folder of \`gan3d train gan\` or one of its checkpoints/ckpt-… folders).`, 'MODEL_NOT_FOUND');
  }
  const ckpt = await loadCheckpoint(ckptDir, { kind: 'stylegan' });
  const trainer = (ckpt.config as { trainer?: Partial<GanTrainerConfig> } | null)?.trainer;
  if (!trainer?.model) throw new Gan3dError(`Checkpoint ${ckpt.path} has no GAN model config (config.trainer.model).`, 'CHECKPOINT_INCOMPATIBLE');
  const batch = trainer.model.batchSize;
  const before = trainer.init?.imagesSeen ?? 0;
  return {
    record: { checkpoint: path.resolve(ckpt.path), step: ckpt.step, imagesSeen: before + ckpt.step * batch, elapsedSeconds: (trainer.init?.elapsedSeconds ?? 0) + (ckpt.elapsedSeconds ?? 0) },
    weights: new Map(ckpt.variables.map((v) => [v.name, v.data])),
    model: trainer.model,
  };
}

/** A fine-tune's start from a bundle (models/gan): a bundle keeps only the EMA generator and D, so the trained G
 *  starts as a copy of the EMA generator (its smoother average), and Adam starts afresh. Lets training go on when
 *  the run that made the bundle is gone; the bundle's own training record gives the images seen before. */
async function loadGanInitFromBundle(dir: string): Promise<{ record: GanInitRecord; weights: Map<string, Float32Array>; model: StyleGanConfig }> {
  const gan = await loadGanBundle(dir);
  try {
    const weights = new Map<string, Float32Array>();
    const copy = (v: tf.Variable) => Float32Array.from(v.dataSync() as Float32Array);
    for (const [k, v] of gan.generator.namedVariables()) {
      weights.set(`G/${k}`, copy(v));
      weights.set(`G_ema/${k}`, copy(v));
    }
    for (const [k, v] of gan.generator.namedBuffers()) {
      weights.set(`G/${k}`, copy(v));
      weights.set(`G_ema/${k}`, copy(v));
    }
    for (const [k, v] of gan.discriminator.namedVariables()) weights.set(`D/${k}`, copy(v));
    const t = gan.meta.training as { step?: unknown; elapsedSeconds?: unknown; trainer?: { init?: GanInitRecord } };
    const step = typeof t.step === 'number' ? t.step : 0;
    const before = t.trainer?.init;
    return {
      record: {
        checkpoint: dir,
        step,
        imagesSeen: (before?.imagesSeen ?? 0) + step * gan.config.batchSize,
        elapsedSeconds: (before?.elapsedSeconds ?? 0) + (typeof t.elapsedSeconds === 'number' ? t.elapsedSeconds : 0),
      },
      weights,
      model: gan.config,
    };
  } finally {
    gan.dispose();
  }
}

/** The trainer's config, as written into every checkpoint and checked on resume. */
export interface GanTrainerConfig {
  seed: number;
  model: StyleGanConfig;
  data: ImageFolderInfo;
  losses: { d: string; g: string; r1Gamma: number; r1Every: number; augment?: string; condition?: string };
  /** Lazy-regularisation correction of D's Adam: lr × c, β = (β1^c, β2^c), c = r1Every / (r1Every + 1). */
  dAdamScale: number;
  ema: { halfLifeImages: number; betaPerStep: number };
  samples: { rows: number; columns: number; seed: number; psi: number };
  /** A fine-tuning run's start. */
  init?: GanInitRecord;
}

export type GanTrainer = Trainer & {
  config: GanTrainerConfig;
  generator: Generator;
  ema: Generator;
  discriminator: Discriminator;
  /** The second discriminator on downsampled images (config.model.lowResDiscriminator), or null. */
  lowResDiscriminator: Discriminator | null;
  dispose(): void;
};

/** `<root>/<split>/image/` for the folder the user named (the layouts `gan3d data synface` writes, or a bare image/). */
export function resolveImageFolder(data: string): { root: string; split: string } {
  const dir = path.resolve(data);
  if (!fsSync.existsSync(dir)) {
    throw new Gan3dError(`--data ${data}: no such folder. Make a dataset with \`gan3d data synface --out data/synface\` and pass data/synface/train.`, 'NO_DATA');
  }
  if (fsSync.existsSync(path.join(dir, 'image'))) return { root: path.dirname(dir), split: path.basename(dir) };
  if (fsSync.existsSync(path.join(dir, 'train', 'image'))) return { root: dir, split: 'train' };
  if (path.basename(dir) === 'image') return { root: path.dirname(path.dirname(dir)), split: path.basename(path.dirname(dir)) };
  throw new Gan3dError(
    `--data ${data}: expected PNG images in ${path.join(dir, 'image')}/ (a split folder such as data/synface/train) or in ${path.join(dir, 'train', 'image')}/.`,
    'NO_DATA',
  );
}

/** The seed and model config a run in `outDir` was trained with (from its newest checkpoint), or null. */
export async function savedGanSettings(outDir: string): Promise<{ seed: number; model: StyleGanConfig; init?: GanInitRecord } | null> {
  const ckpt = await latestCheckpoint(path.join(outDir, 'checkpoints'));
  if (!ckpt) return null;
  try {
    const json = JSON.parse(await fs.readFile(path.join(ckpt, 'checkpoint.json'), 'utf8')) as { config?: { trainer?: Partial<GanTrainerConfig> } };
    const t = json.config?.trainer;
    return t && typeof t.seed === 'number' && t.model ? { seed: t.seed, model: t.model, ...(t.init ? { init: t.init } : {}) } : null;
  } catch {
    return null; // the loop's own resume reports a corrupt checkpoint properly
  }
}

/** Latent inputs of one phase: two z's, a style-mixing mask and per-layer noise, drawn from `rng`. */
function drawLatents(g: Generator, rng: Rng, n: number, prefix: string, out: Batch): void {
  const { zDim, styleMixingProb } = g.config;
  out[`${prefix}Z`] = { data: rng.normalArray(n * zDim), shape: [n, zDim] };
  out[`${prefix}Z2`] = { data: rng.normalArray(n * zDim), shape: [n, zDim] };
  // StyleGAN2: with probability p a second latent takes over from one crossover layer for the whole batch.
  const crossover = styleMixingProb > 0 && rng.uniform() < styleMixingProb ? 1 + rng.int(g.numWs - 1) : g.numWs;
  const mask = new Float32Array(n * g.numWs);
  for (let b = 0; b < n; b++) for (let i = crossover; i < g.numWs; i++) mask[b * g.numWs + i] = 1;
  out[`${prefix}Mix`] = { data: mask, shape: [n, g.numWs, 1] };
  g.noiseShapes(n).forEach((shape, i) => (out[`${prefix}Noise${i}`] = { data: rng.normalArray(shape[0] * shape[1] * shape[2]), shape }));
}

/** The labels of a conditional GAN's batch entry (`labels` for the reals, `dC`/`gC` for the phases' fakes), or
 *  undefined when the GAN is unconditional (the batch has none). */
function labelsOf(inputs: Record<string, tf.Tensor>, key: string): tf.Tensor2D | undefined {
  return inputs[key] as tf.Tensor2D | undefined;
}

/** Images of the phase's latents: ws = w(z) with layers from the crossover on taken from w(z2) (both with the
 *  phase's labels when conditional). */
function fakesFrom(g: Generator, inputs: Record<string, tf.Tensor>, prefix: string): tf.Tensor4D {
  return tf.tidy(() => {
    const labels = labelsOf(inputs, `${prefix}C`);
    const w1 = g.mapping(inputs[`${prefix}Z`] as tf.Tensor2D, labels);
    const w2 = g.mapping(inputs[`${prefix}Z2`] as tf.Tensor2D, labels);
    const ws = tf.add(tf.expandDims(w1, 1), tf.mul(inputs[`${prefix}Mix`], tf.expandDims(tf.sub(w2, w1), 1))) as tf.Tensor3D;
    const noise = Array.from({ length: g.numNoise }, (_, i) => inputs[`${prefix}Noise${i}`] as tf.Tensor4D);
    return g.synthesize(ws, { noise });
  });
}

/** The networks one replica trains: G, D and, when the config asks for it, the low-resolution D. */
interface GanNets {
  g: Generator;
  d: Discriminator;
  lowD: Discriminator | null;
}

/** Images box-downsampled (2×2 means, repeatedly) to `side`. */
function downsampleTo(x: tf.Tensor4D, side: number): tf.Tensor4D {
  return tf.tidy(() => {
    let h = x;
    while (h.shape[1] > side) h = boxDownsample2x(h);
    return h;
  });
}

/** One discriminator's logistic loss on fakes and reals, plus the per-image R1 weight (0 except on lazy-R1 steps)
 *  times ‖∇ₓD(x)‖². `view` is what D sees of the reals (their augmentation; identity by default): R1 takes the
 *  gradient with respect to the un-augmented images, through it (as StyleGAN2-ADA does). */
function logisticLoss(
  d: Discriminator,
  fake: tf.Tensor4D,
  real: tf.Tensor4D,
  r1Weight: tf.Tensor | null,
  view: (x: tf.Tensor4D) => tf.Tensor4D = (x) => x,
  labels: { fake?: tf.Tensor2D; real?: tf.Tensor2D } = {},
): tf.Scalar {
  return tf.tidy(() => {
    const onReal = d.forward(view(real), { labels: labels.real });
    let loss = tf.add(tf.mean(tf.softplus(d.logits(fake, labels.fake))), tf.mean(tf.softplus(tf.neg(onReal.logits)))) as tf.Scalar;
    // The auxiliary label regression on the reals (conditional GAN with a label head).
    if (onReal.labelPred && labels.real) loss = tf.add(loss, labelRegression(d, onReal.labelPred, labels.real)) as tf.Scalar;
    if (r1Weight) {
      // Exact R1: the inner gradient with respect to the images only; twice differentiable through D.
      const gx = tf.grad((x: tf.Tensor) => tf.sum(d.logits(view(x as tf.Tensor4D), labels.real)))(real);
      loss = tf.add(loss, tf.mean(tf.mul(r1Weight, tf.sum(tf.square(gx), [1, 2, 3])))) as tf.Scalar;
    }
    return loss;
  });
}

/** λ · mean (predicted − given labels)², the auxiliary label regression of a conditional GAN. */
function labelRegression(d: Discriminator, predicted: tf.Tensor2D, given: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(tf.square(tf.sub(predicted, given))), d.config.labelLossWeight) as tf.Scalar);
}

/** D's loss (and the low-resolution D's, on the same images downsampled, with R1 weighted by (side/R)², as
 *  StyleGAN2-ADA's γ ∝ resolution² heuristic scales it). */
function discriminatorLoss({ g, d, lowD }: GanNets, inputs: Record<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const real = inputs.images as tf.Tensor4D;
    const fake = fakesFrom(g, inputs, 'd');
    const r1On = (inputs.r1.dataSync() as Float32Array).some((v) => v !== 0);
    const labels = { fake: labelsOf(inputs, 'dC'), real: labelsOf(inputs, 'labels') };
    if (hasAugment(inputs, 'r')) {
      return logisticLoss(d, applyAugment(fake, inputs, 'd'), real, r1On ? inputs.r1 : null, (x) => applyAugment(x, inputs, 'r'), labels);
    }
    let loss = logisticLoss(d, fake, real, r1On ? inputs.r1 : null, undefined, labels);
    if (lowD) {
      const side = lowD.config.resolution;
      const r1Low = r1On ? tf.mul(inputs.r1, (side / d.config.resolution) ** 2) : null;
      loss = tf.add(loss, logisticLoss(lowD, downsampleTo(fake, side), downsampleTo(real, side), r1Low)) as tf.Scalar;
    }
    return loss;
  });
}

/** G's non-saturating loss (summed over both discriminators when there are two). */
function generatorLoss({ g, d, lowD }: GanNets, inputs: Record<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const fake = fakesFrom(g, inputs, 'g');
    const labels = labelsOf(inputs, 'gC');
    const out = d.forward(hasAugment(inputs, 'g') ? applyAugment(fake, inputs, 'g') : fake, { labels });
    let loss = tf.mean(tf.softplus(tf.neg(out.logits))) as tf.Scalar;
    if (out.labelPred && labels) loss = tf.add(loss, labelRegression(d, out.labelPred, labels)) as tf.Scalar;
    if (lowD) loss = tf.add(loss, tf.mean(tf.softplus(tf.neg(lowD.logits(downsampleTo(fake, lowD.config.resolution)))))) as tf.Scalar;
    return loss;
  });
}

/** The two optimizer phases' replicas: the discriminators' loss (which runs G for the fakes), then G's (which runs
 *  them). */
function ganPhaseReplicas(nets: GanNets): [Replica, Replica] {
  return [
    { variables: [...nets.d.variables(), ...(nets.lowD?.variables() ?? [])], loss: (inputs) => discriminatorLoss(nets, inputs) },
    { variables: nets.g.variables(), loss: (inputs) => generatorLoss(nets, inputs) },
  ];
}

/** The low-resolution discriminator the config asks for (built after G and D from the same Rng stream), or null. */
function lowResDiscriminatorOf(rng: Rng, model: StyleGanConfig): Discriminator | null {
  return model.lowResDiscriminator > 0 ? new Discriminator(rng, { ...model, resolution: model.lowResDiscriminator, lowResDiscriminator: 0 }) : null;
}

/** What a data-parallel worker needs to build its replicas of G and D (the weights are synced from the main thread). */
export interface GanReplicaConfig {
  seed: number;
  model: StyleGanConfig;
}

/** The replica module's entry for data-parallel workers (src/engine/parallel/worker.ts): G and D, phases D then G. */
export function createReplica(config: GanReplicaConfig): PhasedReplica & { generator: Generator; discriminator: Discriminator } {
  const init = new Rng(config.seed);
  const generator = new Generator(init, config.model);
  const discriminator = new Discriminator(init, config.model);
  const lowD = lowResDiscriminatorOf(init, config.model);
  return { phases: ganPhaseReplicas({ g: generator, d: discriminator, lowD }), generator, discriminator };
}

/** Builds the GAN Trainer: decodes the images into memory and builds G, D and the EMA generator in this thread. */
export async function createGanTrainer(options: GanTrainerOptions): Promise<GanTrainer> {
  const { root, split } = resolveImageFolder(options.data);
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new Gan3dError(`batchSize must be a whole number ≥ 1, got ${options.batchSize}.`, 'TRAIN_BAD_OPTION');
  }
  // Before any tensor exists, so that nothing lands on tfjs's default cpu backend.
  await initBackend();
  const requested = styleGanConfig({ ...options.model, batchSize: options.batchSize });
  if (!Number.isInteger(requested.r1Every) || requested.r1Every < 1) throw new Gan3dError(`r1Every must be a whole number ≥ 1, got ${requested.r1Every}.`, 'BAD_CONFIG');
  if (!(requested.r1Gamma >= 0)) throw new Gan3dError(`r1Gamma must be ≥ 0, got ${requested.r1Gamma}.`, 'BAD_CONFIG');
  if (!(requested.emaHalfLifeImages >= 0)) throw new Gan3dError(`emaHalfLifeImages must be ≥ 0, got ${requested.emaHalfLifeImages}.`, 'BAD_CONFIG');

  const dataset = await ImageFolderDataset.load({
    root,
    split,
    size: requested.resolution,
    seed: options.seed,
    flipProbability: options.flipProbability,
    onProgress: options.onLoadProgress,
  });
  // A conditional GAN keeps every training image's labels (params.jsonl) as its label bank.
  const conditional = requested.conditionLabels.length > 0;
  const labelSpecs = conditional ? labelsNamed(requested.conditionLabels) : [];
  const L = labelSpecs.length;
  const imageLabels = conditional ? await readSplitLabels(path.join(root, split), dataset.ids, labelSpecs) : null;
  const model = styleGanConfig({ ...requested, labelBankSize: conditional ? dataset.size : 0 });

  const init = new Rng(options.seed);
  const generator = new Generator(init, model);
  const discriminator = new Discriminator(init, model);
  const lowD = lowResDiscriminatorOf(init, model);
  // The EMA generator starts as a copy of G.
  const ema = new Generator(new Rng(options.seed), model);
  const gVars = generator.variables();
  const emaVars = ema.variables();
  emaVars.forEach((v, i) => v.assign(gVars[i]));
  if (imageLabels) {
    // The bank holds each training image's labels once, mirrored with the data's flip probability (drawn from its own
    // Rng), so that labels drawn from it follow the distribution of the labels of the images D sees.
    const bank = Float32Array.from(imageLabels);
    const bankRng = new Rng((options.seed ^ LABEL_BANK_SALT) >>> 0);
    for (let i = 0; i < dataset.size; i++) if (bankRng.uniform() < dataset.info.flipProbability) mirrorLabels(labelSpecs, bank, i * L);
    tf.tidy(() => {
      generator.labelBank!.assign(tf.tensor2d(bank, [dataset.size, L]));
      ema.labelBank!.assign(generator.labelBank!);
    });
  }

  const r1On = model.r1Gamma > 0;
  const c = r1On ? model.r1Every / (model.r1Every + 1) : 1;
  const [beta1, beta2] = model.adamBetas;
  const emaBeta = model.emaHalfLifeImages > 0 ? Math.pow(0.5, options.batchSize / model.emaHalfLifeImages) : 0;
  const r1Weight = r1On ? (model.r1Gamma / 2) * model.r1Every : 0;

  const sampleSeed = (options.seed ^ SAMPLE_SEED_SALT) >>> 0;
  const sampleRng = new Rng(sampleSeed);
  const n = GRID * GRID;
  const sampleZ = sampleRng.normalArray(n * model.zDim);
  const sampleNoise = ema.noiseShapes(n).map(([, h, w]) => sampleRng.normalArray(n * h * w));
  const sampleLabels = ema.drawLabels(sampleRng, n);

  // augmentProbability came later: a run without augmentation records no such key, so checkpoints written before it
  // existed resume (the loop compares configs exactly) and new ones read the same; absent means 0 everywhere.
  // The same for conditioning (conditionLabels and labelBankSize came later still).
  const { augmentProbability, conditionLabels, labelBankSize, labelLossWeight, labelLrMul, ...recorded } = model;
  const config: GanTrainerConfig = {
    seed: options.seed,
    model: { ...recorded, ...(augmentProbability > 0 ? { augmentProbability } : {}), ...(conditional ? { conditionLabels, labelBankSize, labelLossWeight, labelLrMul } : {}) } as StyleGanConfig,
    data: dataset.info,
    losses: {
      d:
        'softplus(D(G(z))) + softplus(-D(x)) + lazy R1 (r1Gamma/2)·|∇D(x)|²·r1Every every r1Every-th step' +
        (lowD ? `; plus the same for a second D on images box-downsampled to ${model.lowResDiscriminator}² (R1 γ × (${model.lowResDiscriminator}/${model.resolution})²)` : ''),
      g: lowD ? 'softplus(-D(G(z))) + softplus(-Dlow(down(G(z))))' : 'softplus(-D(G(z)))',
      ...(conditional
        ? {
            condition:
              `G(z, c) and D(x, c) with c the ${L} labels ${model.conditionLabels.join(', ')}: each real image's own (mirrored with it), the fakes' drawn from the label bank` +
              (model.labelLossWeight > 0 ? `; plus ${model.labelLossWeight} · mean (labelHead(φ(x)) − c)² in D's loss on the reals and in G's on its fakes` : ''),
          }
        : {}),
      ...(model.augmentProbability > 0
        ? { augment: `DiffAugment (colour, translation, cutout) on every image D sees, each transform with p = ${model.augmentProbability}; R1 through it` }
        : {}),
      r1Gamma: model.r1Gamma,
      r1Every: model.r1Every,
    },
    dAdamScale: c,
    ema: { halfLifeImages: model.emaHalfLifeImages, betaPerStep: emaBeta },
    samples: { rows: GRID, columns: GRID, seed: sampleSeed, psi: model.truncationPsi },
    ...(options.init ? { init: options.init.record } : {}),
  };

  const [dReplica, gReplica] = ganPhaseReplicas({ g: generator, d: discriminator, lowD });
  const replicaConfig: GanReplicaConfig = { seed: options.seed, model };
  const phases: TrainerPhase[] = [
    {
      name: 'D',
      replica: dReplica,
      adam: { learningRate: model.lrD * c, beta1: Math.pow(beta1, c), beta2: Math.pow(beta2, c), epsilon: 1e-8 },
      variableNames: [...[...discriminator.namedVariables().keys()].map((k) => `D/${k}`), ...[...(lowD?.namedVariables().keys() ?? [])].map((k) => `${LOW_D_PREFIX}${k}`)],
    },
    {
      name: 'G',
      replica: gReplica,
      adam: { learningRate: model.lrG, beta1, beta2, epsilon: 1e-8 },
      variableNames: [...generator.namedVariables().keys()].map((k) => `G/${k}`),
    },
  ];
  const buffers = new Map<string, tf.Variable>([
    ...[...ema.namedVariables()].map(([k, v]) => [`G_ema/${k}`, v] as const),
    ...generator.namedBuffers('G/'),
    ...ema.namedBuffers('G_ema/'),
  ]);
  let batches = 0;
  const initialWeights = options.init?.weights
    ? startFrom(options.init.weights, phases, buffers, { g: generator, d: discriminator, lowD }, sourceShapes(options.init.record, model, options.seed))
    : undefined;

  return {
    kind: 'stylegan',
    config,
    generator,
    ema,
    discriminator,
    lowResDiscriminator: lowD,
    phases,
    // Workers build G and D from this module (used when the loop runs more than one thread).
    replicaSpec: { moduleUrl: import.meta.url, config: replicaConfig },
    shardGroupSize: model.mbstdGroupSize,
    buffers,
    examplesPerEpoch: dataset.size,
    ...(initialWeights ? { initialWeights } : {}),

    nextBatch(rng: Rng, batchSize: number): Batch {
      const drawn = { indices: [] as number[], flips: [] as boolean[] };
      const batch = dataset.nextBatch(rng, batchSize, drawn);
      drawLatents(generator, rng, batchSize, 'd', batch);
      drawLatents(generator, rng, batchSize, 'g', batch);
      // StyleGAN2's lazy schedule: R1 on steps 0, k, 2k, ... (0-based).
      const weight = batches % model.r1Every === 0 ? r1Weight : 0;
      batch.r1 = { data: new Float32Array(batchSize).fill(weight), shape: [batchSize] };
      // Drawn after everything else, so a run without augmentation keeps the Rng stream it always had.
      const p = model.augmentProbability;
      if (p > 0) for (const prefix of ['d', 'r', 'g']) drawAugment(rng, batchSize, model.resolution, p, prefix, batch);
      if (imageLabels) {
        const real = new Float32Array(batchSize * L);
        drawn.indices.forEach((index, b) => {
          real.set(imageLabels.subarray(index * L, (index + 1) * L), b * L);
          if (drawn.flips[b]) mirrorLabels(labelSpecs, real, b * L);
        });
        batch.labels = { data: real, shape: [batchSize, L] };
        for (const prefix of ['d', 'g']) batch[`${prefix}C`] = { data: generator.drawLabels(rng, batchSize)!, shape: [batchSize, L] };
      }
      batches++;
      return batch;
    },
    getDataState: () => dataset.getState() as unknown as DataState,
    setDataState: (s) => dataset.setState(s as unknown as EpochIteratorState),
    getState: () => ({ batches }),
    setState(state: unknown) {
      const b = (state as { batches?: unknown } | null)?.batches;
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 0) throw new Gan3dError('The checkpoint\'s GAN trainer state has no batch count.', 'CHECKPOINT_CORRUPT');
      batches = b;
    },

    afterStep(batch: Batch): void {
      tf.tidy(() => {
        // ema = G + β (ema - G)
        emaVars.forEach((v, i) => v.assign(tf.add(gVars[i], tf.mul(tf.sub(v, gVars[i]), emaBeta))));
        const z = batch.gZ;
        const c = batch.gC;
        generator.updateWAvg(generator.mapping(tf.tensor2d(z.data, z.shape as [number, number]), c ? tf.tensor2d(c.data, c.shape as [number, number]) : undefined));
        ema.wAvg.assign(generator.wAvg);
      });
    },

    async makeSampleGrid(): Promise<Uint8Array> {
      const columns: tf.Tensor4D[] = [];
      try {
        for (let col = 0; col < GRID; col++) {
          columns.push(
            tf.tidy(() => {
              const z = tf.tensor2d(sampleZ.subarray(col * GRID * model.zDim, (col + 1) * GRID * model.zDim), [GRID, model.zDim]);
              const noise = ema.noiseShapes(GRID).map(([, h, w], i) => tf.tensor4d(sampleNoise[i].subarray(col * GRID * h * w, (col + 1) * GRID * h * w), [GRID, h, w, 1]));
              const labels = sampleLabels ? tf.tensor2d(sampleLabels.subarray(col * GRID * L, (col + 1) * GRID * L), [GRID, L]) : undefined;
              return ema.generate(z, { psi: model.truncationPsi, noise, labels });
            }),
          );
        }
        return await tileGrid(columns.map((images, col) => ({ name: `column ${col}`, images })));
      } finally {
        tf.dispose(columns);
      }
    },

    dispose(): void {
      generator.dispose();
      ema.dispose();
      discriminator.dispose();
      lowD?.dispose();
    },
  };
}

/** The parameter shapes of a narrower start (`record.widenedFrom`), by checkpoint name (G/…, D/…, Dlow/…), or null
 *  when the fine-tune keeps the start's widths. Built from a throwaway copy of the start's networks. */
function sourceShapes(record: GanInitRecord, model: StyleGanConfig, seed: number): Map<string, number[]> | null {
  if (!record.widenedFrom) return null;
  const from = styleGanConfig({ ...model, ...record.widenedFrom });
  const problem = wideningProblem(from, model);
  if (problem) throw new Gan3dError(`Cannot widen the --init GAN: ${problem}.`, 'BAD_ARGUMENT');
  const rng = new Rng(seed);
  const nets = { g: new Generator(rng, from), d: new Discriminator(rng, from), lowD: lowResDiscriminatorOf(rng, from) };
  try {
    return new Map<string, number[]>([
      ...[...nets.g.namedVariables(), ...nets.g.namedBuffers()].map(([k, v]) => [`G/${k}`, v.shape] as [string, number[]]),
      ...[...nets.d.namedVariables()].map(([k, v]) => [`D/${k}`, v.shape] as [string, number[]]),
      ...[...(nets.lowD?.namedVariables() ?? [])].map(([k, v]) => [`${LOW_D_PREFIX}${k}`, v.shape] as [string, number[]]),
    ]);
  } finally {
    nets.g.dispose();
    nets.d.dispose();
    nets.lowD?.dispose();
  }
}

/** A fine-tune's start: assigns the buffers (G_ema, tracked means) from `weights` and returns the trained variables'
 *  values in the loop's order (the phases' variables, D then G). Every name must be there with its shape, except the
 *  low-resolution D's: a fine-tune may add one (it starts from its initialisation). */
function startFrom(
  weights: Map<string, Float32Array>,
  phases: TrainerPhase[],
  buffers: Map<string, tf.Variable>,
  { g, d, lowD }: GanNets,
  widenFrom: Map<string, number[]> | null,
): Float32Array[] {
  const trained = new Map<string, tf.Variable>([
    ...[...d.namedVariables()].map(([k, v]) => [`D/${k}`, v] as const),
    ...[...(lowD?.namedVariables() ?? [])].map(([k, v]) => [`${LOW_D_PREFIX}${k}`, v] as const),
    ...[...g.namedVariables()].map(([k, v]) => [`G/${k}`, v] as const),
  ]);
  const addsLowD = lowD !== null && ![...weights.keys()].some((k) => k.startsWith(LOW_D_PREFIX));
  // An unconditional start grown into a conditional GAN: the label MLPs start from their initialisation (which
  // computes the unconditional function) and the label bank from the data (already assigned).
  const isConditioning = (name: string) => /^(G|G_ema)\/(label_embed\/|label_bank$)|^D\/label_(proj|head)\//.test(name);
  const addsConditioning = g.labelDim > 0 && ![...weights.keys()].some(isConditioning);
  const take = (name: string, v: tf.Variable): Float32Array => {
    if ((addsLowD && name.startsWith(LOW_D_PREFIX)) || (addsConditioning && isConditioning(name))) return Float32Array.from(v.dataSync() as Float32Array);
    const data = weights.get(name);
    if (!data) throw new Gan3dError(`The --init checkpoint has no "${name}": it is not a GAN of this architecture.`, 'CHECKPOINT_INCOMPATIBLE');
    const oldShape = widenFrom?.get(name.replace(/^G_ema\//, 'G/'));
    if (oldShape) return widenParameter(name, data, oldShape, Float32Array.from(v.dataSync() as Float32Array), v.shape);
    if (data.length !== v.size) throw new Gan3dError(`The --init checkpoint's "${name}" has ${data.length} values, this GAN's ${v.size}: another architecture.`, 'CHECKPOINT_INCOMPATIBLE');
    return data;
  };
  const out = phases.flatMap((p) => (p.variableNames ?? []).map((name) => take(name, trained.get(name)!)));
  for (const [name, v] of buffers) {
    const data = take(name, v);
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
  return out;
}
