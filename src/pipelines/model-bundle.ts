// A trained photo-geometric model as a self-contained folder, the form models ship in (models/photogeo/):
//
//   <dir>/model.json    format + version, model id, the full PhotoGeoConfig, the variable manifest
//                       (name, shape, dtype, byte offset, byte length), weights file size + SHA-256, and a free-form
//                       `training` object (checkpoint step, seed, data, metrics…) so a model says where it came from
//   <dir>/weights.bin   every variable as float32 little-endian, concatenated in manifest order
//
// Unlike a training checkpoint it holds no optimizer state and no data-iterator state: it is for inference only.
// Other files in the folder (a MODEL_CARD.md) are left alone. `loadPhotoGeoModel` also reads training checkpoints and
// run folders directly, so eval and reconstruct work on a run in progress.
// (File reading lives here, next to the model it builds, rather than in io/, which must not depend on models/.)
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { writeFilesAtomic } from '../io/atomic-write.js';
import {
  checkVariables,
  fromLittleEndian,
  latestCheckpoint,
  loadCheckpoint,
  sha256,
  toLittleEndian,
  type LoadedCheckpoint,
} from '../io/checkpoint.js';
import { gan3dVersion } from '../io/version.js';
import type { PhotoGeoConfig, PhotoGeoOverrides } from '../models/photogeo/config.js';
import { PhotoGeoModel } from '../models/photogeo/model.js';

export const MODEL_BUNDLE_FORMAT = 'gan3d-model';
export const MODEL_BUNDLE_VERSION = 1;
export const MODEL_JSON = 'model.json';
export const MODEL_WEIGHTS = 'weights.bin';
/** Where `gan3d reconstruct` looks for a model when --model is not given. */
export const DEFAULT_MODEL_DIR = 'models/photogeo';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

export interface BundleVariable {
  name: string;
  shape: number[];
  dtype: 'float32';
  /** Byte offset into weights.bin. */
  offset: number;
  byteLength: number;
}

/** The JSON document stored as model.json. */
export interface PhotoGeoBundleJson {
  format: typeof MODEL_BUNDLE_FORMAT;
  formatVersion: number;
  kind: 'photogeo';
  id: string;
  config: PhotoGeoConfig;
  weights: { file: string; dtype: 'float32'; byteOrder: 'little-endian'; bytes: number; sha256: string };
  variables: BundleVariable[];
  parameters: number;
  training: Record<string, unknown>;
  createdAt: string;
  gan3d: string;
}

export interface PhotoGeoBundleMeta {
  /** Names the model in every output's metadata (letters, digits, . _ - @ +). */
  id: string;
  /** Where the weights came from (checkpoint step, seed, trainer config, metrics…); any JSON. */
  training?: Record<string, unknown>;
}

export interface SaveBundleOptions {
  /** Replace the model.json and weights.bin of an existing bundle. */
  force?: boolean;
}

/** Where a loaded model came from, and what it says about itself. */
export interface PhotoGeoModelMeta {
  source: 'bundle' | 'checkpoint';
  /** The bundle or checkpoint folder read. */
  path: string;
  training: Record<string, unknown>;
  createdAt: string;
  /** gan3d version that wrote the bundle (for a checkpoint: unknown). */
  gan3dVersion: string;
}

export interface LoadedPhotoGeoModel {
  model: PhotoGeoModel;
  id: string;
  config: PhotoGeoConfig;
  meta: PhotoGeoModelMeta;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

async function statOf(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}

const HOW_TO_MAKE =
  'Train one with `gan3d train photogeo --data data/synface` and export it with ' +
  '`gan3d model export runs/photogeo --out models/photogeo`, or pass a bundle, checkpoint or run folder with --model.';

function checkId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new Gan3dError(`Model id "${id}" is not allowed: use up to 128 letters, digits and . _ - @ + (starting with a letter or digit).`, 'BAD_ARGUMENT');
  }
}

/**
 * Writes `model` as a bundle into `dir` (created when missing): weights.bin, then model.json, each through a temp
 * file and a rename. Refuses to replace an existing bundle unless `force`. Returns the folder.
 */
