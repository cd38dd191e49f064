// Every hyperparameter of GAN2Shape refinement (paper notes part C), with its defaults in one place. The defaults are
// a CPU schedule (short stages, small batch and bank); GAN2SHAPE_SYNFACE holds the paper's synface numbers for
// reference. The whole config is printed into every refinement checkpoint and must match on resume.
import { Gan3dError } from '../../engine/errors.js';

/** Iterations of the three steps of one stage (C.9: S1/S2/S3). */
export interface StageLengths {
  /** Step 1: the albedo net alone on the input. */
  step1: number;
  /** Step 2: the latent-offset encoder on pseudo-samples. */
  step2: number;
  /** Step 3: depth, albedo, view and light nets on the input plus projected samples. */
  step3: number;
}

export type RefineInit = 'ellipsoid' | 'photogeo';

/** The per-image nets: depth D, albedo A, light L, view V. */
export type RefineNet = 'depth' | 'albedo' | 'light' | 'view';
export const REFINE_NETS: readonly RefineNet[] = ['depth', 'albedo', 'light', 'view'];

/** How Step 2 projects pseudo-samples onto the GAN: 'encoder' trains C.4's latent-offset encoder (fresh) for `step2`
 *  iterations and maps the bank through it; 'pretrained' does the same with a per-image copy of the GAN's inversion
 *  encoder (models/gan-encoder) in its place; 'optimize' inverts every bank sample on its own in W, `step2` Adam steps
 *  from the input's w with C.5's loss (no encoder: slower per sample, but each projection is fitted). */
export type RefineProjection = 'encoder' | 'pretrained' | 'optimize';
export const REFINE_PROJECTIONS: readonly RefineProjection[] = ['encoder', 'pretrained', 'optimize'];

export interface RefineConfig {
  /** Seed of the per-image nets (ellipsoid init), the encoder, pseudo-samples and bank order. */
  seed: number;
  /** 'ellipsoid': fresh nets, depth fitted to the ellipsoid prior of the parser mask (C.8). 'photogeo': the
   *  amortized model's D, A, V and L weights copied in (the paper's joint-pretraining route). */
  init: RefineInit;
  /** Number of stages (C.9: 4 for CelebA, 1 for synface after joint pretraining). */
  stages: number;
  /** Lengths of the first stage and of every later one (C.9 stage_len_dict / stage_len_dict2). */
  firstStage: StageLengths;
  laterStages: StageLengths;
  projection: RefineProjection;
  /** Pseudo-samples per Step-2 iteration and projected samples per Step-3 iteration (paper: 16). */
  batch: number;
  /** No-grad Step-2 passes that fill the bank after each Step 2: bank = collectIters × batch (paper: 100 × 16). */
  collectIters: number;
  /** Adam per step, recreated at every step switch (C.2): learning rate and L2 weight decay (PyTorch's coupled form). */
  lr: number;
  weightDecay: number;
  /** C.7: weight of the second-order smoothness of the depth and of the diffuse shading (paper 0.01). */
  lambdaSmooth: number;
  /** C.7 Step 3: weight of the projected samples' reconstruction term (paper: 1). */
  lambdaProj: number;
  /** C.5: weight of the discriminator-feature L1 and the number of residual blocks it reads (paper: 1 and 4). */
  lambdaFeat: number;
  featureBlocks: number;
  /** C.5: λ_reg of 0.01 · mean(Δw²). */
  lambdaReg: number;
  /** Restrict the input's reconstruction terms (Steps 1 and 3) to its object mask (the parser's), not only the render's
   *  mask. Not in the paper; measured on SynFace (README): without it a face whose shadowed side merges into a dark
   *  background can grow into the background and twist its view. */
  inputObjectMask: boolean;
  /** The nets Step 3 trains (C.7: all four). */
  step3Nets: RefineNet[];
  /** Flip branch in Step 1 / Step 3, per stage (the last entry repeats). Synface: [false] / [true]. */
  flip1: boolean[];
  flip3: boolean[];
  /** C.6 rand_light: [x_min, x_max, y_min, y_max, r_min, r_max, α]; synface [−0.9, 0.9, −0.3, 0.8, −0.1, 0.7, −0.4]. */
  randLight: [number, number, number, number, number, number, number];
  /** C.6 pseudo-sample views: Gaussian in the pre-scaling 6-D view space (×60°, ×0.1, ×0), centred on the input's
   *  current view ('current') or on `viewMean` ('prior'), with these standard deviations; yaw's is × viewScale. */
  viewCenter: 'current' | 'prior';
  viewStd: [number, number, number, number, number, number];
  viewScale: number;
  /** C.2 add_mean: v = tanh(V(I)) + viewMean, l = tanh(L(I)) + lightMean, in the nets' raw (pre-scaling) space (folded
   *  into the per-image model's decoding: nets.ts RefineModel). */
  addPriorMean: boolean;
  viewMean: [number, number, number, number, number, number];
  lightMean: [number, number, number, number];
  /** C.4: F1_d, the mapping-network stages the encoder's code passes through (synface: 8 = the whole mapping, so E
   *  predicts a z-space code; faces/cats/cars: 2). Clipped to the GAN's mapping depth. */
  offsetDepth: number;
  /** C.4 relative_enc: e = E(I′) − E(G(w)), so the unchanged input gets Δw = 0. */
  relativeEncoding: boolean;
  /** Base width of the offset encoder E (a ResEncoder: nf, 2nf, 4nf, 8nf, then 16nf at 1×1). Paper: 32. */
  encoderWidth: number;
  /** Ellipsoid init (C.8): Adam steps and learning rate of the MSE fit, mask threshold, upward box extension. */
  ellipsoid: { steps: number; lr: number; threshold: number; extendUp: number };
  /** Depth range of the per-image nets when they start fresh (init 'ellipsoid'); 'photogeo' keeps the model's. */
  depthRange: [number, number];
}

