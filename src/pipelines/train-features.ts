// Training the feature network of the offline FID/KID (src/models/features) on SynFace's labels: the "features"
// Trainer for the shared loop (src/train/loop.ts). Images come from `<data>/train/image/*.png`, labels from
// `<data>/train/params.jsonl` (normalised by src/models/features/labels.ts); steps run data-parallel over
// src/models/features/replica.ts; evaluation scores the label regression on the val split (R² and mean abs error).
// Images are not flipped: a mirror would change the signs of yaw, roll and the light's x, and the labels with them.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import fsSync from 'node:fs';
import path from 'node:path';
import { listImageIds, loadImagesUint8 } from '../data/image-folder.js';
import { readSplitLabels } from '../data/split-labels.js';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import type { Batch, Replica } from '../engine/parallel/data-parallel.js';
import { latestCheckpoint } from '../io/checkpoint.js';
import { featureNetConfig, type FeatureNetConfig, type FeatureNetOverrides } from '../models/features/config.js';
import type { LabelSpec } from '../models/features/labels.js';
import { FeatureNet } from '../models/features/model.js';
import type { FeatureNetReplicaConfig } from '../models/features/replica.js';
import { EpochIterator, type EpochIteratorState } from '../train/data-iterator.js';
import type { DataState, Trainer, TrainerContext } from '../train/loop.js';

export const FEATURES_KIND = 'features';

/** A split of images with their normalised labels, decoded into memory. */
export interface LabeledSplit {
  dir: string;
  ids: string[];
  /** uint8 [N, S, S, 3]. */
  pixels: Uint8Array;
  /** Normalised labels [N, L]. */
  labels: Float32Array;
  size: number;
}

