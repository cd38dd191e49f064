// Every hyperparameter of the 2D StyleGAN2-style prior, with its defaults in one place. Paper values (StyleGAN2 as
// used by GAN2Shape and GAN-Control: w dim 512, 8 mapping layers, 512 channels up to 32x32) are noted where the
// default differs; the defaults are sized for a 2-core CPU at 64x64.
//
// Measured cost of the defaults (G 1.06 M and D 1.06 M parameters) on the wasm backend (SIMD, one thread per process)
// at 64x64, forward + backward over every variable, median of 3, on a 2-core AMD EPYC that another training process
// kept ~1.4 cores busy (so upper bounds):
//   batch 16: G step (mapping + synthesis + D forward/backward for the G loss) 1.95 s; D step (G forward of 16 fakes,
//             D on 16 real + 16 fake) 2.05 s; G forward alone 0.36 s; D forward + backward on 16 images 0.9 s.
//   batch 8 (one data-parallel thread's share of batch 16): G step 1.13 s, D step 1.09 s. Two such processes side by
//             side took 2.0 s and 2.15 s each here: the other process held the second core.
//   R1 (exact, nested tf.grad, batch 16): 1.75 s and 1.5 GiB peak against 0.9 s and 0.55 GiB for a plain D pass;
//             every 16 D steps (lazy), about 0.11 s per step.
// Before the generator's upsampling used tfjs's resize kernel, an interleave built with tf.stack made the G step 7.9 s
// (Unpack, its gradient, is slow on wasm).

import { Gan3dError } from '../../engine/errors.js';
import type { UpsampleMode } from '../../nn/resample.js';
import { labelsNamed } from '../features/labels.js';

export interface StyleGanConfig {
  /** Output side: a power of two from 8 (64 for SynFace; 128 as in GAN2Shape's synface GAN). */
  resolution: number;
  /** Latent z width. Paper: 512. */
  zDim: number;
  /** Intermediate latent w width. Paper: 512. */
  wDim: number;
  /** Equalized linear layers of the mapping network. Paper: 8. */
  mappingLayers: number;
  /** Learning-rate multiplier of the mapping network. Paper: 0.01. */
  mappingLrMul: number;
  /** Generator channels per resolution (keys 4, 8, ..., resolution). Paper: 512 up to 32x32 (channel mult 2). */
  generatorChannels: Record<number, number>;
  /** Discriminator channels per resolution (keys 4, 8, ..., resolution). */
  discriminatorChannels: Record<number, number>;
  /** The generator's 2x upsampling (before each up conv and on the RGB skips). StyleGAN2: transposed conv + blur. */
  upsample: UpsampleMode;
  /** Minibatch standard deviation: group size and features. StyleGAN2: 4 and 1. */
  mbstdGroupSize: number;
  mbstdFeatures: number;
  /** Decay of the tracked mean w per update (StyleGAN2-ADA: 0.995). */
  wAvgBeta: number;
  /**
   * Side of a second, low-resolution discriminator that judges the images box-downsampled to it (0: none; a power of
   * two ≥ 8 below `resolution`). Training only (not bundled): a multi-scale discriminator (as pix2pixHD's), tried
   * because the full-resolution D, which tells fakes by their fine texture, scored real faces no differently whatever
   * their roll, pitch or open mouth (correlations under 0.08), so nothing pushed G to cover them. Measured on SynFace
   * (--init from a 14.4k-step run, 1,300 steps with a 32×32 D): the second D stayed near chance (mean logit on real
   * test faces 0.10, its correlation with |roll| −0.04), the roll spread of the samples did not move (0.40 of the
   * data's) and FID followed the single-D run's course, at 1.35× the step time; so the bundled GAN does not use it.
   */
  lowResDiscriminator: number;
  /**
   * Training only: probability with which each of DiffAugment's transforms (brightness, saturation, contrast,
   * translation, cutout; augment.ts) is applied to each image D sees, real or fake (0: none, the default). Not with
   * lowResDiscriminator.
   */
  augmentProbability: number;
  /**
   * Conditioning (empty: an unconditional GAN, the default): the SynFace labels (names from FEATURE_LABELS,
   * src/models/features/labels.ts, normalised to [-1, 1]) that G and D take beside z and the image. G adds a label
   * MLP's output to w = mapping(z); D adds a projection term ⟨φ(x), MLP(labels)⟩/√C to its logit, φ(x) being its last
   * hidden layer (the projection discriminator of Miyato & Koyama; StyleGAN2-ADA conditions the same two places).
   * Both MLPs end in a zero-initialised layer, so a conditional GAN grown from an unconditional one starts as the same
   * function. Not with lowResDiscriminator.
   */
  conditionLabels: string[];
  /** Rows of the label bank G keeps (the training set's labels, each mirrored as the images were): samples draw
   *  their labels from it. 0 when unconditional. */
  labelBankSize: number;
  /**
   * Weight λ of the auxiliary label regression of a conditional GAN (AC-GAN's auxiliary classifier, for continuous
   * labels): D gets a linear head on φ(x) that predicts the labels; D's loss adds λ · mean (head(φ(x)) − c)² on the
   * reals, G's the same on its fakes against the labels they were drawn with. The projection term alone learned too
   * slowly to matter (measured: after 200 steps from the bundle its output layer had moved by a random walk only).
   * 0: none. Only with conditionLabels.
   */
  labelLossWeight: number;
  /**
   * Equalized learning-rate multiplier of the label layers (G's label MLP, D's projection MLP and label head): they
   * start from nothing while the rest is trained, so a fine-tune that adds conditioning at a low learning rate can let
   * them learn faster. Measured from the bundle at lr 0.0005 with multiplier 1: after 200 steps G's label layer had
   * moved by a random walk only (rms 0.007 = lr·√steps) and the samples did not follow their labels at all.
   */
  labelLrMul: number;

