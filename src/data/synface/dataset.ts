// Writing a SynFace dataset to disk (layout in README.md):
//
//   <out>/meta.json                                    written last: its presence marks a complete dataset
//   <out>/{train,val,test}/params.jsonl                one JSON line per image, in id order
//   <out>/{train,val,test}/{image,depth,canon_depth,canon_albedo,normal,mask}/<id>.png
//
// Image `index` (0 .. n-1) has id = index zero-padded to 6 digits, its parameters come from imageSeed(seed, index),
// and the splits are contiguous index ranges (train first), so every file depends only on (seed, index, size,
// config): not on the batch, the worker count or the order the work finished in.
import { promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { backendInfo } from '../../engine/backend.js';
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';
import { cameraConfig, intrinsics } from '../../geometry/camera.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { SYNFACE_DEPTH_RANGE } from '../../io/depth-png.js';
import { encodePng16GreySync, encodePng8Sync } from './png-encode.js';
import { type SynfaceConfig, type SynfaceParams, SYNFACE_DEFAULTS, imageSeed, sampleParams } from './params.js';
import { type SampleStats, type SynfaceSample, renderSynfaceBatch } from './render.js';

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** Sub-folders of every split, one PNG per image in each. */
export const SYNFACE_FOLDERS = ['image', 'depth', 'canon_depth', 'canon_albedo', 'normal', 'mask'] as const;
export type SynfaceFolder = (typeof SYNFACE_FOLDERS)[number];

export type SplitFractions = Record<Split, number>;
export const DEFAULT_FRACTIONS: Readonly<SplitFractions> = Object.freeze({ train: 0.8, val: 0.1, test: 0.1 });

/** Images per rendering batch: large enough to amortise the tensor calls, small enough to keep memory flat. */
export const DEFAULT_BATCH = 32;

export interface SynfaceDatasetOptions {
  out: string;
  n: number;
  /** Image side in pixels (default 64). */
  size?: number;
  /** Dataset seed (default 1). */
  seed?: number;
  /** Replace an existing dataset in `out` (its split folders and meta.json). */
  force?: boolean;
  /** Worker threads that render and encode (default 1: everything on the calling thread). */
  workers?: number;
  batch?: number;
  fractions?: SplitFractions;
  config?: SynfaceConfig;
  /** Called after every finished batch. */
  onProgress?: (done: number, total: number) => void;
}

export interface SynfaceDatasetResult {
  out: string;
  counts: Record<Split, number>;
  seconds: number;
  imagesPerSecond: number;
  stats: DatasetStats;
}

export interface DatasetStats {
  /** Mean fraction of the image covered by the face. */
  foregroundFraction: number;
  /** Face pixels dropped to background because they were rendered beyond the far end of the encoding. */
  farClippedPixels: number;
  /** Face pixels clamped to the near end of the encoding (0.9). */
  nearClampedPixels: number;
}

/** What a worker needs to produce any batch: structured-cloneable. */
export interface SynfacePlan {
  out: string;
  size: number;
  seed: number;
  n: number;
  batch: number;
  counts: Record<Split, number>;
  config: SynfaceConfig;
}

/** What producing one batch returns to the writer of params.jsonl. */
export interface ChunkResult {
  chunk: number;
  /** params.jsonl lines of the batch, in index order, with their split. */
  lines: { split: Split; line: string }[];
  stats: SampleStats[];
}

/** Image counts per split: train and val rounded from the fractions, test takes the rest. */
export function splitCounts(n: number, fractions: SplitFractions = DEFAULT_FRACTIONS): Record<Split, number> {
  const sum = fractions.train + fractions.val + fractions.test;
  if (!(fractions.train >= 0 && fractions.val >= 0 && fractions.test >= 0 && Math.abs(sum - 1) < 1e-9)) {
    throw new Gan3dError(`Split fractions must be non-negative and add up to 1, got ${JSON.stringify(fractions)}.`, 'BAD_ARGUMENT');
  }
  const train = Math.round(n * fractions.train);
  const val = Math.min(n - train, Math.round(n * fractions.val));
  return { train, val, test: n - train - val };
}

/** The split of image `index`: train holds the first indices, then val, then test. */
export function splitOf(index: number, counts: Record<Split, number>): Split {
  if (index < counts.train) return 'train';
  if (index < counts.train + counts.val) return 'val';
  return 'test';
}

/** File name stem of image `index`. */
export function sampleId(index: number): string {
  return String(index).padStart(6, '0');
}

/** The parameters of image `index` of the dataset with `seed`: what the dataset writer draws, regenerable alone. */
export function synfaceParamsAt(seed: number, index: number, config: SynfaceConfig = SYNFACE_DEFAULTS): SynfaceParams {
  return sampleParams(new Rng(imageSeed(seed, index)), config);
}

/** One params.jsonl line. */
export interface SynfaceRecord extends SynfaceParams {
  id: string;
  split: Split;
  index: number;
  /** The per-image seed the parameters were drawn from. */
  seed: number;
}

/** Parses a params.jsonl line back into its record (the parameters regenerate the sample with renderSynfaceBatch). */
export function parseSynfaceRecord(line: string): SynfaceRecord {
  let rec: SynfaceRecord;
  try {
    rec = JSON.parse(line) as SynfaceRecord;
  } catch (e) {
    throw new Gan3dError(`Not a SynFace params line (${(e as Error).message}).`, 'BAD_DATA');
  }
  for (const key of ['shape', 'expression', 'albedo', 'asymmetry', 'light', 'view', 'background'] as const) {
    if (rec[key] === undefined) throw new Gan3dError(`SynFace params line for ${rec.id ?? '?'} has no "${key}".`, 'BAD_DATA');
  }
  return rec;
}

/** The parameters alone, from a record. */
export function recordParams(rec: SynfaceRecord): SynfaceParams {
  const { shape, expression, albedo, asymmetry, light, view, background } = rec;
  return { shape, expression, albedo, asymmetry, light, view, background };
}

/** The six PNGs of a sample, encoded. */
export function encodeSample(sample: SynfaceSample, size: number): Record<SynfaceFolder, Uint8Array> {
  return {
    image: encodePng8Sync(sample.image, size, size, 3),
    depth: encodePng16GreySync(sample.depth16, size, size),
    canon_depth: encodePng16GreySync(sample.canonDepth16, size, size),
    canon_albedo: encodePng8Sync(sample.canonAlbedo, size, size, 3),
    normal: encodePng8Sync(sample.normal, size, size, 3),
    mask: encodePng8Sync(sample.mask, size, size, 1),
  };
}

/**
 * Renders, encodes and writes batch `chunk` (indices chunk * batch ..), synchronously: on one core, synchronous
 * writes of these small files cost less than half as much as promise-based ones, and there is nothing to overlap.
 */
export function produceChunk(plan: SynfacePlan, chunk: number): ChunkResult {
  const start = chunk * plan.batch;
  const end = Math.min(plan.n, start + plan.batch);
  const indices = Array.from({ length: end - start }, (_, k) => start + k);
  const params = indices.map((index) => synfaceParamsAt(plan.seed, index, plan.config));
  const samples = renderSynfaceBatch(params, plan.size);
  const lines = indices.map((index, k) => {
    const split = splitOf(index, plan.counts);
    const rec: SynfaceRecord = { id: sampleId(index), split, index, seed: imageSeed(plan.seed, index), ...params[k] };
    return { split, line: JSON.stringify(rec) };
  });
  samples.forEach((sample, k) => {
    const files = encodeSample(sample, plan.size);
    const dir = path.join(plan.out, lines[k].split);
    const name = `${sampleId(indices[k])}.png`;
    // Plain writes: an interrupted run is recognised by its missing meta.json, not by per-file atomicity.
    for (const folder of SYNFACE_FOLDERS) writeFileSync(path.join(dir, folder, name), files[folder]);
  });
  return { chunk, lines, stats: samples.map((s) => s.stats) };
}

async function isNonEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length > 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ENOTDIR') throw new Gan3dError(`Output ${dir} is a file, not a folder; choose another --out.`, 'IO_BAD_ARGUMENT');
    throw e;
  }
}

