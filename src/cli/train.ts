// `gan3d train photogeo`: train the photo-geometric autoencoder (Unsup3d) on an image folder with the shared loop.
// `gan3d train gan`: train the 2D StyleGAN2-style prior (D and G phases per step) on an image folder, same loop.
// `gan3d train features`: train the SynFace feature network of the offline FID/KID (labels regression), same loop.
// `gan3d train encoder`: train the GAN-inversion encoder (image → w) on a frozen GAN's samples, same loop.
import type { Command } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listDepthIds } from '../data/depth-folder.js';
import { loadPhotoGeoModel, type LoadedPhotoGeoModel } from '../pipelines/model-bundle.js';
import { Gan3dError } from '../engine/errors.js';
import { defaultWorkerCount } from '../engine/parallel/data-parallel.js';
import {
  PHOTOGEO_WIDTHS,
  createPhotoGeoTrainer,
  savedPhotoGeoSettings,
  widthOverrides,
  type PhotoGeoWidths,
} from '../pipelines/train-photogeo.js';
import type { PhotoGeoOverrides } from '../models/photogeo/config.js';
import { STYLEGAN_WIDTHS, styleGanConfig, type StyleGanConfig } from '../models/stylegan/config.js';
import { sameWidths, wideningProblem } from '../models/stylegan/widen.js';
import { labelsNamed } from '../models/features/labels.js';
import { createGanTrainer, loadGanInit, resolveImageFolder, savedGanSettings, type GanInitRecord } from '../pipelines/train-gan.js';
import { runTraining, type LogLine, type RunResult } from '../train/loop.js';
import type { FeatureNetOverrides } from '../models/features/config.js';
import { createFeaturesTrainer, savedFeaturesSettings } from '../pipelines/train-features.js';
import { exportFeatureBundle } from '../pipelines/features-bundle.js';
import { registerTrainParserCommand } from './train-parser.js';
import type { EncoderOverrides } from '../models/encoder/config.js';
import { loadGanModel } from '../pipelines/gan-bundle.js';
import { DEFAULT_ENCODER_LR, DEFAULT_LAMBDA_IMG, createEncoderTrainer, savedEncoderSettings, type SampleNoise } from '../pipelines/train-encoder.js';

export interface TrainPhotoGeoOptions {
  data: string;
  out: string;
  resume?: boolean;
  force?: boolean;
  steps?: string;
  epochs?: string;
  batch: string;
  seed?: string;
  checkpointEvery: string;
  sampleEvery: string;
  evalEvery: string;
  evalImages: string;
  widths?: string;
  lr?: string;
  lambdaSmooth?: string;
  depthRange?: string;
  init?: string;
  quiet?: boolean;
  /** Not on the command line: model overrides on top of --widths (tests train tiny networks). */
  model?: PhotoGeoOverrides;
  /** Not on the command line: worker threads (default from GAN3D_THREADS / the core count). */
  workers?: number;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
}

function count(name: string, raw: string | undefined, min: 0 | 1): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) {
    throw new Gan3dError(`--${name} must be a whole number ≥ ${min}${min === 0 ? ' (0: never)' : ''}, got "${raw}".`, 'BAD_ARGUMENT');
  }
  return v;
}

async function lastEval(outDir: string): Promise<LogLine | null> {
  try {
    const lines = (await fs.promises.readFile(path.join(outDir, 'log.jsonl'), 'utf8')).trimEnd().split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = JSON.parse(lines[i]) as LogLine;
      if (line.type === 'eval') return line;
    }
  } catch {
    // no log, or a half-written line: nothing to report
  }
  return null;
}