/** The CPU schedule: measured to fit (see README); change it with overrides. */
export const REFINE_DEFAULTS: Readonly<RefineConfig> = Object.freeze({
  seed: 0,
  init: 'photogeo',
  projection: 'pretrained',
  stages: 2,
  firstStage: { step1: 100, step2: 100, step3: 100 },
  laterStages: { step1: 50, step2: 60, step3: 80 },
  batch: 4,
  collectIters: 8,
  lr: 1e-4,
  weightDecay: 5e-4,
  lambdaSmooth: 0.01,
  lambdaProj: 1,
  lambdaFeat: 1,
  featureBlocks: 4,
  lambdaReg: 0.01,
  inputObjectMask: true,
  step3Nets: ['depth', 'albedo', 'light', 'view'],
  flip1: [false],
  flip3: [true],
  randLight: [-0.9, 0.9, -0.3, 0.8, -0.1, 0.7, -0.4],
  viewCenter: 'current',
  // SynFace draws pitch ±12°, yaw ±25°, roll ±7°, shifts ±0.008 uniformly: the std of each, in the ×60° / ×0.1 units.
  viewStd: [12 / 60 / Math.sqrt(3), 25 / 60 / Math.sqrt(3), 7 / 60 / Math.sqrt(3), 0.08 / Math.sqrt(3), 0.08 / Math.sqrt(3), 0],
  viewScale: 1.2,
  addPriorMean: false,
  viewMean: [0, 0, 0, 0, 0, 0],
  // SynFace's mean light: ambient 0.4, diffuse 0.6 (ranges 0.25–0.55, 0.45–0.75) as raw tanh values, direction 0.
  lightMean: [-0.2, 0.2, 0, 0],
  offsetDepth: 8,
  relativeEncoding: true,
  encoderWidth: 16,
  ellipsoid: { steps: 300, lr: 1e-3, threshold: 0.7, extendUp: 0 },
  depthRange: [0.96, 1.04],
}) as Readonly<RefineConfig>;

/** The paper's synface schedule (C.9, one stage after joint pretraining), for reference and GPU-class machines. */
export const GAN2SHAPE_SYNFACE: Readonly<Partial<RefineConfig>> = Object.freeze({
  stages: 1,
  firstStage: { step1: 500, step2: 500, step3: 200 },
  laterStages: { step1: 200, step2: 500, step3: 300 },
  batch: 16,
  collectIters: 100,
  encoderWidth: 32,
  ellipsoid: { steps: 1000, lr: 1e-4, threshold: 0.7, extendUp: 0 },
});

export type RefineOverrides = Partial<Omit<RefineConfig, 'firstStage' | 'laterStages' | 'ellipsoid'>> & {
  firstStage?: Partial<StageLengths>;
  laterStages?: Partial<StageLengths>;
  ellipsoid?: Partial<RefineConfig['ellipsoid']>;
};

/** Defaults with `overrides` merged in (nested objects field by field), checked. With init 'ellipsoid' the prior
 *  means default on (fresh V and L nets start near SynFace's mean view and light), with 'photogeo' off. */
export function refineConfig(overrides: RefineOverrides = {}): RefineConfig {
  const d = REFINE_DEFAULTS;
  const init = overrides.init ?? d.init;
  const c: RefineConfig = structuredClone({
    ...d,
    addPriorMean: init === 'ellipsoid',
    ...overrides,
    firstStage: { ...d.firstStage, ...overrides.firstStage },
    laterStages: { ...d.laterStages, ...overrides.laterStages },
    ellipsoid: { ...d.ellipsoid, ...overrides.ellipsoid },
  }) as RefineConfig;
  checkRefineConfig(c);
  return c;
}

