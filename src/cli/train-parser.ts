// `gan3d train parser`: train the object-mask parser (GAN2Shape's BiSeNet stand-in, src/models/parser) on SynFace's
// foreground masks with the shared loop, and optionally export it as a bundle (models/parser).
import type { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { Gan3dError } from '../engine/errors.js';
import type { ParserOverrides } from '../models/parser/config.js';
import { exportParserBundle } from '../pipelines/parser-bundle.js';
import { createParserTrainer, savedParserSettings } from '../pipelines/train-parser.js';
import { runTraining, type LogLine, type RunResult } from '../train/loop.js';

export interface TrainParserOptions {
  data: string;
  out: string;
  resume?: boolean;
  force?: boolean;
  steps?: string;
  epochs?: string;
  batch: string;
  seed?: string;
  lr?: string;
  widths?: string;
  checkpointEvery: string;
  evalEvery: string;
  evalImages: string;
  /** Write the trained parser as a bundle into this folder when the run completes. */
  export?: string;
  exportForce?: boolean;
  quiet?: boolean;
  /** Not on the command line: model overrides (tests train tiny networks). */
  model?: ParserOverrides;
  /** Not on the command line: use only the first N training images (tests). */
  trainImages?: number;
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

function shownPath(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
}

async function lastEval(outDir: string): Promise<LogLine | null> {
  try {
    const lines = (await fs.promises.readFile(path.join(outDir, 'log.jsonl'), 'utf8')).trimEnd().split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = JSON.parse(lines[i]) as LogLine;
      if (line.type === 'eval') return line;
    }
  } catch {
    // no log, or a half-written last line: nothing to report
  }
  return null;
}

/** The `train parser` action, callable without commander (tests). */
export async function trainParserCommand(opts: TrainParserOptions): Promise<RunResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  for (const need of [path.join('train', 'image'), path.join('train', 'mask')]) {
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
  if (evalEvery > 0 && !fs.existsSync(path.join(opts.data, 'val', 'mask'))) {
    throw new Gan3dError(`--eval-every needs a val split with masks: ${path.join(opts.data, 'val', 'mask')} is missing (or pass --eval-every 0).`, 'NO_DATA');
  }
  const flagged: ParserOverrides = {};
  if (opts.widths !== undefined) {
    const w = opts.widths.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
    if (w.length !== 4 || !w.every((x) => Number.isInteger(x) && x >= 1)) {
      throw new Gan3dError(`--widths must be four whole numbers "a,b,c,d" (channels at 64, 32, 16, 8 px), got "${opts.widths}".`, 'BAD_ARGUMENT');
    }
    flagged.widths = w as [number, number, number, number];
  }
  if (opts.lr !== undefined) {
    const lr = Number(opts.lr);
    if (opts.lr.trim() === '' || !Number.isFinite(lr) || lr <= 0) throw new Gan3dError(`--lr must be a positive number, got "${opts.lr}".`, 'BAD_ARGUMENT');
    flagged.lr = lr;
  }
  const outDir = path.resolve(opts.out);
  let model: ParserOverrides = { ...flagged, ...opts.model };
  if (opts.resume) {
    const saved = await savedParserSettings(outDir);
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

  if (!opts.quiet) process.stderr.write(`Decoding the training images and masks of ${opts.data} …\n`);
  const trainer = await createParserTrainer({ data: opts.data, seed, model, evalImages, trainImages: opts.trainImages });
  const c = trainer.config.model;
  write(
    `Training the object-mask parser (widths ${c.widths.join(',')}) on ${trainer.config.data.images} images of ${opts.data} ` +
      `(${opts.resume ? 'resuming' : 'new run'}, seed ${seed}, batch ${batchSize}).\nWriting to ${shownPath(outDir)}/: log.jsonl, checkpoints/.\n`,
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
      (ev ? `last eval: ${JSON.stringify({ step: ev.step, val_iou: ev.val_iou, val_iou_min: ev.val_iou_min, val_accuracy: ev.val_accuracy })}\n` : 'no evaluation ran (see --eval-every)\n'),
  );
  if (opts.export !== undefined && result.status === 'completed') {
    const b = await exportParserBundle(result.checkpoint, opts.export, { force: opts.exportForce });
    write(`Exported ${b.id} (${b.parameters} parameters, ${(b.bytes / 1e6).toFixed(2)} MB) to ${shownPath(path.resolve(b.dir))}/\n`);
  }
  return result;
}

/** Adds `parser` under `gan3d train`. */
export function registerTrainParserCommand(train: Command): void {
  train
    .command('parser')
    .description('train the object-mask parser (the mask GAN2Shape\'s ellipsoid prior is built from) on SynFace\'s masks')
    .requiredOption('--data <dir>', 'SynFace root with train/{image,mask} (and val/ for eval), e.g. data/synface')
    .option('--out <dir>', 'run folder: log.jsonl, checkpoints/', 'runs/parser')
    .option('--resume', 'continue the run in --out from its newest checkpoint')
    .option('--force', 'start over in a folder that already holds a run (deletes it)')
    .option('--steps <n>', 'optimizer steps in total')
    .option('--epochs <e>', 'passes over the training images in total (instead of --steps)')
    .option('--batch <b>', 'images per step', '16')
    .option('--seed <s>', 'seed of the weights, data order and flips (default 1; a resume keeps the run\'s)')
    .option('--lr <rate>', 'Adam learning rate (default 2e-3)')
    .option('--widths <a,b,c,d>', 'channels at 64, 32, 16 and 8 px (default 8,16,32,64)')
    .option('--checkpoint-every <n>', 'steps between checkpoints (0: only at the end)', '250')
    .option('--eval-every <n>', 'steps between IoU evaluations on val (0: never)', '250')
    .option('--eval-images <n>', 'validation images per evaluation', '500')
    .option('--export <dir>', 'when the run completes, write the parser as a bundle there (e.g. models/parser)')
    .option('--export-force', 'replace a bundle already in --export')
    .option('--quiet', 'no progress bar')
    .action(async (opts: TrainParserOptions) => {
      await trainParserCommand(opts);
    });
}
