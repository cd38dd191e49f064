// `npm run bench:refine`: GAN2Shape refinement against the amortized model on a fixed subset of the SynFace test
// split, with `gan3d eval`'s protocol (SIDE and MAD of the input-view depth, paper notes D.1). Entries:
//   amortized               the photogeo model (models/photogeo) on the subset
//   refine_from_ellipsoid   refinement with fresh nets, depth fitted to the parser mask's ellipsoid (C.8)
//   refine_from_photogeo    refinement starting from the photogeo model's nets
// each with side and mad as { mean, std } (population std over images, as `gan3d eval`), the refinements also with
// seconds_per_image (wall: W inversion + the schedule + the prediction) and where the time goes; plus the GAN id and
// step, the configs, machine info and load averages, and relative improvements over the amortized model.
//
// The subset: the split's ids sorted, N picked evenly spaced (index ⌊(i + ½)·len / N⌋), so it does not depend on the
// machine or on a seed; refinement seeds are the config's (fixed). Images are refined one after another (two at once
// would only share the two cores badly).
//
// Resumable: per-image results are cached in a work folder, runs/bench-refine/<key>/ (key = a digest of the split,
// the configs, the inversion steps and the GAN, photogeo and parser ids), and a refinement in progress keeps its
// step checkpoints there, so a killed bench continues where it stopped. When the GAN comes from a training run (whose
// old checkpoints are deleted as training goes on), a copy is saved as a bundle in the work folder; pass it with
// --gan to resume against the same GAN (the bench prints the command).
//
// Flags: --images N (default 30), --gan <dir> (default models/gan, else the newest checkpoint of runs/gan*),
//        --only amortized|ellipsoid|photogeo|oracle (comma-separated; entries of the others come from the cache when
//        complete). oracle (refine_oracle_bank, not run by default): refinement from photogeo whose bank is not GAN
//        projections but true SynFace renders of the same face (params.jsonl) under fresh lights and views, masks all
//        ones as for pseudo-samples: what a perfect GAN prior would give, the bound of this refinement,
//        --quick (2 images and a tiny schedule: a smoke check of a few minutes; writes bench/results/refine-quick.json),
//        --data <split> (default data/synface/test), --work <dir> (default runs/bench-refine),
//        --config '<json>' (refinement overrides for both refinements, e.g. '{"projection":"optimize","lambdaProj":0.3}':
//        points of the quality-against-time curve), --out <file> (default bench/results/refine.json),
//        --encoder <dir> (the GAN's inversion encoder for projection 'pretrained'; default models/gan-encoder),
//        --shard i/n (run only the images at positions k ≡ i mod n: n processes side by side, one per core, share the
//        work through the cache; a last run without --shard assembles the report from it).
// Writes the results file (atomically) and prints a table.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import fsSync from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { listDepthIds, readGroundTruth } from '../src/data/depth-folder.js';
import { parseSynfaceRecord, recordParams } from '../src/data/synface/dataset.js';
import type { SynfaceParams } from '../src/data/synface/params.js';
import { relitViews } from '../src/data/synface/relit-views.js';
import { initBackend } from '../src/engine/backend.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { readImage } from '../src/io/image.js';
import { evaluateSideMad } from '../src/metrics/side-mad.js';
import { summarize } from '../src/metrics/summary.js';
import type { PhotoGeoModel } from '../src/models/photogeo/model.js';
import { DEFAULT_ENCODER_DIR, encoderGanWarning, loadEncoderModel } from '../src/pipelines/encoder-bundle.js';
import { loadGanModel, saveGanBundle, type LoadedGan } from '../src/pipelines/gan-bundle.js';
import { DEFAULT_MODEL_DIR, loadPhotoGeoModel } from '../src/pipelines/model-bundle.js';
import { DEFAULT_PARSER_DIR, loadParserModel } from '../src/pipelines/parser-bundle.js';
import { DEFAULT_INVERT_STEPS, inversionProjector, refineConfig, refineImage, type PhaseRecord, type RefineConfig, type RefineOverrides } from '../src/pipelines/refine/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const METHODS = ['amortized', 'ellipsoid', 'photogeo', 'oracle'] as const;
export type Method = (typeof METHODS)[number];
/** What runs without --only: the issue's three entries (the oracle is an experiment, asked for by name). */
export const DEFAULT_METHODS: readonly Method[] = ['amortized', 'ellipsoid', 'photogeo'];
export const ENTRY: Record<Method, string> = {
  amortized: 'amortized',
  ellipsoid: 'refine_from_ellipsoid',
  photogeo: 'refine_from_photogeo',
  oracle: 'refine_oracle_bank',
};
/** Seed of the oracle bank's lights and views (per image and stage: + 1000·stage + position in the subset). */
const ORACLE_SEED = 4242;

