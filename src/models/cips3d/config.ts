// Every hyperparameter of the CIPS-3D generator, defaults in one place. Paper/official-code values (paper notes A.2–A.6)
// are noted where the default differs; the defaults are sized for a 2-core CPU (a 32×32 image is 1,024 per-pixel INR
// evaluations and 24,576 NeRF points at 12 + 12 samples per ray).
import { Gan3dError } from '../../engine/errors.js';

export interface Cips3dConfig {
  /** Output side (the INR runs one block per power of two from 4 up to it). Official: 32 → 64 → 128 → 256 stages. */
  resolution: number;
  /** NeRF latent: z width and w width, mapping layers. Official: 256, 128, 4. */
  zNerfDim: number;
  wNerfDim: number;
  nerfMappingLayers: number;
  /** INR latent: z width and w width, mapping layers (with LayerNorm). Official: 512, 512, 8. */
  zInrDim: number;
  wInrDim: number;
  inrMappingLayers: number;
  /** Shallow NeRF: FiLM-SIREN hidden width (two layers), the colour FiLM's width, the rendered feature width.
   *  Official: 128, 64, 32. */
  nerfHidden: number;
  nerfColorHidden: number;
  featureDim: number;
  /** Points are multiplied by this before the NeRF (UniformBoxWarp(0.24): 2 / 0.24, so the head's ±0.12 maps to ±1). */
  pointScale: number;
  /** Deep INR width (every modulated layer). Official: 512. */
  inrWidth: number;
  /** Camera: field of view (degrees), the rotation centre's depth (the camera's distance from the object's centre), and
   *  the z-depth bounds of the samples. Official: 12°, radius 1, near/far 0.88/1.12. */
  fovDeg: number;
  rotCenterDepth: number;
  near: number;
  far: number;
  /** Samples per ray: stratified (coarse) and importance-sampled (fine; 0 = none). Official: 12 + 12. */
  coarseSamples: number;
  fineSamples: number;
  /** Pose prior for training: yaw and pitch ~ N(0, std²) in radians (view.ts's ry and rx). Official (FFHQ): 0.3, 0.155. */
  yawStd: number;
  pitchStd: number;
  /** Density noise std n = max(0, 1 − step / densityNoiseSteps) during training. Official: 5,000 steps. */
  densityNoiseSteps: number;
  /** Truncation averages w over this many samples. Official: 10,000. */
  wAvgSamples: number;
}

export const CIPS3D_DEFAULTS: Readonly<Cips3dConfig> = Object.freeze({
  resolution: 32,
  zNerfDim: 64,
  wNerfDim: 64,
  nerfMappingLayers: 4,
  zInrDim: 128,
  wInrDim: 128,
  inrMappingLayers: 4,
  nerfHidden: 64,
  nerfColorHidden: 32,
  featureDim: 32,
  pointScale: 2 / 0.24,
  inrWidth: 128,
  fovDeg: 12,
  rotCenterDepth: 1,
  near: 0.88,
  far: 1.12,
  coarseSamples: 12,
  fineSamples: 12,
  yawStd: 0.3,
  pitchStd: 0.155,
  densityNoiseSteps: 5000,
  wAvgSamples: 10000,
});

/** The INR's block keys 4, 8, …, resolution: how many blocks run (there is no spatial upsampling). */
export function inrBlockKeys(resolution: number): number[] {
  const out: number[] = [];
  for (let r = 4; r <= resolution; r *= 2) out.push(r);
  return out;
}

/** Defaults overridden by `overrides`, checked. */
export function cips3dConfig(overrides: Partial<Cips3dConfig> = {}): Cips3dConfig {
  const c: Cips3dConfig = { ...CIPS3D_DEFAULTS, ...overrides };
  const problems: string[] = [];
  if (!Number.isInteger(Math.log2(c.resolution)) || c.resolution < 4) problems.push(`resolution must be a power of two ≥ 4 (got ${c.resolution})`);
  const counts = {
    zNerfDim: c.zNerfDim,
    wNerfDim: c.wNerfDim,
    nerfMappingLayers: c.nerfMappingLayers,
    zInrDim: c.zInrDim,
    wInrDim: c.wInrDim,
    inrMappingLayers: c.inrMappingLayers,
    nerfHidden: c.nerfHidden,
    nerfColorHidden: c.nerfColorHidden,
    featureDim: c.featureDim,
    inrWidth: c.inrWidth,
    coarseSamples: c.coarseSamples - 2,
  };
  for (const [k, v] of Object.entries(counts)) if (!Number.isInteger(v) || v < 1) problems.push(`${k} must be a whole number ≥ ${k === 'coarseSamples' ? 3 : 1}`);
  if (!Number.isInteger(c.fineSamples) || c.fineSamples < 0) problems.push(`fineSamples must be a whole number ≥ 0 (got ${c.fineSamples})`);
  if (!(c.near > 0 && c.far > c.near)) problems.push(`need 0 < near < far (got ${c.near}, ${c.far})`);
  if (!(c.fovDeg > 0 && c.fovDeg < 180)) problems.push(`fovDeg must be in (0, 180) (got ${c.fovDeg})`);
  if (!(c.pointScale > 0)) problems.push(`pointScale must be > 0 (got ${c.pointScale})`);
  if (problems.length > 0) throw new Gan3dError(`Invalid CIPS-3D config: ${problems.join('; ')}.`, 'BAD_CONFIG');
  return c;
}
