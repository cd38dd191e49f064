// Backgrounds composited behind the face where the view sees no surface: plain, a linear gradient, or smooth
// coloured noise. Pure functions of BackgroundParams and the size.
import { ValueNoise } from './noise.js';
import type { BackgroundParams } from './params.js';

const NOISE = new ValueNoise(0);

/** The background [S * S * 3] as RGB in [0, 1]. */
export function backgroundImage(bg: BackgroundParams, size: number, out: Float32Array = new Float32Array(size * size * 3)): Float32Array {
  const c = (size - 1) / 2;
  const [ar, ag, ab] = bg.colourA;
  const [br, bgc, bb] = bg.colourB;
  const ca = Math.cos(bg.angle);
  const sa = Math.sin(bg.angle);
  const noise = bg.kind === 'noise' ? NOISE.reseed(bg.noiseSeed | 0) : null;
  for (let i = 0; i < size; i++) {
    const y = (i - c) / c;
    for (let j = 0; j < size; j++) {
      const x = (j - c) / c;
      let t: number;
      if (bg.kind === 'plain') t = 0;
      else if (bg.kind === 'gradient') t = Math.min(1, Math.max(0, 0.5 + 0.5 * (x * ca + y * sa)));
      // Noise in image units, so the pattern is the same at every size.
      else t = noise!.fractal((x + 1) * 0.5 * bg.noiseScale, (y + 1) * 0.5 * bg.noiseScale);
      const o = 3 * (i * size + j);
      out[o] = ar + (br - ar) * t;
      out[o + 1] = ag + (bgc - ag) * t;
      out[o + 2] = ab + (bb - ab) * t;
    }
  }
  return out;
}
