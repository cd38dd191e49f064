// A trained StyleGAN prior as a self-contained folder for inference (models/gan/), in the same gan3d-model format as
// the photogeo bundle (model-bundle.ts), with kind "stylegan":
//
//   <dir>/model.json    format + version, kind, model id, the full StyleGanConfig, the variable manifest (name, shape,
//                       dtype, byte offset, byte length), weights file size + SHA-256, and `training` (checkpoint step,
//                       seed, data, …) so the model says where it came from
//   <dir>/weights.bin   every variable as float32 little-endian, concatenated in manifest order
//
// It holds what inference needs, under the names the training checkpoint gives them: the EMA generator (G_ema/…, the
// one samples are drawn from) with its tracked mean w (G_ema/w_avg, the truncation centre), then the discriminator
// (D/…; GAN2Shape's inversion loss uses its features). The raw generator, the optimizer and data states stay in the
// checkpoint. `loadGanModel` also reads training checkpoints and run folders, so sampling works on a run in progress.
// `sampleGan` draws the samples `gan3d sample` writes: sample i of seed s has z = Rng(s + i).normalArray(zDim), one
// seed per image as in StyleGAN's generate.py, so any single sample can be drawn again on its own.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import { writeFilesAtomic } from '../io/atomic-write.js';
import { fromLittleEndian, latestCheckpoint, loadCheckpoint, sha256, toLittleEndian } from '../io/checkpoint.js';
import { gan3dVersion } from '../io/version.js';
import { Discriminator, Generator, styleGanConfig, type StyleGanConfig } from '../models/stylegan/index.js';
import {
  MODEL_BUNDLE_FORMAT,
  MODEL_BUNDLE_VERSION,
  MODEL_JSON,
  MODEL_WEIGHTS,
  trainingMetaOf,
  type BundleVariable,
  type SaveBundleOptions,
} from './model-bundle.js';

export const GAN_KIND = 'stylegan';
/** Where `gan3d sample` looks for a GAN when --model is not given, and where `model export` writes one. */
export const DEFAULT_GAN_DIR = 'models/gan';
/** Prefixes of the bundle's (and the checkpoint's) variable names. */
const G_PREFIX = 'G_ema/';
const D_PREFIX = 'D/';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
/** Largest truncation ψ `sampleGan` accepts: beyond 1 extrapolates away from the mean w (more variety, less quality). */
export const MAX_TRUNCATION_PSI = 2;
/** Images per generator forward pass in `sampleGan` (bounds memory for large n). */
const SAMPLE_BATCH = 16;

/** The JSON document stored as model.json. */
export interface GanBundleJson {
  format: typeof MODEL_BUNDLE_FORMAT;
  formatVersion: number;
  kind: typeof GAN_KIND;
  id: string;
  config: StyleGanConfig;
  weights: { file: string; dtype: 'float32'; byteOrder: 'little-endian'; bytes: number; sha256: string };
  variables: BundleVariable[];
  /** Scalars in weights.bin (generator, mean w and discriminator). */
  parameters: number;
  generatorParameters: number;
  discriminatorParameters: number;
  training: Record<string, unknown>;
  createdAt: string;
  gan3d: string;
}

/** The networks a GAN bundle holds. */
export interface GanNetworks {
  /** The EMA generator, with its tracked mean w. */
  generator: Generator;
  discriminator: Discriminator;
}

export interface GanBundleMeta {
  /** Names the model in every output's metadata (letters, digits, . _ - @ +). */
  id: string;
  /** Where the weights came from (checkpoint step, seed, trainer config…); any JSON. */
  training?: Record<string, unknown>;
}

/** Where a loaded GAN came from, and what it says about itself. */
export interface GanModelMeta {
  source: 'bundle' | 'checkpoint';
  /** The bundle or checkpoint folder read. */
  path: string;
  training: Record<string, unknown>;
  createdAt: string;
  /** gan3d version that wrote the bundle (for a checkpoint: unknown). */
  gan3dVersion: string;
}

export interface LoadedGan extends GanNetworks {
  id: string;
  config: StyleGanConfig;
  meta: GanModelMeta;
  /** Releases both networks' tensors. */
  dispose(): void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const shapeText = (s: readonly number[]) => `[${s.join(',')}]`;

async function statOf(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}

const HOW_TO_MAKE =
  'Train one with `gan3d train gan --data data/synface/train` and export it with ' +
  '`gan3d model export runs/gan --out models/gan`, or give a bundle, checkpoint or run folder to the command\'s GAN option ' +
  '(--model for sample and invert, --gan for refine, reconstruct --refine and train encoder).';

function checkId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new Gan3dError(`Model id "${id}" is not allowed: use up to 128 letters, digits and . _ - @ + (starting with a letter or digit).`, 'BAD_ARGUMENT');
  }
}

