// SynFace parameters: everything that decides one face, drawn from a per-image seed and written to params.jsonl.
//
// A face is a pure function of its SynfaceParams and the image size (face.ts, background.ts, render.ts), so the
// JSON line alone regenerates the image, and the per-image seed (from the dataset seed and the image index) alone
// regenerates the parameters. Every range is a field of SynfaceConfig so that meta.json records it.
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';

export type Range = readonly [number, number];
export type Rgb = [number, number, number];
export type BackgroundKind = 'plain' | 'gradient' | 'noise';

/** Geometry of the canonical (frontal) face; lengths in normalised image units (the image spans [-1, 1]). */
export interface ShapeParams {
  /** Half-width of the skull ellipse. */
  headWidth: number;
  /** Half-height of the skull ellipse (its bottom is the chin). */
  headHeight: number;
  /** Relief of the skull from its rim to the front of the face, in depth units. */
  headDepth: number;
  /** Depth of the front of the face (the cheeks); the rim sits at faceDepth + headDepth. */
  faceDepth: number;
  /** Exponent of the lower face outline: below 2 a pointed chin, above 2 a square jaw. */
  jaw: number;
  forehead: number;
  browRidge: number;
  /** Half the distance between the eye centres. */
  eyeSpacing: number;
  /** Height of the eye centres. */
  eyeY: number;
  /** Scale of the eye opening. */
  eyeSize: number;
  eyeSocket: number;
  /** From the bridge (eye height) to the nose tip. */
  noseLength: number;
  /** Half-width of the nostrils. */
  noseWidth: number;
  /** Protrusion of the nose tip, in depth units. */
  noseHeight: number;
  cheekbones: number;
  /** Half-width of the mouth. */
  mouthWidth: number;
  /** From the nose tip down to the mouth. */
  mouthGap: number;
  lipFullness: number;
  chin: number;
  /** Half-width of the neck. */
  neckWidth: number;
  /** How far the hair stands off the skull (normalised units). */
  hairVolume: number;
}

export interface ExpressionParams {
  /** 0 neutral .. 1 broad smile (mouth corners up, cheeks raised). */
  smile: number;
  /** 0 closed .. 1 wide open (lips apart, jaw lowered). */
  mouthOpen: number;
  /** -1 lowered (frown) .. 1 raised. */
  browRaise: number;
}

export interface AlbedoParams {
  /** 0 fair .. 1 dark; `skin` is the colour it gave. */
  skinTone: number;
  skin: Rgb;
  lip: Rgb;
  eye: Rgb;
  hair: Rgb;
  /** Height of the hairline at the centre of the forehead (below -0.9: bald). */
  hairline: number;
  /** Fraction of the head half-width beyond which the temples are hair. */
  hairSides: number;
  /** How far down the hair falls beside the face (0 above the ears, 1 to the shoulders). */
  hairLength: number;
  /** Beard density, 0 for none. */
  beard: number;
  browThickness: number;
  /** Seed of the skin and hair texture noise. */
  textureSeed: number;
}

export interface AsymmetryParams {
  /** 0: shape and albedo are exactly left-right symmetric. */
  amount: number;
  /** Standard normals; amount * offset * scale perturbs the right side (see ASYMMETRY_SCALES in face.ts). */
  offsets: number[];
}

export interface BackgroundParams {
  kind: BackgroundKind;
  colourA: Rgb;
  colourB: Rgb;
  /** Direction of the gradient, radians. */
  angle: number;
  noiseSeed: number;
  /** Noise cells across the image. */
  noiseScale: number;
}

/** One face: the line written to params.jsonl (with id, split, index and seed added by the writer). */
export interface SynfaceParams {
  shape: ShapeParams;
  expression: ExpressionParams;
  albedo: AlbedoParams;
  asymmetry: AsymmetryParams;
  /** Unsup3d light: (ambient, diffuse, lx, ly), shaded by geometry/shading.ts. */
  light: [number, number, number, number];
  /** Unsup3d view: (rx, ry, rz in radians, tx, ty, tz), rendered by geometry/render.ts. */
  view: [number, number, number, number, number, number];
  background: BackgroundParams;
}

/** Number of asymmetry offsets drawn per face. */
export const ASYMMETRY_OFFSETS = 8;

