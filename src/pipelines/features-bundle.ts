// The feature network of the offline FID/KID as a self-contained folder (models/features/), in the gan3d-model format
// of the photogeo bundle (model-bundle.ts) with kind "features":
//
//   <dir>/model.json    format + version, kind, model id, the full FeatureNetConfig (labels and their ranges
//                       included), the variable manifest (name, shape, dtype, byte offset, byte length), weights file
//                       size + SHA-256, and `training` (checkpoint step, seed, data, val metrics…)
//   <dir>/weights.bin   every variable as float32 little-endian, concatenated in manifest order
//
// `loadFeatureModel` also reads training checkpoints and run folders. Below the bundle code: the features of a folder
// of images, and the realism score (FID and KID of two folders, src/metrics/) with its real-versus-real floor.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import fsSync from 'node:fs';
import * as path from 'node:path';
import { listImageIds, loadImageBatch } from '../data/image-folder.js';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { writeFilesAtomic } from '../io/atomic-write.js';
import { checkVariables, fromLittleEndian, latestCheckpoint, loadCheckpoint, sha256, toLittleEndian } from '../io/checkpoint.js';
import { gan3dVersion } from '../io/version.js';
import { featureStats, frechetDistance } from '../metrics/fid.js';
import type { FeatureNetConfig, FeatureNetOverrides } from '../models/features/config.js';
import { FeatureNet } from '../models/features/model.js';
import { realismScore, type RealismOptions, type RealismScore } from '../metrics/realism.js';
import { MODEL_BUNDLE_FORMAT, MODEL_BUNDLE_VERSION, MODEL_JSON, MODEL_WEIGHTS, trainingMetaOf, type BundleVariable, type SaveBundleOptions } from './model-bundle.js';
import { FEATURES_KIND } from './train-features.js';

/** Where `gan3d score` looks for the feature network when --model is not given. */
export const DEFAULT_FEATURES_DIR = 'models/features';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

export interface FeatureBundleJson {
  format: typeof MODEL_BUNDLE_FORMAT;
  formatVersion: number;
  kind: typeof FEATURES_KIND;
  id: string;
  config: FeatureNetConfig;
  weights: { file: string; dtype: 'float32'; byteOrder: 'little-endian'; bytes: number; sha256: string };
  variables: BundleVariable[];
  parameters: number;
  /** Says what the scores made with these features are, and are not. */
  note: string;
  training: Record<string, unknown>;
  createdAt: string;
  gan3d: string;
}

export const FEATURES_NOTE =
  'Features of a small CNN trained here to regress SynFace labels (pose, light, shape, expression, albedo). FID/KID ' +
  'computed on them are NOT comparable to Inception FID/KID or to any published number; compare them only with ' +
  'scores from the same bundle, beside the real-versus-real floor.';

