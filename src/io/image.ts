// Reading images (PNG, JPEG, WebP; 8- or 16-bit; grey, RGB, with or without alpha) into [-1,1] float arrays or
// tensors, with a centre square crop and a resize. Every failure a user can cause is a Gan3dError naming the file.
import * as tf from '@tensorflow/tfjs';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { Gan3dError } from '../engine/errors.js';
import { readInputFile } from './read-file.js';
import { centerSquare } from './resample.js';

/**
 * Largest input accepted, in pixels (width × height): 100 megapixels. Decoding needs several bytes per pixel, so
 * anything larger is almost certainly a mistake (or a decompression bomb); raise `maxPixels` to override.
 */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Formats read here; anything else sharp could decode (GIF, TIFF, SVG, AVIF…) is refused with a clear message. */
export const SUPPORTED_IMAGE_FORMATS = ['png', 'jpeg', 'webp'] as const;

export type CropMode = 'center' | 'none';
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'lanczos3';

/**
 * How an image is turned into a square array.
 *
 * - `crop: 'center'` (default): cut the centred square of side `round(cropFraction · min(width, height))` (the
 *   offset is rounded like torchvision's CenterCrop), then resize it to `size × size`. Synface's protocol (crop 170
 *   of 256, then 64) is `{ crop: 'center', cropFraction: 170 / 256, size: 64 }`.
 * - `crop: 'none'`: no crop; the whole image is resized to `size × size`, stretching it when it is not square.
 * - `size`: output side in pixels; when omitted the cropped (or whole) image keeps its own size.
 * - `kernel`: sharp's resampling filter for images, 'lanczos3' by default (depth maps are resized in float
 *   instead, see depth-png.ts).
 * - `maxPixels`: input pixel limit, {@link DEFAULT_MAX_PIXELS} by default.
 *
 * Alpha is composited over black (a transparent background becomes black, like the dark backgrounds of the
 * synthetic datasets), then dropped. Greyscale is replicated to three channels. 16-bit inputs are decoded at 16
 * bits (libvips resizes them in fixed point, good to ~1e-3 of the range: ample for images; depth maps are resized
 * in float instead). EXIF orientation is applied.
 */
export interface ReadImageOptions {
  size?: number;
  crop?: CropMode;
  cropFraction?: number;
  kernel?: ResizeKernel;
  maxPixels?: number;
}

/** A decoded image: `data` is row-major HWC float32 in [-1,1], three channels. */
export interface ImageArray {
  data: Float32Array;
  width: number;
  height: number;
  channels: 3;
}

/** Integer pixels straight from the decoder, before any conversion to float. */
export interface DecodedPixels {
  data: Uint8Array | Uint16Array;
  width: number;
  height: number;
  channels: 1 | 3;
  /** 255 for 8-bit inputs, 65535 for 16-bit inputs. */
  maxValue: 255 | 65535;
}

function badOption(label: string, message: string): Gan3dError {
  return new Gan3dError(`${label}: ${message}`, 'IO_BAD_ARGUMENT');
}

function checkOptions(label: string, options: ReadImageOptions): void {
  const { size, cropFraction } = options;
  if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
    throw badOption(label, `size must be a positive integer, got ${size}.`);
  }
  if (cropFraction !== undefined && !(cropFraction > 0 && cropFraction <= 1)) {
    throw badOption(label, `cropFraction must be in (0, 1], got ${cropFraction}.`);
  }
  if (options.crop !== undefined && options.crop !== 'center' && options.crop !== 'none') {
    throw badOption(label, `crop must be 'center' or 'none', got ${String(options.crop)}.`);
  }
}

function decoderError(label: string, e: unknown): Gan3dError {
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  if (/unsupported image format/i.test(message)) {
    return new Gan3dError(`${label} is not an image (expected PNG, JPEG or WebP).`, 'IO_NOT_AN_IMAGE');
  }
  if (/pixel limit/i.test(message)) {
    return new Gan3dError(`${label} is too large to read (${message}).`, 'IO_IMAGE_TOO_LARGE');
  }
  return new Gan3dError(`${label} is truncated or corrupt and cannot be decoded (${message}).`, 'IO_CORRUPT_IMAGE');
}

/**
 * Decodes image bytes into integer pixels with one (`channels: 1`, luminance) or three channels, applying the
 * crop/resize options. `label` names the source in error messages (usually the file path).
 */