/** Refuses a non-empty `out` unless `force`; with force removes only what a dataset consists of. */
async function prepareOutput(out: string, force: boolean): Promise<void> {
  if (await isNonEmptyDir(out)) {
    if (!force) {
      throw new Gan3dError(
        `Output folder ${out} already exists and is not empty. Choose another --out, or pass --force to replace the ` +
          'dataset in it (its train/, val/, test/ and meta.json are deleted first).',
        'IO_OUTPUT_EXISTS',
      );
    }
    await fs.rm(path.join(out, 'meta.json'), { force: true });
    for (const split of SPLITS) await fs.rm(path.join(out, split), { recursive: true, force: true });
  }
  for (const split of SPLITS) {
    for (const folder of SYNFACE_FOLDERS) await fs.mkdir(path.join(out, split, folder), { recursive: true });
  }
}

function checkInt(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new Gan3dError(`${name} must be a whole number in [${lo}, ${hi}], got ${v}.`, 'BAD_ARGUMENT');
  }
}

/** Starts a worker on worker.ts (through tsx's loader when running from source) or the compiled worker.js. */
function startWorker(plan: SynfacePlan): Worker {
  const options = { workerData: { plan, backend: backendInfo().name } };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), options);
  // Workers do not inherit tsx's loader hooks, so the worker registers them before importing the TypeScript.
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { ...options, eval: true });
}

