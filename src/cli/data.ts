// `gan3d data synface` (procedural faces with exact ground truth) and `gan3d data contact-sheet` (look at a dataset).
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import * as path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { contactSheet } from '../data/synface/contact-sheet.js';
import { SPLITS, type SplitFractions, generateSynface } from '../data/synface/dataset.js';
import { SYNFACE_DEFAULTS, synfaceConfig } from '../data/synface/params.js';
import { writeFileAtomic } from '../io/atomic-write.js';

function wholeNumber(name: string, raw: string, lo: number, hi: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new Gan3dError(`--${name} must be a whole number in [${lo}, ${hi}], got "${raw}".`, 'BAD_ARGUMENT');
  }
  return v;
}

function realNumber(name: string, raw: string, lo: number, hi: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < lo || v > hi) {
    throw new Gan3dError(`--${name} must be a number in [${lo}, ${hi}], got "${raw}".`, 'BAD_ARGUMENT');
  }
  return v;
}

function fractions(raw: string): SplitFractions {
  const parts = raw.split(',').map((p) => Number(p));
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p) || p < 0) || Math.abs(parts[0] + parts[1] + parts[2] - 1) > 1e-6) {
    throw new Gan3dError(`--splits must be three fractions train,val,test that add up to 1 (e.g. 0.8,0.1,0.1), got "${raw}".`, 'BAD_ARGUMENT');
  }
  return { train: parts[0], val: parts[1], test: parts[2] };
}

interface SynfaceOptions {
  n: string;
  size: string;
  seed: string;
  out: string;
  force?: boolean;
  workers: string;
  batch: string;
  splits: string;
  yaw: string;
  pitch: string;
  roll: string;
  asymmetry: string;
  progress: boolean;
}

interface SheetOptions {
  output: string;
  kind: string;
  split: string;
  count: string;
  cols: string;
  scale: string;
  stretch?: boolean;
  force?: boolean;
}

export function registerDataCommand(program: Command): void {
  const data = program.command('data').description('procedural datasets with ground truth');
  const v = SYNFACE_DEFAULTS.view;
  data
    .command('synface')
    .description('render SynFace: procedural faces with exact depth, normals, albedo, light and view')
    .option('--n <count>', 'number of images', '20000')
    .option('--size <px>', 'image side in pixels', '64')
    .option('--seed <seed>', 'dataset seed (same seed, same bytes)', '1')
    .option('--out <folder>', 'output folder', 'data/synface')
    .option('--force', 'replace the dataset in a non-empty output folder')
    .option('--workers <k>', 'threads that render and encode', '1')
    .option('--batch <b>', 'images rendered together', '32')
    .option('--splits <fractions>', 'train,val,test fractions', '0.8,0.1,0.1')
    .option('--yaw <deg>', 'yaw uniform in ±deg', String(v.yawDeg))
    .option('--pitch <deg>', 'pitch uniform in ±deg', String(v.pitchDeg))
    .option('--roll <deg>', 'roll uniform in ±deg', String(v.rollDeg))
    .option('--asymmetry <a>', 'left-right asymmetry, 0 (symmetric) .. 1', String(SYNFACE_DEFAULTS.asymmetry))
    .option('--no-progress', 'no progress bar')
    .action(async (opts: SynfaceOptions) => {
      const n = wholeNumber('n', opts.n, 1, 10_000_000);
      const config = synfaceConfig({
        view: {
          yawDeg: realNumber('yaw', opts.yaw, 0, 60),
          pitchDeg: realNumber('pitch', opts.pitch, 0, 45),
          rollDeg: realNumber('roll', opts.roll, 0, 45),
        },
        asymmetry: realNumber('asymmetry', opts.asymmetry, 0, 1),
      });
      const workers = wholeNumber('workers', opts.workers, 1, 64);
      await initBackend();
      const bar = opts.progress
        ? new SingleBar({ format: 'synface |{bar}| {value}/{total} images | {rate} images/s | ETA {eta_formatted}', hideCursor: true, stream: process.stderr })
        : null;
      const t0 = performance.now();
      bar?.start(n, 0, { rate: '-' });
      let result;
      try {
        result = await generateSynface({
          out: opts.out,
          n,
          size: wholeNumber('size', opts.size, 16, 1024),
          seed: wholeNumber('seed', opts.seed, 0, 0xffffffff),
          force: opts.force ?? false,
          workers,
          batch: wholeNumber('batch', opts.batch, 1, 4096),
          fractions: fractions(opts.splits),
          config,
          onProgress: (done) => bar?.update(done, { rate: (done / ((performance.now() - t0) / 1000)).toFixed(0) }),
        });
      } finally {
        bar?.stop();
      }
      const counts = SPLITS.map((s) => `${s} ${result.counts[s]}`).join(', ');
      process.stdout.write(
        `Wrote ${n} SynFace images (${counts}) at ${opts.size}x${opts.size} to ${path.relative(process.cwd(), result.out) || '.'} ` +
          `in ${result.seconds.toFixed(1)} s: ${result.imagesPerSecond.toFixed(1)} images/s with ${workers} worker${workers > 1 ? 's' : ''}.\n`,
      );
      if (result.stats.farClippedPixels > 0 || result.stats.nearClampedPixels > 0) {
        process.stdout.write(
          `Note: ${result.stats.farClippedPixels} face pixels lay beyond depth 1.1 (written as background) and ` +
            `${result.stats.nearClampedPixels} nearer than 0.9 (clamped); narrow the pose ranges to avoid this.\n`,
        );
      }
    });

  data
    .command('contact-sheet <folder>')
    .description('tile the first images of a dataset folder into one PNG')
    .requiredOption('-o, --output <file>', 'PNG to write')
    .option('--kind <folder>', 'image, depth, canon_depth, canon_albedo, normal or mask', 'image')
    .option('--split <split>', 'split to use when <folder> is a dataset root', 'test')
    .option('--count <n>', 'images', '64')
    .option('--cols <n>', 'columns', '8')
    .option('--scale <k>', 'enlarge every tile k times (nearest neighbour)', '1')
    .option('--stretch', 'stretch the contrast of each tile over its non-zero values (for depth maps)')
    .option('--force', 'overwrite the output file')
    .action(async (folder: string, opts: SheetOptions) => {
      const sheet = await contactSheet(folder, {
        kind: opts.kind,
        split: opts.split,
        count: wholeNumber('count', opts.count, 1, 10_000),
        cols: wholeNumber('cols', opts.cols, 1, 1000),
        scale: wholeNumber('scale', opts.scale, 1, 16),
        stretch: opts.stretch ?? false,
      });
      await writeFileAtomic(opts.output, sheet.png, { force: opts.force ?? false });
      process.stdout.write(`Wrote ${opts.output}: ${sheet.files.length} images, ${sheet.width}x${sheet.height}.\n`);
    });
}
