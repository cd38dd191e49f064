// `gan3d sample`: n images of a trained GAN's EMA generator into one folder:
//   grid.png           the samples tiled ⌈√n⌉ columns wide, row by row (sample i at row ⌊i / columns⌋, column i mod columns)
//   sample-0000.png …  each sample at the generator's resolution
//   latents.json       the model, config, seed and ψ, and per sample its seed, index, z and w after truncation: feeding
//                      a sample's w to `generator.synthesize` draws it again
// Sample i uses seed + i (src/pipelines/gan-bundle.ts, sampleGan), without per-layer noise: the same --seed writes the
// same bytes. A non-empty output folder is refused without --force; --force deletes only what this command writes
// (grid.png, latents.json, sample-NNNN.png), so other files in the folder stay.
import type { Command } from 'commander';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { writeFilesAtomic, type OutputFile } from '../io/atomic-write.js';
import { encodePng8, signedToUint8 } from '../io/png.js';
import { gan3dVersion } from '../io/version.js';
import { DEFAULT_GAN_DIR, MAX_TRUNCATION_PSI, loadGanModel, sampleGan } from '../pipelines/gan-bundle.js';
import { tileGrid } from '../train/grid.js';
import { FEATURE_LABELS, denormalizeLabel, normalizeLabel } from '../models/features/labels.js';

/** Most samples per call: the file names have four digits. */
export const MAX_SAMPLES = 10000;
const OWN_FILE = /^(grid\.png|latents\.json|sample-\d+\.png)$/;

export interface SampleCommandOptions {
  /** Bundle, checkpoint or run folder (default models/gan). */
  model?: string;
  n?: string;
  /** Truncation ψ in [0, 2] (default: the model config's truncationPsi). */
  truncation?: string;
  seed?: string;
  /** A conditional GAN's labels to hold fixed: "name=value,…" in the labels' own units (degrees for view angles). */
  label?: string;
  out: string;
  force?: boolean;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
}

export interface SampleCommandResult {
  dir: string;
  files: string[];
  n: number;
  psi: number;
  seed: number;
  columns: number;
  rows: number;
  modelId: string;
}

/** One sample's record in latents.json. */
export interface SampleLatent {
  index: number;
  seed: number;
  file: string;
  psi: number;
  z: number[];
  w: number[];
  /** A conditional GAN's labels of the sample, in their own units (degrees for view angles). */
  labels?: Record<string, number>;
}

export const sampleFileName = (i: number): string => `sample-${String(i).padStart(4, '0')}.png`;

function wholeNumber(flag: string, raw: string, min: number, max: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min || v > max) {
    throw new Gan3dError(`--${flag} must be a whole number from ${min} to ${max}, got "${raw}".`, 'BAD_ARGUMENT');
  }
  return v;
}

/** `--label name=value,…` → normalised values by name (checked against the model's labels by sampleGan). */
export function parseFixedLabels(raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of raw.split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    const m = /^([A-Za-z.]+)=(.+)$/.exec(item);
    const spec = m ? FEATURE_LABELS.find((l) => l.name === m[1]) : undefined;
    const value = m ? Number(m[2]) : Number.NaN;
    if (!m || !spec || m[2].trim() === '' || !Number.isFinite(value)) {
      throw new Gan3dError(
        `--label takes name=value pairs separated by commas (angles in degrees), e.g. view.ry=20,expression.smile=0.8; ` +
          `"${item}" is not one (labels: ${FEATURE_LABELS.map((l) => l.name).join(', ')}).`,
        'BAD_ARGUMENT',
      );
    }
    out[spec.name] = normalizeLabel(spec.unit === 'rad' ? (value * Math.PI) / 180 : value, spec);
  }
  if (Object.keys(out).length === 0) throw new Gan3dError('--label needs at least one name=value pair.', 'BAD_ARGUMENT');
  return out;
}