export interface LoadedFeatureModel {
  model: FeatureNet;
  id: string;
  config: FeatureNetConfig;
  meta: { source: 'bundle' | 'checkpoint'; path: string; training: Record<string, unknown>; createdAt: string; gan3dVersion: string };
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
  'Train one with `gan3d train features --data data/synface --out runs/features --export models/features`, ' +
  'or pass a bundle, checkpoint or run folder with --model.';

/** Writes `model` as a bundle into `dir`: weights.bin, then model.json. Refuses to replace a bundle unless `force`. */
export async function saveFeatureBundle(
  dir: string,
  model: FeatureNet,
  meta: { id: string; training?: Record<string, unknown> },
  options: SaveBundleOptions = {},
): Promise<string> {
  if (!ID_RE.test(meta.id)) {
    throw new Gan3dError(`Model id "${meta.id}" is not allowed: use up to 128 letters, digits and . _ - @ + (starting with a letter or digit).`, 'BAD_ARGUMENT');
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
  const flat = new Float32Array(model.parameterCount());
  let at = 0;
  for (const [name, v] of model.namedVariables()) {
    const data = v.dataSync() as Float32Array;
    variables.push({ name, shape: [...v.shape], dtype: 'float32', offset: at * 4, byteLength: data.length * 4 });
    flat.set(data, at);
    at += data.length;
  }
  const weights = toLittleEndian(flat);
  const doc: FeatureBundleJson = {
    format: MODEL_BUNDLE_FORMAT,
    formatVersion: MODEL_BUNDLE_VERSION,
    kind: FEATURES_KIND,
    id: meta.id,
    config: model.config,
    weights: { file: MODEL_WEIGHTS, dtype: 'float32', byteOrder: 'little-endian', bytes: weights.length, sha256: sha256(weights) },
    variables,
    parameters: flat.length,
    note: FEATURES_NOTE,
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

function buildModel(config: unknown, where: string, missing: () => Gan3dError): FeatureNet {
  if (!isObject(config)) throw missing();
  try {
    return new FeatureNet(0, config as FeatureNetOverrides);
  } catch (e) {
    if (e instanceof Gan3dError) throw new Gan3dError(`${where}: ${e.message}`, e.code);
    throw e;
  }
}

function assign(v: tf.Variable, data: Float32Array): void {
  tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
}

/** Loads a bundle written by {@link saveFeatureBundle}, checking every name, shape, byte count and the digest. */
export async function loadFeatureBundle(dir: string): Promise<LoadedFeatureModel> {
  await initBackend();
  const corrupt = (what: string) => new Gan3dError(`Model bundle ${dir} is corrupt: ${what}. Export it again (gan3d train features --export).`, 'MODEL_CORRUPT');
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
    throw new Gan3dError(`Model bundle ${dir} has format version ${String(doc.formatVersion)}; this gan3d reads version ${MODEL_BUNDLE_VERSION}.`, 'MODEL_VERSION');
  }
  if (doc.kind !== FEATURES_KIND) {
    throw new Gan3dError(`Model bundle ${dir} holds a "${String(doc.kind)}" model, not a feature network ("${FEATURES_KIND}"). ${HOW_TO_MAKE}`, 'MODEL_INCOMPATIBLE');
  }
  if (typeof doc.id !== 'string') throw corrupt('the model id is missing');
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
  const model = buildModel(doc.config, `Model bundle ${dir}`, () => corrupt('it has no model config'));
  try {
    const targets = [...model.namedVariables()];
    const names = (list: { name: string; shape: readonly number[] }[]) => list.map((v) => `${v.name}${shapeText(v.shape)}`).join(' ');
    if (names(manifest) !== names(targets.map(([name, v]) => ({ name, shape: v.shape })))) {
      throw new Gan3dError(`Model bundle ${dir} does not match the network its config builds (variable names or shapes differ). Export it again.`, 'MODEL_INCOMPATIBLE');
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

/** Loads the feature network of a `gan3d train features` checkpoint folder or checkpoints root. */
export async function loadFeatureCheckpoint(dir: string): Promise<LoadedFeatureModel> {
  await initBackend();
  const ckpt = await loadCheckpoint(dir, { kind: FEATURES_KIND });
  const config = isObject(ckpt.config) && isObject(ckpt.config.trainer) ? ckpt.config.trainer.model : undefined;
  const model = buildModel(
    config,
    `Checkpoint ${ckpt.path}`,
    () => new Gan3dError(`Checkpoint ${ckpt.path} is not a features checkpoint: it has no model config (expected config.trainer.model).`, 'CHECKPOINT_INCOMPATIBLE'),
  );
  try {
    const targets = [...model.namedVariables()];
    checkVariables(ckpt.path, ckpt.variables, targets.map(([name, v]) => ({ name, shape: [...v.shape] })));
    ckpt.variables.forEach((v, i) => assign(targets[i][1], v.data));
  } catch (e) {
    model.dispose();
    throw e;
  }
  const run = path.basename(path.dirname(path.dirname(path.resolve(ckpt.path))));
  const id = `${run}-step${ckpt.step}`.replace(/[^A-Za-z0-9._@+-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return {
    model,
    id: ID_RE.test(id) ? id : `features-step${ckpt.step}`,
    config: model.config,
    meta: { source: 'checkpoint', path: ckpt.path, training: trainingMetaOf(ckpt), createdAt: ckpt.createdAt, gan3dVersion: 'unknown' },
  };
}

/** Loads a feature network from a bundle, a checkpoint folder, a run folder or a checkpoints root. */
export async function loadFeatureModel(source: string): Promise<LoadedFeatureModel> {
  const st = await statOf(source);
  if (!st) throw new Gan3dError(`No feature network at ${source}: no such file or folder. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
  if (!st.isDirectory()) throw new Gan3dError(`${source} is a file; give the folder of a feature bundle, a training checkpoint or a training run.`, 'MODEL_NOT_FOUND');
  if (await statOf(path.join(source, MODEL_JSON))) return loadFeatureBundle(source);
  if (await statOf(path.join(source, 'checkpoint.json'))) return loadFeatureCheckpoint(source);
  const runCheckpoints = path.join(source, 'checkpoints');
  const newest = await latestCheckpoint((await statOf(runCheckpoints))?.isDirectory() ? runCheckpoints : source);
  if (newest) return loadFeatureCheckpoint(newest);
  throw new Gan3dError(`${source} is not a feature network: it holds no ${MODEL_JSON}, no checkpoint.json and no checkpoints/. ${HOW_TO_MAKE}`, 'MODEL_NOT_FOUND');
}

/** Reads a checkpoint, run or bundle and writes it as a bundle into `outDir`. */
export async function exportFeatureBundle(
  source: string,
  outDir: string,
  options: { id?: string; force?: boolean } = {},
): Promise<{ dir: string; id: string; parameters: number; bytes: number }> {
  if (path.resolve(source) === path.resolve(outDir)) throw new Gan3dError('The source and the export folder are the same: choose another.', 'BAD_ARGUMENT');
  const loaded = await loadFeatureModel(source);
  try {
    const id = options.id ?? loaded.id;
    await saveFeatureBundle(outDir, loaded.model, { id, training: loaded.meta.training }, { force: options.force });
    const parameters = loaded.model.parameterCount();
    return { dir: outDir, id, parameters, bytes: parameters * 4 };
  } finally {
    loaded.model.dispose();
  }
}

// ---- scoring ----

/** The folder of PNGs a path names: `<dir>/image/` when it is a data split, else `<dir>` itself. */
export function resolveImageDir(dir: string): string {
  const split = path.join(dir, 'image');
  return fsSync.existsSync(split) && fsSync.statSync(split).isDirectory() ? split : dir;
}

/** Features [N, featureDim] of the images `ids` of `dir` (centre square resized to 64), in chunks of `batch`. */
export async function folderFeatures(model: FeatureNet, dir: string, ids: readonly string[], batch = 100): Promise<Float32Array> {
  const d = model.config.featureDim;
  const out = new Float32Array(ids.length * d);
  for (let start = 0; start < ids.length; start += batch) {
    const chunk = ids.slice(start, start + batch);
    const images = await loadImageBatch(dir, chunk, model.config.imageSize);
    const f = tf.tidy(() => model.features(tf.tensor4d(images.data, images.shape as [number, number, number, number])));
    out.set(f.dataSync() as Float32Array, start * d);
    f.dispose();
  }
  return out;
}

export interface ScoreOptions extends RealismOptions {
  /** Images per forward pass (default 100). */
  batch?: number;
  /** Use at most this many images of each folder (the first in id order). */
  limit?: number;
  /** Also report the spread of each predicted label over both folders (labelSpread). */
  labels?: boolean;
}

export interface FolderScore extends RealismScore {
  images_real: number;
  images_fake: number;
  features_model: string;
  real: string;
  fake: string;
  labels?: LabelSpread[];
  /** With `labels`: the label pairs whose correlation differs most between real and fake (largest first). */
  label_correlations?: LabelCorrelationGap[];
}

/** Mean and std (over the images) of one label the network's head predicts, in its normalised units ([−1, 1] over
 *  the SynFace sampling range), for the real and the generated folder. */
export interface LabelSpread {
  label: string;
  real_mean: number;
  real_std: number;
  fake_mean: number;
  fake_std: number;
  /** fake_std / real_std: below 1, the generator varies that factor less than the data does. */
  std_ratio: number;
}

/** Which factors a generator under- or over-represents: the spread of each predicted label (the network's head on the
 *  features) over the real and the generated images. */
export function labelSpread(loaded: LoadedFeatureModel, real: Float32Array, fake: Float32Array): LabelSpread[] {
  const d = loaded.config.featureDim;
  const predict = (f: Float32Array) => tf.tidy(() => loaded.model.head(tf.tensor2d(f, [f.length / d, d])).dataSync() as Float32Array);
  const L = loaded.config.labels.length;
  const stats = (p: Float32Array, j: number) => {
    const n = p.length / L;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += p[i * L + j] / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (p[i * L + j] - mean) ** 2;
    return { mean, std: Math.sqrt(v / Math.max(1, n - 1)) };
  };
  const [pr, pf] = [predict(real), predict(fake)];
  return loaded.config.labels.map((spec, j) => {
    const [r, f] = [stats(pr, j), stats(pf, j)];
    return { label: spec.name, real_mean: r.mean, real_std: r.std, fake_mean: f.mean, fake_std: f.std, std_ratio: r.std > 0 ? f.std / r.std : Number.NaN };
  });
}

/** Two predicted labels whose correlation over the generated images differs from that over the real ones. */
export interface LabelCorrelationGap {
  labels: [string, string];
  real_corr: number;
  fake_corr: number;
  /** fake_corr − real_corr. */
  gap: number;
}

/**
 * The label pairs whose correlation differs most between two sets of predictions ([n, L] row-major each), largest
 * |gap| first. Measured on SynFace (models/gan, 1,000 samples): most of the FID sits in the label subspace and much
 * of it in such pairs — factors the data draws independently that the generator ties together (entanglement), which
 * the per-label std ratios cannot show.
 */
export function correlationGaps(real: Float32Array, fake: Float32Array, names: readonly string[], top = 8): LabelCorrelationGap[] {
  const L = names.length;
  const corr = (p: Float32Array) => {
    const n = p.length / L;
    if (!Number.isInteger(n) || n < 2) throw new Gan3dError(`Label correlations need at least 2 rows of ${L} labels, got ${p.length} values.`, 'BAD_ARGUMENT');
    const mean = new Float64Array(L);
    for (let i = 0; i < n; i++) for (let j = 0; j < L; j++) mean[j] += p[i * L + j] / n;
    const c = new Float64Array(L * L);
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < L; a++) {
        const da = p[i * L + a] - mean[a];
        for (let b = a; b < L; b++) c[a * L + b] += da * (p[i * L + b] - mean[b]);
      }
    }
    return (a: number, b: number) => {
      const den = Math.sqrt(c[a * L + a] * c[b * L + b]);
      return den > 0 ? c[a * L + b] / den : 0;
    };
  };
  const [cr, cf] = [corr(real), corr(fake)];
  const out: LabelCorrelationGap[] = [];
  for (let a = 0; a < L; a++) {
    for (let b = a + 1; b < L; b++) {
      const [r, f] = [cr(a, b), cf(a, b)];
      out.push({ labels: [names[a], names[b]], real_corr: r, fake_corr: f, gap: f - r });
    }
  }
  return out.sort((x, y) => Math.abs(y.gap) - Math.abs(x.gap)).slice(0, top);
}

/** The predicted-label pairs (the network's head on the features) whose correlation differs most between the real and
 *  the generated images (correlationGaps). */
export function labelCorrelationGaps(loaded: LoadedFeatureModel, real: Float32Array, fake: Float32Array, top = 8): LabelCorrelationGap[] {
  const d = loaded.config.featureDim;
  const predict = (f: Float32Array) => tf.tidy(() => loaded.model.head(tf.tensor2d(f, [f.length / d, d])).dataSync() as Float32Array);
  return correlationGaps(predict(real), predict(fake), loaded.config.labels.map((l) => l.name), top);
}

/**
 * The Fréchet distance on the predicted labels (the network's head on the features), whole and with each label taken
 * on its own (diagonal covariances: Σ Δmean² + Σ (std_real − std_fake)²). Their difference is the part that comes from
 * how the labels co-vary (entanglement); the diagonal part from their spreads and means.
 */
export function labelFrechet(loaded: LoadedFeatureModel, real: Float32Array, fake: Float32Array): { label_fid: number; label_fid_independent: number } {
  const d = loaded.config.featureDim;
  const L = loaded.config.labels.length;
  const predict = (f: Float32Array) => tf.tidy(() => loaded.model.head(tf.tensor2d(f, [f.length / d, d])).dataSync() as Float32Array);
  const [pr, pf] = [predict(real), predict(fake)];
  const [sr, sf] = [featureStats(pr, L), featureStats(pf, L)];
  let independent = 0;
  for (let j = 0; j < L; j++) independent += (sr.mean[j] - sf.mean[j]) ** 2 + (Math.sqrt(sr.cov[j * L + j]) - Math.sqrt(sf.cov[j * L + j])) ** 2;
  return { label_fid: frechetDistance(sr.mean, sr.cov, sf.mean, sf.cov), label_fid_independent: independent };
}

/** How closely images show given labels: per label, the Pearson correlation and the RMS difference (normalised units)
 *  between the labels and the network's predictions for the images. */
export interface LabelAgreement {
  label: string;
  r: number;
  rmse: number;
}

/**
 * Agreement between `labels` [N, names.length] (normalised, e.g. a conditional GAN's conditioning labels) and the
 * labels the network's head predicts from `features` [N, featureDim] of the same images. On real images with their
 * true labels it measures the regressor; on a conditional GAN's samples, how well they follow their labels. Each name
 * must be one of the network's labels.
 */
export function labelAgreement(loaded: LoadedFeatureModel, features: Float32Array, labels: Float32Array, names: readonly string[]): LabelAgreement[] {
  const d = loaded.config.featureDim;
  const L = loaded.config.labels.length;
  const n = features.length / d;
  if (labels.length !== n * names.length) {
    throw new Gan3dError(`labelAgreement: ${labels.length / Math.max(1, names.length)} label rows for ${n} images.`, 'BAD_ARGUMENT');
  }
  const pred = tf.tidy(() => loaded.model.head(tf.tensor2d(features, [n, d])).dataSync() as Float32Array);
  return names.map((name, j) => {
    const k = loaded.config.labels.findIndex((l) => l.name === name);
    if (k < 0) throw new Gan3dError(`labelAgreement: the feature network does not predict "${name}".`, 'BAD_ARGUMENT');
    let [ma, mb] = [0, 0];
    for (let i = 0; i < n; i++) {
      ma += labels[i * names.length + j] / n;
      mb += pred[i * L + k] / n;
    }
    let [sab, saa, sbb, sq] = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const a = labels[i * names.length + j] - ma;
      const b = pred[i * L + k] - mb;
      sab += a * b;
      saa += a * a;
      sbb += b * b;
      sq += (labels[i * names.length + j] - pred[i * L + k]) ** 2;
    }
    return { label: name, r: saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : Number.NaN, rmse: Math.sqrt(sq / n) };
  });
}

/** FID and KID between the images of two folders, on the features of `loaded`. */
export async function scoreFolders(loaded: LoadedFeatureModel, realDir: string, fakeDir: string, options: ScoreOptions = {}): Promise<FolderScore> {
  const real = resolveImageDir(realDir);
  const fake = resolveImageDir(fakeDir);
  const realIds = listImageIds(real).slice(0, options.limit);
  // `gan3d sample` writes its samples tiled into grid.png beside them: that file is not a sample.
  const fakeIds = listImageIds(fake)
    .filter((id) => id !== 'grid')
    .slice(0, options.limit);
  const fr = await folderFeatures(loaded.model, real, realIds, options.batch);
  const ff = await folderFeatures(loaded.model, fake, fakeIds, options.batch);
  const s = realismScore(fr, ff, loaded.config.featureDim, options);
  return {
    ...s,
    images_real: realIds.length,
    images_fake: fakeIds.length,
    features_model: loaded.id,
    real,
    fake,
    ...(options.labels ? { labels: labelSpread(loaded, fr, ff), label_correlations: labelCorrelationGaps(loaded, fr, ff) } : {}),
  };
}

/**
 * The floor: the score of two disjoint halves of one folder of real images (even and odd positions in id order), what
 * a generator indistinguishable from the data would get with this many images. `model` is a loaded network or where
 * to load one from (default models/features).
 */
export async function realismFloor(testDir: string, options: ScoreOptions & { model?: LoadedFeatureModel | string } = {}): Promise<FolderScore> {
  const dir = resolveImageDir(testDir);
  const ids = listImageIds(dir).slice(0, options.limit);
  if (ids.length < 4) throw new Gan3dError(`${dir}: the floor needs at least 4 images (two halves of 2), found ${ids.length}.`, 'NO_DATA');
  const owned = typeof options.model === 'object' ? null : await loadFeatureModel(options.model ?? DEFAULT_FEATURES_DIR);
  const loaded = owned ?? (options.model as LoadedFeatureModel);
  try {
    const features = await folderFeatures(loaded.model, dir, ids, options.batch);
    const d = loaded.config.featureDim;
    const half = (parity: number) => {
      const rows = ids.map((_, i) => i).filter((i) => i % 2 === parity);
      const out = new Float32Array(rows.length * d);
      rows.forEach((r, k) => out.set(features.subarray(r * d, (r + 1) * d), k * d));
      return out;
    };
    const a = half(0);
    const b = half(1);
    const s = realismScore(a, b, d, options);
    return { ...s, images_real: a.length / d, images_fake: b.length / d, features_model: loaded.id, real: `${dir} (even)`, fake: `${dir} (odd)` };
  } finally {
    owned?.model.dispose();
  }
}