/** The variables a GAN bundle holds, in bundle order: EMA generator, its mean w, discriminator. */
export function ganVariables(gan: GanNetworks): Map<string, tf.Variable> {
  return new Map([...gan.generator.namedVariables(G_PREFIX), ...gan.generator.namedBuffers(G_PREFIX), ...gan.discriminator.namedVariables(D_PREFIX)]);
}

/**
 * Writes the generator (with its mean w) and the discriminator as a bundle into `dir` (created when missing):
 * weights.bin, then model.json, each through a temp file and a rename. Refuses to replace an existing bundle unless
 * `force`; other files of the folder (a MODEL_CARD.md) are left alone. Returns the folder.
 */
export async function saveGanBundle(dir: string, gan: GanNetworks, meta: GanBundleMeta, options: SaveBundleOptions = {}): Promise<string> {
  checkId(meta.id);
  if (JSON.stringify(gan.generator.config) !== JSON.stringify(gan.discriminator.config)) {
    throw new Gan3dError('The generator and the discriminator were built from different configs; a GAN bundle holds one config.', 'BAD_ARGUMENT');
  }
  const st = await statOf(dir);
  if (st && !st.isDirectory()) throw new Gan3dError(`Cannot write a model bundle to ${dir}: it is a file. Choose a folder.`, 'IO_NOT_A_FOLDER');
  if (st && !options.force) {
    const existing = [];
    for (const f of [MODEL_JSON, MODEL_WEIGHTS]) if (await statOf(path.join(dir, f))) existing.push(f);
    if (existing.length > 0) {
      throw new Gan3dError(`${dir} already holds a model bundle (${existing.join(', ')}): pass --force (force: true) to replace it.`, 'MODEL_EXISTS');
    }
  }
  const variables: BundleVariable[] = [];
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, v] of ganVariables(gan)) {
    if (v.dtype !== 'float32') throw new Gan3dError(`Variable ${name} is ${v.dtype}; bundles hold float32 only.`, 'BAD_ARGUMENT');
    const data = v.dataSync() as Float32Array;
    variables.push({ name, shape: [...v.shape], dtype: 'float32', offset, byteLength: data.length * 4 });
    parts.push(data);
    offset += data.length * 4;
  }
  const flat = new Float32Array(offset / 4);
  let at = 0;
  for (const p of parts) {
    flat.set(p, at);
    at += p.length;
  }
  const weights = toLittleEndian(flat);
  const generatorParameters = gan.generator.parameterCount();
  const discriminatorParameters = gan.discriminator.parameterCount();
  const doc: GanBundleJson = {
    format: MODEL_BUNDLE_FORMAT,
    formatVersion: MODEL_BUNDLE_VERSION,
    kind: GAN_KIND,
    id: meta.id,
    config: gan.generator.config,
    weights: { file: MODEL_WEIGHTS, dtype: 'float32', byteOrder: 'little-endian', bytes: weights.length, sha256: sha256(weights) },
    variables,
    parameters: flat.length,
    generatorParameters,
    discriminatorParameters,
    training: meta.training ?? {},
    createdAt: new Date().toISOString(),
    gan3d: gan3dVersion(),
  };
  // Weights first, JSON last: a folder whose model.json matches its weights.bin (size and digest) is complete.
  await writeFilesAtomic(
    [
      { path: path.join(dir, MODEL_WEIGHTS), data: weights },
      { path: path.join(dir, MODEL_JSON), data: `${JSON.stringify(doc, null, 2)}\n` },
    ],
    { force: options.force },
  );
  return dir;
}

/** Builds G and D for `config` (their initial weights are overwritten), reporting a bad config as a problem of `where`. */
function buildNetworks(config: unknown, where: string, missing: () => Gan3dError): GanNetworks {
  if (!isObject(config)) throw missing();
  let c: StyleGanConfig;
  try {
    // Fields missing from an older file take today's defaults.
    c = styleGanConfig(config as Partial<StyleGanConfig>);
  } catch (e) {
    if (e instanceof Gan3dError) throw new Gan3dError(`${where}: ${e.message}`, e.code);
    throw e;
  }
  const rng = new Rng(0);
  return { generator: new Generator(rng, c), discriminator: new Discriminator(rng, c) };
}

