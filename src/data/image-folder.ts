// A training source over a folder of images (`<root>/<split>/image/*.png`, sorted ids): images decoded to the model
// size, served as [-1,1] batches in a resumable shuffled order with a random horizontal flip (Unsup3d A.1).
//
// Why preload: the training loop asks for batches synchronously (Trainer.nextBatch) while sharp decodes
// asynchronously, so the split is decoded once at start and kept as uint8 (16 000 × 64×64×3 = 197 MB for SynFace's
// train split, a quarter of it as float32); each batch is converted to float and flipped on demand.
import fs from 'node:fs';
import path from 'node:path';
import { Gan3dError } from '../engine/errors.js';
import type { Batch } from '../engine/parallel/data-parallel.js';
import type { Rng } from '../engine/random.js';
import { decodeImagePixels } from '../io/image.js';
import { readInputFile } from '../io/read-file.js';
import { EpochIterator, type EpochIteratorState } from '../train/data-iterator.js';

/** Images decoded at once: sharp works on libuv's thread pool, so a few in flight keep every core busy. */
const DECODE_CONCURRENCY = 16;

/** Sorted ids (file stems) of the PNGs in `dir`; a clear error when there are none. */
export function listImageIds(dir: string): string[] {
  if (!fs.existsSync(dir)) throw new Gan3dError(`${dir}: no such folder (expected PNG images, as \`gan3d data synface\` writes).`, 'NO_DATA');
  const ids = fs.readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png')).map((f) => f.slice(0, -4)).sort();
  if (ids.length === 0) throw new Gan3dError(`${dir}: no PNG images found.`, 'NO_DATA');
  return ids;
}

/** Decodes `<dir>/<id>.png` for each id into one uint8 array [N, size, size, 3] (centre square, resized if needed). */
export async function loadImagesUint8(
  dir: string,
  ids: readonly string[],
  size: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const per = size * size * 3;
  const out = new Uint8Array(ids.length * per);
  let next = 0;
  let done = 0;
  const work = async () => {
    while (next < ids.length) {
      const k = next++;
      const file = path.join(dir, `${ids[k]}.png`);
      const px = await decodeImagePixels(await readInputFile(file, 'image file'), file, { crop: 'center', size }, 3);
      if (px.maxValue === 255) out.set(px.data, k * per);
      else for (let i = 0; i < per; i++) out[k * per + i] = Math.round((px.data[i] * 255) / px.maxValue);
      onProgress?.(++done, ids.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, ids.length) }, work));
  return out;
}

/** uint8 pixels → [-1,1] floats, optionally mirrored left-right, written into `out` at `offset`. */
function toSigned(src: Uint8Array, srcOffset: number, size: number, flip: boolean, out: Float32Array, offset: number): void {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const s = srcOffset + (y * size + (flip ? size - 1 - x : x)) * 3;
      const d = offset + (y * size + x) * 3;
      out[d] = src[s] / 127.5 - 1;
      out[d + 1] = src[s + 1] / 127.5 - 1;
      out[d + 2] = src[s + 2] / 127.5 - 1;
    }
  }
}

/** The first `n` (all by default) images of `dir` as a [-1,1] batch [N, size, size, 3], unflipped. */
export async function loadImageBatch(dir: string, ids: readonly string[], size: number): Promise<{ data: Float32Array; shape: number[] }> {
  const px = await loadImagesUint8(dir, ids, size);
  const data = new Float32Array(px.length);
  const per = size * size * 3;
  for (let k = 0; k < ids.length; k++) toSigned(px, k * per, size, false, data, k * per);
  return { data, shape: [ids.length, size, size, 3] };
}

export interface ImageFolderOptions {
  /** Dataset root holding `<split>/image/`. */
  root: string;
  /** Split folder name (default 'train'). */
  split?: string;
  /** Side the images are resized to (the model's size). */
  size: number;
  /** Seed of the epoch shuffles. */
  seed: number;
  /** Probability of mirroring each training image (default 0.5, Unsup3d A.1). */
  flipProbability?: number;
  onProgress?: (done: number, total: number) => void;
}

/** JSON description of the source, for the run's config. */
export interface ImageFolderInfo {
  root: string;
  split: string;
  images: number;
  imageSize: number;
  flipProbability: number;
}

export class ImageFolderDataset {
  readonly info: ImageFolderInfo;
  readonly ids: readonly string[];
  private readonly pixels: Uint8Array;
  private readonly iterator: EpochIterator;

  private constructor(info: ImageFolderInfo, ids: string[], pixels: Uint8Array, seed: number) {
    this.info = info;
    this.ids = ids;
    this.pixels = pixels;
    this.iterator = new EpochIterator(ids.length, seed);
  }

  static async load(options: ImageFolderOptions): Promise<ImageFolderDataset> {
    const split = options.split ?? 'train';
    const root = path.resolve(options.root);
    const flipProbability = options.flipProbability ?? 0.5;
    if (!(flipProbability >= 0 && flipProbability <= 1)) {
      throw new Gan3dError(`flipProbability must be in [0, 1], got ${flipProbability}.`, 'BAD_ARGUMENT');
    }
    const dir = path.join(root, split, 'image');
    const ids = listImageIds(dir);
    const pixels = await loadImagesUint8(dir, ids, options.size, options.onProgress);
    return new ImageFolderDataset({ root, split, images: ids.length, imageSize: options.size, flipProbability }, ids, pixels, options.seed);
  }

  get size(): number {
    return this.ids.length;
  }

  get epoch(): number {
    return this.iterator.epoch;
  }

  /**
   * The next `batchSize` images in the shuffled order as `{ images }` [B, S, S, 3] in [-1,1]. One uniform draw
   * per image from `rng` decides its flip, so a resumed run (same Rng state) sees the same batches. `drawn`, when
   * given, receives each image's index (into `ids`) and whether it was mirrored (a conditional GAN's labels follow).
   */
  nextBatch(rng: Rng, batchSize: number, drawn?: { indices: number[]; flips: boolean[] }): Batch {
    const s = this.info.imageSize;
    const per = s * s * 3;
    const data = new Float32Array(batchSize * per);
    this.iterator.next(batchSize).forEach((index, b) => {
      const flip = rng.uniform() < this.info.flipProbability;
      toSigned(this.pixels, index * per, s, flip, data, b * per);
      drawn?.indices.push(index);
      drawn?.flips.push(flip);
    });
    return { images: { data, shape: [batchSize, s, s, 3] } };
  }

  getState(): EpochIteratorState {
    return this.iterator.getState();
  }

  setState(state: EpochIteratorState): void {
    this.iterator.setState(state);
  }
}