/** Every range the sampler draws from (uniform unless a probability says otherwise). */
export interface SynfaceConfig {
  shape: Record<keyof ShapeParams, Range>;
  expression: {
    smile: Range;
    browRaise: Range;
    /** Probability that the mouth is open at all; then mouthOpen is uniform in `mouthOpen`. */
    mouthOpenProbability: number;
    mouthOpen: Range;
  };
  albedo: {
    skinTone: Range;
    hairline: Range;
    /** Probability of a bald head (hairline above the frame). */
    baldProbability: number;
    hairSides: Range;
    hairLength: Range;
    beardProbability: number;
    beard: Range;
    browThickness: Range;
  };
  /** Asymmetry amount (0 = exactly symmetric). */
  asymmetry: number;
  light: { ambient: Range; diffuse: Range; lx: Range; ly: Range };
  /** Pose: angles uniform in ±deg, translations uniform in ±value (depth units). */
  view: { pitchDeg: number; yawDeg: number; rollDeg: number; txy: number; tz: number };
  backgrounds: BackgroundKind[];
}

/**
 * Defaults: faces framed like the papers' cropped faces, pose like CelebA / BFM face data (yaw ±25°, pitch ±12°,
 * roll ±7°, a few pixels of shift), light like Unsup3d's (ambient + diffuse about 1, direction up to 45° off axis).
 */
export const SYNFACE_DEFAULTS: Readonly<SynfaceConfig> = Object.freeze<SynfaceConfig>({
  shape: {
    headWidth: [0.6, 0.7],
    headHeight: [0.86, 0.94],
    headDepth: [0.05, 0.062],
    faceDepth: [0.97, 0.985],
    jaw: [1.6, 2.6],
    forehead: [0, 1],
    browRidge: [0.3, 1],
    eyeSpacing: [0.25, 0.3],
    eyeY: [-0.16, -0.08],
    eyeSize: [0.85, 1.15],
    eyeSocket: [0.5, 1],
    noseLength: [0.26, 0.36],
    noseWidth: [0.1, 0.14],
    noseHeight: [0.018, 0.028],
    cheekbones: [0.3, 1],
    mouthWidth: [0.17, 0.23],
    mouthGap: [0.13, 0.18],
    lipFullness: [0.4, 1],
    chin: [0.3, 1],
    neckWidth: [0.34, 0.44],
    hairVolume: [0.03, 0.12],
  },
  expression: { smile: [0, 1], browRaise: [-0.6, 1], mouthOpenProbability: 0.3, mouthOpen: [0.2, 1] },
  albedo: {
    skinTone: [0, 1],
    hairline: [-0.74, -0.5],
    baldProbability: 0.04,
    hairSides: [0.78, 0.92],
    hairLength: [0, 1],
    beardProbability: 0.15,
    beard: [0.4, 1],
    browThickness: [0.7, 1.3],
  },
  asymmetry: 0,
  light: { ambient: [0.25, 0.55], diffuse: [0.45, 0.75], lx: [-1, 1], ly: [-1, 1] },
  view: { pitchDeg: 12, yawDeg: 25, rollDeg: 7, txy: 0.008, tz: 0.01 },
  backgrounds: ['plain', 'gradient', 'noise'],
});

/** A config with some fields replaced (one level deep per group); checks the result. */
export function synfaceConfig(overrides: {
  shape?: Partial<SynfaceConfig['shape']>;
  expression?: Partial<SynfaceConfig['expression']>;
  albedo?: Partial<SynfaceConfig['albedo']>;
  asymmetry?: number;
  light?: Partial<SynfaceConfig['light']>;
  view?: Partial<SynfaceConfig['view']>;
  backgrounds?: BackgroundKind[];
} = {}): SynfaceConfig {
  const d = SYNFACE_DEFAULTS;
  const cfg: SynfaceConfig = {
    shape: { ...d.shape, ...overrides.shape },
    expression: { ...d.expression, ...overrides.expression },
    albedo: { ...d.albedo, ...overrides.albedo },
    asymmetry: overrides.asymmetry ?? d.asymmetry,
    light: { ...d.light, ...overrides.light },
    view: { ...d.view, ...overrides.view },
    backgrounds: [...(overrides.backgrounds ?? d.backgrounds)],
  };
  checkConfig(cfg);
  return cfg;
}