export async function decodeImagePixels(
  bytes: Uint8Array,
  label: string,
  options: ReadImageOptions = {},
  channels: 1 | 3 = 3,
): Promise<DecodedPixels> {
  checkOptions(label, options);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  // failOn 'error' rejects truncated PNG/JPEG/WebP data but tolerates harmless warnings (odd ICC profiles).
  const input = { failOn: 'error' as const, limitInputPixels: maxPixels };
  let meta: Metadata;
  try {
    // Header only, no pixels: safe without the limit, and lets the limit error below give the real size.
    meta = await sharp(bytes, { ...input, limitInputPixels: false }).metadata();
  } catch (e) {
    throw decoderError(label, e);
  }
  if (!(SUPPORTED_IMAGE_FORMATS as readonly string[]).includes(meta.format)) {
    throw new Gan3dError(
      `${label} is a ${meta.format.toUpperCase()} image; only PNG, JPEG and WebP are supported. Convert it first.`,
      'IO_UNSUPPORTED_FORMAT',
    );
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (width * height > maxPixels) {
    throw new Gan3dError(
      `${label} is ${width}×${height} = ${((width * height) / 1e6).toFixed(1)} megapixels, over the limit of ` +
        `${maxPixels / 1e6} megapixels. Downscale it first.`,
      'IO_IMAGE_TOO_LARGE',
    );
  }
  const sixteenBit = meta.depth === 'ushort';
  let pipeline = sharp(bytes, { ...input, autoOrient: true });
  if (meta.hasAlpha) pipeline = pipeline.flatten({ background: { r: 0, g: 0, b: 0 } });
  if ((options.crop ?? 'center') === 'center') {
    const { left, top, side } = centerSquare(width, height, options.cropFraction);
    if (side !== width || side !== height) pipeline = pipeline.extract({ left, top, width: side, height: side });
  }
  if (options.size !== undefined) {
    pipeline = pipeline.resize(options.size, options.size, { fit: 'fill', kernel: options.kernel ?? 'lanczos3' });
  }
  const space = channels === 1 ? (sixteenBit ? 'grey16' : 'b-w') : sixteenBit ? 'rgb16' : 'srgb';
  pipeline = pipeline.toColourspace(space).raw({ depth: sixteenBit ? 'ushort' : 'uchar' });
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await pipeline.toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw decoderError(label, e);
  }
  const { info } = out;
  // Copy first: the fresh buffer is aligned for a Uint16Array view (sharp's raw samples are native-endian).
  const bytesOut = new Uint8Array(out.data);
  const samples = sixteenBit ? new Uint16Array(bytesOut.buffer) : bytesOut;
  const data = info.channels === channels ? samples : takeChannels(samples, info.width * info.height, info.channels, channels);
  return { data, width: info.width, height: info.height, channels, maxValue: sixteenBit ? 65535 : 255 };
}

/** Repacks interleaved samples to `want` channels: grey is replicated, extra channels are dropped. */
function takeChannels<T extends Uint8Array | Uint16Array>(src: T, pixels: number, have: number, want: number): T {
  const out = new (src.constructor as new (n: number) => T)(pixels * want);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < want; c++) out[p * want + c] = src[p * have + Math.min(c, have - 1)];
  }
  return out;
}

/** Decodes image bytes into a three-channel [-1,1] float array. */
export async function decodeImage(bytes: Uint8Array, options: ReadImageOptions = {}, label = 'image'): Promise<ImageArray> {
  const px = await decodeImagePixels(bytes, label, options, 3);
  const data = new Float32Array(px.data.length);
  const scale = 2 / px.maxValue;
  for (let k = 0; k < data.length; k++) data[k] = px.data[k] * scale - 1;
  return { data, width: px.width, height: px.height, channels: 3 };
}

/** Reads a PNG, JPEG or WebP file into a three-channel [-1,1] float array (see {@link ReadImageOptions}). */
export async function readImage(file: string, options: ReadImageOptions = {}): Promise<ImageArray> {
  const bytes = await readInputFile(file, 'image file');
  return decodeImage(bytes, options, file);
}

/** An image array as a tensor of shape [H, W, 3] in [-1,1]. */
export function imageToTensor(image: ImageArray): tf.Tensor3D {
  return tf.tensor3d(image.data, [image.height, image.width, 3], 'float32');
}

/** Reads an image file into a tensor of shape [H, W, 3] in [-1,1]. */
export async function readImageTensor(file: string, options: ReadImageOptions = {}): Promise<tf.Tensor3D> {
  return imageToTensor(await readImage(file, options));
}
