// Contact sheets: the first images of one folder of a dataset tiled into a grid, to look at a dataset at a glance.
// 16-bit depth maps are shown as 8-bit grey (white near, as stored), optionally contrast-stretched per tile.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Gan3dError } from '../../engine/errors.js';
import { decodeImagePixels } from '../../io/image.js';
import { readInputFile } from '../../io/read-file.js';
import { encodePng8Sync } from './png-encode.js';

export interface ContactSheetOptions {
  /** Sub-folder to show (default 'image'): image, depth, canon_depth, canon_albedo, normal or mask. */
  kind?: string;
  /** Split to take the images from when `folder` is a dataset root (default 'test'). */
  split?: string;
  /** Images in the grid (default 64). */
  count?: number;
  /** Columns (default 8). */
  cols?: number;
  /** Nearest-neighbour enlargement of every tile (default 1). */
  scale?: number;
  /** Pixels between tiles (default 2). */
  gap?: number;
  /**
   * Stretch the contrast of each tile over its non-zero values (to 48..255; zero stays black): makes the ~0.1 of
   * relief in a depth map's [0.9, 1.1] range visible. Off by default: tiles show the stored values.
   */
  stretch?: boolean;
}

export interface ContactSheet {
  png: Uint8Array;
  width: number;
  height: number;
  files: string[];
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The folder of PNGs to show: `folder/kind`, `folder/split/kind`, or `folder` itself when it holds PNGs. */
async function sourceFolder(folder: string, kind: string, split: string): Promise<string> {
  for (const candidate of [path.join(folder, kind), path.join(folder, split, kind)]) {
    if (await isDir(candidate)) return candidate;
  }
  if (await isDir(folder)) return folder;
  throw new Gan3dError(`No folder ${path.join(folder, split, kind)} or ${path.join(folder, kind)}: give a dataset folder or one of its splits.`, 'IO_NOT_FOUND');
}

/** Tiles the first `count` PNGs (sorted by name) of a dataset folder into an RGB contact sheet. */
export async function contactSheet(folder: string, options: ContactSheetOptions = {}): Promise<ContactSheet> {
  const { kind = 'image', split = 'test', count = 64, cols = 8, scale = 1, gap = 2, stretch = false } = options;
  for (const [name, v] of [['count', count], ['cols', cols], ['scale', scale]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Gan3dError(`contact sheet: ${name} must be a positive whole number, got ${v}.`, 'BAD_ARGUMENT');
  }
  const dir = await sourceFolder(folder, kind, split);
  const files = (await fs.readdir(dir))
    .filter((f) => f.toLowerCase().endsWith('.png'))
    .sort()
    .slice(0, count)
    .map((f) => path.join(dir, f));
  if (files.length === 0) throw new Gan3dError(`No PNG files in ${dir}.`, 'IO_NOT_FOUND');
  const tiles = await Promise.all(files.map(async (f) => decodeImagePixels(await readInputFile(f, 'image file'), f, { crop: 'none' }, 3)));
  const tw = tiles[0].width;
  const th = tiles[0].height;
  const bad = tiles.findIndex((t) => t.width !== tw || t.height !== th);
  if (bad >= 0) throw new Gan3dError(`${files[bad]} is not ${tw}x${th} like ${files[0]}.`, 'IO_BAD_SHAPE');
  const rows = Math.ceil(tiles.length / cols);
  const cw = Math.min(cols, tiles.length);
  const width = cw * tw * scale + (cw + 1) * gap;
  const height = rows * th * scale + (rows + 1) * gap;
  const sheet = new Uint8Array(width * height * 3).fill(24);
  tiles.forEach((t, n) => {
    const x0 = gap + (n % cols) * (tw * scale + gap);
    const y0 = gap + Math.floor(n / cols) * (th * scale + gap);
    let lo = 0;
    let hi: number = t.maxValue;
    if (stretch) {
      lo = Infinity;
      hi = -Infinity;
      for (const v of t.data) {
        if (v > 0) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    }
    const toByte = (v: number) => (!stretch ? (v * 255) / t.maxValue : v === 0 ? 0 : 48 + (207 * (v - lo)) / Math.max(1, hi - lo));
    for (let i = 0; i < th * scale; i++) {
      for (let j = 0; j < tw * scale; j++) {
        const src = 3 * (Math.floor(i / scale) * tw + Math.floor(j / scale));
        const dst = 3 * ((y0 + i) * width + x0 + j);
        for (let c = 0; c < 3; c++) sheet[dst + c] = Math.round(toByte(t.data[src + c]));
      }
    }
  });
  // Sheets are kept in the repository: compress hard.
  return { png: encodePng8Sync(sheet, width, height, 3, 9), width, height, files };
}
