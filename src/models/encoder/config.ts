// The GAN-inversion encoder's config (image → w): every hyperparameter with its default in one place, written into
// every checkpoint and bundle so the network can be rebuilt from its own files.
//
// Defaults sized for a 2-core CPU at 64×64: four stride-2 stages 64 → 32 → 16 → 8 → 4 of widths 32, 64, 128, 128
// (about 0.6 M parameters with the linear head to a 128-d w). GAN2Shape's synface encoder (a ResNet of widths
// 32…256 predicting a 512-d code, C.2 of ../shared/papers/gan2shape-unsup3d.md) is larger; ours predicts w for a
// generator of w width 128.
import { Gan3dError } from '../../engine/errors.js';

export interface EncoderConfig {
  /** Input side: the generator's resolution (a power of two ≥ 8). */
  imageSize: number;
  /** Width of the predicted w: the generator's wDim. */
  wDim: number;
  /** Channels of the stride-2 stages, one per halving from imageSize down to 4×4 (log2(imageSize) − 2 entries). */
  widths: number[];
  /** GroupNorm groups = channels / channelsPerGroup. */
  channelsPerGroup: number;
  leakySlope: number;
}

export type EncoderOverrides = Partial<EncoderConfig>;

export const ENCODER_DEFAULTS: Readonly<EncoderConfig> = Object.freeze({
  imageSize: 64,
  wDim: 128,
  widths: [32, 64, 128, 128],
  channelsPerGroup: 8,
  leakySlope: 0.2,
});

/** Default widths for `imageSize`: the defaults' first stages, padded with their last width. */
export function defaultEncoderWidths(imageSize: number): number[] {
  const stages = Math.round(Math.log2(imageSize)) - 2;
  const base = ENCODER_DEFAULTS.widths;
  return Array.from({ length: Math.max(stages, 1) }, (_, i) => base[Math.min(i, base.length - 1)]);
}

/** Defaults with `overrides`, checked (widths default to {@link defaultEncoderWidths} of the image size). */
export function encoderConfig(overrides: EncoderOverrides = {}): EncoderConfig {
  const imageSize = overrides.imageSize ?? ENCODER_DEFAULTS.imageSize;
  const c: EncoderConfig = structuredClone({ ...ENCODER_DEFAULTS, widths: defaultEncoderWidths(imageSize), ...overrides }) as EncoderConfig;
  const bad = (what: string) => new Gan3dError(`Encoder config: ${what}.`, 'BAD_CONFIG');
  if (!(Number.isInteger(Math.log2(c.imageSize)) && c.imageSize >= 8)) throw bad(`imageSize must be a power of two ≥ 8, got ${c.imageSize}`);
  const stages = Math.log2(c.imageSize) - 2;
  if (!Array.isArray(c.widths) || c.widths.length !== stages || !c.widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw bad(`widths must be ${stages} whole numbers ≥ 1 (one stride-2 stage per halving from ${c.imageSize} to 4), got [${String(c.widths)}]`);
  }
  if (!(Number.isInteger(c.channelsPerGroup) && c.channelsPerGroup >= 1) || c.widths.some((w) => w % c.channelsPerGroup !== 0)) {
    throw bad(`channelsPerGroup ${c.channelsPerGroup} must divide every width ([${c.widths}])`);
  }
  if (!(Number.isInteger(c.wDim) && c.wDim >= 1)) throw bad(`wDim must be a whole number ≥ 1, got ${c.wDim}`);
  if (!(c.leakySlope >= 0 && c.leakySlope < 1)) throw bad(`leakySlope must be in [0, 1), got ${c.leakySlope}`);
  return c;
}
