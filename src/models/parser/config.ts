// The object-mask parser's config: every hyperparameter with its default, in one place (written into checkpoints
// and bundles, so a parser can be rebuilt from its own files). GAN2Shape takes its object mask from a pretrained
// BiSeNet (faces) or PSPNet; neither can be downloaded here, so gan3d trains this small parser on SynFace's masks.
import { Gan3dError } from '../../engine/errors.js';

export interface ParserConfig {
  /** Input side: 64 (three stride-2 stages down to 8×8). */
  imageSize: number;
  /** Channels at 64, 32, 16 and 8 pixels (the last is also the bottleneck's). */
  widths: [number, number, number, number];
  /** GroupNorm groups = channels / channelsPerGroup. */
  channelsPerGroup: number;
  leakySlope: number;
  /** Adam learning rate. */
  lr: number;
  /** Probability that a training image and its mask are mirrored left-right. */
  flipProbability: number;
}

export type ParserOverrides = Partial<ParserConfig>;

export const PARSER_DEFAULTS: Readonly<ParserConfig> = Object.freeze({
  imageSize: 64,
  widths: [8, 16, 32, 64] as [number, number, number, number],
  channelsPerGroup: 4,
  leakySlope: 0.2,
  lr: 2e-3,
  flipProbability: 0.5,
});

/** Defaults with `overrides`, checked. */
export function parserConfig(overrides: ParserOverrides = {}): ParserConfig {
  const c = structuredClone({ ...PARSER_DEFAULTS, ...overrides }) as ParserConfig;
  const bad = (what: string) => new Gan3dError(`Parser config: ${what}.`, 'BAD_CONFIG');
  if (c.imageSize !== 64) throw bad(`imageSize must be 64, got ${c.imageSize}`);
  if (!Array.isArray(c.widths) || c.widths.length !== 4 || !c.widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw bad(`widths must be four whole numbers ≥ 1, got [${String(c.widths)}]`);
  }
  if (!(Number.isInteger(c.channelsPerGroup) && c.channelsPerGroup >= 1) || c.widths.some((w) => w % c.channelsPerGroup !== 0)) {
    throw bad(`channelsPerGroup ${c.channelsPerGroup} must divide every width ([${c.widths}])`);
  }
  if (!(c.lr > 0)) throw bad(`lr must be positive, got ${c.lr}`);
  if (!(c.flipProbability >= 0 && c.flipProbability <= 1)) throw bad(`flipProbability must be in [0, 1], got ${c.flipProbability}`);
  return c;
}