/** The smoke schedule of --quick: every step runs, a few iterations each. */
export const QUICK_SCHEDULE: RefineOverrides = {
  stages: 1,
  firstStage: { step1: 2, step2: 2, step3: 2 },
  batch: 2,
  collectIters: 1,
  ellipsoid: { steps: 5 },
};
export const QUICK_INVERT_STEPS = 5;

const PROTOCOL =
  'gan3d eval: SIDE and MAD on the input-view depth (viewDepth, no flip); mask = erode(d_gt < max d_gt) · erode(d_pred < 1.2), ' +
  '1-pixel erosion; normals by central differences; mean ± population std over images; input = centre square of ' +
  '<split>/image/<id>.png resized to 64×64';

/** N ids of a sorted list, evenly spaced: index ⌊(i + ½)·len / N⌋ (all of them when N ≥ len). */
export function selectSubset(ids: readonly string[], n: number): string[] {
  const sorted = [...ids].sort();
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`--images must be a whole number ≥ 1, got ${n}`);
  if (n >= sorted.length) return sorted;
  return Array.from({ length: n }, (_, i) => sorted[Math.floor(((i + 0.5) * sorted.length) / n)]);
}

/** A short digest of anything JSON (object keys sorted), for cache folder names. */
export function digestOf(value: unknown): string {
  const canonical = JSON.stringify(value, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x,
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** One image's scores (and, for refinements, its timings). */
export interface ImageResult {
  id: string;
  side: number;
  mad: number;
  /** Wall seconds: inversion + schedule + prediction (refinements only). */
  seconds?: number;
  invertSeconds?: number;
  refineSeconds?: number;
  history?: PhaseRecord[];
  /** The refinement continued from a checkpoint of an interrupted run. */
  resumed?: boolean;
  loadAverage?: number;
  /** After each stage: the seconds so far (inversion + schedule) and the scores of the model at that point. */
  stages?: StageScore[];
}

export interface StageScore {
  stage: number;
  seconds: number;
  side: number;
  mad: number;
}

/** Per number of stages done, over the images that have it: SIDE, MAD and seconds so far (the quality-against-time
 *  curve of one schedule; the last point is the entry itself, less the final prediction's time). */
export function stageCurve(results: readonly ImageResult[]): Record<string, unknown>[] {
  const count = Math.max(0, ...results.map((r) => r.stages?.length ?? 0));
  const out: Record<string, unknown>[] = [];
  for (let k = 1; k <= count; k++) {
    const at = results.map((r) => r.stages?.find((s) => s.stage === k)).filter((s): s is StageScore => s !== undefined);
    const side = summarize(at.map((s) => s.side));
    const mad = summarize(at.map((s) => s.mad));
    out.push({ stages: k, images: at.length, side: { mean: side.mean, std: side.std }, mad: { mean: mad.mean, std: mad.std }, seconds_per_image: round(mean(at.map((s) => s.seconds)), 2) });
  }
  return out;
}

/** Per-image results on disk: <dir>/<method>/<id>.json, each written atomically once the image is done. */
export class ResultCache {
  constructor(readonly dir: string) {}

  file(method: Method, id: string): string {
    return path.join(this.dir, method, `${id}.json`);
  }

  async get(method: Method, id: string): Promise<ImageResult | null> {
    try {
      const r = JSON.parse(await fs.readFile(this.file(method, id), 'utf8')) as ImageResult;
      return r.id === id && typeof r.side === 'number' ? r : null;
    } catch {
      return null;
    }
  }

  async put(method: Method, r: ImageResult): Promise<void> {
    await writeFileAtomic(this.file(method, r.id), `${JSON.stringify(r)}\n`, { force: true });
  }

  /** The cached results of `ids`, in order, skipping missing ones. */
  async all(method: Method, ids: readonly string[]): Promise<ImageResult[]> {
    const out: ImageResult[] = [];
    for (const id of ids) {
      const r = await this.get(method, id);
      if (r) out.push(r);
    }
    return out;
  }
}

const mean = (v: readonly number[]) => (v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length);
const round = (v: number, digits = 4) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : null);

/** Seconds per iteration of each step type, averaged over images (Step 2's time includes the bank's collection). */
export function stepTimings(results: readonly ImageResult[]): Record<string, { seconds: number | null; iters: number; secondsPerIter: number | null }> {
  const acc = new Map<string, { seconds: number[]; iters: number[] }>();
  for (const r of results) {
    for (const h of r.history ?? []) {
      const type = h.name === 'init' ? 'init' : h.name.replace(/^s\d+-/, '');
      const a = acc.get(type) ?? { seconds: [], iters: [] };
      a.seconds.push(h.seconds);
      a.iters.push(h.iters);
      acc.set(type, a);
    }
  }
  const n = Math.max(results.length, 1);
  const out: Record<string, { seconds: number | null; iters: number; secondsPerIter: number | null }> = {};
  for (const [type, a] of acc) {
    const seconds = a.seconds.reduce((x, y) => x + y, 0);
    const iters = a.iters.reduce((x, y) => x + y, 0);
    out[type] = { seconds: round(seconds / n, 3), iters: iters / n, secondsPerIter: iters > 0 ? round(seconds / iters, 4) : null };
  }
  return out;
}

/** A bench entry: side and mad as { mean, std } over the images (non-finite scores excluded, as `gan3d eval`). */
export function entryOf(results: readonly ImageResult[], expected: number, refinement: boolean): Record<string, unknown> {
  const side = summarize(results.map((r) => r.side));
  const mad = summarize(results.map((r) => r.mad));
  const entry: Record<string, unknown> = {
    side: { mean: side.mean, std: side.std },
    mad: { mean: mad.mean, std: mad.std },
    images: results.length,
    excluded: side.excluded,
    complete: results.length === expected,
  };
  if (refinement) {
    entry.seconds_per_image = round(mean(results.map((r) => r.seconds ?? Number.NaN)), 2);
    entry.timing = {
      invert_seconds: round(mean(results.map((r) => r.invertSeconds ?? Number.NaN)), 2),
      refine_seconds: round(mean(results.map((r) => r.refineSeconds ?? Number.NaN)), 2),
      // Per step type over all stages: seconds per image, iterations per image, seconds per iteration (step2 includes
      // collecting the bank after it; init is the ellipsoid fit).
      steps: stepTimings(results),
      resumed_images: results.filter((r) => r.resumed).length,
      load_average_mean: round(mean(results.map((r) => r.loadAverage ?? Number.NaN)), 2),
    };
    const curve = stageCurve(results);
    if (curve.length > 0) entry.by_stage = curve;
  }
  return entry;
}

/** Relative improvement of a refinement over the amortized model on the same images: (amortized − refined) / amortized. */
export function relativeImprovement(amortized: readonly ImageResult[], refined: readonly ImageResult[]): { mad: number | null; side: number | null; images: number } {
  const ids = new Set(refined.map((r) => r.id));
  const base = amortized.filter((r) => ids.has(r.id));
  const rel = (key: 'mad' | 'side') => {
    const a = summarize(base.map((r) => r[key])).mean;
    const b = summarize(refined.map((r) => r[key])).mean;
    return round((a - b) / a, 4);
  };
  return { mad: rel('mad'), side: rel('side'), images: base.length };
}

/** The GAN the bench uses by default: models/gan, else the run under runs/gan* whose newest checkpoint is newest. */
export function defaultGanDir(root: string): string | null {
  const bundled = path.join(root, 'models', 'gan');
  if (fsSync.existsSync(bundled)) return bundled;
  const runs = path.join(root, 'runs');
  if (!fsSync.existsSync(runs)) return null;
  let best: { dir: string; mtime: number } | null = null;
  for (const name of fsSync.readdirSync(runs)) {
    if (!name.startsWith('gan')) continue;
    const ckpts = path.join(runs, name, 'checkpoints');
    if (!fsSync.existsSync(ckpts) || !fsSync.statSync(ckpts).isDirectory()) continue;
    for (const c of fsSync.readdirSync(ckpts)) {
      const json = path.join(ckpts, c, 'checkpoint.json');
      if (!fsSync.existsSync(json)) continue;
      const mtime = fsSync.statSync(json).mtimeMs;
      if (!best || mtime > best.mtime) best = { dir: path.join(runs, name), mtime };
    }
  }
  return best?.dir ?? null;
}

function ganStep(gan: LoadedGan): number | null {
  const t = gan.meta.training as Record<string, unknown>;
  if (typeof t.step === 'number') return t.step;
  const m = /step(\d+)$/.exec(gan.id);
  return m ? Number(m[1]) : null;
}

function parseArgs(argv: string[]) {
  const flag = (name: string) => argv.includes(name);
  const option = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = flag('--quick');
  const images = Number(option('--images') ?? (quick ? 2 : 30));
  const only = (option('--only') ?? DEFAULT_METHODS.join(','))
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  for (const m of only) if (!(METHODS as readonly string[]).includes(m)) throw new Error(`--only takes amortized, ellipsoid, photogeo or oracle (comma-separated), got "${m}"`);
  return {
    quick,
    images,
    only: only as Method[],
    gan: option('--gan'),
    overrides: JSON.parse(option('--config') ?? '{}') as RefineOverrides,
    out: option('--out'),
    encoder: option('--encoder'),
    data: option('--data') ?? path.join(repo, 'data', 'synface', 'test'),
    work: option('--work') ?? path.join(repo, 'runs', 'bench-refine'),
    shard: parseShard(option('--shard')),
  };
}

/** `--shard i/n` → { index: i, count: n } (0 ≤ i < n); none → the whole subset. */
function parseShard(raw: string | undefined): { index: number; count: number } {
  if (raw === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new Error(`--shard takes i/n with 0 ≤ i < n (e.g. 0/2), got "${raw}"`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

/** A JSON file's value, or `fallback` when it is missing or unreadable. */
async function readJson<T>(file: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return fallback;
  }
}

/** Input-view depth of a photogeo model (a RefineModel too) on one 64×64 image, as `gan3d eval` predicts it. */
function viewDepthOf(model: PhotoGeoModel, image: Float32Array): Float32Array {
  const s = model.config.imageSize;
  const t = tf.tidy(() => model.reconstruct(tf.tensor4d(image, [1, s, s, 3]), { flip: false, confidence: false }).viewDepth);
  const d = Float32Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return d;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await initBackend('wasm');
  const loadStart = os.loadavg();
  const ids = selectSubset(listDepthIds(args.data), args.images);
  const ganDir = args.gan ?? defaultGanDir(repo);
  if (!ganDir) throw new Error('No GAN: pass --gan, or train one (`gan3d train gan --out runs/gan`) or bundle one in models/gan.');
  const gan = await loadGanModel(ganDir);
  const log = (t: string) => process.stdout.write(`${t}\n`);
  const photogeo = await loadPhotoGeoModel(DEFAULT_MODEL_DIR);
  const parser = await loadParserModel(DEFAULT_PARSER_DIR);
  const invertSteps = args.quick ? QUICK_INVERT_STEPS : DEFAULT_INVERT_STEPS;
  const configs: Record<'ellipsoid' | 'photogeo', RefineConfig> = {
    ellipsoid: refineConfig({ ...(args.quick ? QUICK_SCHEDULE : {}), ...args.overrides, init: 'ellipsoid' }),
    photogeo: refineConfig({ ...(args.quick ? QUICK_SCHEDULE : {}), ...args.overrides, init: 'photogeo' }),
  };
  const usesEncoder = Object.values(configs).some((c) => c.projection === 'pretrained');
  const inversionEncoder = usesEncoder ? await loadEncoderModel(args.encoder ?? DEFAULT_ENCODER_DIR) : null;
  if (inversionEncoder) {
    const warning = encoderGanWarning(inversionEncoder, gan.id);
    if (warning) log(warning);
  }
  const key = digestOf({
    split: path.resolve(args.data),
    configs,
    invertSteps,
    gan: gan.id,
    photogeo: photogeo.id,
    parser: parser.id,
    protocol: PROTOCOL,
    ...(inversionEncoder ? { encoder: inversionEncoder.id } : {}),
  });
  const work = path.join(args.work, `${args.quick ? 'quick-' : ''}${gan.id}-${key}`);
  const cache = new ResultCache(work);
  await fs.mkdir(work, { recursive: true });
  const fromRun = gan.meta.source === 'checkpoint';
  const ganCopy = path.join(work, 'gan');
  if (fromRun && !fsSync.existsSync(path.join(ganCopy, 'model.json'))) await saveGanBundle(ganCopy, gan, { id: gan.id, training: gan.meta.training });
  log(`refine benchmark: ${ids.length} images of ${path.relative(repo, args.data) || args.data}, GAN ${gan.id}, photogeo ${photogeo.id}, parser ${parser.id}, backend ${backend.name} (${backend.threads} threads)`);
  log(`work folder ${path.relative(repo, work)}${fromRun ? `; resume against this GAN with: npm run bench:refine -- --gan ${path.relative(repo, ganCopy)}${args.quick ? ' --quick' : ''}` : ''}`);

  const images = new Map<string, Float32Array>();
  const imageOf = async (id: string) => {
    let im = images.get(id);
    if (!im) {
      im = (await readImage(path.join(args.data, 'image', `${id}.png`), { crop: 'center', size: 64 })).data;
      images.set(id, im);
    }
    return im;
  };
  const score = async (id: string, depth: Float32Array) => {
    const gt = await readGroundTruth(args.data, id);
    return evaluateSideMad(depth, gt.depth);
  };
  const wFile = (id: string) => path.join(work, 'w', `${id}.json`);
  let records: Map<string, SynfaceParams> | null = null;
  const faceParams = async (id: string): Promise<SynfaceParams> => {
    if (!records) {
      const lines = (await fs.readFile(path.join(args.data, 'params.jsonl'), 'utf8')).split('\n').filter((l) => l.trim() !== '');
      records = new Map(lines.map((l) => parseSynfaceRecord(l)).map((r) => [r.id, recordParams(r)]));
    }
    const face = records.get(id);
    if (!face) throw new Error(`${id} is not in ${path.join(args.data, 'params.jsonl')}: the oracle needs the SynFace parameters of every image.`);
    return face;
  };
  const invert = inversionProjector(gan, invertSteps);

  try {
    for (const method of METHODS) {
      if (!args.only.includes(method)) continue;
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k];
        if (k % args.shard.count !== args.shard.index) continue;
        if (await cache.get(method, id)) continue;
        const image = await imageOf(id);
        if (method === 'amortized') {
          const s = await score(id, viewDepthOf(photogeo.model, image));
          await cache.put(method, { id, side: s.side, mad: s.mad });
          continue;
        }
        // The input's w, shared by both refinements of an image (each is charged its inversion time).
        let invertSeconds: number;
        let w: Float32Array;
        try {
          const saved = JSON.parse(await fs.readFile(wFile(id), 'utf8')) as { w: number[]; seconds: number };
          w = Float32Array.from(saved.w);
          invertSeconds = saved.seconds;
        } catch {
          const x = tf.tensor4d(image, [1, 64, 64, 3]);
          const ti = performance.now();
          w = await invert(x);
          x.dispose();
          invertSeconds = (performance.now() - ti) / 1000;
          await writeFileAtomic(wFile(id), JSON.stringify({ w: Array.from(w), seconds: invertSeconds }), { force: true });
        }
        const oracleFace = method === 'oracle' ? await faceParams(id) : null;
        const bankSource = oracleFace
          ? (stage: number) => {
              const c = configs.photogeo;
              const v = relitViews(oracleFace, c.collectIters * c.batch, 64, ORACLE_SEED + 1000 * stage + k);
              return { images: v.images, masks: new Float32Array(v.count * 64 * 64).fill(1), count: v.count };
            }
          : undefined;
        const outDir = path.join(work, method, `${id}.run`);
        const resume = fsSync.existsSync(path.join(outDir, 'checkpoints', 'latest'));
        const load = os.loadavg()[0];
        // Scores after each stage, kept beside the checkpoints so a resumed image keeps those of earlier sessions.
        const stagesFile = path.join(outDir, 'stage-scores.json');
        const stages: StageScore[] = resume ? await readJson<StageScore[]>(stagesFile, []) : [];
        const result = await refineImage({
          image,
          gan: { generator: gan.generator, discriminator: gan.discriminator, id: gan.id },
          projectInput: () => w,
          config: configs[method === 'oracle' ? 'photogeo' : method],
          bankSource,
          ...(inversionEncoder ? { inversionEncoder: { encoder: inversionEncoder.encoder, id: inversionEncoder.id } } : {}),
          photogeo: { model: photogeo.model, id: photogeo.id },
          parser: parser.model,
          outDir,
          resume,
          snapshots: false,
          rotation: false,
          keepModel: true,
          onStageEnd: async (stage, model, refineSeconds) => {
            const sc = await score(id, viewDepthOf(model, image));
            stages.push({ stage: stage + 1, seconds: round(invertSeconds + refineSeconds, 3)!, side: sc.side, mad: sc.mad });
            await writeFileAtomic(stagesFile, JSON.stringify(stages), { force: true });
          },
        });
        const tp = performance.now();
        let depth: Float32Array;
        try {
          depth = viewDepthOf(result.model!, image);
        } finally {
          result.model!.dispose();
        }
        const s = await score(id, depth);
        // The inversion, the schedule (over every session of this image: a resumed one keeps its earlier time) and the
        // prediction; setting up the nets and reading checkpoints are left out.
        const seconds = invertSeconds + result.seconds + (performance.now() - tp) / 1000;
        await cache.put(method, {
          id,
          side: s.side,
          mad: s.mad,
          seconds: round(seconds, 3)!,
          invertSeconds: round(invertSeconds, 3)!,
          refineSeconds: round(result.seconds, 3)!,
          history: result.history,
          resumed: resume,
          loadAverage: round(load, 2)!,
          stages,
        });
        await fs.rm(outDir, { recursive: true, force: true });
        log(`${ENTRY[method]} ${k + 1}/${ids.length} ${id}: SIDE ${(s.side * 100).toFixed(3)}e-2, MAD ${s.mad.toFixed(2)}°, ${seconds.toFixed(1)} s (load ${load.toFixed(2)})`);
      }
    }

    const amortized = await cache.all('amortized', ids);
    const report: Record<string, unknown> = {
      bench: 'refine',
      createdAt: new Date().toISOString(),
      quick: args.quick,
      split: path.relative(repo, path.resolve(args.data)) || args.data,
      images: ids.length,
      ids,
      subset: 'sorted ids, index floor((i + 0.5) * len / N)',
      protocol: PROTOCOL,
      gan: { id: gan.id, step: ganStep(gan), source: gan.meta.source, path: path.relative(repo, gan.meta.path) || gan.meta.path, copy: fromRun ? path.relative(repo, ganCopy) : null },
      photogeo: { id: photogeo.id },
      parser: { id: parser.id },
      ...(inversionEncoder ? { encoder: { id: inversionEncoder.id } } : {}),
      config: { invertSteps, refine: configs },
      machine: {
        cores: os.cpus().length,
        cpu: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: round(os.totalmem() / 2 ** 30, 1),
        node: process.version,
        tfjs: tf.version.tfjs,
        backend: backend.name,
        threads: backend.threads,
        simd: backend.simd,
        loadAverageStart: loadStart.map((v) => round(v, 2)),
        loadAverageEnd: os.loadavg().map((v) => round(v, 2)),
      },
      work: path.relative(repo, work),
    };
    const rows: string[] = [];
    const show = (name: string, e: Record<string, unknown>) => {
      const side = e.side as { mean: number; std: number };
      const mad = e.mad as { mean: number; std: number };
      const secs = e.seconds_per_image as number | undefined;
      rows.push(
        `${name.padEnd(22)} SIDE ${(side.mean * 100).toFixed(3)} ± ${(side.std * 100).toFixed(3)} e-2  MAD ${mad.mean.toFixed(2)} ± ${mad.std.toFixed(2)}°` +
          `  ${String(e.images)}/${ids.length} images${secs !== undefined ? `  ${secs} s/image` : ''}`,
      );
    };
    if (amortized.length > 0) {
      report.amortized = entryOf(amortized, ids.length, false);
      show('amortized', report.amortized as Record<string, unknown>);
    }
    const improvements: Record<string, unknown> = {};
    for (const method of ['ellipsoid', 'photogeo', 'oracle'] as const) {
      const done = await cache.all(method, ids);
      if (done.length === 0) continue;
      const e = entryOf(done, ids.length, true);
      report[ENTRY[method]] = e;
      show(ENTRY[method], e);
      if (amortized.length > 0) improvements[ENTRY[method]] = relativeImprovement(amortized, done);
    }
    const pending = METHODS.filter((m) => DEFAULT_METHODS.includes(m) || args.only.includes(m)).filter((m) => !(report[ENTRY[m]] as { complete?: boolean } | undefined)?.complete).map((m) => ENTRY[m]);
    if (pending.length > 0) report.pending = { entries: pending, note: 'not (fully) run against this GAN and config: run the bench again (it continues from its cache)' };
    report.relative_improvement = { ...improvements, definition: '(amortized − refined) / amortized, on the images both have; positive = better' };
    report.targets = { mad_improvement: 0.1, side_improvement: 0.05, seconds_per_image: 180 };
    const out = args.out ? path.resolve(args.out) : path.join(repo, 'bench', 'results', args.quick ? 'refine-quick.json' : 'refine.json');
    await writeFileAtomic(out, `${JSON.stringify(report, null, 2)}\n`, { force: true });
    log(rows.join('\n'));
    log(`relative improvement: ${JSON.stringify(improvements)}`);
    log(`wrote ${path.relative(repo, out)}`);
  } finally {
    gan.dispose();
    photogeo.model.dispose();
    parser.model.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