function checkConfig(cfg: SynfaceConfig): void {
  const bad: string[] = [];
  const ranges: [string, Range][] = [
    ...Object.entries(cfg.shape).map(([k, r]) => [`shape.${k}`, r] as [string, Range]),
    ['expression.smile', cfg.expression.smile],
    ['expression.browRaise', cfg.expression.browRaise],
    ['expression.mouthOpen', cfg.expression.mouthOpen],
    ...Object.entries(cfg.light).map(([k, r]) => [`light.${k}`, r] as [string, Range]),
  ];
  for (const [name, r] of ranges) {
    if (!(Array.isArray(r) && r.length === 2 && Number.isFinite(r[0]) && Number.isFinite(r[1]) && r[0] <= r[1])) {
      bad.push(`${name} must be [lo, hi] with lo <= hi`);
    }
  }
  // The face must fit the synface depth encoding [0.9, 1.1] with room for the pose to move it.
  const { faceDepth, headDepth, noseHeight } = cfg.shape;
  if (bad.length === 0 && !(faceDepth[1] + headDepth[1] <= 1.07 && faceDepth[0] - 1.3 * noseHeight[1] >= 0.92)) {
    bad.push('shape.faceDepth, headDepth and noseHeight must keep the face within depth [0.92, 1.07]');
  }
  const { pitchDeg, yawDeg, rollDeg, txy, tz } = cfg.view;
  for (const [name, v, max] of [
    ['pitchDeg', pitchDeg, 45],
    ['yawDeg', yawDeg, 60],
    ['rollDeg', rollDeg, 45],
    ['txy', txy, 0.03],
    ['tz', tz, 0.03],
  ] as [string, number, number][]) {
    if (!(v >= 0 && v <= max)) bad.push(`view.${name} must be in [0, ${max}] (got ${v})`);
  }
  if (!(cfg.asymmetry >= 0 && cfg.asymmetry <= 1)) bad.push(`asymmetry must be in [0, 1] (got ${cfg.asymmetry})`);
  if (cfg.backgrounds.length === 0 || cfg.backgrounds.some((b) => !['plain', 'gradient', 'noise'].includes(b))) {
    bad.push('backgrounds must be a non-empty list of plain, gradient, noise');
  }
  if (bad.length > 0) throw new Gan3dError(`Invalid SynFace config: ${bad.join('; ')}.`, 'BAD_CONFIG');
}

/** The seed of image `index` of a dataset with seed `seed`: a 32-bit hash, so any image can be regenerated alone. */
export function imageSeed(seed: number, index: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x3c6ef372, 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ (index >>> 0) ^ Math.floor(index / 4294967296), 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const SKIN_TONES: readonly Rgb[] = [
  [0.97, 0.82, 0.72],
  [0.92, 0.72, 0.6],
  [0.8, 0.58, 0.44],
  [0.6, 0.4, 0.28],
  [0.38, 0.24, 0.17],
];

/** Hair colours with their weights (black and browns most common). */
const HAIR_COLOURS: readonly [Rgb, number][] = [
  [[0.06, 0.05, 0.05], 3],
  [[0.17, 0.11, 0.08], 3],
  [[0.33, 0.21, 0.13], 2],
  [[0.55, 0.42, 0.27], 1],
  [[0.82, 0.68, 0.45], 1],
  [[0.5, 0.22, 0.1], 0.7],
  [[0.55, 0.54, 0.53], 0.6],
  [[0.86, 0.85, 0.83], 0.3],
];

const EYE_COLOURS: readonly Rgb[] = [
  [0.22, 0.13, 0.07],
  [0.36, 0.22, 0.11],
  [0.42, 0.36, 0.18],
  [0.27, 0.42, 0.28],
  [0.3, 0.45, 0.66],
  [0.48, 0.52, 0.58],
];

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}

function pick<T>(rng: Rng, items: readonly [T, number][]): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let u = rng.uniform() * total;
  for (const [item, w] of items) {
    u -= w;
    if (u < 0) return item;
  }
  return items[items.length - 1][0];
}