function disposeNetworks(gan: GanNetworks): void {
  gan.generator.dispose();
  gan.discriminator.dispose();
}

/** Copies `data` into `v`. */
function assign(v: tf.Variable, data: Float32Array): void {
  tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
}

function loaded(gan: GanNetworks, id: string, meta: GanModelMeta): LoadedGan {
  return { ...gan, id, config: gan.generator.config, meta, dispose: () => disposeNetworks(gan) };
}

function bundleCorrupt(dir: string, what: string): Gan3dError {
  return new Gan3dError(`Model bundle ${dir} is corrupt: ${what}. Export it again with \`gan3d model export\`.`, 'MODEL_CORRUPT');
}

/** Loads a bundle written by {@link saveGanBundle}, checking every name, shape and byte count. */
export async function loadGanBundle(dir: string): Promise<LoadedGan> {
  await initBackend();
  const st = await statOf(dir);
  if (!st) throw new Gan3dError(`No GAN bundle at ${dir}: no such folder. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
  if (!st.isDirectory()) throw new Gan3dError(`${dir} is a file, not a model bundle folder (with ${MODEL_JSON} and ${MODEL_WEIGHTS}).`, 'MODEL_NOT_FOUND');
  const corrupt = (what: string) => bundleCorrupt(dir, what);
  const jsonPath = path.join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await fs.readFile(jsonPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Gan3dError(`${dir} is not a model bundle: ${MODEL_JSON} is missing. ${HOW_TO_MAKE}`, 'MODEL_MISSING_FILE');
    }
    throw new Gan3dError(`Cannot read ${jsonPath}: ${(e as Error).message}.`, 'MODEL_READ_FAILED');
  }
  let doc: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) throw new Error('not an object');
    doc = parsed;
  } catch {
    throw corrupt(`${MODEL_JSON} is not valid JSON (truncated?)`);
  }
  if (doc.format !== MODEL_BUNDLE_FORMAT) throw corrupt(`${MODEL_JSON} is not a gan3d model (format "${String(doc.format)}")`);
  if (doc.formatVersion !== MODEL_BUNDLE_VERSION) {
    throw new Gan3dError(
      `Model bundle ${dir} has format version ${String(doc.formatVersion)}; this gan3d reads version ${MODEL_BUNDLE_VERSION}. ` +
        'Use the gan3d version that wrote it, or export the model again.',
      'MODEL_VERSION',
    );
  }
  if (doc.kind !== GAN_KIND) {
    throw new Gan3dError(`Model bundle ${dir} holds a "${String(doc.kind)}" model, not a GAN ("${GAN_KIND}"). ${HOW_TO_MAKE}`, 'MODEL_INCOMPATIBLE');
  }
  if (typeof doc.id !== 'string') throw corrupt('the model id is missing');
  const w = doc.weights;
  if (!isObject(w) || w.file !== MODEL_WEIGHTS || !isCount(w.bytes) || typeof w.sha256 !== 'string' || w.dtype !== 'float32' || w.byteOrder !== 'little-endian') {
    throw corrupt(`the weights entry of ${MODEL_JSON} is malformed`);
  }
  if (!Array.isArray(doc.variables)) throw corrupt('the variable manifest is missing');
  let offset = 0;
  const manifest = doc.variables.map((e, i) => {
    const ok =
      isObject(e) &&
      typeof e.name === 'string' &&
      Array.isArray(e.shape) &&
      e.shape.every(isCount) &&
      e.dtype === 'float32' &&
      e.offset === offset &&
      e.byteLength === 4 * (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (!ok) throw corrupt(`manifest entry ${i} is malformed or out of order`);
    offset += e.byteLength as number;
    return e as unknown as BundleVariable;
  });
  if (offset !== w.bytes) throw corrupt(`the manifest covers ${offset} bytes but ${MODEL_JSON} gives ${MODEL_WEIGHTS} ${w.bytes} bytes`);

  const gan = buildNetworks(doc.config, `Model bundle ${dir}`, () => corrupt('it has no model config'));
  try {
    const targets = [...ganVariables(gan)];
    const mismatch = (what: string) =>
      new Gan3dError(`Model bundle ${dir} does not match the GAN its config builds: ${what}. Export it again with \`gan3d model export\`.`, 'MODEL_INCOMPATIBLE');
    for (let i = 0; i < Math.min(manifest.length, targets.length); i++) {
      const a = manifest[i];
      const [name, v] = targets[i];
      if (a.name !== name || shapeText(a.shape) !== shapeText(v.shape)) {
        throw mismatch(`variable ${i} is "${a.name}" ${shapeText(a.shape)} in ${MODEL_JSON} but "${name}" ${shapeText(v.shape)} in the model`);
      }
    }
    if (manifest.length !== targets.length) throw mismatch(`${MODEL_JSON} lists ${manifest.length} variables, the model has ${targets.length}`);
    const weightsPath = path.join(dir, MODEL_WEIGHTS);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await fs.readFile(weightsPath));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Gan3dError(`Model bundle ${dir} is incomplete: ${MODEL_WEIGHTS} is missing. Export it again with \`gan3d model export\`.`, 'MODEL_MISSING_FILE');
      }
      throw new Gan3dError(`Cannot read ${weightsPath}: ${(e as Error).message}.`, 'MODEL_READ_FAILED');
    }
    if (bytes.length !== w.bytes) {
      throw new Gan3dError(
        `Model bundle ${dir} is truncated or mismatched: ${MODEL_WEIGHTS} has ${bytes.length} bytes, ${MODEL_JSON} says ${w.bytes}. ` +
          'Export it again with `gan3d model export`.',
        'MODEL_SIZE_MISMATCH',
      );
    }
    if (sha256(bytes) !== w.sha256) throw corrupt(`${MODEL_WEIGHTS} does not match the SHA-256 digest in ${MODEL_JSON}`);
    const flat = fromLittleEndian(bytes);
    manifest.forEach((e, i) => assign(targets[i][1], flat.subarray(e.offset / 4, (e.offset + e.byteLength) / 4)));
  } catch (e) {
    disposeNetworks(gan);
    throw e;
  }
  return loaded(gan, doc.id, {
    source: 'bundle',
    path: dir,
    training: isObject(doc.training) ? doc.training : {},
    createdAt: typeof doc.createdAt === 'string' ? doc.createdAt : '',
    gan3dVersion: typeof doc.gan3d === 'string' ? doc.gan3d : 'unknown',
  });
}