/** The `train photogeo` action, callable without commander (tests). */
export async function trainPhotoGeoCommand(opts: TrainPhotoGeoOptions): Promise<RunResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  // Cheap checks first: decoding the train split takes seconds.
  if (!fs.existsSync(opts.data)) {
    throw new Gan3dError(`--data ${opts.data}: no such folder. Make a dataset with \`gan3d data synface --out ${opts.data}\`.`, 'NO_DATA');
  }
  if (!fs.existsSync(path.join(opts.data, 'train', 'image'))) {
    throw new Gan3dError(`--data ${opts.data}: expected training images in ${path.join(opts.data, 'train', 'image')}/ (the layout \`gan3d data synface\` writes).`, 'NO_DATA');
  }
  if (opts.steps !== undefined && opts.epochs !== undefined) throw new Gan3dError('Give --steps or --epochs, not both.', 'BAD_ARGUMENT');
  if (opts.steps === undefined && opts.epochs === undefined) throw new Gan3dError('Say how long to train: --steps N or --epochs E.', 'BAD_ARGUMENT');
  if (opts.resume && opts.force) throw new Gan3dError('--resume continues a run and --force deletes it: give one of them.', 'BAD_ARGUMENT');
  if (opts.widths !== undefined && !PHOTOGEO_WIDTHS.includes(opts.widths as PhotoGeoWidths)) {
    throw new Gan3dError(`--widths must be one of ${PHOTOGEO_WIDTHS.join(', ')}, got "${opts.widths}".`, 'BAD_ARGUMENT');
  }
  const maxSteps = count('steps', opts.steps, 1);
  const epochs = count('epochs', opts.epochs, 1);
  const batchSize = count('batch', opts.batch, 1)!;
  let seed = count('seed', opts.seed, 0);
  const checkpointEvery = count('checkpoint-every', opts.checkpointEvery, 0)!;
  const sampleEvery = count('sample-every', opts.sampleEvery, 0)!;
  const evalEvery = count('eval-every', opts.evalEvery, 0)!;
  const evalImages = count('eval-images', opts.evalImages, 1)!;
  if (evalEvery > 0) listDepthIds(path.join(opts.data, 'val')); // throws a clear error when val/ has no depth maps

  const outDir = path.resolve(opts.out);
  let lr: number | undefined;
  if (opts.lr !== undefined) {
    lr = Number(opts.lr);
    if (opts.lr.trim() === '' || !Number.isFinite(lr) || lr <= 0) throw new Gan3dError(`--lr must be a positive number, got "${opts.lr}".`, 'BAD_ARGUMENT');
  }
  let lambdaSmooth: number | undefined;
  if (opts.lambdaSmooth !== undefined) {
    lambdaSmooth = Number(opts.lambdaSmooth);
    if (opts.lambdaSmooth.trim() === '' || !Number.isFinite(lambdaSmooth) || lambdaSmooth < 0) {
      throw new Gan3dError(`--lambda-smooth must be a number ≥ 0, got "${opts.lambdaSmooth}".`, 'BAD_ARGUMENT');
    }
  }
  let depthRange: PhotoGeoOverrides = {};
  if (opts.depthRange !== undefined) {
    const parts = opts.depthRange.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
    if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0] > 0 && parts[0] < parts[1])) {
      throw new Gan3dError(`--depth-range must be two depths "min,max" with 0 < min < max, e.g. 0.9,1.1; got "${opts.depthRange}".`, 'BAD_ARGUMENT');
    }
    const [minDepth, maxDepth] = parts;
    // Unsup3d's border depth: 0.7 max + 0.3 min.
    depthRange = { minDepth, maxDepth, borderDepth: 0.7 * maxDepth + 0.3 * minDepth };
  }
  if (opts.init !== undefined && opts.resume) {
    throw new Gan3dError('--init starts a new run from a model; --resume continues a run from its own checkpoint: give one of them.', 'BAD_ARGUMENT');
  }
  const flagged: PhotoGeoOverrides = { ...(lr !== undefined ? { lr } : {}), ...(lambdaSmooth !== undefined ? { lambdaSmooth } : {}), ...depthRange };
  let init: LoadedPhotoGeoModel | undefined;
  let initRecord: { id: string; path: string } | undefined;
  if (opts.init !== undefined) {
    init = await loadPhotoGeoModel(opts.init);
  }
  let model: PhotoGeoOverrides = { ...widthOverrides((opts.widths ?? 'default') as PhotoGeoWidths), ...flagged, ...opts.model };
  if (init) {
    // Fine-tuning keeps the model's own settings unless a flag changes them.
    const { depthNet, albedoNet, lightNet, viewNet, confNet, ...rest } = init.config;
    const widths = opts.widths === undefined ? { depthNet, albedoNet, lightNet, viewNet, confNet } : widthOverrides(opts.widths as PhotoGeoWidths);
    model = { ...rest, ...widths, ...flagged, ...opts.model };
  }
  if (opts.resume) {
    // A resume continues with the run's own seed and model unless they are given again (then they must match).
    const saved = await savedPhotoGeoSettings(outDir);
    if (saved) {
      seed ??= saved.seed;
      initRecord = saved.init;
      if (opts.widths === undefined && opts.model === undefined && Object.keys(flagged).length === 0) model = saved.model;
    }
  } else if (!opts.force) {
    const found = ['log.jsonl', 'checkpoints', 'samples'].filter((f) => fs.existsSync(path.join(outDir, f)));
    if (found.length > 0) {
      throw new Gan3dError(`${outDir} already holds a training run (${found.join(', ')}): pass --resume to continue it or --force to start over.`, 'TRAIN_RUN_EXISTS');
    }
  }
  seed ??= 1;

  if (!opts.quiet) process.stderr.write(`Decoding the training images of ${opts.data} …\n`);
  const trainer = await createPhotoGeoTrainer({ data: opts.data, seed, model, evalImages, init, initRecord });
  init?.model.dispose();
  const shown = (p: string) => {
    const r = path.relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  const rel = shown(outDir);
  write(
    `Training photogeo on ${trainer.config.data.images} images of ${opts.data} (${opts.resume ? 'resuming' : init ? `new run from ${init.id}` : 'new run'}, seed ${seed}, batch ${batchSize}).\n` +
      `Writing to ${rel}/: log.jsonl, samples/, checkpoints/.\n`,
  );
  const result = await runTraining({
    trainer,
    outDir,
    resume: opts.resume,
    force: opts.force,
    maxSteps,
    epochs,
    batchSize,
    seed,
    checkpointEvery,
    sampleEvery,
    evalEvery,
    workers: opts.workers,
    quiet: opts.quiet,
  });
  const ev = await lastEval(outDir);
  write(
    `${result.status === 'completed' ? 'Completed' : 'Interrupted'} at step ${result.step} (epoch ${result.epoch}); ` +
      `checkpoint ${shown(result.checkpoint)}\n` +
      (ev ? `last eval: ${JSON.stringify({ step: ev.step, val_side: ev.val_side, val_mad: ev.val_mad })}\n` : 'no evaluation ran (see --eval-every)\n'),
  );
  return result;
}

export interface TrainGanOptions {
  data: string;
  out: string;
  resume?: boolean;
  force?: boolean;
  steps?: string;
  epochs?: string;
  batch: string;
  seed?: string;
  checkpointEvery: string;
  /** Newest checkpoints kept in checkpoints/ (default 2); older ones are deleted as training goes on. */
  keepCheckpoints?: string;
  sampleEvery: string;
  /** Channel table preset of G and D: default | small (STYLEGAN_WIDTHS). */
  widths?: string;
  /** Training threads, main included (default: GAN3D_THREADS, else the core count capped at 2); 1 = single-threaded. */
  threads?: string;
  /** Fine-tuning: start a new run from this run's (or checkpoint's) G, D, EMA generator and tracked means. */
  init?: string;
  /** Adam learning rate of G and D (default 0.002; a fine-tune may lower it). */
  lr?: string;
  /** Half-life of the EMA generator in images (default 10000). */
  emaHalfLife?: string;
  /** Side of a second discriminator on box-downsampled images (0: none, the default); a fine-tune may add one. */
  lowResD?: string;
  /** DiffAugment probability per transform (0: none, the default). */
  augment?: string;
  /** Conditioning labels, comma-separated groups or label names (e.g. "view,light,expression"); a fine-tune may add it. */
  condition?: string;
  /** Weight of the conditional GAN's auxiliary label regression (default 1 with --condition; 0: the projection D alone). */
  conditionLoss?: string;
  /** Learning-rate multiplier of the label layers (default 1). */
  conditionLrMul?: string;
  quiet?: boolean;
  /** Not on the command line: StyleGAN config overrides (tests train tiny networks). */
  model?: Partial<StyleGanConfig>;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
  /** Not on the command line: stops the run like Ctrl-C (tests). */
  signal?: AbortSignal;
}

