// Writing PNGs: 8-bit grey/RGB/RGBA from bytes or from [-1,1] floats, and 16-bit greyscale for depth maps, which
// also reads back bit-exactly. All writes go through the atomic writer.
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { Gan3dError } from '../engine/errors.js';
import { writeFileAtomic, type WriteOptions } from './atomic-write.js';
import { decodeImagePixels, type ReadImageOptions } from './image.js';
import { readInputFile } from './read-file.js';

export type PngChannels = 1 | 3 | 4;

/** A 16-bit single-channel image, row-major. */
export interface Grey16Image {
  data: Uint16Array;
  width: number;
  height: number;
}

function checkLength(label: string, length: number, width: number, height: number, channels: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Gan3dError(`${label}: image size must be positive integers, got ${width}×${height}.`, 'IO_BAD_SHAPE');
  }
  if (length !== width * height * channels) {
    throw new Gan3dError(
      `${label}: expected ${width}×${height}×${channels} = ${width * height * channels} values, got ${length}.`,
      'IO_BAD_SHAPE',
    );
  }
}

/** Maps [-1,1] floats to bytes (clamped, rounded). NaN is an error: it would silently become black. */
export function signedToUint8(values: Float32Array, label = 'image'): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    if (Number.isNaN(v)) throw new Gan3dError(`${label}: value ${k} is NaN; cannot encode it as a pixel.`, 'IO_BAD_VALUES');
    out[k] = Math.round(Math.min(1, Math.max(-1, v)) * 127.5 + 127.5);
  }
  return out;
}

/** Encodes interleaved 8-bit pixels (grey, RGB or RGBA) as a PNG. */
export async function encodePng8(pixels: Uint8Array, width: number, height: number, channels: PngChannels): Promise<Uint8Array> {
  checkLength('PNG', pixels.length, width, height, channels);
  let image = sharp(pixels, { raw: { width, height, channels } });
  if (channels === 1) image = image.toColourspace('b-w');
  return new Uint8Array(await image.png().toBuffer());
}

/** Writes interleaved 8-bit pixels as a PNG file (atomic; refuses to overwrite unless `force`). */
export async function writePng8(
  file: string,
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
  options: WriteOptions = {},
): Promise<void> {
  await writeFileAtomic(file, await encodePng8(pixels, width, height, channels), options);
}

/** Writes a [-1,1] float image (HWC, 1 or 3 channels) as an 8-bit PNG. */
export async function writeImagePng(
  file: string,
  image: { data: Float32Array; width: number; height: number; channels: 1 | 3 },
  options: WriteOptions = {},
): Promise<void> {
  checkLength(file, image.data.length, image.width, image.height, image.channels);
  await writePng8(file, signedToUint8(image.data, file), image.width, image.height, image.channels, options);
}

/** Writes a [-1,1] tensor of shape [H,W,C] or [1,H,W,C] (C = 1 or 3) as an 8-bit PNG. */
export async function writeImageTensor(file: string, image: tf.Tensor, options: WriteOptions = {}): Promise<void> {
  const shape = image.rank === 4 && image.shape[0] === 1 ? image.shape.slice(1) : image.shape;
  const [height, width, channels] = shape;
  if (shape.length !== 3 || (channels !== 1 && channels !== 3)) {
    throw new Gan3dError(`${file}: expected an image tensor [H,W,1|3] or [1,H,W,1|3], got [${image.shape.join(',')}].`, 'IO_BAD_SHAPE');
  }
  const data = (await image.data()) as Float32Array;
  await writeImagePng(file, { data, width, height, channels }, options);
}

/** Encodes 16-bit grey values as a 16-bit PNG. */
export async function encodePng16Grey(image: Grey16Image): Promise<Uint8Array> {
  checkLength('16-bit PNG', image.data.length, image.width, image.height, 1);
  // sharp takes the bit depth from the typed array; grey16 keeps both the single channel and the 16 bits.
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 1 } })
    .toColourspace('grey16')
    .png()
    .toBuffer();
  return new Uint8Array(png);
}

/** Writes 16-bit grey values as a 16-bit PNG file (atomic; refuses to overwrite unless `force`). */
export async function writePng16Grey(file: string, image: Grey16Image, options: WriteOptions = {}): Promise<void> {
  await writeFileAtomic(file, await encodePng16Grey(image), options);
}

/**
 * Reads a greyscale image as 16-bit values. A 16-bit PNG comes back exactly as written; an 8-bit image is scaled
 * by 257 so that 255 maps to 65535. Crop/resize options are those of {@link ReadImageOptions} (default: none).
 */
export async function readPng16Grey(file: string, options: ReadImageOptions = { crop: 'none' }): Promise<Grey16Image> {
  const bytes = await readInputFile(file, 'image file');
  const px = await decodeImagePixels(bytes, file, options, 1);
  if (px.maxValue === 65535) return { data: px.data as Uint16Array, width: px.width, height: px.height };
  const data = new Uint16Array(px.data.length);
  for (let k = 0; k < data.length; k++) data[k] = px.data[k] * 257;
  return { data, width: px.width, height: px.height };
}