/** Runs every chunk on worker threads, two queued per worker so none waits for the main thread. */
function runOnWorkers(plan: SynfacePlan, chunks: number, workers: number, onResult: (r: ChunkResult) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let finished = 0;
    let failed = false;
    const threads: Worker[] = [];
    const stopAll = (e: unknown) => {
      if (failed) return;
      failed = true;
      for (const t of threads) void t.terminate();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    const feed = (w: Worker) => {
      if (next < chunks) w.postMessage({ chunk: next++ });
    };
    for (let k = 0; k < Math.min(workers, chunks); k++) {
      const w = startWorker(plan);
      threads.push(w);
      w.on('message', (msg: { result?: ChunkResult; error?: { message: string; code?: string } }) => {
        if (msg.error) {
          stopAll(msg.error.code ? new Gan3dError(msg.error.message, msg.error.code) : new Error(`SynFace worker failed: ${msg.error.message}`));
          return;
        }
        feed(w);
        onResult(msg.result!).then(() => {
          if (++finished === chunks && !failed) {
            for (const t of threads) void t.terminate();
            resolve();
          }
        }, stopAll);
      });
      w.on('error', stopAll);
      w.on('exit', (code) => {
        if (finished < chunks) stopAll(new Error(`SynFace worker exited early (code ${code}).`));
      });
      feed(w);
      feed(w);
    }
  });
}