/** A readable default id for a checkpoint: "<run folder>-step<step>". */
function checkpointId(dir: string, step: number): string {
  const abs = path.resolve(dir);
  const parent = path.dirname(abs);
  const run = path.basename(parent) === 'checkpoints' ? path.basename(path.dirname(parent)) : path.basename(abs);
  const id = `${run}-step${step}`.replace(/[^A-Za-z0-9._@+-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return ID_RE.test(id) ? id : `${GAN_KIND}-step${step}`;
}

/**
 * Loads the EMA generator (with its mean w) and the discriminator of a `gan3d train gan` checkpoint folder
 * (ckpt-XXXXXXXX) or checkpoints root. The checkpoint's raw generator and optimizer state are not needed.
 */
export async function loadGanCheckpoint(dir: string): Promise<LoadedGan> {
  await initBackend();
  const ckpt = await loadCheckpoint(dir, { kind: GAN_KIND });
  const config = isObject(ckpt.config) && isObject(ckpt.config.trainer) ? ckpt.config.trainer.model : undefined;
  const gan = buildNetworks(
    config,
    `Checkpoint ${ckpt.path}`,
    () => new Gan3dError(`Checkpoint ${ckpt.path} is not a GAN training checkpoint: it has no model config (expected config.trainer.model).`, 'CHECKPOINT_INCOMPATIBLE'),
  );
  try {
    const byName = new Map(ckpt.variables.map((v) => [v.name, v]));
    const mismatch = (what: string) =>
      new Gan3dError(
        `Checkpoint ${ckpt.path} does not match the GAN its config builds: ${what}. Use a checkpoint written by \`gan3d train gan\`.`,
        'CHECKPOINT_INCOMPATIBLE',
      );
    const targets = [...ganVariables(gan)];
    for (const [name, v] of targets) {
      const saved = byName.get(name);
      if (!saved) throw mismatch(`it has no variable "${name}"`);
      if (shapeText(saved.shape) !== shapeText(v.shape)) {
        throw mismatch(`variable "${name}" is ${shapeText(saved.shape)} in the checkpoint but ${shapeText(v.shape)} in the model`);
      }
    }
    for (const [name, v] of targets) assign(v, byName.get(name)!.data);
  } catch (e) {
    disposeNetworks(gan);
    throw e;
  }
  return loaded(gan, checkpointId(ckpt.path, ckpt.step), {
    source: 'checkpoint',
    path: ckpt.path,
    training: trainingMetaOf(ckpt),
    createdAt: ckpt.createdAt,
    gan3dVersion: 'unknown',
  });
}

/**
 * Loads a GAN from a bundle folder (model.json), a training checkpoint folder (checkpoint.json), a run folder (its
 * newest checkpoint under checkpoints/), or a checkpoints root. Initialises the tensor backend first.
 */
export async function loadGanModel(source: string): Promise<LoadedGan> {
  const st = await statOf(source);
  if (!st) throw new Gan3dError(`No GAN at ${source}: no such file or folder. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
  if (!st.isDirectory()) {
    throw new Gan3dError(`${source} is a file; give the folder of a GAN bundle, a training checkpoint or a training run.`, 'MODEL_NOT_FOUND');
  }
  if (await statOf(path.join(source, MODEL_JSON))) return loadGanBundle(source);
  if (await statOf(path.join(source, 'checkpoint.json'))) return loadGanCheckpoint(source);
  const runCheckpoints = path.join(source, 'checkpoints');
  if ((await statOf(runCheckpoints))?.isDirectory()) {
    const newest = await latestCheckpoint(runCheckpoints);
    if (!newest) {
      throw new Gan3dError(`The training run ${source} has no checkpoint yet; wait for the first one (see --checkpoint-every) or pass another model.`, 'MODEL_NOT_FOUND');
    }
    return loadGanCheckpoint(newest);
  }
  const newest = await latestCheckpoint(source);
  if (newest) return loadGanCheckpoint(newest);
  throw new Gan3dError(
    `${source} is not a model: it holds no ${MODEL_JSON} (bundle), no checkpoint.json (checkpoint) and no checkpoints/ (training run). ${HOW_TO_MAKE}`,
    'MODEL_NOT_FOUND',
  );
}

/**
 * The `kind` a model folder declares ("photogeo", "stylegan", …) without loading any weights: from a bundle's
 * model.json, a checkpoint's checkpoint.json, or a run's (or checkpoints root's) newest checkpoint. Null when the
 * folder is none of these or the file cannot be read; the loaders report why.
 */
export async function detectModelKind(source: string): Promise<string | null> {
  const kindIn = async (file: string): Promise<string | null> => {
    try {
      const doc: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
      return isObject(doc) && typeof doc.kind === 'string' ? doc.kind : null;
    } catch {
      return null;
    }
  };
  if (!(await statOf(source))?.isDirectory()) return null;
  if (await statOf(path.join(source, MODEL_JSON))) return kindIn(path.join(source, MODEL_JSON));
  if (await statOf(path.join(source, 'checkpoint.json'))) return kindIn(path.join(source, 'checkpoint.json'));
  const runCheckpoints = path.join(source, 'checkpoints');
  const newest = (await statOf(runCheckpoints))?.isDirectory() ? await latestCheckpoint(runCheckpoints) : await latestCheckpoint(source);
  return newest ? kindIn(path.join(newest, 'checkpoint.json')) : null;
}

export interface ExportGanOptions {
  /** Model id (default: "<run>-step<step>" for a checkpoint, the source's id for a bundle). */
  id?: string;
  force?: boolean;
}

/** `gan3d model export` for a GAN: reads a checkpoint, run or bundle and writes it as a bundle into `outDir`. */
export async function exportGanBundle(
  source: string,
  outDir: string,
  options: ExportGanOptions = {},
): Promise<{ dir: string; id: string; generatorParameters: number; discriminatorParameters: number; bytes: number; training: Record<string, unknown> }> {
  if (options.id !== undefined) checkId(options.id);
  if (path.resolve(source) === path.resolve(outDir)) throw new Gan3dError('The source and --out are the same folder: choose another --out.', 'BAD_ARGUMENT');
  const gan = await loadGanModel(source);
  try {
    const id = options.id ?? gan.id;
    await saveGanBundle(outDir, gan, { id, training: gan.meta.training }, { force: options.force });
    const bytes = [...ganVariables(gan).values()].reduce((a, v) => a + 4 * v.size, 0);
    return {
      dir: outDir,
      id,
      generatorParameters: gan.generator.parameterCount(),
      discriminatorParameters: gan.discriminator.parameterCount(),
      bytes,
      training: gan.meta.training,
    };
  } finally {
    gan.dispose();
  }
}

export interface SampleGanOptions {
  /** Number of samples (≥ 1). */
  n: number;
  /** Truncation ψ toward the generator's tracked mean w, in [0, MAX_TRUNCATION_PSI]: 0 gives the mean-w image for every sample, 1 none. */
  psi: number;
  /** Sample i uses seed + i; seed + n - 1 must stay below 2^32. */
  seed: number;
  /** A conditional GAN's labels to hold fixed, by name, normalised ([-1, 1] over the SynFace range); the others are
   *  drawn from the label bank. Refused by an unconditional GAN. */
  fixedLabels?: Record<string, number>;
}

export interface GanSamples {
  /** [n, R, R, 3] images, row-major, not clamped (about [-1, 1]). */
  images: Float32Array;
  /** [n, zDim] latents. */
  z: Float32Array;
  /** [n, wDim] latents after truncation: `generator.synthesize(w)` draws the images again. */
  w: Float32Array;
  /** The seed of each sample (seed + i). */
  seeds: number[];
  /** A conditional GAN's labels [n, L] (normalised; names in `labelNames`), or null. */
  labels: Float32Array | null;
  labelNames: string[];
  n: number;
  resolution: number;
  psi: number;
}

/**
 * Draws n samples of the generator without per-layer noise: z_i = Rng(seed + i).normalArray(zDim), w_i = the mean w +
 * ψ (mapping(z_i) − the mean w), image_i = synthesize(w_i). Deterministic for a seed. A conditional GAN draws sample i's
 * labels from its label bank with the same Rng after z (a row picked uniformly), then sets the fixed ones.
 */
export function sampleGan(generator: Generator, options: SampleGanOptions): GanSamples {
  const { n, psi, seed } = options;
  if (!Number.isInteger(n) || n < 1) throw new Gan3dError(`The number of samples must be a whole number ≥ 1, got ${n}.`, 'BAD_ARGUMENT');
  if (!(psi >= 0 && psi <= MAX_TRUNCATION_PSI)) {
    throw new Gan3dError(`The truncation ψ must be in [0, ${MAX_TRUNCATION_PSI}] (1: none, 0: the mean-w image), got ${psi}.`, 'BAD_ARGUMENT');
  }
  if (!Number.isInteger(seed) || seed < 0 || seed + n - 1 > 0xffff_ffff) {
    throw new Gan3dError(`The seed must be a whole number ≥ 0 with seed + n − 1 ≤ ${0xffff_ffff}, got ${seed} for ${n} samples.`, 'BAD_ARGUMENT');
  }
  const { zDim, wDim, resolution: R } = generator.config;
  const seeds = Array.from({ length: n }, (_, i) => seed + i);
  const z = new Float32Array(n * zDim);
  const labelNames = generator.config.conditionLabels ?? [];
  const L = labelNames.length;
  const fixed = Object.entries(options.fixedLabels ?? {});
  if (fixed.length > 0 && L === 0) throw new Gan3dError('This GAN is unconditional: it takes no labels.', 'BAD_ARGUMENT');
  for (const [name, value] of fixed) {
    if (!labelNames.includes(name)) throw new Gan3dError(`This GAN is not conditional on "${name}": its labels are ${labelNames.join(', ')}.`, 'BAD_ARGUMENT');
    if (!Number.isFinite(value)) throw new Gan3dError(`Label ${name}: not a number (${value}).`, 'BAD_ARGUMENT');
  }
  const labels = L > 0 ? new Float32Array(n * L) : null;
  seeds.forEach((s, i) => {
    const rng = new Rng(s);
    z.set(rng.normalArray(zDim), i * zDim);
    if (labels) {
      labels.set(generator.drawLabels(rng, 1)!, i * L);
      for (const [name, value] of fixed) labels[i * L + labelNames.indexOf(name)] = value;
    }
  });
  const w = new Float32Array(n * wDim);
  const images = new Float32Array(n * R * R * 3);
  for (let start = 0; start < n; start += SAMPLE_BATCH) {
    const b = Math.min(SAMPLE_BATCH, n - start);
    const [wb, xb] = tf.tidy(() => {
      const c = labels ? tf.tensor2d(labels.subarray(start * L, (start + b) * L), [b, L]) : undefined;
      const wt = generator.truncate(generator.mapping(tf.tensor2d(z.subarray(start * zDim, (start + b) * zDim), [b, zDim]), c), psi);
      return [wt.dataSync() as Float32Array, generator.synthesize(wt).dataSync() as Float32Array];
    });
    w.set(wb, start * wDim);
    images.set(xb, start * R * R * 3);
  }
  return { images, z, w, seeds, labels, labelNames, n, resolution: R, psi };
}
