// Scores input-view depth predictions on a split with ground truth, with the papers' protocol (SIDE, MAD;
// paper notes D.1). Predictions come from a function, so baselines and trained models share one path.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { ellipsoidPrior } from '../geometry/ellipsoid.js';
import { listDepthIds, readGroundTruth, type GroundTruthSample } from '../data/depth-folder.js';
import { Gan3dError } from '../engine/errors.js';
import { readImage } from '../io/image.js';
import type { LoadedPhotoGeoModel } from './model-bundle.js';
import { evaluateSideMad, type SideMadResult } from '../metrics/side-mad.js';
import { summarize, type Summary } from '../metrics/summary.js';

export const BASELINES = ['null', 'mean', 'ellipsoid'] as const;
export type BaselineName = (typeof BASELINES)[number];

export interface EvaluationReport {
  method: string;
  data: string;
  images: number;
  /** Raw scale-invariant depth error (the papers print it ×10⁻²). */
  side: { mean: number; std: number };
  /** Mean angle deviation of normals, degrees. */
  mad: { mean: number; std: number };
  /** Images whose evaluation mask was empty (left out of the means). */
  excluded: number;
  protocol: string;
  details: Record<string, unknown>;
}

export type DepthPredictor = (sample: GroundTruthSample) => Float32Array | Promise<Float32Array>;

