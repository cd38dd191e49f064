// Every hyperparameter of the photo-geometric autoencoder (Unsup3d), with its defaults in one place.
// Paper values are noted where the default differs. Widths are a quarter of the paper's (nf 16), chosen by measured
// step time: one training step at batch 8 on one core (wasm) takes about 6.5 s at the paper's widths, 2.15 s at
// half width (nf 32) and 0.86 s at nf 16, where the 64x64 layers of D and A and the renderer dominate.
// λ_perc is 0 because no VGG weights ship here.
import { Gan3dError } from '../../engine/errors.js';
import { type CameraConfig, cameraConfig } from '../../geometry/camera.js';
import type { InitScheme } from '../../nn/init.js';

export interface EncoderDecoderWidths {
  /** Base width: the encoder runs nf, 2nf, 4nf, 8nf channels. */
  nf: number;
  /** Bottleneck channels. */
  zdim: number;
}

export interface EncoderWidths {
  nf: number;
}

export interface PhotoGeoConfig {
  /** Image side; the networks are laid out for 64 (Unsup3d). */
  imageSize: number;
  /** Depth net D (EDDeconv). Paper: nf 64, zdim 256. */
  depthNet: EncoderDecoderWidths;
  /** Albedo net A (EDDeconv). Paper: nf 64, zdim 256. */
  albedoNet: EncoderDecoderWidths;
  /** Light net L (Encoder). Paper: nf 32. */
  lightNet: EncoderWidths;
  /** Viewpoint net V (Encoder). Paper: nf 32. */
  viewNet: EncoderWidths;
  /** Confidence net C (ConfNet). Paper: nf 64, zdim 128. */
  confNet: EncoderDecoderWidths;
  /** GroupNorm groups = channels / channelsPerGroup (Unsup3d: GN(16, 64), GN(32, 128), ... so 4). */
  channelsPerGroup: number;
  /** Negative slope of the encoders' LeakyReLU. */
  leakySlope: number;
  init: InitScheme;

  /** Camera: full field of view in degrees and the depth the view rotations turn about. */
  fovDeg: number;
  rotCenterDepth: number;
  /** Canonical depth range: d = r(tanh(D - mean D); minDepth, maxDepth). */
  minDepth: number;
  maxDepth: number;
  /** Depth written into the `borderColumns` leftmost and rightmost columns (0.7 max + 0.3 min). */
  borderDepth: number;
  borderColumns: number;

  /** View decoding: rotations v * rotRangeDeg, x/y translation v * xyTranslationRange, z v * zTranslationRange. */
  rotRangeDeg: number;
  xyTranslationRange: number;
  zTranslationRange: number;
  /** Light decoding: ambient and diffuse strengths mapped from (-1, 1) to these ranges. */
  ambientRange: [number, number];
  diffuseRange: [number, number];

  /** Loss weights: E = l1(I^) + λ_flip l1(I^') + λ_perc (lp(I^) + λ_flip lp(I^')) + λ_smooth L_sm. */
  lambdaFlip: number;
  /** Paper: 1 with VGG16 relu3_3; 0 until a feature network is passed to the loss. */
  lambdaPerc: number;
  lambdaSmooth: number;
  /** Weight the photometric losses by the confidence net's σ (Laplacian / Gaussian NLL). */
  useConfidence: boolean;

  /** For the trainer: Adam learning rate and L2 weight decay (Unsup3d: 1e-4, 5e-4). */
  lr: number;
  weightDecay: number;
}

export const PHOTOGEO_DEFAULTS: Readonly<PhotoGeoConfig> = Object.freeze({
  imageSize: 64,
  depthNet: { nf: 16, zdim: 64 },
  albedoNet: { nf: 16, zdim: 64 },
  lightNet: { nf: 16 },
  viewNet: { nf: 16 },
  confNet: { nf: 16, zdim: 32 },
  channelsPerGroup: 4,
  leakySlope: 0.2,
  init: 'pytorch',
  fovDeg: 10,
  rotCenterDepth: 1.0,
  minDepth: 0.9,
  maxDepth: 1.1,
  borderDepth: 1.04,
  borderColumns: 2,
  rotRangeDeg: 60,
  xyTranslationRange: 0.1,
  zTranslationRange: 0,
  ambientRange: [0, 1],
  diffuseRange: [0, 1],
  lambdaFlip: 0.5,
  lambdaPerc: 0,
  lambdaSmooth: 0,
  useConfidence: true,
  lr: 1e-4,
  weightDecay: 5e-4,
} satisfies PhotoGeoConfig);

