// The inversion measurement of the GAN benchmark: mean PSNR of the encoder's start, the W result and the W+ result over
// a set of real images, and the time per image. Images are read like `gan3d reconstruct` and `gan3d invert` read
// them (centre square, resized to the GAN's resolution), in [-1, 1]; PSNR is on the [0, 1] scale (invert.ts).
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { readImage } from '../io/image.js';
import { encoderGanWarning, loadEncoderModel, type LoadedEncoder } from './encoder-bundle.js';
import { loadGanModel, type LoadedGan } from './gan-bundle.js';
import { invertImages, mean, type InversionConfig, type InversionProgress } from './invert.js';
import { listInputFiles } from './reconstruct.js';

export interface MeasureInversionOptions {
  /** A loaded GAN (left for the caller to dispose) or where to load one (bundle, checkpoint, run). */
  gan: LoadedGan | string;
  /** A loaded encoder (left to the caller), where to load one, or null/undefined: start from the mean w. */
  encoder?: LoadedEncoder | string | null;
  /** Image files (and folders, as `gan3d invert` takes them); or give `folder`. */
  images?: string[];
  /** A folder of images, or a data split with image/ (e.g. data/synface/test): its first `count` images by name. */
  folder?: string;
  count?: number;
  /** Inversion settings (steps, learning rates, loss weights, noise, seed, batch). */
  config?: Partial<InversionConfig>;
  onProgress?: (p: InversionProgress) => void;
}

export interface InversionMeasurement {
  /** Mean PSNR (dB) of G(encoder(x)); null without an encoder. */
  invert_psnr_encoder: number | null;
  /** Mean PSNR of the starting point (the encoder's, or the mean w's). */
  invert_psnr_start: number;
  invert_psnr_w: number;
  invert_psnr_wplus: number;
  /** Wall time of the inversion (encoder + W + W+), per image; loading is not counted. */
  seconds_per_image: number;
  images: number;
  gan: string;
  encoder: string | null;
  /** One line, or null: the encoder was trained for another GAN. */
  warning: string | null;
  config: InversionConfig;
  /** Seconds per image of each stage. */
  stage_seconds_per_image: { start: number; w: number; wplus: number };
}

/** The image files to measure on: `images` as given (files or folders), or the first `count` of `folder`. */
async function imageFiles(options: MeasureInversionOptions): Promise<string[]> {
  if (options.images && options.images.length > 0) {
    const files = await listInputFiles(options.images);
    return options.count !== undefined ? files.slice(0, options.count) : files;
  }
  if (options.folder === undefined) throw new Gan3dError('measureInversion: give images or a folder.', 'BAD_ARGUMENT');
  const split = path.join(options.folder, 'image');
  const dir = fs.existsSync(split) && fs.statSync(split).isDirectory() ? split : options.folder;
  // Sorted by name, as listInputFiles lists a folder (data splits name images by number).
  const files = await listInputFiles([dir]);
  return options.count !== undefined ? files.slice(0, options.count) : files;
}

/** Inverts the images and returns mean PSNRs and the time per image (see {@link InversionMeasurement}). */
export async function measureInversion(options: MeasureInversionOptions): Promise<InversionMeasurement> {
  await initBackend();
  if (options.count !== undefined && !(Number.isInteger(options.count) && options.count >= 1)) {
    throw new Gan3dError(`measureInversion: count must be a whole number ≥ 1, got ${options.count}.`, 'BAD_ARGUMENT');
  }
  const files = await imageFiles(options);
  const gan = typeof options.gan === 'string' ? await loadGanModel(options.gan) : options.gan;
  let encoder: LoadedEncoder | null = null;
  try {
    encoder = typeof options.encoder === 'string' ? await loadEncoderModel(options.encoder) : (options.encoder ?? null);
    const R = gan.config.resolution;
    const per = R * R * 3;
    const pixels = new Float32Array(files.length * per);
    for (let i = 0; i < files.length; i++) pixels.set((await readImage(files[i], { crop: 'center', size: R })).data, i * per);
    const r = await invertImages(gan, pixels, files.length, { encoder: encoder?.encoder, config: options.config, onProgress: options.onProgress });
    const n = files.length;
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      invert_psnr_encoder: encoder ? round(mean(r.stages.start.psnr)) : null,
      invert_psnr_start: round(mean(r.stages.start.psnr)),
      invert_psnr_w: round(mean(r.stages.w.psnr)),
      invert_psnr_wplus: round(mean(r.stages.wPlus.psnr)),
      seconds_per_image: round(r.totalMs / 1000 / n),
      images: n,
      gan: gan.id,
      encoder: encoder?.id ?? null,
      warning: encoder ? encoderGanWarning(encoder, gan.id) : null,
      config: r.config,
      stage_seconds_per_image: {
        start: round(r.stages.start.ms / 1000 / n),
        w: round(r.stages.w.ms / 1000 / n),
        wplus: round(r.stages.wPlus.ms / 1000 / n),
      },
    };
  } finally {
    if (typeof options.encoder === 'string') encoder?.dispose();
    if (typeof options.gan === 'string') gan.dispose();
  }
}
