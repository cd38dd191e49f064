// The same SynFace face under other views and lights: its shape, expression, albedo, asymmetry and background kept,
// light and pose drawn afresh from the dataset's ranges. These are what a perfect GAN prior would return as projected
// samples of a face (GAN2Shape's Step 2), so refinement with them bounds what a better GAN could give.
import { Rng } from '../../engine/random.js';
import { SYNFACE_DEFAULTS, sampleParams, type SynfaceConfig, type SynfaceParams } from './params.js';
import { renderSynfaceBatch } from './render.js';

export interface RelitViews {
  /** [n, S, S, 3] in [-1, 1] and the face masks [n, S, S] in {0, 1}. */
  images: Float32Array;
  masks: Float32Array;
  count: number;
  /** The light and view of each rendering. */
  params: Pick<SynfaceParams, 'light' | 'view'>[];
}

/** `n` renderings of `face` at `size`, each with a light and view drawn from `config`'s ranges by Rng(seed). */
export function relitViews(face: SynfaceParams, n: number, size: number, seed: number, config: SynfaceConfig = SYNFACE_DEFAULTS): RelitViews {
  const rng = new Rng(seed);
  const variants = Array.from({ length: n }, () => {
    const drawn = sampleParams(rng, config);
    return { ...face, light: drawn.light, view: drawn.view };
  });
  const samples = renderSynfaceBatch(variants, size);
  const per = size * size;
  const images = new Float32Array(n * per * 3);
  const masks = new Float32Array(n * per);
  samples.forEach((s, k) => {
    for (let i = 0; i < per * 3; i++) images[k * per * 3 + i] = s.image[i] / 127.5 - 1;
    for (let i = 0; i < per; i++) masks[k * per + i] = s.mask[i] > 127 ? 1 : 0;
  });
  return { images, masks, count: n, params: variants.map((v) => ({ light: v.light, view: v.view })) };
}
