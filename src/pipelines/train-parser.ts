// Training the object-mask parser (src/models/parser) on SynFace's foreground masks: the "parser" Trainer for the
// shared loop (src/train/loop.ts). Images come from `<data>/train/image/*.png`, targets from
// `<data>/train/mask/*.png` (255 where the face, hair, neck or ears cover the pixel); the loss is the mean binary
// cross-entropy; steps run data-parallel over src/models/parser/replica.ts; evaluation scores the mean per-image IoU
// (and pixel accuracy) of the mask thresholded at 0.5 on the val split. A training image and its mask are mirrored
// together with probability `flipProbability` (one uniform draw per image from the loop's Rng, so resume is exact).
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import fsSync from 'node:fs';
import path from 'node:path';
import { listImageIds, loadImagesUint8 } from '../data/image-folder.js';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import type { Batch, Replica } from '../engine/parallel/data-parallel.js';
import type { Rng } from '../engine/random.js';
import { decodeImagePixels } from '../io/image.js';
import { latestCheckpoint } from '../io/checkpoint.js';
import { readInputFile } from '../io/read-file.js';
import { parserConfig, type ParserConfig, type ParserOverrides } from '../models/parser/config.js';
import { maskIoU, ParserNet } from '../models/parser/model.js';
import type { ParserReplicaConfig } from '../models/parser/replica.js';
import { EpochIterator, type EpochIteratorState } from '../train/data-iterator.js';
import type { DataState, Trainer, TrainerContext } from '../train/loop.js';

export const PARSER_KIND = 'parser';

/** A split of images with their masks, decoded into memory. */
export interface MaskedSplit {
  dir: string;
  ids: string[];
  /** uint8 [N, S, S, 3]. */
  pixels: Uint8Array;
  /** uint8 [N, S, S] (0..255). */
  masks: Uint8Array;
  size: number;
}

/** Decodes `<dir>/<id>.png` masks (one channel, centre square, resized to `size`) into uint8 [N, size, size]. */
export async function loadMasksUint8(dir: string, ids: readonly string[], size: number): Promise<Uint8Array> {
  const per = size * size;
  const out = new Uint8Array(ids.length * per);
  let next = 0;
  const work = async () => {
    while (next < ids.length) {
      const k = next++;
      const file = path.join(dir, `${ids[k]}.png`);
      const px = await decodeImagePixels(await readInputFile(file, 'mask file'), file, { crop: 'center', size }, 1);
      for (let i = 0; i < per; i++) out[k * per + i] = px.maxValue === 255 ? px.data[i] : Math.round((px.data[i] * 255) / px.maxValue);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, ids.length) }, work));
  return out;
}

/** Loads `<root>/<split>/{image,mask}/*.png` (the first `limit` ids of image/); every image needs its mask. */
export async function loadMaskedSplit(root: string, split: string, size: number, limit?: number): Promise<MaskedSplit> {
  const splitDir = path.join(root, split);
  const imageDir = path.join(splitDir, 'image');
  const maskDir = path.join(splitDir, 'mask');
  const ids = listImageIds(imageDir).slice(0, limit);
  if (!fsSync.existsSync(maskDir)) {
    throw new Gan3dError(`${maskDir}: no masks. The parser trains on a SynFace split (\`gan3d data synface\` writes mask/ beside image/).`, 'NO_DATA');
  }
  const missing = ids.find((id) => !fsSync.existsSync(path.join(maskDir, `${id}.png`)));
  if (missing !== undefined) throw new Gan3dError(`${maskDir} has no mask for image ${missing}: regenerate the dataset.`, 'BAD_DATA');
  const pixels = await loadImagesUint8(imageDir, ids, size);
  const masks = await loadMasksUint8(maskDir, ids, size);
  return { dir: splitDir, ids, pixels, masks, size };
}

/** Images and masks of `indices` as [-1,1] images [B,S,S,3] and [0,1] masks [B,S,S,1], each pair mirrored when `flips[b]`. */
export function maskedBatch(split: MaskedSplit, indices: readonly number[], flips?: readonly boolean[]): { images: Float32Array; masks: Float32Array } {
  const s = split.size;
  const images = new Float32Array(indices.length * s * s * 3);
  const masks = new Float32Array(indices.length * s * s);
  indices.forEach((index, b) => {
    const flip = flips?.[b] ?? false;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const src = index * s * s + y * s + (flip ? s - 1 - x : x);
        const dst = b * s * s + y * s + x;
        masks[dst] = split.masks[src] / 255;
        for (let c = 0; c < 3; c++) images[3 * dst + c] = split.pixels[3 * src + c] / 127.5 - 1;
      }
    }
  });
  return { images, masks };
}

/** Predicted foreground probabilities [N·S·S] of a split's images, in chunks of `batch`. */
export function predictMasks(model: ParserNet, images: Float32Array, n: number, batch = 64): Float32Array {
  const s = model.config.imageSize;
  const per = s * s;
  const out = new Float32Array(n * per);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const y = tf.tidy(() => model.predict(tf.tensor4d(images.subarray(start * per * 3, (start + m) * per * 3), [m, s, s, 3])));
    out.set(y.dataSync() as Float32Array, start * per);
    y.dispose();
  }
  return out;
}

