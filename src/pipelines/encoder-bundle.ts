// The GAN-inversion encoder as a self-contained folder (models/gan-encoder/), in the gan3d-model format of the other
// bundles (model-bundle.ts) with kind "encoder":
//
//   <dir>/model.json    format + version, kind, model id, the full EncoderConfig, the id (and config summary) of the
//                       GAN it was trained for, the variable manifest (name, shape, dtype, byte offset, byte length),
//                       weights file size + SHA-256, and `training` (checkpoint step, seed, eval metrics…)
//   <dir>/weights.bin   every variable as float32 little-endian, concatenated in manifest order
//
// The encoder predicts an offset from its GAN's mean w, so it is only meaningful with that GAN: the bundle records
// the GAN's id, and `encoderGanWarning` says so (one line) when an inversion pairs it with another.
// `loadEncoderModel` also reads training checkpoints and run folders.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { writeFilesAtomic } from '../io/atomic-write.js';
import { checkVariables, fromLittleEndian, latestCheckpoint, loadCheckpoint, sha256, toLittleEndian } from '../io/checkpoint.js';
import { gan3dVersion } from '../io/version.js';
import { Encoder, type EncoderConfig, type EncoderOverrides } from '../models/encoder/index.js';
import { MODEL_BUNDLE_FORMAT, MODEL_BUNDLE_VERSION, MODEL_JSON, MODEL_WEIGHTS, trainingMetaOf, type BundleVariable, type SaveBundleOptions } from './model-bundle.js';
import { ENCODER_KIND, type EncoderTrainerConfig } from './train-encoder.js';

/** Where `gan3d invert` looks for an encoder when --encoder is not given, and where `model export` writes one. */
export const DEFAULT_ENCODER_DIR = 'models/gan-encoder';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

/** What an encoder records about the GAN it was trained for. */
export type EncoderGanInfo = EncoderTrainerConfig['gan'];

export interface EncoderBundleJson {
  format: typeof MODEL_BUNDLE_FORMAT;
  formatVersion: number;
  kind: typeof ENCODER_KIND;
  id: string;
  config: EncoderConfig;
  gan: EncoderGanInfo;
  weights: { file: string; dtype: 'float32'; byteOrder: 'little-endian'; bytes: number; sha256: string };
  variables: BundleVariable[];
  parameters: number;
  training: Record<string, unknown>;
  createdAt: string;
  gan3d: string;
}

export interface LoadedEncoder {
  encoder: Encoder;
  id: string;
  config: EncoderConfig;
  /** The GAN it was trained for. */
  gan: EncoderGanInfo;
  meta: { source: 'bundle' | 'checkpoint'; path: string; training: Record<string, unknown>; createdAt: string; gan3dVersion: string };
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
  'Train one with `gan3d train encoder --gan <GAN> --out runs/encoder --steps N` and export it with ' +
  '`gan3d model export runs/encoder --out models/gan-encoder`, or pass a bundle, checkpoint or run folder with --encoder.';

function checkId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new Gan3dError(`Model id "${id}" is not allowed: use up to 128 letters, digits and . _ - @ + (starting with a letter or digit).`, 'BAD_ARGUMENT');
  }
}

function ganInfoOf(v: unknown): EncoderGanInfo | null {
  if (!isObject(v) || typeof v.id !== 'string' || !isCount(v.resolution) || !isCount(v.wDim)) return null;
  return {
    id: v.id,
    resolution: v.resolution,
    zDim: isCount(v.zDim) ? v.zDim : 0,
    wDim: v.wDim,
    numWs: isCount(v.numWs) ? v.numWs : 0,
    step: typeof v.step === 'number' ? v.step : null,
  };
}