  /** For the trainer. Adam learning rates (GAN-Control at 512x512: 0.002) and betas (StyleGAN2: 0, 0.99). */
  lrG: number;
  lrD: number;
  adamBetas: [number, number];
  /** R1 weight γ and lazy interval (StyleGAN2: every 16 D steps); γ default from StyleGAN2-ADA's 0.0002 res^2 / batch. */
  r1Gamma: number;
  r1Every: number;
  /** Probability of mixing two latents per batch (StyleGAN2: 0.9). */
  styleMixingProb: number;
  batchSize: number;
  /** Half-life of the generator's EMA in images (GAN-Control: 10k images). */
  emaHalfLifeImages: number;
  /** Truncation ψ used for samples (1 = none; GAN2Shape's generate.py uses 0.7). */
  truncationPsi: number;
}

export const STYLEGAN_DEFAULTS: Readonly<StyleGanConfig> = Object.freeze({
  resolution: 64,
  zDim: 128,
  wDim: 128,
  mappingLayers: 8,
  mappingLrMul: 0.01,
  generatorChannels: Object.freeze({ 4: 128, 8: 128, 16: 96, 32: 64, 64: 32, 128: 16 }) as Record<number, number>,
  discriminatorChannels: Object.freeze({ 4: 128, 8: 128, 16: 96, 32: 64, 64: 32, 128: 16 }) as Record<number, number>,
  upsample: 'bilinear',
  mbstdGroupSize: 4,
  mbstdFeatures: 1,
  wAvgBeta: 0.995,
  lowResDiscriminator: 0,
  augmentProbability: 0,
  conditionLabels: Object.freeze([]) as unknown as string[],
  labelBankSize: 0,
  labelLossWeight: 0,
  labelLrMul: 1,
  lrG: 0.002,
  lrD: 0.002,
  adamBetas: [0, 0.99],
  r1Gamma: 0.05,
  r1Every: 16,
  styleMixingProb: 0.9,
  batchSize: 16,
  emaHalfLifeImages: 10000,
  truncationPsi: 1,
}) as Readonly<StyleGanConfig>;

/**
 * Named channel tables (applied to G and D alike). Measured CPU time of one G+D step at batch 16 on one wasm thread
 * (runs/diag/ganwidth.ts, median of 3): default 3.50 s, small 1.48 s. The step is convolution-bound, so the time
 * follows the multiply-adds (about 278 M per generated image at default widths, 105 M at small).
 */
export const STYLEGAN_WIDTHS: Readonly<Record<'default' | 'small', Record<number, number>>> = Object.freeze({
  default: { ...STYLEGAN_DEFAULTS.generatorChannels },
  small: { 4: 128, 8: 128, 16: 64, 32: 32, 64: 16, 128: 8 },
});

/** The resolutions 4, 8, ..., resolution. */
export function resolutions(resolution: number): number[] {
  const out: number[] = [];
  for (let r = 4; r <= resolution; r *= 2) out.push(r);
  return out;
}