export function checkRefineConfig(c: RefineConfig): void {
  const problems: string[] = [];
  const whole = (name: string, v: number, min: number) => {
    if (!(Number.isInteger(v) && v >= min)) problems.push(`${name} must be a whole number ≥ ${min}, got ${v}`);
  };
  const nonNeg = (name: string, v: number) => {
    if (!(Number.isFinite(v) && v >= 0)) problems.push(`${name} must be a finite number ≥ 0, got ${v}`);
  };
  if (c.init !== 'ellipsoid' && c.init !== 'photogeo') problems.push(`init must be 'ellipsoid' or 'photogeo', got ${String(c.init)}`);
  if (!REFINE_PROJECTIONS.includes(c.projection)) problems.push(`projection must be one of ${REFINE_PROJECTIONS.join(', ')}, got ${String(c.projection)}`);
  whole('seed', c.seed, 0);
  whole('stages', c.stages, 1);
  for (const [name, s] of [['firstStage', c.firstStage], ['laterStages', c.laterStages]] as const) {
    for (const k of ['step1', 'step2', 'step3'] as const) whole(`${name}.${k}`, s[k], 0);
  }
  whole('batch', c.batch, 1);
  whole('collectIters', c.collectIters, 1);
  whole('featureBlocks', c.featureBlocks, 0);
  whole('offsetDepth', c.offsetDepth, 1);
  whole('encoderWidth', c.encoderWidth, 1);
  whole('ellipsoid.steps', c.ellipsoid.steps, 0);
  if (!(c.lr > 0)) problems.push(`lr must be positive, got ${c.lr}`);
  if (!(c.ellipsoid.lr > 0)) problems.push(`ellipsoid.lr must be positive, got ${c.ellipsoid.lr}`);
  for (const k of ['weightDecay', 'lambdaSmooth', 'lambdaProj', 'lambdaFeat', 'lambdaReg', 'viewScale'] as const) nonNeg(k, c[k]);
  if (!(Array.isArray(c.step3Nets) && c.step3Nets.length >= 1 && c.step3Nets.every((n, i) => REFINE_NETS.includes(n) && c.step3Nets.indexOf(n) === i))) {
    problems.push(`step3Nets must list distinct nets among ${REFINE_NETS.join(', ')}, got [${String(c.step3Nets)}]`);
  }
  if (typeof c.inputObjectMask !== 'boolean') problems.push(`inputObjectMask must be true or false, got ${String(c.inputObjectMask)}`);
  if (!(c.flip1.length >= 1 && c.flip3.length >= 1)) problems.push('flip1 and flip3 need at least one entry');
  if (c.randLight.length !== 7 || !(c.randLight[0] <= c.randLight[1] && c.randLight[2] <= c.randLight[3] && c.randLight[4] <= c.randLight[5])) {
    problems.push(`randLight must be [x_min, x_max, y_min, y_max, r_min, r_max, α] with min ≤ max, got [${c.randLight}]`);
  }
  if (c.viewStd.length !== 6 || c.viewStd.some((s) => !(s >= 0))) problems.push(`viewStd must be six numbers ≥ 0, got [${c.viewStd}]`);
  if (c.viewCenter !== 'current' && c.viewCenter !== 'prior') problems.push(`viewCenter must be 'current' or 'prior', got ${String(c.viewCenter)}`);
  if (c.viewMean.length !== 6 || c.lightMean.length !== 4) problems.push('viewMean needs 6 numbers and lightMean 4');
  const [lo, hi] = c.depthRange;
  if (!(lo > 0.1 && lo < hi)) problems.push(`depthRange must satisfy 0.1 < min < max, got [${c.depthRange}]`);
  if (!(c.ellipsoid.threshold > 0 && c.ellipsoid.threshold <= 1)) problems.push(`ellipsoid.threshold must be in (0, 1], got ${c.ellipsoid.threshold}`);
  if (!(c.ellipsoid.extendUp >= 0)) problems.push(`ellipsoid.extendUp must be ≥ 0, got ${c.ellipsoid.extendUp}`);
  if (problems.length > 0) throw new Gan3dError(`Invalid refinement config: ${problems.join('; ')}.`, 'BAD_CONFIG');
}

/** The lengths of stage `stage` (0-based). */
export function stageLengths(c: RefineConfig, stage: number): StageLengths {
  return stage === 0 ? c.firstStage : c.laterStages;
}

/** A per-stage flag list's value at `stage` (the last entry repeats). */
export function perStage(flags: readonly boolean[], stage: number): boolean {
  return flags[Math.min(stage, flags.length - 1)];
}