/** Writes the encoder as a bundle into `dir`: weights.bin, then model.json. Refuses to replace a bundle unless `force`. */
export async function saveEncoderBundle(
  dir: string,
  encoder: Encoder,
  meta: { id: string; gan: EncoderGanInfo; training?: Record<string, unknown> },
  options: SaveBundleOptions = {},
): Promise<string> {
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
  const flat = new Float32Array(encoder.parameterCount());
  let at = 0;
  for (const [name, v] of encoder.namedVariables()) {
    const data = v.dataSync() as Float32Array;
    variables.push({ name, shape: [...v.shape], dtype: 'float32', offset: at * 4, byteLength: data.length * 4 });
    flat.set(data, at);
    at += data.length;
  }
  const weights = toLittleEndian(flat);
  const doc: EncoderBundleJson = {
    format: MODEL_BUNDLE_FORMAT,
    formatVersion: MODEL_BUNDLE_VERSION,
    kind: ENCODER_KIND,
    id: meta.id,
    config: encoder.config,
    gan: meta.gan,
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

function buildEncoder(config: unknown, where: string, missing: () => Gan3dError): Encoder {
  if (!isObject(config)) throw missing();
  try {
    return new Encoder(0, config as EncoderOverrides);
  } catch (e) {
    if (e instanceof Gan3dError) throw new Gan3dError(`${where}: ${e.message}`, e.code);
    throw e;
  }
}

function assign(v: tf.Variable, data: Float32Array): void {
  tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
}

function loadedEncoder(encoder: Encoder, id: string, gan: EncoderGanInfo, meta: LoadedEncoder['meta']): LoadedEncoder {
  return { encoder, id, config: encoder.config, gan, meta, dispose: () => encoder.dispose() };
}

/** Loads a bundle written by {@link saveEncoderBundle}, checking every name, shape, byte count and the digest. */
export async function loadEncoderBundle(dir: string): Promise<LoadedEncoder> {
  await initBackend();
  const corrupt = (what: string) => new Gan3dError(`Model bundle ${dir} is corrupt: ${what}. Export it again with \`gan3d model export\`.`, 'MODEL_CORRUPT');
  const jsonPath = path.join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await fs.readFile(jsonPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Gan3dError(`${dir} is not a model bundle: ${MODEL_JSON} is missing. ${HOW_TO_MAKE}`, 'MODEL_MISSING_FILE');
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
      `Model bundle ${dir} has format version ${String(doc.formatVersion)}; this gan3d reads version ${MODEL_BUNDLE_VERSION}. Export it again.`,
      'MODEL_VERSION',
    );
  }
  if (doc.kind !== ENCODER_KIND) {
    throw new Gan3dError(`Model bundle ${dir} holds a "${String(doc.kind)}" model, not a GAN-inversion encoder ("${ENCODER_KIND}"). ${HOW_TO_MAKE}`, 'MODEL_INCOMPATIBLE');
  }
  if (typeof doc.id !== 'string') throw corrupt('the model id is missing');
  const gan = ganInfoOf(doc.gan);
  if (!gan) throw corrupt('it does not say which GAN it was trained for (the "gan" entry)');
  const w = doc.weights;
  if (!isObject(w) || w.file !== MODEL_WEIGHTS || !isCount(w.bytes) || typeof w.sha256 !== 'string') throw corrupt(`the weights entry of ${MODEL_JSON} is malformed`);
  if (!Array.isArray(doc.variables)) throw corrupt('the variable manifest is missing');
  let offset = 0;
  const manifest = doc.variables.map((e, i) => {
    const ok =
      isObject(e) &&
      typeof e.name === 'string' &&
      Array.isArray(e.shape) &&
      e.shape.every(isCount) &&
      e.offset === offset &&
      e.byteLength === 4 * (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (!ok) throw corrupt(`manifest entry ${i} is malformed or out of order`);
    offset += e.byteLength as number;
    return e as unknown as BundleVariable;
  });
  if (offset !== w.bytes) throw corrupt(`the manifest covers ${offset} bytes but ${MODEL_JSON} gives ${MODEL_WEIGHTS} ${w.bytes} bytes`);
  const encoder = buildEncoder(doc.config, `Model bundle ${dir}`, () => corrupt('it has no model config'));
  try {
    const targets = [...encoder.namedVariables()];
    const names = (list: { name: string; shape: readonly number[] }[]) => list.map((v) => `${v.name}${shapeText(v.shape)}`).join(' ');
    if (names(manifest) !== names(targets.map(([name, v]) => ({ name, shape: v.shape })))) {
      throw new Gan3dError(`Model bundle ${dir} does not match the encoder its config builds (variable names or shapes differ). Export it again.`, 'MODEL_INCOMPATIBLE');
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await fs.readFile(path.join(dir, MODEL_WEIGHTS)));
    } catch {
      throw new Gan3dError(`Model bundle ${dir} is incomplete: ${MODEL_WEIGHTS} is missing or unreadable. Export it again.`, 'MODEL_MISSING_FILE');
    }
    if (bytes.length !== w.bytes) {
      throw new Gan3dError(`Model bundle ${dir} is truncated or mismatched: ${MODEL_WEIGHTS} has ${bytes.length} bytes, ${MODEL_JSON} says ${w.bytes}.`, 'MODEL_SIZE_MISMATCH');
    }
    if (sha256(bytes) !== w.sha256) throw corrupt(`${MODEL_WEIGHTS} does not match the SHA-256 digest in ${MODEL_JSON}`);
    const flat = fromLittleEndian(bytes);
    manifest.forEach((e, i) => assign(targets[i][1], flat.subarray(e.offset / 4, (e.offset + e.byteLength) / 4)));
  } catch (e) {
    encoder.dispose();
    throw e;
  }
  return loadedEncoder(encoder, doc.id, gan, {
    source: 'bundle',
    path: dir,
    training: isObject(doc.training) ? doc.training : {},
    createdAt: typeof doc.createdAt === 'string' ? doc.createdAt : '',
    gan3dVersion: typeof doc.gan3d === 'string' ? doc.gan3d : 'unknown',
  });
}

/** Loads the encoder of a `gan3d train encoder` checkpoint folder or checkpoints root. */
export async function loadEncoderCheckpoint(dir: string): Promise<LoadedEncoder> {
  await initBackend();
  const ckpt = await loadCheckpoint(dir, { kind: ENCODER_KIND });
  const trainer = isObject(ckpt.config) && isObject(ckpt.config.trainer) ? ckpt.config.trainer : {};
  const encoder = buildEncoder(
    trainer.model,
    `Checkpoint ${ckpt.path}`,
    () => new Gan3dError(`Checkpoint ${ckpt.path} is not an encoder checkpoint: it has no model config (expected config.trainer.model).`, 'CHECKPOINT_INCOMPATIBLE'),
  );
  let gan: EncoderGanInfo | null;
  try {
    gan = ganInfoOf(trainer.gan);
    if (!gan) throw new Gan3dError(`Checkpoint ${ckpt.path} does not say which GAN the encoder was trained for (config.trainer.gan).`, 'CHECKPOINT_INCOMPATIBLE');
    const targets = [...encoder.namedVariables()];
    checkVariables(ckpt.path, ckpt.variables, targets.map(([name, v]) => ({ name, shape: [...v.shape] })));
    ckpt.variables.forEach((v, i) => assign(targets[i][1], v.data));
  } catch (e) {
    encoder.dispose();
    throw e;
  }
  const run = path.basename(path.dirname(path.dirname(path.resolve(ckpt.path))));
  const id = `${run}-step${ckpt.step}`.replace(/[^A-Za-z0-9._@+-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return loadedEncoder(encoder, ID_RE.test(id) ? id : `encoder-step${ckpt.step}`, gan, {
    source: 'checkpoint',
    path: ckpt.path,
    training: trainingMetaOf(ckpt),
    createdAt: ckpt.createdAt,
    gan3dVersion: 'unknown',
  });
}

/** Loads an encoder from a bundle, a checkpoint folder, a run folder or a checkpoints root. */
export async function loadEncoderModel(source: string): Promise<LoadedEncoder> {
  const st = await statOf(source);
  if (!st) throw new Gan3dError(`No encoder at ${source}: no such file or folder. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
  if (!st.isDirectory()) throw new Gan3dError(`${source} is a file; give the folder of an encoder bundle, a training checkpoint or a training run.`, 'MODEL_NOT_FOUND');
  if (await statOf(path.join(source, MODEL_JSON))) return loadEncoderBundle(source);
  if (await statOf(path.join(source, 'checkpoint.json'))) return loadEncoderCheckpoint(source);
  const runCheckpoints = path.join(source, 'checkpoints');
  const newest = await latestCheckpoint((await statOf(runCheckpoints))?.isDirectory() ? runCheckpoints : source);
  if (newest) return loadEncoderCheckpoint(newest);
  throw new Gan3dError(`${source} is not an encoder: it holds no ${MODEL_JSON}, no checkpoint.json and no checkpoints/. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
}

/** `gan3d model export` for an encoder: reads a checkpoint, run or bundle and writes it as a bundle into `outDir`. */
export async function exportEncoderBundle(
  source: string,
  outDir: string,
  options: { id?: string; force?: boolean } = {},
): Promise<{ dir: string; id: string; gan: EncoderGanInfo; parameters: number; bytes: number; training: Record<string, unknown> }> {
  if (options.id !== undefined) checkId(options.id);
  if (path.resolve(source) === path.resolve(outDir)) throw new Gan3dError('The source and --out are the same folder: choose another --out.', 'BAD_ARGUMENT');
  const loaded = await loadEncoderModel(source);
  try {
    const id = options.id ?? loaded.id;
    await saveEncoderBundle(outDir, loaded.encoder, { id, gan: loaded.gan, training: loaded.meta.training }, { force: options.force });
    const parameters = loaded.encoder.parameterCount();
    return { dir: outDir, id, gan: loaded.gan, parameters, bytes: parameters * 4, training: loaded.meta.training };
  } finally {
    loaded.dispose();
  }
}

/**
 * A one-line warning when `encoder` was trained for another GAN than the one given (by id), else null. Shapes that do
 * not fit at all are an error in invertImages instead.
 */
export function encoderGanWarning(encoder: Pick<LoadedEncoder, 'id' | 'gan'>, ganId: string): string | null {
  if (encoder.gan.id === ganId) return null;
  return `warning: encoder "${encoder.id}" was trained for GAN "${encoder.gan.id}", not "${ganId}"; its starting points may be poor (optimisation still runs).`;
}