/** A sample's labels in their own units (degrees for angles), by name. */
function labelsInUnits(names: readonly string[], row: Float32Array): Record<string, number> {
  return Object.fromEntries(
    names.map((name, j) => {
      const spec = FEATURE_LABELS.find((l) => l.name === name)!;
      const raw = denormalizeLabel(row[j], spec);
      return [name, Math.round((spec.unit === 'rad' ? (raw * 180) / Math.PI : raw) * 1e4) / 1e4];
    }),
  );
}

/** latents.json: the header pretty-printed, one line per sample. */
function latentsJson(header: Record<string, unknown>, samples: SampleLatent[]): string {
  const head = JSON.stringify(header, null, 2).slice(0, -2);
  return `${head},\n  "samples": [\n${samples.map((s) => `    ${JSON.stringify(s)}`).join(',\n')}\n  ]\n}\n`;
}

/** The `sample` action, callable without commander (tests). */
export async function sampleCommand(opts: SampleCommandOptions): Promise<SampleCommandResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  // Cheap checks first: loading the model takes a moment.
  const n = wholeNumber('n', opts.n ?? '64', 1, MAX_SAMPLES);
  const seed = wholeNumber('seed', opts.seed ?? '0', 0, 0xffff_ffff - (n - 1));
  let psi: number | undefined;
  if (opts.truncation !== undefined) {
    psi = Number(opts.truncation);
    if (opts.truncation.trim() === '' || !(psi >= 0 && psi <= MAX_TRUNCATION_PSI)) {
      throw new Gan3dError(
        `--truncation must be a number from 0 to ${MAX_TRUNCATION_PSI} (1: no truncation, 0: every sample is the mean-w image; ` +
          `GAN2Shape uses 0.7), got "${opts.truncation}".`,
        'BAD_ARGUMENT',
      );
    }
  }
  const fixedLabels = opts.label === undefined ? undefined : parseFixedLabels(opts.label);
  const dir = path.resolve(opts.out);
  const st = await fs.stat(dir).catch(() => null);
  if (st && !st.isDirectory()) throw new Gan3dError(`-o ${opts.out} is a file; give a folder for the samples.`, 'IO_NOT_A_FOLDER');
  const present = st ? await fs.readdir(dir) : [];
  if (present.length > 0 && !opts.force) {
    const shown = present.slice(0, 5).join(', ') + (present.length > 5 ? `, … (${present.length} entries)` : '');
    throw new Gan3dError(
      `Output folder ${opts.out} is not empty (${shown}): pass --force to replace the samples in it ` +
        '(only grid.png, latents.json and sample-*.png are deleted), or choose another -o.',
      'SAMPLE_OUTPUT_EXISTS',
    );
  }

  await initBackend();
  const gan = await loadGanModel(opts.model ?? DEFAULT_GAN_DIR);
  const files: OutputFile[] = [];
  let columns: number;
  let rows: number;
  try {
    psi ??= gan.config.truncationPsi;
    const s = sampleGan(gan.generator, { n, psi, seed, fixedLabels });
    const R = s.resolution;
    const per = R * R * 3;
    const { zDim, wDim } = gan.config;
    const latents: SampleLatent[] = [];
    for (let i = 0; i < n; i++) {
      const file = sampleFileName(i);
      const pixels = signedToUint8(s.images.subarray(i * per, (i + 1) * per), file);
      files.push({ path: path.join(dir, file), data: await encodePng8(pixels, R, R, 3) });
      latents.push({
        index: i,
        seed: s.seeds[i],
        file,
        psi,
        z: Array.from(s.z.subarray(i * zDim, (i + 1) * zDim)),
        w: Array.from(s.w.subarray(i * wDim, (i + 1) * wDim)),
        ...(s.labels ? { labels: labelsInUnits(s.labelNames, s.labels.subarray(i * s.labelNames.length, (i + 1) * s.labelNames.length)) } : {}),
      });
    }
    // One grid panel per column; cells past the last sample are NaN, which the grid paints as background.
    columns = Math.ceil(Math.sqrt(n));
    rows = Math.ceil(n / columns);
    const panels = Array.from({ length: columns }, (_, c) => {
      const data = new Float32Array(rows * per).fill(Number.NaN);
      for (let r = 0; r < rows && r * columns + c < n; r++) {
        const i = r * columns + c;
        data.set(s.images.subarray(i * per, (i + 1) * per), r * per);
      }
      return { name: `column ${c}`, images: { data, shape: [rows, R, R, 3] } };
    });
    files.push({ path: path.join(dir, 'grid.png'), data: await tileGrid(panels) });
    const header = {
      format: 'gan3d-samples',
      formatVersion: 1,
      gan3d: gan3dVersion(),
      model: { id: gan.id, source: gan.meta.source, path: path.resolve(gan.meta.path), training: { step: gan.meta.training.step ?? null, seed: gan.meta.training.seed ?? null } },
      config: gan.config,
      seed,
      n,
      psi,
      noise: 'none',
      latentSeeds: s.labels
        ? 'sample i: seed + i; rng = Rng(seed + i); z = rng.normalArray(zDim); labels = a label-bank row picked with rng, then the fixed ones; w = wAvg + psi (mapping(z, labels) - wAvg); image = synthesize(w), no noise'
        : 'sample i: seed + i; z = Rng(seed + i).normalArray(zDim); w = wAvg + psi (mapping(z) - wAvg); image = synthesize(w), no noise',
      ...(fixedLabels ? { fixedLabels: labelsInUnits(Object.keys(fixedLabels), Float32Array.from(Object.values(fixedLabels))) } : {}),
      grid: { file: 'grid.png', columns, rows, gap: 2 },
    };
    files.push({ path: path.join(dir, 'latents.json'), data: latentsJson(header, latents) });
  } finally {
    gan.dispose();
  }
  // Only now that every output is ready: clear what an earlier run of this command left, keep everything else.
  if (opts.force) {
    for (const name of present) {
      if (OWN_FILE.test(name) && (await fs.lstat(path.join(dir, name))).isFile()) await fs.rm(path.join(dir, name));
    }
  }
  await writeFilesAtomic(files, { force: opts.force });
  const shown = path.relative(process.cwd(), dir) || '.';
  write(
    `Wrote ${n} sample${n === 1 ? '' : 's'} of GAN "${gan.id}" (ψ ${psi}, seed ${seed}) to ${shown.startsWith('..') ? dir : shown}/: ` +
      `grid.png (${columns}×${rows}), ${n === 1 ? sampleFileName(0) : `${sampleFileName(0)} … ${sampleFileName(n - 1)}`}, latents.json.\n`,
  );
  return { dir, files: files.map((f) => path.basename(f.path)), n, psi, seed, columns, rows, modelId: gan.id };
}

export function registerSampleCommand(program: Command): void {
  program
    .command('sample')
    .description('draw images from a trained GAN: grid.png, sample-NNNN.png and latents.json (seed, z, w per sample)')
    .option('--model <dir>', 'GAN bundle, training checkpoint or training run folder', DEFAULT_GAN_DIR)
    .option('--n <count>', `number of samples (1..${MAX_SAMPLES}); the grid is ⌈√n⌉ columns wide`, '64')
    .option(
      '--truncation <psi>',
      `truncation ψ toward the mean w, 0..${MAX_TRUNCATION_PSI}: 1 none, 0 the mean image, above 1 more variety (default: the model's truncationPsi; GAN2Shape uses 0.7)`,
    )
    .option('--seed <s>', 'sample i uses seed s + i (same seed, same images)', '0')
    .option('--label <pairs>', 'a conditional GAN: hold these labels fixed, e.g. view.ry=20,expression.smile=0.8 (angles in degrees); the others are drawn from its label bank')
    .option('-o, --out <dir>', 'output folder', 'out/samples')
    .option('--force', 'write into a non-empty folder (deletes only grid.png, latents.json and sample-*.png there)')
    .action(async (opts: SampleCommandOptions) => {
      await sampleCommand(opts);
    });
}
