// The feature network's config: every hyperparameter with its default, in one place (written into checkpoints and
// bundles, so a model can be rebuilt from its own files).
import { Gan3dError } from '../../engine/errors.js';
import { FEATURE_LABELS, type LabelSpec } from './labels.js';

export interface FeatureNetConfig {
  /** Input side (images are resized to it): 64. */
  imageSize: number;
  /** Channels of the four stride-2 stages (64 → 32 → 16 → 8 → 4). */
  widths: [number, number, number, number];
  /** Channels of the last 3×3 conv, globally averaged: the feature vector FID/KID use. */
  featureDim: number;
  /** GroupNorm groups = channels / channelsPerGroup. */
  channelsPerGroup: number;
  leakySlope: number;
  /** The regressed labels (the linear head's outputs). */
  labels: LabelSpec[];
  /** Adam learning rate. */
  lr: number;
}

export type FeatureNetOverrides = Partial<FeatureNetConfig>;

export const FEATURE_NET_DEFAULTS: Readonly<FeatureNetConfig> = Object.freeze({
  imageSize: 64,
  widths: [16, 32, 64, 128] as [number, number, number, number],
  featureDim: 128,
  channelsPerGroup: 4,
  leakySlope: 0.2,
  labels: [...FEATURE_LABELS],
  lr: 1e-3,
});

/** Defaults with `overrides`, checked. */
export function featureNetConfig(overrides: FeatureNetOverrides = {}): FeatureNetConfig {
  const c: FeatureNetConfig = structuredClone({ ...FEATURE_NET_DEFAULTS, ...overrides }) as FeatureNetConfig;
  const bad = (what: string) => new Gan3dError(`Feature network config: ${what}.`, 'BAD_CONFIG');
  if (c.imageSize !== 64) throw bad(`imageSize must be 64 (four stride-2 stages to 4×4), got ${c.imageSize}`);
  const channels = [...c.widths, c.featureDim];
  if (c.widths.length !== 4 || !channels.every((w) => Number.isInteger(w) && w >= 1)) throw bad(`widths must be four whole numbers ≥ 1, got [${c.widths}]`);
  if (!(Number.isInteger(c.channelsPerGroup) && c.channelsPerGroup >= 1) || channels.some((w) => w % c.channelsPerGroup !== 0)) {
    throw bad(`channelsPerGroup ${c.channelsPerGroup} must divide every width ([${channels}])`);
  }
  if (!Array.isArray(c.labels) || c.labels.length === 0) throw bad('it needs at least one label');
  for (const l of c.labels) if (!(typeof l.name === 'string' && l.hi > l.lo)) throw bad(`label ${JSON.stringify(l)} needs a name and hi > lo`);
  if (!(c.lr > 0)) throw bad(`lr must be positive, got ${c.lr}`);
  return c;
}