export interface EvaluateOptions {
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

const PROTOCOL =
  'SIDE and MAD on the input-view depth; mask = erode(d_gt < max d_gt) · erode(d_pred < 1.2), 1-pixel erosion; ' +
  'normals by central differences (eps 1e-7, as Unsup3d); mean ± population std over images';

function pick(s: Summary): { mean: number; std: number } {
  return { mean: s.mean, std: s.std };
}

export async function evaluateDepth(
  split: string,
  method: string,
  predict: DepthPredictor,
  options: EvaluateOptions = {},
  details: Record<string, unknown> = {},
): Promise<EvaluationReport> {
  const ids = listDepthIds(split).slice(0, options.limit ?? Infinity);
  const results: SideMadResult[] = [];
  for (let k = 0; k < ids.length; k++) {
    const sample = await readGroundTruth(split, ids[k]);
    const pred = await predict(sample);
    if (pred.length !== sample.depth.length) {
      throw new Gan3dError(`${method}: prediction for ${ids[k]} has ${pred.length} pixels, ground truth ${sample.depth.length}.`, 'BAD_SHAPE');
    }
    results.push(evaluateSideMad(pred, sample.depth));
    options.onProgress?.(k + 1, ids.length);
  }
  const side = summarize(results.map((r) => r.side));
  return {
    method,
    data: split,
    images: side.count,
    side: pick(side),
    mad: pick(summarize(results.map((r) => r.mad))),
    excluded: side.excluded,
    protocol: PROTOCOL,
    details,
  };
}

/** Per-pixel mean of the ground-truth depths of a split (the "average g.t. depth" baseline). */
export async function averageDepth(split: string, limit?: number): Promise<{ depth: Float32Array; size: number; images: number }> {
  const ids = listDepthIds(split).slice(0, limit ?? Infinity);
  let sum: Float64Array | null = null;
  let size = 0;
  for (const id of ids) {
    const s = await readGroundTruth(split, id);
    if (!sum) {
      sum = new Float64Array(s.depth.length);
      size = s.size;
    } else if (s.depth.length !== sum.length) {
      throw new Gan3dError(`${split}/depth/${id}.png: size ${s.size} differs from the first image's ${size}.`, 'BAD_SHAPE');
    }
    for (let i = 0; i < sum.length; i++) sum[i] += s.depth[i];
  }
  return { depth: Float32Array.from(sum!, (v) => v / ids.length), size, images: ids.length };
}

/** The train split beside an evaluation split (`…/test` → `…/train`), if it exists. */
function siblingTrainSplit(split: string): string | null {
  const candidate = path.join(path.dirname(path.resolve(split)), 'train');
  return fs.existsSync(path.join(candidate, 'depth')) ? candidate : null;
}

export async function evaluateBaseline(
  name: BaselineName,
  split: string,
  options: EvaluateOptions & { meanFrom?: string } = {},
): Promise<EvaluationReport> {
  if (name === 'null') {
    // A fronto-parallel plane at the rotation centre's depth: no shape at all.
    return evaluateDepth(split, 'null depth', (s) => new Float32Array(s.depth.length).fill(1), options, { depth: 1 });
  }
  if (name === 'mean') {
    const from = options.meanFrom ?? siblingTrainSplit(split) ?? split;
    const mean = await averageDepth(from);
    return evaluateDepth(split, 'average g.t. depth', (s) => {
      if (s.depth.length !== mean.depth.length) {
        throw new Gan3dError(`average depth from ${from} is ${mean.size}×${mean.size}, ${s.id} is ${s.size}×${s.size}.`, 'BAD_SHAPE');
      }
      return mean.depth;
    }, options, { averagedOver: from, averagedImages: mean.images });
  }
  return evaluateDepth(split, 'ellipsoid prior', (s) => {
    if (!s.mask) throw new Gan3dError(`${split}: the ellipsoid baseline needs the object masks in ${split}/mask/.`, 'NO_DATA');
    return ellipsoidPrior(s.mask, s.size);
  }, options, { mask: 'ground-truth foreground mask', prior: 'GAN2Shape C.8, synface box extension 1/6' });
}

export interface EvaluateModelOptions extends EvaluateOptions {
  /** Images per forward pass (default 50). */
  batch?: number;
}

/**
 * SIDE/MAD of a photogeo model's input-view depth (`viewDepth`) on a split: `<split>/image/<id>.png` (centre square,
 * resized to the model's size, as in training) against `<split>/depth/<id>.png`. Images are read and run `batch` at a
 * time as the scoring reaches them, so only one batch of predictions is held.
 */
export async function evaluateModel(loaded: LoadedPhotoGeoModel, split: string, options: EvaluateModelOptions = {}): Promise<EvaluationReport> {
  const batch = options.batch ?? 50;
  if (!(Number.isInteger(batch) && batch >= 1)) throw new Gan3dError(`batch must be a whole number ≥ 1, got ${batch}.`, 'BAD_ARGUMENT');
  const ids = listDepthIds(split).slice(0, options.limit ?? Infinity);
  const imageDir = path.join(split, 'image');
  if (!fs.existsSync(imageDir)) {
    throw new Gan3dError(`${split}: no image/ folder; scoring a model needs the split's input images (as \`gan3d data synface\` writes).`, 'NO_DATA');
  }
  const s = loaded.config.imageSize;
  const per = s * s;
  const pending = new Map<string, Float32Array>();
  let next = 0;
  const runBatch = async () => {
    const chunk = ids.slice(next, next + batch);
    next += chunk.length;
    const decoded = await Promise.all(chunk.map((id) => readImage(path.join(imageDir, `${id}.png`), { crop: 'center', size: s })));
    const pixels = new Float32Array(chunk.length * per * 3);
    decoded.forEach((im, k) => pixels.set(im.data, k * per * 3));
    // Read outside tf.tidy: tidy walks a returned typed array element by element.
    const t = tf.tidy(() => loaded.model.reconstruct(tf.tensor4d(pixels, [chunk.length, s, s, 3]), { flip: false, confidence: false }).viewDepth);
    const depth = t.dataSync() as Float32Array;
    t.dispose();
    chunk.forEach((id, k) => pending.set(id, depth.slice(k * per, (k + 1) * per)));
  };
  const training = loaded.meta.training;
  return evaluateDepth(
    split,
    `photogeo ${loaded.id}`,
    async (sample) => {
      if (sample.size !== s) {
        throw new Gan3dError(`${split}/depth/${sample.id}.png is ${sample.size}×${sample.size}; the model predicts ${s}×${s} depth. Evaluate on a ${s}×${s} split.`, 'BAD_SHAPE');
      }
      while (!pending.has(sample.id) && next < ids.length) await runBatch();
      const d = pending.get(sample.id);
      if (!d) throw new Gan3dError(`No prediction for ${sample.id}.`, 'BAD_SHAPE');
      pending.delete(sample.id);
      return d;
    },
    options,
    {
      model: loaded.id,
      source: loaded.meta.source,
      path: loaded.meta.path,
      step: typeof training.step === 'number' ? training.step : null,
      prediction: 'viewDepth (the input view), no flip branch',
      input: `${s}×${s}: centre square of <split>/image/<id>.png, resized (as in training)`,
      batch,
    },
  );
}
