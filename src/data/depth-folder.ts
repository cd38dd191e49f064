// Reads an evaluation split laid out like SynFace (`<split>/depth/<id>.png`, 16-bit, d = 1.1 − 0.2·v, and
// `<split>/mask/<id>.png`): the ground truth that `gan3d eval` scores predictions against.
import fs from 'node:fs';
import path from 'node:path';
import { Gan3dError } from '../engine/errors.js';
import { readDepthPng } from '../io/depth-png.js';
import { decodeImagePixels } from '../io/image.js';
import { readInputFile } from '../io/read-file.js';

export interface GroundTruthSample {
  id: string;
  size: number;
  depth: Float32Array;
  /** Object mask in [0,1], or null when the split has no mask folder. */
  mask: Float32Array | null;
}

/** Ids (file stems) of the depth maps in a split folder, sorted; a clear error when the folder is not a split. */
export function listDepthIds(split: string): string[] {
  const depthDir = path.join(split, 'depth');
  if (!fs.existsSync(split)) throw new Gan3dError(`${split}: no such folder.`, 'NO_DATA');
  if (!fs.existsSync(depthDir)) {
    throw new Gan3dError(`${split}: not an evaluation split (expected a depth/ folder of 16-bit PNGs, as \`gan3d data synface\` writes).`, 'NO_DATA');
  }
  const ids = fs.readdirSync(depthDir).filter((f) => f.endsWith('.png')).map((f) => f.slice(0, -4)).sort();
  if (ids.length === 0) throw new Gan3dError(`${depthDir}: no depth PNGs found.`, 'NO_DATA');
  return ids;
}

export async function readGroundTruth(split: string, id: string): Promise<GroundTruthSample> {
  const depthMap = await readDepthPng(path.join(split, 'depth', `${id}.png`));
  if (depthMap.width !== depthMap.height) {
    throw new Gan3dError(`${split}/depth/${id}.png: depth maps must be square, got ${depthMap.width}×${depthMap.height}.`, 'BAD_SHAPE');
  }
  const maskFile = path.join(split, 'mask', `${id}.png`);
  let mask: Float32Array | null = null;
  if (fs.existsSync(maskFile)) {
    const px = await decodeImagePixels(await readInputFile(maskFile, 'mask'), maskFile, { crop: 'none', size: depthMap.width }, 1);
    mask = Float32Array.from(px.data, (v) => v / px.maxValue);
  }
  return { id, size: depthMap.width, depth: depthMap.data, mask };
}
