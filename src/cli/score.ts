// `gan3d score`: the offline realism score of a folder of generated images against real ones: FID and KID on the
// features of the bundled SynFace feature network (models/features). NOT comparable to Inception FID/KID: compare a
// score only with scores from the same feature network, beside the floor (`--floor <dir>`: two disjoint halves of a
// real folder scored against each other).
import type { Command } from 'commander';
import fs from 'node:fs';
import { Gan3dError } from '../engine/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { KID_DEFAULTS } from '../metrics/kid.js';
import {
  DEFAULT_FEATURES_DIR,
  loadFeatureModel,
  realismFloor,
  scoreFolders,
  type FolderScore,
  type LabelCorrelationGap,
  type LabelSpread,
  type ScoreOptions,
} from '../pipelines/features-bundle.js';

export interface ScoreCommandOptions {
  real?: string;
  fake?: string;
  floor?: string;
  model?: string;
  json?: string;
  force?: boolean;
  kidSubsets?: string;
  kidSubsetSize?: string;
  seed?: string;
  batch?: string;
  limit?: string;
  /** Also print and report each predicted label's spread over the real and the generated images. */
  labels?: boolean;
  /** Not on the command line: where the report goes (default stdout). */
  write?: (text: string) => void;
}

/** What `gan3d score` prints and writes: the score of --real vs --fake, the floor, or both. */
export type ScoreReport = Partial<FolderScore> & { floor?: FolderScore; note: string };

const NOTE = 'features of the SynFace feature network (models/features): not comparable to Inception FID/KID';

function count(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new Gan3dError(`--${name} must be a whole number ≥ ${min}, got "${raw}".`, 'BAD_ARGUMENT');
  return v;
}

function folder(flag: string, dir: string): void {
  if (!fs.existsSync(dir)) throw new Gan3dError(`--${flag} ${dir}: no such folder.`, 'NO_DATA');
  if (!fs.statSync(dir).isDirectory()) throw new Gan3dError(`--${flag} ${dir} is a file: give a folder of PNG images (or a data split with image/).`, 'NO_DATA');
}

function line(label: string, s: FolderScore): string {
  return (
    `${label.padEnd(6)} FID ${s.fid.toFixed(4)}  KID ${s.kid.toExponential(3)} ± ${s.kid_std.toExponential(2)}  ` +
    `(${s.images_real} vs ${s.images_fake} images, ${s.kid_subsets} KID subsets of ${s.kid_subset_size})\n`
  );
}

function labelTable(labels: readonly LabelSpread[]): string {
  const width = Math.max(...labels.map((l) => l.label.length));
  const rows = labels.map(
    (l) =>
      `  ${l.label.padEnd(width)}  real ${l.real_mean.toFixed(3).padStart(6)} ± ${l.real_std.toFixed(3)}  ` +
      `fake ${l.fake_mean.toFixed(3).padStart(6)} ± ${l.fake_std.toFixed(3)}  std ratio ${l.std_ratio.toFixed(2)}`,
  );
  return `Predicted labels (normalised units; a std ratio below 1: the fakes vary that factor less than the reals):\n${rows.join('\n')}\n`;
}

function correlationTable(gaps: readonly LabelCorrelationGap[]): string {
  const rows = gaps.map((g) => `  ${`${g.labels[0]} – ${g.labels[1]}`.padEnd(36)} real ${g.real_corr.toFixed(2).padStart(5)}  fake ${g.fake_corr.toFixed(2).padStart(5)}`);
  return `Label pairs whose correlation differs most (the fakes tie together factors the reals vary apart, or the reverse):\n${rows.join('\n')}\n`;
}

/** The `score` action, callable without commander (tests). */
export async function scoreCommand(opts: ScoreCommandOptions): Promise<ScoreReport> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  if ((opts.real === undefined) !== (opts.fake === undefined)) throw new Gan3dError('Give both --real <dir> and --fake <dir> (or --floor <dir> alone).', 'BAD_ARGUMENT');
  if (opts.real === undefined && opts.floor === undefined) throw new Gan3dError('Say what to score: --real <dir> --fake <dir>, and/or --floor <dir>.', 'BAD_ARGUMENT');
  if (opts.real !== undefined) folder('real', opts.real);
  if (opts.fake !== undefined) folder('fake', opts.fake);
  if (opts.floor !== undefined) folder('floor', opts.floor);
  if (opts.json && !opts.force && fs.existsSync(opts.json)) throw new Gan3dError(`${opts.json} already exists: pass --force to overwrite it.`, 'OUTPUT_EXISTS');
  const options: ScoreOptions = {
    subsets: count('kid-subsets', opts.kidSubsets, 1),
    subsetSize: count('kid-subset-size', opts.kidSubsetSize, 2),
    seed: count('seed', opts.seed, 0),
    batch: count('batch', opts.batch, 1),
    limit: count('limit', opts.limit, 2),
    labels: opts.labels ?? false,
  };
  const loaded = await loadFeatureModel(opts.model ?? DEFAULT_FEATURES_DIR);
  try {
    const report: ScoreReport = { note: NOTE };
    write(`Feature network ${loaded.id} (${loaded.config.featureDim}-d): ${NOTE}.\n`);
    if (opts.real !== undefined && opts.fake !== undefined) {
      const s = await scoreFolders(loaded, opts.real, opts.fake, options);
      Object.assign(report, s);
      write(line('score', s));
      if (s.labels) write(labelTable(s.labels));
      if (s.label_correlations) write(correlationTable(s.label_correlations));
    }
    if (opts.floor !== undefined) {
      const f = await realismFloor(opts.floor, { ...options, model: loaded });
      if (opts.real === undefined) Object.assign(report, f);
      else report.floor = f;
      write(line('floor', f));
    }
    if (opts.json) await writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`, { force: true });
    return report;
  } finally {
    loaded.model.dispose();
  }
}

export function registerScoreCommand(program: Command): void {
  program
    .command('score')
    .description('FID and KID of generated images against real ones on the SynFace feature network (not comparable to Inception FID)')
    .option('--real <dir>', 'folder of real PNG images (or a data split with image/), e.g. data/synface/test')
    .option('--fake <dir>', 'folder of generated PNG images (a `gan3d sample` folder: its grid.png is skipped)')
    .option('--floor <dir>', 'also (or only) score two disjoint halves of this real folder against each other: the floor')
    .option('--model <dir>', 'feature network: bundle, checkpoint or training run', DEFAULT_FEATURES_DIR)
    .option('--json <file>', 'write {fid, kid, kid_std, images_real, images_fake, features_model, …} there')
    .option('--force', 'overwrite --json')
    .option('--kid-subsets <n>', 'KID subsets averaged', String(KID_DEFAULTS.subsets))
    .option('--kid-subset-size <m>', 'KID vectors per subset (fewer when a folder is smaller)', String(KID_DEFAULTS.subsetSize))
    .option('--seed <s>', 'seed of the KID subsets', String(KID_DEFAULTS.seed))
    .option('--batch <b>', 'images per forward pass', '100')
    .option('--limit <n>', 'use at most the first n images of each folder')
    .option('--labels', 'also show the spread of each label the network predicts (pose, light, shape…) over both folders: which factors the fakes under-represent, and the label pairs whose correlation differs most (factors the fakes tie together)')
    .action(async (opts: ScoreCommandOptions) => {
      await scoreCommand(opts);
    });
}