/** Loads the images and labels of one split (`<root>/<split>/{image/*.png,params.jsonl}`), the first `limit` ids. */
export async function loadLabeledSplit(
  root: string,
  split: string,
  labels: readonly LabelSpec[],
  size: number,
  options: { limit?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<LabeledSplit> {
  const splitDir = path.join(root, split);
  const imageDir = path.join(splitDir, 'image');
  const ids = listImageIds(imageDir).slice(0, options.limit);
  const y = await readSplitLabels(splitDir, ids, labels);
  const pixels = await loadImagesUint8(imageDir, ids, size, options.onProgress);
  return { dir: splitDir, ids, pixels, labels: y, size };
}

/** Images `[start, start + n)` of a split as a [-1,1] float array. */
function toSigned(split: LabeledSplit, indices: readonly number[]): Float32Array {
  const per = split.size * split.size * 3;
  const out = new Float32Array(indices.length * per);
  indices.forEach((index, b) => {
    const src = split.pixels.subarray(index * per, (index + 1) * per);
    for (let i = 0; i < per; i++) out[b * per + i] = src[i] / 127.5 - 1;
  });
  return out;
}

/** Per-label R² and mean absolute error (in the label's own units, angles in degrees) of predictions against truth. */
export function labelErrors(pred: Float32Array, truth: Float32Array, labels: readonly LabelSpec[]): {
  /** NaN for a label that is constant in `truth`. */
  r2: Record<string, number>;
  mae: Record<string, number>;
  /** Mean R² over the labels that vary in `truth` (R² is undefined for a constant label). */
  meanR2: number;
  /** Mean over labels of the abs error of the normalised labels (range [-1, 1]). */
  meanAbsNormalized: number;
} {
  const l = labels.length;
  const n = truth.length / l;
  const r2: Record<string, number> = {};
  const mae: Record<string, number> = {};
  let sumR2 = 0;
  let withR2 = 0;
  let sumAbs = 0;
  labels.forEach((spec, j) => {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += truth[i * l + j];
    mean /= n;
    let sse = 0;
    let sst = 0;
    let abs = 0;
    for (let i = 0; i < n; i++) {
      const t = truth[i * l + j];
      const e = pred[i * l + j] - t;
      sse += e * e;
      sst += (t - mean) * (t - mean);
      abs += Math.abs(e);
    }
    const scale = ((spec.hi - spec.lo) / 2) * (spec.unit === 'rad' ? 180 / Math.PI : 1);
    r2[spec.name] = sst > 0 ? 1 - sse / sst : Number.NaN;
    mae[spec.name] = (abs / n) * scale;
    if (sst > 0) {
      sumR2 += r2[spec.name];
      withR2++;
    }
    sumAbs += abs / n;
  });
  return { r2, mae, meanR2: withR2 > 0 ? sumR2 / withR2 : Number.NaN, meanAbsNormalized: sumAbs / l };
}

export interface FeaturesTrainerOptions {
  /** Dataset root with `train/{image,params.jsonl}` (and `val/` for evaluation). */
  data: string;
  seed: number;
  model?: FeatureNetOverrides;
  /** Validation images per evaluation (the first in id order; default 500). */
  evalImages?: number;
  /** Images per forward pass during evaluation (default 100). */
  evalBatch?: number;
  onLoadProgress?: (done: number, total: number) => void;
}

/** The trainer's config, as written into every checkpoint and checked on resume. */
export interface FeaturesTrainerConfig {
  seed: number;
  model: FeatureNetConfig;
  data: { root: string; split: 'train'; images: number; imageSize: number; flipProbability: 0 };
  optimizer: { kind: 'adam'; learningRate: number };
  loss: 'mse of the normalised labels';
}

type FeaturesReplica = Replica & { model: FeatureNet };

function replicaModule(): string {
  // From source the workers load the .ts module through tsx; the compiled package has the .js beside it.
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`../models/features/replica.${ext}`, import.meta.url).href;
}

function modelOf(replica: Replica): FeatureNet {
  const model = (replica as Partial<FeaturesReplica>).model;
  if (!(model instanceof FeatureNet)) throw new Gan3dError('The features trainer was handed a replica without a FeatureNet.', 'TRAIN_BAD_OPTION');
  return model;
}

/** Normalised label predictions of `model` for the images of `split`, in chunks of `batch`. */
export function predictSplit(model: FeatureNet, split: LabeledSplit, batch: number): Float32Array {
  const n = split.ids.length;
  const l = model.config.labels.length;
  const out = new Float32Array(n * l);
  for (let start = 0; start < n; start += batch) {
    const idx = Array.from({ length: Math.min(batch, n - start) }, (_, i) => start + i);
    const y = tf.tidy(() => model.predict(tf.tensor4d(toSigned(split, idx), [idx.length, split.size, split.size, 3])));
    out.set(y.dataSync() as Float32Array, start * l);
    y.dispose();
  }
  return out;
}

/** The seed and model config a run in `outDir` was trained with (from its newest checkpoint), or null. */
export async function savedFeaturesSettings(outDir: string): Promise<{ seed: number; model: FeatureNetConfig } | null> {
  const ckpt = await latestCheckpoint(path.join(outDir, 'checkpoints'));
  if (!ckpt) return null;
  try {
    const json = JSON.parse(await fs.readFile(path.join(ckpt, 'checkpoint.json'), 'utf8')) as { config?: { trainer?: Partial<FeaturesTrainerConfig> } };
    const t = json.config?.trainer;
    return t && typeof t.seed === 'number' && t.model ? { seed: t.seed, model: t.model } : null;
  } catch {
    return null; // the loop's own resume reports a corrupt checkpoint properly
  }
}

/** Builds the features Trainer: decodes the train split and its labels into memory. */
export async function createFeaturesTrainer(options: FeaturesTrainerOptions): Promise<Trainer & { config: FeaturesTrainerConfig }> {
  const root = path.resolve(options.data);
  if (!fsSync.existsSync(root)) throw new Gan3dError(`${options.data}: no such data folder. Make one with \`gan3d data synface --out ${options.data}\`.`, 'NO_DATA');
  await initBackend();
  const model = featureNetConfig(options.model ?? {});
  const evalImages = options.evalImages ?? 500;
  const evalBatch = options.evalBatch ?? 100;
  if (!(Number.isInteger(evalImages) && evalImages >= 1)) throw new Gan3dError(`evalImages must be a whole number ≥ 1, got ${evalImages}.`, 'TRAIN_BAD_OPTION');

  const probe = new FeatureNet(options.seed, model);
  const variableNames = [...probe.namedVariables().keys()];
  probe.dispose();

  const train = await loadLabeledSplit(root, 'train', model.labels, model.imageSize, { onProgress: options.onLoadProgress });
  const iterator = new EpochIterator(train.ids.length, options.seed);
  let val: LabeledSplit | null = null;
  const l = model.labels.length;
  const per = model.imageSize * model.imageSize * 3;

  const config: FeaturesTrainerConfig = {
    seed: options.seed,
    model,
    data: { root, split: 'train', images: train.ids.length, imageSize: model.imageSize, flipProbability: 0 },
    optimizer: { kind: 'adam', learningRate: model.lr },
    loss: 'mse of the normalised labels',
  };
  const replicaConfig: FeatureNetReplicaConfig = { seed: options.seed, model };

  return {
    kind: FEATURES_KIND,
    config,
    replicaSpec: { moduleUrl: replicaModule(), config: replicaConfig },
    adam: { learningRate: model.lr },
    variableNames,
    examplesPerEpoch: train.ids.length,
    nextBatch(_rng, batchSize): Batch {
      const idx = iterator.next(batchSize);
      const labels = new Float32Array(batchSize * l);
      idx.forEach((i, b) => labels.set(train.labels.subarray(i * l, (i + 1) * l), b * l));
      const images = toSigned(train, idx);
      if (images.length !== batchSize * per) throw new Gan3dError('Internal: batch size mismatch.', 'BAD_SHAPE');
      return { images: { data: images, shape: [batchSize, model.imageSize, model.imageSize, 3] }, labels: { data: labels, shape: [batchSize, l] } };
    },
    getDataState: () => iterator.getState() as unknown as DataState,
    setDataState: (s) => iterator.setState(s as unknown as EpochIteratorState),

    async evaluate(ctx: TrainerContext): Promise<Record<string, number>> {
      const m = modelOf(ctx.replica);
      // Decoded once per session: evaluations repeat on the same images.
      val ??= await loadLabeledSplit(root, 'val', model.labels, model.imageSize, { limit: evalImages });
      const e = labelErrors(predictSplit(m, val, evalBatch), val.labels, model.labels);
      const round = (x: number) => Math.round(x * 1e5) / 1e5;
      return {
        val_r2: round(e.meanR2),
        val_mae: round(e.meanAbsNormalized),
        ...Object.fromEntries(Object.entries(e.r2).map(([k, v]) => [`r2_${k}`, round(v)])),
        ...Object.fromEntries(Object.entries(e.mae).map(([k, v]) => [`mae_${k}`, round(v)])),
      };
    },
  };
}
