// Animated GIFs from a stack of RGB frames, encoded by sharp (libvips + cgif): the frames go in as one tall raw
// image with `pageHeight`, so no GIF code of our own.
import sharp from 'sharp';
import { Gan3dError } from '../engine/errors.js';
import { writeFileAtomic, type WriteOptions } from './atomic-write.js';
import { signedToUint8 } from './png.js';

export interface GifOptions {
  /** Milliseconds per frame (default 80, 12.5 frames per second). */
  delayMs?: number;
  /** Times to play; 0 (default) loops for ever. */
  loop?: number;
  /** Encoder effort 1 (fast, default: ~7× faster than libvips' default 7 for a few % more bytes) to 10. */
  effort?: number;
}

/** A frame stack: `count` frames of width × height × 3, row-major, one after another; bytes or [-1,1] floats. */
export interface FrameStack {
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
  count: number;
}

/** Encodes the frames as an animated GIF (256-colour palette per frame, dithered). */
export async function encodeGif(frames: FrameStack, options: GifOptions = {}): Promise<Uint8Array> {
  const { width, height, count } = frames;
  if (!(Number.isInteger(width) && Number.isInteger(height) && Number.isInteger(count) && width > 0 && height > 0 && count > 0)) {
    throw new Gan3dError(`GIF: frame size and count must be positive integers, got ${width}×${height}×${count}.`, 'IO_BAD_SHAPE');
  }
  if (frames.data.length !== width * height * 3 * count) {
    throw new Gan3dError(`GIF: expected ${count} RGB frames of ${width}×${height} (${width * height * 3 * count} values), got ${frames.data.length}.`, 'IO_BAD_SHAPE');
  }
  const delay = options.delayMs ?? 80;
  if (!(Number.isInteger(delay) && delay >= 0 && delay <= 65535)) throw new Gan3dError(`GIF: delayMs must be a whole number in 0..65535, got ${delay}.`, 'IO_BAD_ARGUMENT');
  const bytes = frames.data instanceof Float32Array ? signedToUint8(frames.data, 'GIF frames') : frames.data;
  const gif = await sharp(bytes, { raw: { width, height: height * count, channels: 3, pageHeight: height } })
    .gif({ delay: Array(count).fill(delay), loop: options.loop ?? 0, effort: options.effort ?? 1, keepDuplicateFrames: true })
    .toBuffer();
  return new Uint8Array(gif);
}

/** Writes an animated GIF (atomic; refuses to overwrite unless `force`). */
export async function writeGif(file: string, frames: FrameStack, options: GifOptions & WriteOptions = {}): Promise<void> {
  await writeFileAtomic(file, await encodeGif(frames, options), options);
}