function jitter(rng: Rng, c: Rgb, amount: number): Rgb {
  const k = 1 + amount * rng.normal();
  return [clamp01(c[0] * k * (1 + 0.3 * amount * rng.normal())), clamp01(c[1] * k), clamp01(c[2] * k * (1 + 0.3 * amount * rng.normal()))];
}

function skinColour(tone: number, rng: Rng): Rgb {
  const t = clamp01(tone) * (SKIN_TONES.length - 1);
  const k = Math.min(SKIN_TONES.length - 2, Math.floor(t));
  const f = t - k;
  const base = [0, 1, 2].map((c) => SKIN_TONES[k][c] * (1 - f) + SKIN_TONES[k + 1][c] * f) as Rgb;
  // Redness and yellowness vary independently of lightness.
  const red = 0.03 * rng.normal();
  const yellow = 0.025 * rng.normal();
  return [clamp01(base[0] + red), clamp01(base[1]), clamp01(base[2] - yellow)];
}

/**
 * Draws the parameters of one face. The order of draws is fixed, so the same Rng state gives the same face;
 * change it only together with a note in the README (datasets made before would no longer regenerate).
 */
export function sampleParams(rng: Rng, cfg: SynfaceConfig = SYNFACE_DEFAULTS): SynfaceParams {
  const u = (r: Range) => rng.range(r[0], r[1]);
  const s = cfg.shape;
  const shape = {} as ShapeParams;
  for (const key of Object.keys(s) as (keyof ShapeParams)[]) shape[key] = u(s[key]);

  const open = rng.uniform() < cfg.expression.mouthOpenProbability ? u(cfg.expression.mouthOpen) : 0;
  const expression: ExpressionParams = { smile: u(cfg.expression.smile), mouthOpen: open, browRaise: u(cfg.expression.browRaise) };

  const a = cfg.albedo;
  const skinTone = u(a.skinTone);
  const skin = skinColour(skinTone, rng);
  const lipTint = rng.range(0.3, 1);
  const lip: Rgb = [clamp01(skin[0] * (0.85 - 0.05 * lipTint) + 0.1 * lipTint), clamp01(skin[1] * (0.72 - 0.25 * lipTint)), clamp01(skin[2] * (0.75 - 0.2 * lipTint))];
  const eye = jitter(rng, EYE_COLOURS[rng.int(EYE_COLOURS.length)], 0.08);
  const hair = jitter(rng, pick(rng, HAIR_COLOURS), 0.1);
  const bald = rng.uniform() < a.baldProbability;
  const hairline = bald ? -1.3 : u(a.hairline);
  const hairSides = u(a.hairSides);
  const hairLength = u(a.hairLength);
  const beard = rng.uniform() < a.beardProbability ? u(a.beard) : 0;
  const browThickness = u(a.browThickness);
  const textureSeed = rng.nextUint32();
  const albedo: AlbedoParams = { skinTone, skin, lip, eye, hair, hairline, hairSides, hairLength, beard, browThickness, textureSeed };

  const offsets = Array.from(rng.normalArray(ASYMMETRY_OFFSETS));
  const l = cfg.light;
  const light: SynfaceParams['light'] = [u(l.ambient), u(l.diffuse), u(l.lx), u(l.ly)];
  const v = cfg.view;
  const rad = Math.PI / 180;
  const sym = (m: number) => rng.range(-m, m);
  const view: SynfaceParams['view'] = [sym(v.pitchDeg * rad), sym(v.yawDeg * rad), sym(v.rollDeg * rad), sym(v.txy), sym(v.txy), sym(v.tz)];

  const kind = cfg.backgrounds[rng.int(cfg.backgrounds.length)];
  const colour = (): Rgb => [rng.range(0.05, 0.95), rng.range(0.05, 0.95), rng.range(0.05, 0.95)];
  const background: BackgroundParams = {
    kind,
    colourA: colour(),
    colourB: colour(),
    angle: rng.range(0, 2 * Math.PI),
    noiseSeed: rng.nextUint32(),
    noiseScale: rng.range(3, 10),
  };
  return { shape, expression, albedo, asymmetry: { amount: cfg.asymmetry, offsets }, light, view, background };
}
