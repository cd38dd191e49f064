// Depth maps as 16-bit greyscale PNGs in the Unsup3d "synface" convention: white is near.
//
//   encode: v = (maxDepth − d) / (maxDepth − minDepth) ∈ [0,1], stored as round(v · 65535)
//   decode: d = maxDepth − v · (maxDepth − minDepth)
//
// With the synface range [0.9, 1.1] this is d = 1.1 − 0.2·v: v = 1 (white) is the nearest depth 0.9 and v = 0
// (black, the background) is the farthest, 1.1. The quantisation step is (max − min)/65535 ≈ 3e-6 for synface.
import { Gan3dError } from '../engine/errors.js';
import { type WriteOptions } from './atomic-write.js';
import type { DepthMap } from '../geometry/depth-grid.js';
import { readPng16Grey, writePng16Grey } from './png.js';
import { centerSquare, cropChannel, resizeBilinear } from './resample.js';

export interface DepthRange {
  minDepth: number;
  maxDepth: number;
}

/** Synface ground truth: d = 1.1 − 0.2·v. */
export const SYNFACE_DEPTH_RANGE: Readonly<DepthRange> = Object.freeze({ minDepth: 0.9, maxDepth: 1.1 });

export interface EncodeDepthOptions {
  /** Clamp depths outside the range to its ends. Default false: a value outside the range is an error. */
  clamp?: boolean;
  /** Names the depth map in error messages. */
  label?: string;
}

function checkRange(range: DepthRange): void {
  if (!(Number.isFinite(range.minDepth) && Number.isFinite(range.maxDepth) && range.maxDepth > range.minDepth)) {
    throw new Gan3dError(`Depth range must have finite minDepth < maxDepth, got [${range.minDepth}, ${range.maxDepth}].`, 'IO_BAD_ARGUMENT');
  }
}

/** Encodes depths to 16-bit values (white = near). NaN/Inf are always errors; out-of-range values unless `clamp`. */
export function encodeDepth16(depth: Float32Array, range: DepthRange = SYNFACE_DEPTH_RANGE, options: EncodeDepthOptions = {}): Uint16Array {
  checkRange(range);
  const label = options.label ?? 'depth map';
  const span = range.maxDepth - range.minDepth;
  // Float32 depths sit up to half an ulp off the range ends; accept that much.
  const slack = 1e-6 * Math.max(Math.abs(range.minDepth), Math.abs(range.maxDepth));
  const out = new Uint16Array(depth.length);
  for (let k = 0; k < depth.length; k++) {
    const d = depth[k];
    if (!Number.isFinite(d)) {
      throw new Gan3dError(`${label}: value ${k} is ${d}; depth maps must be finite to be saved.`, 'IO_BAD_DEPTH');
    }
    if (!options.clamp && (d < range.minDepth - slack || d > range.maxDepth + slack)) {
      throw new Gan3dError(
        `${label}: depth ${d} at index ${k} is outside the PNG range [${range.minDepth}, ${range.maxDepth}]; ` +
          'pass a wider range or clamp: true.',
        'IO_BAD_DEPTH',
      );
    }
    const v = Math.min(1, Math.max(0, (range.maxDepth - d) / span));
    out[k] = Math.round(v * 65535);
  }
  return out;
}

/** Decodes 16-bit values (integers, or resampled floats on the same 0..65535 scale) to depths: d = maxDepth − (value/65535)·(maxDepth − minDepth). */
export function decodeDepth16(values: ArrayLike<number>, range: DepthRange = SYNFACE_DEPTH_RANGE): Float32Array {
  checkRange(range);
  const span = range.maxDepth - range.minDepth;
  const out = new Float32Array(values.length);
  for (let k = 0; k < values.length; k++) out[k] = range.maxDepth - (values[k] / 65535) * span;
  return out;
}

/** Writes a depth map as a 16-bit PNG in the given range (atomic; refuses to overwrite unless `force`). */
export async function writeDepthPng(
  file: string,
  depth: DepthMap,
  range: DepthRange = SYNFACE_DEPTH_RANGE,
  options: WriteOptions & Omit<EncodeDepthOptions, 'label'> = {},
): Promise<void> {
  if (depth.data.length !== depth.width * depth.height) {
    throw new Gan3dError(`${file}: depth map has ${depth.data.length} values but is declared ${depth.width}×${depth.height}.`, 'IO_BAD_SHAPE');
  }
  const data = encodeDepth16(depth.data, range, { clamp: options.clamp, label: `Cannot write ${file}` });
  await writePng16Grey(file, { data, width: depth.width, height: depth.height }, options);
}

/** Crop and resize options for depth maps (a subset of the image options; resizing is always bilinear). */
export interface ReadDepthOptions {
  /** Default 'none'. */
  crop?: 'center' | 'none';
  cropFraction?: number;
  size?: number;
  maxPixels?: number;
}

/**
 * Reads a depth PNG (16-bit, or 8-bit scaled to 16) and decodes it with the range. The crop and resize happen in
 * float after decoding, with a triangle filter that widens when shrinking (Pillow's BILINEAR, as torchvision used in
 * the synface protocol: crop 170 of 256, resize to 64 = `{ crop: 'center', cropFraction: 170 / 256, size: 64 }`).
 * Default: no crop, no resize.
 */
export async function readDepthPng(file: string, range: DepthRange = SYNFACE_DEPTH_RANGE, options: ReadDepthOptions = {}): Promise<DepthMap> {
  const { size, cropFraction } = options;
  if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
    throw new Gan3dError(`${file}: size must be a positive integer, got ${size}.`, 'IO_BAD_ARGUMENT');
  }
  if (cropFraction !== undefined && !(cropFraction > 0 && cropFraction <= 1)) {
    throw new Gan3dError(`${file}: cropFraction must be in (0, 1], got ${cropFraction}.`, 'IO_BAD_ARGUMENT');
  }
  const grey = await readPng16Grey(file, { crop: 'none', maxPixels: options.maxPixels });
  let { width, height } = grey;
  let values: ArrayLike<number> = grey.data;
  if (options.crop === 'center') {
    const { left, top, side } = centerSquare(width, height, cropFraction);
    values = cropChannel(values, width, left, top, side, side);
    width = height = side;
  }
  if (size !== undefined && (size !== width || size !== height)) {
    values = resizeBilinear(values, width, height, size, size);
    width = height = size;
  }
  return { data: decodeDepth16(values, range), width, height };
}