/** Half the paper's widths (nf 32): the previous default, 2.5x slower to train than the default. */
export const HALF_WIDTHS: Readonly<Pick<PhotoGeoConfig, 'depthNet' | 'albedoNet' | 'lightNet' | 'viewNet' | 'confNet'>> = Object.freeze({
  depthNet: { nf: 32, zdim: 128 },
  albedoNet: { nf: 32, zdim: 128 },
  lightNet: { nf: 16 },
  viewNet: { nf: 32 },
  confNet: { nf: 32, zdim: 64 },
});

/** The paper's network widths (Unsup3d at 64x64), for comparison runs. */
export const PAPER_WIDTHS: Readonly<Pick<PhotoGeoConfig, 'depthNet' | 'albedoNet' | 'lightNet' | 'viewNet' | 'confNet'>> = Object.freeze({
  depthNet: { nf: 64, zdim: 256 },
  albedoNet: { nf: 64, zdim: 256 },
  lightNet: { nf: 32 },
  viewNet: { nf: 32 },
  confNet: { nf: 64, zdim: 128 },
});

export type PhotoGeoOverrides = Partial<Omit<PhotoGeoConfig, 'depthNet' | 'albedoNet' | 'lightNet' | 'viewNet' | 'confNet'>> & {
  depthNet?: Partial<EncoderDecoderWidths>;
  albedoNet?: Partial<EncoderDecoderWidths>;
  lightNet?: Partial<EncoderWidths>;
  viewNet?: Partial<EncoderWidths>;
  confNet?: Partial<EncoderDecoderWidths>;
};

/** Defaults with `overrides` merged in (network widths merged field by field), checked. */
export function photoGeoConfig(overrides: PhotoGeoOverrides = {}): PhotoGeoConfig {
  const d = PHOTOGEO_DEFAULTS;
  const config: PhotoGeoConfig = {
    ...d,
    ...overrides,
    depthNet: { ...d.depthNet, ...overrides.depthNet },
    albedoNet: { ...d.albedoNet, ...overrides.albedoNet },
    lightNet: { ...d.lightNet, ...overrides.lightNet },
    viewNet: { ...d.viewNet, ...overrides.viewNet },
    confNet: { ...d.confNet, ...overrides.confNet },
    ambientRange: [...(overrides.ambientRange ?? d.ambientRange)],
    diffuseRange: [...(overrides.diffuseRange ?? d.diffuseRange)],
  };
  checkPhotoGeoConfig(config);
  return config;
}

export function checkPhotoGeoConfig(c: PhotoGeoConfig): void {
  const problems: string[] = [];
  if (c.imageSize !== 64) problems.push(`imageSize must be 64 (the Unsup3d layout), got ${c.imageSize}`);
  const g = c.channelsPerGroup;
  for (const [name, w] of [['depthNet', c.depthNet], ['albedoNet', c.albedoNet], ['confNet', c.confNet]] as const) {
    if (!(Number.isInteger(w.nf) && w.nf >= g && w.nf % g === 0)) problems.push(`${name}.nf must be a multiple of channelsPerGroup ${g}, got ${w.nf}`);
    if (!(Number.isInteger(w.zdim) && w.zdim >= 1)) problems.push(`${name}.zdim must be a positive integer, got ${w.zdim}`);
  }
  for (const [name, w] of [['lightNet', c.lightNet], ['viewNet', c.viewNet]] as const) {
    if (!(Number.isInteger(w.nf) && w.nf >= 1)) problems.push(`${name}.nf must be a positive integer, got ${w.nf}`);
  }
  if (!(c.minDepth < c.maxDepth)) problems.push(`minDepth must be below maxDepth (got ${c.minDepth}..${c.maxDepth})`);
  if (!(Number.isInteger(c.borderColumns) && c.borderColumns >= 0 && 2 * c.borderColumns < c.imageSize)) {
    problems.push(`borderColumns must be a whole number below half the image, got ${c.borderColumns}`);
  }
  for (const key of ['lambdaFlip', 'lambdaPerc', 'lambdaSmooth', 'lr', 'weightDecay', 'rotRangeDeg', 'xyTranslationRange', 'zTranslationRange'] as const) {
    if (!(Number.isFinite(c[key]) && c[key] >= 0)) problems.push(`${key} must be a finite number >= 0, got ${c[key]}`);
  }
  if (problems.length > 0) throw new Gan3dError(`Invalid photo-geometric model config: ${problems.join('; ')}.`, 'BAD_CONFIG');
  cameraOf(c); // throws on a bad camera
}

/** The camera the model renders with. */
export function cameraOf(c: PhotoGeoConfig): CameraConfig {
  return cameraConfig(c.imageSize, { fovDeg: c.fovDeg, minDepth: c.minDepth, maxDepth: c.maxDepth, rotCenterDepth: c.rotCenterDepth });
}
