// Mesh textures: callers pass bytes (0..255) or [-1,1] floats with 1, 3 or 4 channels; exporters get plain RGB bytes.
import { Gan3dError } from '../engine/errors.js';
import { signedToUint8 } from './png.js';

/** A texture as given by a caller: Uint8 values are 0..255; Float32 values are in [-1,1]. HWC, row 0 at the top. */
export interface TextureInput {
  data: Uint8Array | Uint8ClampedArray | Float32Array;
  width: number;
  height: number;
  /** Defaults to data.length / (width · height). Alpha (4th channel) is ignored. */
  channels?: 1 | 3 | 4;
}

/** An RGB8 texture, row-major, row 0 at the top of the image. */
export interface RgbTexture {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Converts any {@link TextureInput} to RGB bytes; grey is replicated and alpha dropped. */
export function toRgbTexture(input: TextureInput, label = 'texture'): RgbTexture {
  const { width, height } = input;
  const pixels = width * height;
  const channels = input.channels ?? input.data.length / pixels;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Gan3dError(`${label}: size must be positive integers, got ${width}×${height}.`, 'IO_BAD_SHAPE');
  }
  if ((channels !== 1 && channels !== 3 && channels !== 4) || input.data.length !== pixels * channels) {
    throw new Gan3dError(`${label}: ${input.data.length} values do not make a ${width}×${height} image with 1, 3 or 4 channels.`, 'IO_BAD_SHAPE');
  }
  const bytes = input.data instanceof Float32Array ? signedToUint8(input.data, label) : input.data;
  const data = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) data[3 * p + c] = bytes[p * channels + (channels === 1 ? 0 : c)];
  }
  return { data, width, height };
}