function shownPath(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
}

/**
 * Threads of `train gan`: --threads, else GAN3D_THREADS, else the core count capped at 2 (the measured case: the
 * project machine has two cores; give --threads or GAN3D_THREADS to use more).
 */
export function ganThreads(raw: string | undefined): number {
  if (raw !== undefined) return count('threads', raw, 1)!;
  const env = process.env.GAN3D_THREADS;
  if (env !== undefined && env !== '') return defaultWorkerCount() + 1; // validates it
  return Math.min(2, Math.max(1, os.cpus().length));
}

/** `--condition`: comma-separated label groups or names → the label names in FEATURE_LABELS order. */
function conditionLabelsOf(raw: string): string[] {
  const items = raw.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (items.length === 0) throw new Gan3dError(`--condition needs label groups or names, e.g. view,light,expression; got "${raw}".`, 'BAD_ARGUMENT');
  try {
    return labelsNamed(items).map((spec) => spec.name);
  } catch (e) {
    if (e instanceof Gan3dError) throw new Gan3dError(`--condition: ${e.message}`, 'BAD_ARGUMENT');
    throw e;
  }
}

/** The `train gan` action, callable without commander (tests). */
export async function trainGanCommand(opts: TrainGanOptions): Promise<RunResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  // Cheap checks first: decoding the images takes seconds.
  resolveImageFolder(opts.data);
  if (opts.steps !== undefined && opts.epochs !== undefined) throw new Gan3dError('Give --steps or --epochs, not both.', 'BAD_ARGUMENT');
  if (opts.steps === undefined && opts.epochs === undefined) throw new Gan3dError('Say how long to train: --steps N or --epochs E.', 'BAD_ARGUMENT');
  if (opts.resume && opts.force) throw new Gan3dError('--resume continues a run and --force deletes it: give one of them.', 'BAD_ARGUMENT');
  const maxSteps = count('steps', opts.steps, 1);
  const epochs = count('epochs', opts.epochs, 1);
  const batchSize = count('batch', opts.batch, 1)!;
  let seed = count('seed', opts.seed, 0);
  const checkpointEvery = count('checkpoint-every', opts.checkpointEvery, 0)!;
  const keepCheckpoints = count('keep-checkpoints', opts.keepCheckpoints, 1);
  const sampleEvery = count('sample-every', opts.sampleEvery, 0)!;
  const threads = ganThreads(opts.threads);

  let widths: Record<number, number> | undefined;
  if (opts.widths !== undefined) {
    if (!Object.hasOwn(STYLEGAN_WIDTHS, opts.widths)) {
      throw new Gan3dError(`--widths must be one of ${Object.keys(STYLEGAN_WIDTHS).join(', ')}, got "${opts.widths}".`, 'BAD_ARGUMENT');
    }
    widths = STYLEGAN_WIDTHS[opts.widths as keyof typeof STYLEGAN_WIDTHS];
  }
  const outDir = path.resolve(opts.out);
  if (opts.init !== undefined && opts.resume) {
    throw new Gan3dError('--init starts a new run from a GAN checkpoint; --resume continues a run from its own checkpoint: give one of them.', 'BAD_ARGUMENT');
  }
  let lr: number | undefined;
  if (opts.lr !== undefined) {
    lr = Number(opts.lr);
    if (opts.lr.trim() === '' || !Number.isFinite(lr) || lr <= 0) throw new Gan3dError(`--lr must be a positive number, got "${opts.lr}".`, 'BAD_ARGUMENT');
  }
  const emaHalfLife = count('ema-half-life', opts.emaHalfLife, 0);
  const lowResD = count('low-res-d', opts.lowResD, 0);
  let augment: number | undefined;
  if (opts.augment !== undefined) {
    augment = Number(opts.augment);
    if (opts.augment.trim() === '' || !Number.isFinite(augment) || augment < 0 || augment > 1) {
      throw new Gan3dError(`--augment must be a probability in [0, 1], got "${opts.augment}".`, 'BAD_ARGUMENT');
    }
  }
  const condition = opts.condition === undefined ? undefined : conditionLabelsOf(opts.condition);
  const tuned: Partial<StyleGanConfig> = {
    ...(lr !== undefined ? { lrG: lr, lrD: lr } : {}),
    ...(emaHalfLife !== undefined ? { emaHalfLifeImages: emaHalfLife } : {}),
    ...(lowResD !== undefined ? { lowResDiscriminator: lowResD } : {}),
    ...(augment !== undefined ? { augmentProbability: augment } : {}),
  };
  let conditionLoss: number | undefined;
  if (opts.conditionLoss !== undefined) {
    conditionLoss = Number(opts.conditionLoss);
    if (opts.conditionLoss.trim() === '' || !Number.isFinite(conditionLoss) || conditionLoss < 0) {
      throw new Gan3dError(`--condition-loss must be a number ≥ 0, got "${opts.conditionLoss}".`, 'BAD_ARGUMENT');
    }
  }
  let conditionLrMul: number | undefined;
  if (opts.conditionLrMul !== undefined) {
    conditionLrMul = Number(opts.conditionLrMul);
    if (opts.conditionLrMul.trim() === '' || !Number.isFinite(conditionLrMul) || conditionLrMul <= 0) {
      throw new Gan3dError(`--condition-lr-mul must be a positive number, got "${opts.conditionLrMul}".`, 'BAD_ARGUMENT');
    }
  }
  const conditioned: Partial<StyleGanConfig> = {
    ...(conditionLrMul !== undefined ? { labelLrMul: conditionLrMul } : {}),
    ...(condition ? { conditionLabels: condition, labelLossWeight: conditionLoss ?? 1 } : {}),
    ...(!condition && conditionLoss !== undefined ? { labelLossWeight: conditionLoss } : {}),
  };
  let model: Partial<StyleGanConfig> = { ...(widths ? { generatorChannels: widths, discriminatorChannels: widths } : {}), ...tuned, ...conditioned, ...opts.model };
  let init: { record: GanInitRecord; weights?: Map<string, Float32Array> } | undefined;
  if (opts.resume) {
    // A resume continues with the run's own seed and model unless they are given again (then they must match).
    const saved = await savedGanSettings(outDir);
    if (saved) {
      seed ??= saved.seed;
      if (widths && JSON.stringify(saved.model.generatorChannels) !== JSON.stringify({ ...saved.model.generatorChannels, ...widths })) {
        throw new Gan3dError(`${outDir} was trained with other widths: resume without --widths, or start a new run with --force.`, 'BAD_ARGUMENT');
      }
      for (const [k, v] of Object.entries(tuned) as [keyof StyleGanConfig, number][]) {
        if ((saved.model[k] ?? 0) !== v) throw new Gan3dError(`${outDir} was trained with ${k} ${String(saved.model[k] ?? 0)}: resume without --lr/--ema-half-life/--low-res-d/--augment (or with the same), or start a new run.`, 'BAD_ARGUMENT');
      }
      if (conditionLrMul !== undefined && conditionLrMul !== (saved.model.labelLrMul ?? 1)) {
        throw new Gan3dError(`${outDir} was trained with labelLrMul ${saved.model.labelLrMul ?? 1}: resume without --condition-lr-mul (or with the same), or start a new run.`, 'BAD_ARGUMENT');
      }
      if (conditionLoss !== undefined && conditionLoss !== (saved.model.labelLossWeight ?? 0)) {
        throw new Gan3dError(`${outDir} was trained with labelLossWeight ${saved.model.labelLossWeight ?? 0}: resume without --condition-loss (or with the same), or start a new run.`, 'BAD_ARGUMENT');
      }
      if (condition && JSON.stringify(condition) !== JSON.stringify(saved.model.conditionLabels ?? [])) {
        throw new Gan3dError(`${outDir} was trained ${saved.model.conditionLabels?.length ? `conditional on ${saved.model.conditionLabels.join(',')}` : 'unconditional'}: resume without --condition (or with the same labels), or start a new run.`, 'BAD_ARGUMENT');
      }
      if (opts.model === undefined) model = saved.model;
      if (saved.init) init = { record: saved.init };
      if (saved.model.batchSize !== batchSize) {
        throw new Gan3dError(`${outDir} was trained with --batch ${saved.model.batchSize}: resume with that batch size, or start a new run with --force.`, 'BAD_ARGUMENT');
      }
    }
  } else if (!opts.force) {
    const found = ['log.jsonl', 'checkpoints', 'samples'].filter((f) => fs.existsSync(path.join(outDir, f)));
    if (found.length > 0) {
      throw new Gan3dError(`${outDir} already holds a training run (${found.join(', ')}): pass --resume to continue it or --force to start over.`, 'TRAIN_RUN_EXISTS');
    }
  }
  seed ??= 1;
  if (opts.init !== undefined) {
    const start = await loadGanInit(opts.init);
    model = { ...start.model, ...(widths ? { generatorChannels: widths, discriminatorChannels: widths } : {}), ...tuned, ...conditioned, ...opts.model };
    const had = start.model.conditionLabels ?? [];
    if (had.length > 0 && condition && JSON.stringify(had) !== JSON.stringify(condition)) {
      throw new Gan3dError(`--init ${opts.init} is conditional on ${had.join(',')}: a fine-tune keeps its labels (omit --condition).`, 'BAD_ARGUMENT');
    }
    if (had.length > 0 && conditionLrMul !== undefined && conditionLrMul !== (start.model.labelLrMul ?? 1)) {
      // The multiplier is part of how the label layers' weights are stored (equalized learning rate).
      throw new Gan3dError(`--init ${opts.init} has label layers stored for --condition-lr-mul ${start.model.labelLrMul ?? 1}: a fine-tune keeps it.`, 'BAD_ARGUMENT');
    }
    // --widths wider than the start's grows it (same function at step 0, src/models/stylegan/widen.ts).
    const from = styleGanConfig(start.model);
    const to = styleGanConfig(model);
    const problem = wideningProblem(from, to);
    if (problem) throw new Gan3dError(`--init ${opts.init} --widths ${opts.widths ?? ''}: ${problem}.`, 'BAD_ARGUMENT');
    const widenedFrom = sameWidths(from, to) ? undefined : { generatorChannels: from.generatorChannels, discriminatorChannels: from.discriminatorChannels };
    init = { record: { ...start.record, ...(widenedFrom ? { widenedFrom } : {}) }, weights: start.weights };
  }

  if (!opts.quiet) process.stderr.write(`Decoding the training images of ${opts.data} …\n`);
  const trainer = await createGanTrainer({ data: opts.data, seed, batchSize, model, init });
  if (init) init.weights = undefined; // (the trainer holds them now)
  try {
    const c = trainer.config.model;
    write(
      `Training the StyleGAN prior (${c.resolution}×${c.resolution}, G ${trainer.generator.parameterCount()} and D ${trainer.discriminator.parameterCount()} parameters` +
        (trainer.lowResDiscriminator ? `, ${trainer.lowResDiscriminator.parameterCount()} in the ${c.lowResDiscriminator}×${c.lowResDiscriminator} D` : '') +
        ') ' +
        `on ${trainer.config.data.images} images of ${opts.data} (${opts.resume ? 'resuming' : init ? `new run from ${shownPath(init.record.checkpoint)}` : 'new run'}, seed ${seed}, batch ${batchSize}, ` +
        `lr ${c.lrG}, EMA half-life ${c.emaHalfLifeImages} images, ` +
        (c.augmentProbability > 0 ? `DiffAugment p ${c.augmentProbability}, ` : '') +
        (c.conditionLabels?.length ? `conditional on ${c.conditionLabels.join(', ')}, ` : '') +
        `${threads === 1 ? 'single-threaded' : `${threads} threads`}).\n` +
        `Writing to ${shownPath(outDir)}/: log.jsonl, samples/, checkpoints/.\n`,
    );
    // Threads share the batch by whole minibatch-std groups: with fewer groups than threads some idle.
    const groups = batchSize / Math.min(c.mbstdGroupSize, batchSize);
    if (threads > 1 && groups < threads) {
      write(`Note: batch ${batchSize} holds ${Math.floor(groups)} minibatch-std group(s) of ${c.mbstdGroupSize}, which stay whole, so only ${Math.max(1, Math.floor(groups))} of the ${threads} threads compute.\n`);
    }
    // Measured: the threads meet twice per step, so on a machine already busy they wait for each other and a step
    // can take longer than on one thread (src/pipelines/train-gan.ts, Speed).
    const load = os.loadavg()[0];
    if (threads > 1 && load > os.cpus().length - 0.5) {
      write(`Note: the machine is busy (load ${load.toFixed(1)} on ${os.cpus().length} cores); ${threads} threads may train slower than --threads 1 here.\n`);
    }
    const result = await runTraining({
      trainer,
      outDir,
      resume: opts.resume,
      force: opts.force,
      maxSteps,
      epochs,
      batchSize,
      seed,
      checkpointEvery,
      ...(keepCheckpoints !== undefined ? { keepCheckpoints } : {}),
      sampleEvery,
      workers: threads - 1,
      quiet: opts.quiet,
      signal: opts.signal,
    });
    write(`${result.status === 'completed' ? 'Completed' : 'Interrupted'} at step ${result.step} (epoch ${result.epoch}); checkpoint ${shownPath(result.checkpoint)}\n`);
    return result;
  } finally {
    trainer.dispose();
  }
}