/** Defaults overridden by `overrides`, checked. */
export function styleGanConfig(overrides: Partial<StyleGanConfig> = {}): StyleGanConfig {
  const c: StyleGanConfig = {
    ...STYLEGAN_DEFAULTS,
    ...overrides,
    generatorChannels: { ...STYLEGAN_DEFAULTS.generatorChannels, ...overrides.generatorChannels },
    discriminatorChannels: { ...STYLEGAN_DEFAULTS.discriminatorChannels, ...overrides.discriminatorChannels },
    adamBetas: [...(overrides.adamBetas ?? STYLEGAN_DEFAULTS.adamBetas)] as [number, number],
    conditionLabels: [...(overrides.conditionLabels ?? [])],
  };
  const r = c.resolution;
  if (!Number.isInteger(Math.log2(r)) || r < 8) {
    throw new Gan3dError(`StyleGAN resolution must be a power of two ≥ 8, got ${r}.`, 'BAD_CONFIG');
  }
  for (const res of resolutions(r)) {
    for (const [what, table] of [['generatorChannels', c.generatorChannels], ['discriminatorChannels', c.discriminatorChannels]] as const) {
      const ch = table[res];
      if (!Number.isInteger(ch) || ch < 1) throw new Gan3dError(`StyleGAN config: ${what}[${res}] must be a positive integer, got ${ch}.`, 'BAD_CONFIG');
    }
  }
  if (c.discriminatorChannels[4] % c.mbstdFeatures !== 0) {
    throw new Gan3dError(`StyleGAN config: mbstdFeatures ${c.mbstdFeatures} must divide discriminatorChannels[4].`, 'BAD_CONFIG');
  }
  const low = c.lowResDiscriminator;
  if (low !== 0 && (!Number.isInteger(Math.log2(low)) || low < 8 || low >= r)) {
    throw new Gan3dError(`StyleGAN config: lowResDiscriminator must be 0 (none) or a power of two from 8 to ${r / 2}, got ${low}.`, 'BAD_CONFIG');
  }
  if (!(c.augmentProbability >= 0 && c.augmentProbability <= 1)) {
    throw new Gan3dError(`StyleGAN config: augmentProbability must be in [0, 1], got ${c.augmentProbability}.`, 'BAD_CONFIG');
  }
  if (c.augmentProbability > 0 && low !== 0) {
    throw new Gan3dError('StyleGAN config: augmentProbability and lowResDiscriminator cannot be used together.', 'BAD_CONFIG');
  }
  if (c.conditionLabels.length > 0) {
    const specs = labelsNamed(c.conditionLabels);
    if (specs.length !== c.conditionLabels.length || specs.some((s, i) => s.name !== c.conditionLabels[i])) {
      throw new Gan3dError(`StyleGAN config: conditionLabels must be distinct label names in the order of FEATURE_LABELS, got ${c.conditionLabels.join(', ')}.`, 'BAD_CONFIG');
    }
    if (low !== 0) throw new Gan3dError('StyleGAN config: conditionLabels and lowResDiscriminator cannot be used together.', 'BAD_CONFIG');
  }
  if (!(c.labelLossWeight >= 0 && Number.isFinite(c.labelLossWeight))) {
    throw new Gan3dError(`StyleGAN config: labelLossWeight must be a number ≥ 0, got ${c.labelLossWeight}.`, 'BAD_CONFIG');
  }
  if (c.labelLossWeight > 0 && c.conditionLabels.length === 0) {
    throw new Gan3dError('StyleGAN config: labelLossWeight needs conditionLabels (a conditional GAN).', 'BAD_CONFIG');
  }
  if (!(c.labelLrMul > 0 && Number.isFinite(c.labelLrMul))) {
    throw new Gan3dError(`StyleGAN config: labelLrMul must be a positive number, got ${c.labelLrMul}.`, 'BAD_CONFIG');
  }
  if (!(Number.isInteger(c.labelBankSize) && c.labelBankSize >= 0)) {
    throw new Gan3dError(`StyleGAN config: labelBankSize must be a whole number ≥ 0, got ${c.labelBankSize}.`, 'BAD_CONFIG');
  }
  for (const [k, v] of Object.entries({ zDim: c.zDim, wDim: c.wDim, mappingLayers: c.mappingLayers, mbstdGroupSize: c.mbstdGroupSize })) {
    if (!Number.isInteger(v) || v < 1) throw new Gan3dError(`StyleGAN config: ${k} must be a positive integer, got ${v}.`, 'BAD_CONFIG');
  }
  return c;
}