/** Mean per-image IoU (threshold 0.5), its minimum, and pixel accuracy of `model` on a split. */
export function scoreParser(model: ParserNet, split: MaskedSplit, batch = 64): { iou: number; iouMin: number; accuracy: number } {
  const idx = split.ids.map((_, i) => i);
  const { images, masks } = maskedBatch(split, idx);
  const pred = predictMasks(model, images, idx.length, batch);
  const ious = maskIoU(pred, masks, split.size * split.size);
  let right = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] >= 0.5 === masks[i] >= 0.5) right++;
  return { iou: ious.reduce((a, b) => a + b, 0) / ious.length, iouMin: Math.min(...ious), accuracy: right / pred.length };
}

export interface ParserTrainerOptions {
  /** Dataset root with `train/{image,mask}` (and `val/` for evaluation). */
  data: string;
  seed: number;
  model?: ParserOverrides;
  /** Validation images per evaluation (the first in id order; default 500). */
  evalImages?: number;
  /** Use only the first `trainImages` training images (default all). */
  trainImages?: number;
}

/** The trainer's config, as written into every checkpoint and checked on resume. */
export interface ParserTrainerConfig {
  seed: number;
  model: ParserConfig;
  data: { root: string; split: 'train'; images: number; imageSize: number; flipProbability: number; target: 'mask/*.png ≥ 128' };
  optimizer: { kind: 'adam'; learningRate: number };
  loss: 'binary cross-entropy of the mask logits';
}

function replicaModule(): string {
  // From source the workers load the .ts module through tsx; the compiled package has the .js beside it.
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`../models/parser/replica.${ext}`, import.meta.url).href;
}

function modelOf(replica: Replica): ParserNet {
  const model = (replica as Partial<Replica & { model: ParserNet }>).model;
  if (!(model instanceof ParserNet)) throw new Gan3dError('The parser trainer was handed a replica without a ParserNet.', 'TRAIN_BAD_OPTION');
  return model;
}

/** The seed and model config a run in `outDir` was trained with (from its newest checkpoint), or null. */
export async function savedParserSettings(outDir: string): Promise<{ seed: number; model: ParserConfig } | null> {
  const ckpt = await latestCheckpoint(path.join(outDir, 'checkpoints'));
  if (!ckpt) return null;
  try {
    const json = JSON.parse(await fs.readFile(path.join(ckpt, 'checkpoint.json'), 'utf8')) as { config?: { trainer?: Partial<ParserTrainerConfig> } };
    const t = json.config?.trainer;
    return t && typeof t.seed === 'number' && t.model ? { seed: t.seed, model: t.model } : null;
  } catch {
    return null; // the loop's own resume reports a corrupt checkpoint properly
  }
}

/** Builds the parser Trainer: decodes the train split's images and masks into memory. */
export async function createParserTrainer(options: ParserTrainerOptions): Promise<Trainer & { config: ParserTrainerConfig }> {
  const root = path.resolve(options.data);
  if (!fsSync.existsSync(root)) throw new Gan3dError(`${options.data}: no such data folder. Make one with \`gan3d data synface --out ${options.data}\`.`, 'NO_DATA');
  await initBackend();
  const model = parserConfig(options.model ?? {});
  const evalImages = options.evalImages ?? 500;
  if (!(Number.isInteger(evalImages) && evalImages >= 1)) throw new Gan3dError(`evalImages must be a whole number ≥ 1, got ${evalImages}.`, 'TRAIN_BAD_OPTION');

  const probe = new ParserNet(options.seed, model);
  const variableNames = [...probe.namedVariables().keys()];
  probe.dispose();

  const train = await loadMaskedSplit(root, 'train', model.imageSize, options.trainImages);
  const iterator = new EpochIterator(train.ids.length, options.seed);
  let val: MaskedSplit | null = null;
  const s = model.imageSize;

  const config: ParserTrainerConfig = {
    seed: options.seed,
    model,
    data: { root, split: 'train', images: train.ids.length, imageSize: s, flipProbability: model.flipProbability, target: 'mask/*.png ≥ 128' },
    optimizer: { kind: 'adam', learningRate: model.lr },
    loss: 'binary cross-entropy of the mask logits',
  };
  const replicaConfig: ParserReplicaConfig = { seed: options.seed, model };

  return {
    kind: PARSER_KIND,
    config,
    replicaSpec: { moduleUrl: replicaModule(), config: replicaConfig },
    adam: { learningRate: model.lr },
    variableNames,
    examplesPerEpoch: train.ids.length,
    nextBatch(rng: Rng, batchSize: number): Batch {
      const idx = iterator.next(batchSize);
      const flips = idx.map(() => rng.uniform() < model.flipProbability);
      const { images, masks } = maskedBatch(train, idx, flips);
      return { images: { data: images, shape: [batchSize, s, s, 3] }, masks: { data: masks, shape: [batchSize, s, s, 1] } };
    },
    getDataState: () => iterator.getState() as unknown as DataState,
    setDataState: (st) => iterator.setState(st as unknown as EpochIteratorState),

    async evaluate(ctx: TrainerContext): Promise<Record<string, number>> {
      // Decoded once per session: evaluations repeat on the same images.
      val ??= await loadMaskedSplit(root, 'val', s, evalImages);
      const e = scoreParser(modelOf(ctx.replica), val);
      const round = (x: number) => Math.round(x * 1e5) / 1e5;
      return { val_iou: round(e.iou), val_iou_min: round(e.iouMin), val_accuracy: round(e.accuracy) };
    },
  };
}