export interface TrainFeaturesOptions {
  data: string;
  out: string;
  resume?: boolean;
  force?: boolean;
  steps?: string;
  epochs?: string;
  batch: string;
  seed?: string;
  checkpointEvery: string;
  evalEvery: string;
  evalImages: string;
  widths?: string;
  featureDim?: string;
  lr?: string;
  /** Write the trained network as a bundle into this folder when the run completes. */
  export?: string;
  exportForce?: boolean;
  quiet?: boolean;
  /** Not on the command line: model overrides (tests train tiny networks). */
  model?: FeatureNetOverrides;
  /** Not on the command line: worker threads (default from GAN3D_THREADS / the core count). */
  workers?: number;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
}

/** The `train features` action, callable without commander (tests). */
export async function trainFeaturesCommand(opts: TrainFeaturesOptions): Promise<RunResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  for (const need of [path.join('train', 'image'), path.join('train', 'params.jsonl')]) {
    if (!fs.existsSync(path.join(opts.data, need))) {
      throw new Gan3dError(`--data ${opts.data}: expected ${path.join(opts.data, need)} (a SynFace dataset, as \`gan3d data synface\` writes).`, 'NO_DATA');
    }
  }
  if (opts.steps !== undefined && opts.epochs !== undefined) throw new Gan3dError('Give --steps or --epochs, not both.', 'BAD_ARGUMENT');
  if (opts.steps === undefined && opts.epochs === undefined) throw new Gan3dError('Say how long to train: --steps N or --epochs E.', 'BAD_ARGUMENT');
  if (opts.resume && opts.force) throw new Gan3dError('--resume continues a run and --force deletes it: give one of them.', 'BAD_ARGUMENT');
  const maxSteps = count('steps', opts.steps, 1);
  const epochs = count('epochs', opts.epochs, 1);
  const batchSize = count('batch', opts.batch, 1)!;
  let seed = count('seed', opts.seed, 0);
  const checkpointEvery = count('checkpoint-every', opts.checkpointEvery, 0)!;
  const evalEvery = count('eval-every', opts.evalEvery, 0)!;
  const evalImages = count('eval-images', opts.evalImages, 1)!;
  if (evalEvery > 0 && !fs.existsSync(path.join(opts.data, 'val', 'params.jsonl'))) {
    throw new Gan3dError(`--eval-every needs a labelled val split: ${path.join(opts.data, 'val', 'params.jsonl')} is missing (or pass --eval-every 0).`, 'NO_DATA');
  }
  const flagged: FeatureNetOverrides = {};
  if (opts.widths !== undefined) {
    const w = opts.widths.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
    if (w.length !== 4 || !w.every((x) => Number.isInteger(x) && x >= 1)) {
      throw new Gan3dError(`--widths must be four whole numbers "a,b,c,d" (the stride-2 stages), got "${opts.widths}".`, 'BAD_ARGUMENT');
    }
    flagged.widths = w as [number, number, number, number];
  }
  if (opts.featureDim !== undefined) flagged.featureDim = count('feature-dim', opts.featureDim, 1);
  if (opts.lr !== undefined) {
    const lr = Number(opts.lr);
    if (opts.lr.trim() === '' || !Number.isFinite(lr) || lr <= 0) throw new Gan3dError(`--lr must be a positive number, got "${opts.lr}".`, 'BAD_ARGUMENT');
    flagged.lr = lr;
  }
  const outDir = path.resolve(opts.out);
  let model: FeatureNetOverrides = { ...flagged, ...opts.model };
  if (opts.resume) {
    const saved = await savedFeaturesSettings(outDir);
    if (saved) {
      seed ??= saved.seed;
      if (opts.model === undefined && Object.keys(flagged).length === 0) model = saved.model;
    }
  } else if (!opts.force) {
    const found = ['log.jsonl', 'checkpoints', 'samples'].filter((f) => fs.existsSync(path.join(outDir, f)));
    if (found.length > 0) {
      throw new Gan3dError(`${outDir} already holds a training run (${found.join(', ')}): pass --resume to continue it or --force to start over.`, 'TRAIN_RUN_EXISTS');
    }
  }
  if (opts.export !== undefined && !opts.exportForce && fs.existsSync(path.join(opts.export, 'model.json'))) {
    throw new Gan3dError(`--export ${opts.export} already holds a model bundle: pass --export-force to replace it.`, 'MODEL_EXISTS');
  }
  seed ??= 1;

  if (!opts.quiet) process.stderr.write(`Decoding the training images and labels of ${opts.data} …\n`);
  const trainer = await createFeaturesTrainer({ data: opts.data, seed, model, evalImages });
  const c = trainer.config.model;
  write(
    `Training the feature network (widths ${c.widths.join(',')}, ${c.featureDim}-d features, ${c.labels.length} labels) on ${trainer.config.data.images} images ` +
      `of ${opts.data} (${opts.resume ? 'resuming' : 'new run'}, seed ${seed}, batch ${batchSize}).\nWriting to ${shownPath(outDir)}/: log.jsonl, checkpoints/.\n`,
  );
  const result = await runTraining({
    trainer,
    outDir,
    resume: opts.resume,
    force: opts.force,
    maxSteps,
    epochs,
    batchSize,
    seed,
    checkpointEvery,
    evalEvery,
    workers: opts.workers,
    quiet: opts.quiet,
  });
  const ev = await lastEval(outDir);
  write(
    `${result.status === 'completed' ? 'Completed' : 'Interrupted'} at step ${result.step} (epoch ${result.epoch}); checkpoint ${shownPath(result.checkpoint)}\n` +
      (ev ? `last eval: ${JSON.stringify({ step: ev.step, val_r2: ev.val_r2, val_mae: ev.val_mae })}\n` : 'no evaluation ran (see --eval-every)\n'),
  );
  if (opts.export !== undefined && result.status === 'completed') {
    const b = await exportFeatureBundle(result.checkpoint, opts.export, { force: opts.exportForce });
    write(`Exported ${b.id} (${b.parameters} parameters, ${(b.bytes / 1e6).toFixed(2)} MB) to ${shownPath(path.resolve(b.dir))}/\n`);
  }
  return result;
}