/** Runs every chunk on this thread. */
async function runInProcess(plan: SynfacePlan, chunks: number, onResult: (r: ChunkResult) => Promise<void>): Promise<void> {
  for (let chunk = 0; chunk < chunks; chunk++) {
    await onResult(produceChunk(plan, chunk));
    // Let the progress bar and signals through between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Generates a SynFace dataset of `n` images into `out` (see the header for the layout). Needs an initialised tensor
 * backend (initBackend). Same options, same bytes.
 */
export async function generateSynface(options: SynfaceDatasetOptions): Promise<SynfaceDatasetResult> {
  const size = options.size ?? 64;
  const seed = options.seed ?? 1;
  const workers = options.workers ?? 1;
  const batch = options.batch ?? DEFAULT_BATCH;
  checkInt('n', options.n, 1, 10_000_000);
  checkInt('size', size, 16, 1024);
  checkInt('seed', seed, 0, 0xffffffff);
  checkInt('workers', workers, 1, 64);
  checkInt('batch', batch, 1, 4096);
  const fractions = options.fractions ?? DEFAULT_FRACTIONS;
  const counts = splitCounts(options.n, fractions);
  const config = options.config ?? SYNFACE_DEFAULTS;
  const out = path.resolve(options.out);
  await prepareOutput(out, options.force ?? false);

  const plan: SynfacePlan = { out, size, seed, n: options.n, batch, counts, config };
  const chunks = Math.ceil(options.n / batch);
  const handles = Object.fromEntries(
    await Promise.all(SPLITS.map(async (s) => [s, await fs.open(path.join(out, s, 'params.jsonl'), 'w')] as const)),
  ) as Record<Split, fs.FileHandle>;
  // params.jsonl is written in index order: results that arrive early wait here.
  const waiting = new Map<number, ChunkResult>();
  let nextToWrite = 0;
  let done = 0;
  const totals = { foreground: 0, farClipped: 0, nearClamped: 0 };
  const onResult = async (r: ChunkResult) => {
    waiting.set(r.chunk, r);
    done += r.lines.length;
    for (const s of r.stats) {
      totals.foreground += s.foreground;
      totals.farClipped += s.farClipped;
      totals.nearClamped += s.nearClamped;
    }
    options.onProgress?.(done, options.n);
    while (waiting.has(nextToWrite)) {
      const ready = waiting.get(nextToWrite)!;
      waiting.delete(nextToWrite++);
      for (const split of SPLITS) {
        const text = ready.lines.filter((l) => l.split === split).map((l) => l.line + '\n').join('');
        if (text.length > 0) await handles[split].write(text);
      }
    }
  };

  // Results are handled one at a time: concurrent writes to one file handle could interleave.
  let queue: Promise<void> = Promise.resolve();
  const handle = (r: ChunkResult) => (queue = queue.then(() => onResult(r)));

  const t0 = performance.now();
  try {
    if (workers > 1) await runOnWorkers(plan, chunks, workers, handle);
    else await runInProcess(plan, chunks, handle);
  } finally {
    await Promise.all(SPLITS.map((s) => handles[s].close()));
  }
  const seconds = (performance.now() - t0) / 1000;
  const stats: DatasetStats = {
    foregroundFraction: totals.foreground / (options.n * size * size),
    farClippedPixels: totals.farClipped,
    nearClampedPixels: totals.nearClamped,
  };
  await writeFileAtomic(path.join(out, 'meta.json'), JSON.stringify(datasetMeta(plan, fractions, stats), null, 2) + '\n', { force: true });
  return { out, counts, seconds, imagesPerSecond: options.n / seconds, stats };
}

/** meta.json: everything needed to read the dataset and to make it again (no timings, so reruns give the same bytes). */
export function datasetMeta(plan: SynfacePlan, fractions: SplitFractions, stats: DatasetStats): Record<string, unknown> {
  const camera = cameraConfig(plan.size);
  const { minDepth, maxDepth } = SYNFACE_DEPTH_RANGE;
  let first = 0;
  const ranges = Object.fromEntries(
    SPLITS.map((s) => {
      const r = [first, first + plan.counts[s]];
      first += plan.counts[s];
      return [s, r];
    }),
  );
  return {
    format: 'gan3d-synface',
    version: 1,
    n: plan.n,
    size: plan.size,
    seed: plan.seed,
    splits: { fractions, counts: plan.counts, indexRanges: ranges },
    ids: 'image index zero-padded to 6 digits; split ranges are contiguous [start, end) index ranges',
    imageSeed: 'imageSeed(seed, index) in src/data/synface/params.ts; sampleParams draws every parameter from Rng(imageSeed)',
    camera: { ...camera, ...intrinsics(camera), rotationCentre: [0, 0, camera.rotCenterDepth] },
    folders: {
      image: 'input view, RGB 8-bit: renderView of the shaded canonical albedo, background composited where mask = 0',
      depth: 'input-view depth d_v, 16-bit grey: d = 1.1 - 0.2 * v with v = value / 65535; background 1.1 (v = 0)',
      canon_depth: 'canonical (frontal) depth, same encoding; background 1.1',
      canon_albedo: 'canonical albedo, RGB 8-bit (defined everywhere; the face is canon_depth < 1.1)',
      normal: 'normals of the input-view depth (depthToNormals), RGB 8-bit = round(255 * (n * 0.5 + 0.5)); +z points away from the camera',
      mask: 'foreground of the input view, grey 8-bit: 255 where depth < 1.1, else 0',
    },
    depthDecoding: { formula: 'd = 1.1 - 0.2 * v', minDepth, maxDepth, background: maxDepth, bits: 16 },
    preprocessing: 'none: images are rendered already framed; do not apply the synface 170/256 centre crop',
    light: '(ambient, diffuse, lx, ly): shading = ambient + diffuse * max(0, n . normalise(lx, ly, 1)), in the canonical frame',
    view: '(rx, ry, rz, tx, ty, tz): R = Rz Ry Rx about (0, 0, 1), then + t (geometry/view.ts)',
    generator: { name: 'synface', config: plan.config },
    stats,
  };
}