export async function savePhotoGeoBundle(dir: string, model: PhotoGeoModel, meta: PhotoGeoBundleMeta, options: SaveBundleOptions = {}): Promise<string> {
  checkId(meta.id);
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
  for (const [name, v] of model.namedVariables()) {
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
  const doc: PhotoGeoBundleJson = {
    format: MODEL_BUNDLE_FORMAT,
    formatVersion: MODEL_BUNDLE_VERSION,
    kind: 'photogeo',
    id: meta.id,
    config: model.config,
    weights: { file: MODEL_WEIGHTS, dtype: 'float32', byteOrder: 'little-endian', bytes: weights.length, sha256: sha256(weights) },
    variables,
    parameters: flat.length,
    training: meta.training ?? {},
    createdAt: new Date().toISOString(),
    gan3d: gan3dVersion(),
  };
  // model.json goes last: a folder whose model.json matches its weights.bin (size and digest) is complete.
  await writeFilesAtomic(
    [
      { path: path.join(dir, MODEL_WEIGHTS), data: weights },
      { path: path.join(dir, MODEL_JSON), data: `${JSON.stringify(doc, null, 2)}\n` },
    ],
    { force: options.force },
  );
  return dir;
}

function corrupt(dir: string, what: string): Gan3dError {
  return new Gan3dError(`Model bundle ${dir} is corrupt: ${what}. Export it again with \`gan3d model export\`.`, 'MODEL_CORRUPT');
}

/** Copies `data` into the model's variables, in order. */
function assignWeights(model: PhotoGeoModel, arrays: { name: string; data: Float32Array }[]): void {
  const vars = [...model.namedVariables().values()];
  arrays.forEach((a, i) => tf.tidy(() => vars[i].assign(tf.tensor(a.data, vars[i].shape, 'float32'))));
}

/** Builds a model for `config`, reporting a bad config as a problem of the file it came from. */
function buildModel(config: unknown, where: string, asCorrupt: (what: string) => Gan3dError): PhotoGeoModel {
  if (!isObject(config)) throw asCorrupt('it has no model config');
  try {
    // Fields missing from an older file take today's defaults.
    return new PhotoGeoModel(0, config as PhotoGeoOverrides);
  } catch (e) {
    if (e instanceof Gan3dError) throw new Gan3dError(`${where}: ${e.message}`, e.code);
    throw e;
  }
}

/** Loads a bundle written by {@link savePhotoGeoBundle}, checking every name, shape and byte count. */
export async function loadPhotoGeoBundle(dir: string): Promise<LoadedPhotoGeoModel> {
  await initBackend();
  const st = await statOf(dir);
  if (!st) throw new Gan3dError(`No model bundle at ${dir}: no such folder. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
  if (!st.isDirectory()) throw new Gan3dError(`${dir} is a file, not a model bundle folder (with ${MODEL_JSON} and ${MODEL_WEIGHTS}).`, 'MODEL_NOT_FOUND');
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
    throw corrupt(dir, `${MODEL_JSON} is not valid JSON (truncated?)`);
  }
  if (doc.format !== MODEL_BUNDLE_FORMAT) throw corrupt(dir, `${MODEL_JSON} is not a gan3d model (format "${String(doc.format)}")`);
  if (doc.formatVersion !== MODEL_BUNDLE_VERSION) {
    throw new Gan3dError(
      `Model bundle ${dir} has format version ${String(doc.formatVersion)}; this gan3d reads version ${MODEL_BUNDLE_VERSION}. ` +
        'Use the gan3d version that wrote it, or export the model again.',
      'MODEL_VERSION',
    );
  }
  if (doc.kind !== 'photogeo') throw new Gan3dError(`Model bundle ${dir} holds a "${String(doc.kind)}" model, not a photogeo model.`, 'MODEL_INCOMPATIBLE');
  if (typeof doc.id !== 'string') throw corrupt(dir, 'the model id is missing');
  const w = doc.weights;
  if (!isObject(w) || w.file !== MODEL_WEIGHTS || !isCount(w.bytes) || typeof w.sha256 !== 'string' || w.dtype !== 'float32' || w.byteOrder !== 'little-endian') {
    throw corrupt(dir, `the weights entry of ${MODEL_JSON} is malformed`);
  }
  if (!Array.isArray(doc.variables)) throw corrupt(dir, 'the variable manifest is missing');
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
    if (!ok) throw corrupt(dir, `manifest entry ${i} is malformed or out of order`);
    offset += e.byteLength as number;
    return e as unknown as BundleVariable;
  });
  if (offset !== w.bytes) throw corrupt(dir, `the manifest covers ${offset} bytes but ${MODEL_JSON} gives ${MODEL_WEIGHTS} ${w.bytes} bytes`);

  const model = buildModel(doc.config, `Model bundle ${dir}`, (what) => corrupt(dir, what));
  try {
    const expected = [...model.namedVariables()].map(([name, v]) => ({ name, shape: [...v.shape] }));
    const mismatch = (what: string) =>
      new Gan3dError(`Model bundle ${dir} does not match the model its config builds: ${what}. Export it again with \`gan3d model export\`.`, 'MODEL_INCOMPATIBLE');
    const shape = (s: number[]) => `[${s.join(',')}]`;
    for (let i = 0; i < Math.min(manifest.length, expected.length); i++) {
      const a = manifest[i];
      const b = expected[i];
      if (a.name !== b.name || shape(a.shape) !== shape(b.shape)) {
        throw mismatch(`variable ${i} is "${a.name}" ${shape(a.shape)} in ${MODEL_JSON} but "${b.name}" ${shape(b.shape)} in the model`);
      }
    }
    if (manifest.length !== expected.length) throw mismatch(`${MODEL_JSON} lists ${manifest.length} variables, the model has ${expected.length}`);
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
    if (sha256(bytes) !== w.sha256) throw corrupt(dir, `${MODEL_WEIGHTS} does not match the SHA-256 digest in ${MODEL_JSON}`);
    const flat = fromLittleEndian(bytes);
    assignWeights(model, manifest.map((e) => ({ name: e.name, data: flat.subarray(e.offset / 4, (e.offset + e.byteLength) / 4) })));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return {
    model,
    id: doc.id,
    config: model.config,
    meta: {
      source: 'bundle',
      path: dir,
      training: isObject(doc.training) ? doc.training : {},
      createdAt: typeof doc.createdAt === 'string' ? doc.createdAt : '',
      gan3dVersion: typeof doc.gan3d === 'string' ? doc.gan3d : 'unknown',
    },
  };
}

/** What a checkpoint says about how its weights were made: copied into a bundle's `training`. */
export function trainingMetaOf(ckpt: LoadedCheckpoint): Record<string, unknown> {
  const config = isObject(ckpt.config) ? ckpt.config : {};
  const trainer = isObject(config.trainer) ? config.trainer : {};
  const { model: _model, ...trainerRest } = trainer;
  return {
    checkpoint: path.resolve(ckpt.path),
    step: ckpt.step,
    epoch: ckpt.epoch,
    seed: trainer.seed,
    elapsedSeconds: ckpt.elapsedSeconds,
    metrics: ckpt.metrics,
    checkpointCreatedAt: ckpt.createdAt,
    trainer: trainerRest,
    training: config.training ?? null,
    engine: ckpt.engine,
  };
}

/** A readable default id for a checkpoint: "<run folder>-step<step>". */
function checkpointId(dir: string, step: number): string {
  const abs = path.resolve(dir);
  const parent = path.dirname(abs);
  const run = path.basename(parent) === 'checkpoints' ? path.basename(path.dirname(parent)) : path.basename(abs);
  const id = `${run}-step${step}`.replace(/[^A-Za-z0-9._@+-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return ID_RE.test(id) ? id : `photogeo-step${step}`;
}

/** Loads the photogeo weights of a training checkpoint folder (ckpt-XXXXXXXX) or a checkpoints root. */
export async function loadPhotoGeoCheckpoint(dir: string): Promise<LoadedPhotoGeoModel> {
  await initBackend();
  const ckpt = await loadCheckpoint(dir, { kind: 'photogeo' });
  const config = isObject(ckpt.config) && isObject(ckpt.config.trainer) ? ckpt.config.trainer.model : undefined;
  const asCorrupt = (what: string) =>
    new Gan3dError(`Checkpoint ${ckpt.path} is not a photogeo training checkpoint: ${what} (expected config.trainer.model).`, 'CHECKPOINT_INCOMPATIBLE');
  const model = buildModel(config, `Checkpoint ${ckpt.path}`, asCorrupt);
  try {
    const expected = [...model.namedVariables()].map(([name, v]) => ({ name, shape: [...v.shape] }));
    checkVariables(ckpt.path, ckpt.variables, expected);
    assignWeights(model, ckpt.variables);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return {
    model,
    id: checkpointId(ckpt.path, ckpt.step),
    config: model.config,
    meta: { source: 'checkpoint', path: ckpt.path, training: trainingMetaOf(ckpt), createdAt: ckpt.createdAt, gan3dVersion: 'unknown' },
  };
}

/**
 * Loads a photogeo model from a bundle folder (model.json), a training checkpoint folder (checkpoint.json), a run
 * folder (its newest checkpoint under checkpoints/), or a checkpoints root. Initialises the tensor backend first.
 */
export async function loadPhotoGeoModel(source: string): Promise<LoadedPhotoGeoModel> {
  const st = await statOf(source);
  if (!st) throw new Gan3dError(`No model at ${source}: no such file or folder. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
  if (!st.isDirectory()) {
    throw new Gan3dError(`${source} is a file; give the folder of a model bundle, a training checkpoint or a training run.`, 'MODEL_NOT_FOUND');
  }
  if (await statOf(path.join(source, MODEL_JSON))) return loadPhotoGeoBundle(source);
  if (await statOf(path.join(source, 'checkpoint.json'))) return loadPhotoGeoCheckpoint(source);
  const runCheckpoints = path.join(source, 'checkpoints');
  if ((await statOf(runCheckpoints))?.isDirectory()) {
    const newest = await latestCheckpoint(runCheckpoints);
    if (!newest) {
      throw new Gan3dError(`The training run ${source} has no checkpoint yet; wait for the first one (see --checkpoint-every) or pass another model.`, 'MODEL_NOT_FOUND');
    }
    return loadPhotoGeoCheckpoint(newest);
  }
  const newest = await latestCheckpoint(source);
  if (newest) return loadPhotoGeoCheckpoint(newest);
  throw new Gan3dError(
    `${source} is not a model: it holds no ${MODEL_JSON} (bundle), no checkpoint.json (checkpoint) and no checkpoints/ (training run). ${HOW_TO_MAKE}`,
    'MODEL_NOT_FOUND',
  );
}

export interface ExportBundleOptions {
  /** Model id (default: "<run>-step<step>" for a checkpoint, the source's id for a bundle). */
  id?: string;
  force?: boolean;
}

/** `gan3d model export`: reads a checkpoint, run or bundle and writes it as a bundle into `outDir`. */
export async function exportPhotoGeoBundle(
  source: string,
  outDir: string,
  options: ExportBundleOptions = {},
): Promise<{ dir: string; id: string; parameters: number; bytes: number; training: Record<string, unknown> }> {
  if (options.id !== undefined) checkId(options.id);
  if (path.resolve(source) === path.resolve(outDir)) throw new Gan3dError('The source and --out are the same folder: choose another --out.', 'BAD_ARGUMENT');
  const loaded = await loadPhotoGeoModel(source);
  try {
    const id = options.id ?? loaded.id;
    await savePhotoGeoBundle(outDir, loaded.model, { id, training: loaded.meta.training }, { force: options.force });
    const parameters = loaded.model.parameterCount();
    return { dir: outDir, id, parameters, bytes: parameters * 4, training: loaded.meta.training };
  } finally {
    loaded.model.dispose();
  }
}