export interface TrainEncoderOptions {
  /** The GAN to invert: bundle, checkpoint or run folder (a resume defaults to the one the run was trained with). */
  gan?: string;
  out: string;
  resume?: boolean;
  force?: boolean;
  steps?: string;
  batch: string;
  seed?: string;
  lr?: string;
  lambdaImg?: string;
  truncation?: string;
  noise?: string;
  widths?: string;
  checkpointEvery: string;
  sampleEvery: string;
  evalEvery: string;
  evalSamples?: string;
  quiet?: boolean;
  /** Not on the command line: encoder overrides (tests train tiny networks). */
  model?: EncoderOverrides;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
  /** Not on the command line: stops the run like Ctrl-C (tests). */
  signal?: AbortSignal;
}

function positiveNumber(flag: string, raw: string | undefined, allowZero: boolean, max = Infinity): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (allowZero ? v < 0 : v <= 0) || v > max) {
    throw new Gan3dError(`--${flag} must be a number ${allowZero ? '≥ 0' : '> 0'}${max < Infinity ? ` and ≤ ${max}` : ''}, got "${raw}".`, 'BAD_ARGUMENT');
  }
  return v;
}

/** The `train encoder` action, callable without commander (tests). */
export async function trainEncoderCommand(opts: TrainEncoderOptions): Promise<RunResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  if (opts.steps === undefined) throw new Gan3dError('Say how long to train: --steps N (samples are generated afresh every step, so there are no epochs).', 'BAD_ARGUMENT');
  if (opts.resume && opts.force) throw new Gan3dError('--resume continues a run and --force deletes it: give one of them.', 'BAD_ARGUMENT');
  const maxSteps = count('steps', opts.steps, 1);
  const batchSize = count('batch', opts.batch, 1)!;
  let seed = count('seed', opts.seed, 0);
  const checkpointEvery = count('checkpoint-every', opts.checkpointEvery, 0)!;
  const sampleEvery = count('sample-every', opts.sampleEvery, 0)!;
  const evalEvery = count('eval-every', opts.evalEvery, 0)!;
  let evalSamples = count('eval-samples', opts.evalSamples, 1);
  let lr = positiveNumber('lr', opts.lr, false);
  let lambdaImg = positiveNumber('lambda-img', opts.lambdaImg, true);
  let psi = positiveNumber('truncation', opts.truncation, true, 2);
  let noise: SampleNoise | undefined;
  if (opts.noise !== undefined) {
    if (opts.noise !== 'random' && opts.noise !== 'none') throw new Gan3dError(`--noise must be random or none, got "${opts.noise}".`, 'BAD_ARGUMENT');
    noise = opts.noise;
  }
  let model: EncoderOverrides = { ...opts.model };
  if (opts.widths !== undefined) {
    const w = opts.widths.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
    if (!w.every((x) => Number.isInteger(x) && x >= 1)) throw new Gan3dError(`--widths must be whole numbers "a,b,…" (one per stride-2 stage), got "${opts.widths}".`, 'BAD_ARGUMENT');
    model.widths = w;
  }
  const outDir = path.resolve(opts.out);
  let ganSource = opts.gan;
  let savedGanId: string | null = null;
  if (opts.resume) {
    // A resume continues with the run's own GAN, seed and settings unless they are given again (then they must match).
    const saved = await savedEncoderSettings(outDir);
    if (saved) {
      seed ??= saved.seed;
      ganSource ??= saved.ganSource ?? undefined;
      savedGanId = saved.gan.id;
      if (opts.model === undefined && opts.widths === undefined) model = saved.model;
      lr ??= saved.lr;
      lambdaImg ??= saved.lambdaImg;
      psi ??= saved.psi;
      noise ??= saved.noise;
      evalSamples ??= saved.evalSamples;
    }
  } else if (!opts.force) {
    const found = ['log.jsonl', 'checkpoints', 'samples'].filter((f) => fs.existsSync(path.join(outDir, f)));
    if (found.length > 0) {
      throw new Gan3dError(`${outDir} already holds a training run (${found.join(', ')}): pass --resume to continue it or --force to start over.`, 'TRAIN_RUN_EXISTS');
    }
  }
  if (ganSource === undefined) throw new Gan3dError('Say which GAN the encoder inverts: --gan <bundle, checkpoint or run folder> (e.g. models/gan).', 'BAD_ARGUMENT');
  seed ??= 1;

  const gan = await loadGanModel(ganSource);
  try {
    if (savedGanId !== null && savedGanId !== gan.id) {
      throw new Gan3dError(
        `${outDir} was trained against GAN "${savedGanId}", but --gan ${ganSource} is "${gan.id}": resume with that GAN (a checkpoint folder pins it), or start a new run with --force.`,
        'CHECKPOINT_INCOMPATIBLE',
      );
    }
    const trainer = await createEncoderTrainer({ gan, seed, model, lr, lambdaImg, psi, noise, evalSamples });
    try {
      const c = trainer.config;
      write(
        `Training the inversion encoder (${trainer.encoder.parameterCount()} parameters, widths ${c.model.widths.join(',')}) for GAN "${gan.id}" ` +
          `on its samples (ψ ${c.samples.psi}, noise ${c.samples.noise}, λ_img ${c.loss.lambdaImg}, lr ${c.optimizer.learningRate}; ` +
          `${opts.resume ? 'resuming' : 'new run'}, seed ${seed}, batch ${batchSize}, single-threaded).\n` +
          `Writing to ${shownPath(outDir)}/: log.jsonl, samples/, checkpoints/.\n`,
      );
      const result = await runTraining({
        trainer,
        outDir,
        resume: opts.resume,
        force: opts.force,
        maxSteps,
        batchSize,
        seed,
        checkpointEvery,
        sampleEvery,
        evalEvery,
        quiet: opts.quiet,
        signal: opts.signal,
      });
      const ev = await lastEval(outDir);
      write(
        `${result.status === 'completed' ? 'Completed' : 'Interrupted'} at step ${result.step}; checkpoint ${shownPath(result.checkpoint)}\n` +
          (ev
            ? `last eval: ${JSON.stringify({ step: ev.step, eval_w_mse: ev.eval_w_mse, eval_psnr: ev.eval_psnr, eval_psnr_mean_w: ev.eval_psnr_mean_w })}\n`
            : 'no evaluation ran (see --eval-every)\n'),
      );
      return result;
    } finally {
      trainer.dispose();
    }
  } finally {
    gan.dispose();
  }
}

