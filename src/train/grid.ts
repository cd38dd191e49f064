// Sample grids for training runs: one row per sample, one column per named panel (input, reconstruction, depth,
// albedo, …), no text drawn, so the PNG is small and byte-stable. Images in [-1,1] map to bytes directly; maps
// (depth, confidence) are stretched per image from their own finite min–max, or from a fixed range.
import type * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { encodePng8 } from '../io/png.js';

export interface PanelImages {
  data: Float32Array;
  /** [N,H,W,C] with C = 1 or 3, or [N,H,W]. */
  shape: number[];
}

export interface GridPanel {
  name: string;
  images: tf.Tensor | PanelImages;
  /** 'signed': values in [-1,1] (default); 'auto': each image stretched from its own min–max; or a fixed [lo, hi]. */
  range?: 'signed' | 'auto' | [number, number];
}

export interface GridOptions {
  /** Pixels between cells (default 2). */
  gap?: number;
  /** Background and gap colour, RGB bytes (default dark grey); also shown where a map is NaN. */
  background?: [number, number, number];
}

export interface GridImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  /** Panel names, left to right. */
  columns: string[];
}

function panelData(panel: GridPanel): { data: Float32Array; n: number; h: number; w: number; c: number } {
  const images = panel.images as Partial<tf.Tensor> & Partial<PanelImages>;
  const shape = images.shape as number[];
  // Tensors are read without disposing them: the caller owns its panels.
  const data = images.data instanceof Float32Array ? images.data : ((panel.images as tf.Tensor).dataSync() as Float32Array);
  const [n, h, w, c = 1] = shape;
  if ((shape.length !== 3 && shape.length !== 4) || (c !== 1 && c !== 3) || data.length !== n * h * w * c) {
    throw new Gan3dError(`Grid panel "${panel.name}": expected images [N,H,W,1|3] or [N,H,W], got [${shape.join(',')}].`, 'GRID_BAD_SHAPE');
  }
  return { data, n, h, w, c };
}

/** Lays the panels out as RGB pixels. */
export function gridPixels(panels: GridPanel[], options: GridOptions = {}): GridImage {
  if (panels.length === 0) throw new Gan3dError('A sample grid needs at least one panel.', 'GRID_BAD_SHAPE');
  const gap = options.gap ?? 2;
  const bg = options.background ?? [32, 32, 32];
  const data = panels.map(panelData);
  const rows = data[0].n;
  data.forEach((d, i) => {
    if (d.n !== rows) throw new Gan3dError(`Grid panel "${panels[i].name}" has ${d.n} samples, "${panels[0].name}" has ${rows}.`, 'GRID_BAD_SHAPE');
  });
  const cellH = Math.max(...data.map((d) => d.h));
  const cellW = Math.max(...data.map((d) => d.w));
  const width = panels.length * cellW + (panels.length + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0; i < pixels.length; i += 3) pixels.set(bg, i);

  data.forEach((d, col) => {
    const range = panels[col].range ?? 'signed';
    const per = d.h * d.w * d.c;
    for (let r = 0; r < rows; r++) {
      const base = r * per;
      let lo = -1;
      let hi = 1;
      if (range === 'auto') {
        lo = Infinity;
        hi = -Infinity;
        for (let k = base; k < base + per; k++) {
          const v = d.data[k];
          if (Number.isFinite(v)) {
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
        }
      } else if (Array.isArray(range)) {
        [lo, hi] = range;
      }
      const scale = hi > lo ? 255 / (hi - lo) : 0;
      // Smaller panels sit centred in their cell.
      const y0 = gap + r * (cellH + gap) + ((cellH - d.h) >> 1);
      const x0 = gap + col * (cellW + gap) + ((cellW - d.w) >> 1);
      for (let y = 0; y < d.h; y++) {
        for (let x = 0; x < d.w; x++) {
          const src = base + (y * d.w + x) * d.c;
          const dst = ((y0 + y) * width + x0 + x) * 3;
          for (let ch = 0; ch < 3; ch++) {
            const v = d.data[src + (d.c === 3 ? ch : 0)];
            if (!Number.isFinite(v)) {
              pixels[dst + ch] = bg[ch];
              continue;
            }
            pixels[dst + ch] = Math.round(Math.min(255, Math.max(0, (v - lo) * scale)));
          }
        }
      }
    }
  });
  return { pixels, width, height, columns: panels.map((p) => p.name) };
}

/** Tiles the panels into a grid and encodes it as an RGB PNG. */
export async function tileGrid(panels: GridPanel[], options: GridOptions = {}): Promise<Uint8Array> {
  const grid = gridPixels(panels, options);
  return encodePng8(grid.pixels, grid.width, grid.height, 3);
}