export function registerTrainCommand(program: Command): void {
  const train = program.command('train').description('train models with the shared loop (checkpoints, exact resume, samples, eval)');
  train
    .command('photogeo')
    .description('train the photo-geometric autoencoder (Unsup3d) on <data>/train/image/*.png; SIDE/MAD on <data>/val')
    .requiredOption('--data <dir>', 'dataset root with train/image/ (and val/ for samples and eval), e.g. data/synface')
    .option('--out <dir>', 'run folder: log.jsonl, samples/, checkpoints/', 'runs/photogeo')
    .option('--resume', 'continue the run in --out from its newest checkpoint')
    .option('--force', 'start over in a folder that already holds a run (deletes it)')
    .option('--steps <n>', 'optimizer steps in total')
    .option('--epochs <e>', 'passes over the training images in total (instead of --steps)')
    .option('--batch <b>', 'images per step', '8')
    .option('--seed <s>', 'seed of the weights, data order and flips (default 1; a resume keeps the run\'s)')
    .option('--checkpoint-every <n>', 'steps between checkpoints (0: only at the end)', '1000')
    .option('--sample-every <n>', 'steps between sample grids (0: never)', '500')
    .option('--eval-every <n>', 'steps between SIDE/MAD evaluations on val (0: never)', '1000')
    .option('--eval-images <n>', 'validation images per evaluation', '200')
    .option('--widths <preset>', `network widths: ${PHOTOGEO_WIDTHS.join(' or ')} (default: default; a resume keeps the run's)`)
    .option('--lr <rate>', "Adam learning rate (default 1e-4, Unsup3d's; a resume keeps the run's)")
    .option('--lambda-smooth <w>', 'weight of the depth smoothness term (default 0, as in Unsup3d)')
    .option('--depth-range <min,max>', 'canonical depth range, the scale prior of the shape (default 0.9,1.1, as Unsup3d; a resume keeps the run\'s)')
    .option('--init <model>', 'start a new run from this model (bundle, checkpoint or run folder) with its settings: fine-tuning')
    .option('--quiet', 'no progress bar')
    .action(async (opts: TrainPhotoGeoOptions) => {
      await trainPhotoGeoCommand(opts);
    });
  train
    .command('gan')
    .description('train the 2D StyleGAN2-style prior on a folder of PNGs (D then G each step, lazy R1, EMA generator; data-parallel)')
    .requiredOption('--data <dir>', 'image folder: a split with image/*.png (e.g. data/synface/train) or a dataset root with train/image/')
    .option('--out <dir>', 'run folder: log.jsonl, samples/, checkpoints/', 'runs/gan')
    .option('--resume', 'continue the run in --out from its newest checkpoint')
    .option('--force', 'start over in a folder that already holds a run (deletes it)')
    .option('--steps <n>', 'steps in total (each a D and a G update)')
    .option('--epochs <e>', 'passes over the training images in total (instead of --steps)')
    .option('--batch <b>', 'images per step', '16')
    .option('--seed <s>', 'seed of the weights, data order, latents and flips (default 1; a resume keeps the run\'s)')
    .option('--checkpoint-every <n>', 'steps between checkpoints (0: only at the end)', '1000')
    .option('--keep-checkpoints <n>', 'newest checkpoints kept (default 2; older ones are deleted): keep more to score and export an earlier one')
    .option('--sample-every <n>', 'steps between 8×8 sample grids of the EMA generator (0: never)', '500')
    .option('--widths <preset>', 'channels of G and D: default (G 1.06 M parameters) or small (2.4x faster steps); with --init, wider than the start grows it (same function at step 0, new channels learn)')
    .option('--threads <n>', 'training threads, data-parallel (default: GAN3D_THREADS, else the core count capped at 2; 1: single-threaded)')
    .option('--init <run>', 'start a new run from a GAN run (its newest checkpoint), a checkpoint or a bundle (models/gan: G starts as its EMA generator, Adam afresh): its G, D, EMA generator and widths unless --widths widens them (fine-tuning, e.g. with a lower --lr)')
    .option('--lr <rate>', 'Adam learning rate of G and D (default 0.002; a resume keeps the run\'s)')
    .option('--ema-half-life <images>', 'half-life of the EMA generator in images (default 10000; a resume keeps the run\'s)')
    .option('--low-res-d <side>', 'also train a second discriminator on the images box-downsampled to side×side (e.g. 32; 0: none, the default); --init may add one to a run without')
    .option('--augment <p>', 'DiffAugment on everything D sees (brightness, saturation, contrast, translation, cutout), each with probability p (0: none, the default; a resume keeps the run\'s)')
    .option('--condition <labels>', 'train a conditional GAN on these SynFace labels (comma-separated groups view, light, shape, expression, albedo, or label names such as view.rz; from params.jsonl); --init may add conditioning to an unconditional GAN')
    .option('--condition-loss <weight>', 'a conditional GAN: weight of the auxiliary label regression (a head on D predicts the labels; D fits the reals\' labels, G makes its fakes show theirs); default 1 with --condition, 0 for the projection D alone')
    .option('--condition-lr-mul <k>', 'a conditional GAN: learning-rate multiplier of the label layers, which start from nothing (default 1)')
    .option('--quiet', 'no progress bar')
    .action(async (opts: TrainGanOptions) => {
      await trainGanCommand(opts);
    });
  train
    .command('features')
    .description('train the SynFace feature network of the offline FID/KID (gan3d score): regresses pose, light, shape labels')
    .requiredOption('--data <dir>', 'SynFace root with train/{image,params.jsonl} (and val/ for eval), e.g. data/synface')
    .option('--out <dir>', 'run folder: log.jsonl, checkpoints/', 'runs/features')
    .option('--resume', 'continue the run in --out from its newest checkpoint')
    .option('--force', 'start over in a folder that already holds a run (deletes it)')
    .option('--steps <n>', 'optimizer steps in total')
    .option('--epochs <e>', 'passes over the training images in total (instead of --steps)')
    .option('--batch <b>', 'images per step', '32')
    .option('--seed <s>', 'seed of the weights and data order (default 1; a resume keeps the run\'s)')
    .option('--checkpoint-every <n>', 'steps between checkpoints (0: only at the end)', '500')
    .option('--eval-every <n>', 'steps between label R²/abs-error evaluations on val (0: never)', '250')
    .option('--eval-images <n>', 'validation images per evaluation', '500')
    .option('--widths <a,b,c,d>', 'channels of the four stride-2 stages (default 16,32,64,128)')
    .option('--feature-dim <d>', 'size of the feature vector (default 128)')
    .option('--lr <rate>', 'Adam learning rate (default 1e-3)')
    .option('--export <dir>', 'when the run completes, write the network as a bundle there (e.g. models/features)')
    .option('--export-force', 'replace a bundle already in --export')
    .option('--quiet', 'no progress bar')
    .action(async (opts: TrainFeaturesOptions) => {
      await trainFeaturesCommand(opts);
    });
  train
    .command('encoder')
    .description('train the GAN-inversion encoder (image → w, relative to the GAN\'s mean w) on samples of a frozen GAN (single-threaded)')
    .option('--gan <dir>', 'the GAN to invert: bundle, checkpoint or run folder (a resume keeps the run\'s)')
    .option('--out <dir>', 'run folder: log.jsonl, samples/, checkpoints/', 'runs/encoder')
    .option('--resume', 'continue the run in --out from its newest checkpoint')
    .option('--force', 'start over in a folder that already holds a run (deletes it)')
    .option('--steps <n>', 'optimizer steps in total')
    .option('--batch <b>', 'generated samples per step', '16')
    .option('--seed <s>', 'seed of the weights and the sample latents (default 1; a resume keeps the run\'s)')
    .option('--lr <rate>', `Adam learning rate (default ${DEFAULT_ENCODER_LR})`)
    .option('--lambda-img <w>', `weight of the image L1 |G(E(x)) − x| beside the w MSE (default ${DEFAULT_LAMBDA_IMG}; > 0 runs G forward and backward every step)`)
    .option('--truncation <psi>', 'truncation ψ of the training samples, 0..2 (default 1: none)')
    .option('--noise <mode>', 'per-layer noise of the training samples: random or none (default random)')
    .option('--widths <a,b,…>', 'channels of the stride-2 stages (default 32,64,128,128 at 64×64)')
    .option('--checkpoint-every <n>', 'steps between checkpoints (0: only at the end)', '500')
    .option('--sample-every <n>', 'steps between sample grids: samples | G(E(samples)) (0: never)', '500')
    .option('--eval-every <n>', 'steps between evaluations on fixed samples: w MSE and PSNR (0: never)', '250')
    .option('--eval-samples <n>', 'generated samples in the fixed evaluation set (default 64)')
    .option('--quiet', 'no progress bar')
    .action(async (opts: TrainEncoderOptions) => {
      await trainEncoderCommand(opts);
    });
  registerTrainParserCommand(train);
}
