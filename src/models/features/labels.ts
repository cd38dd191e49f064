// The SynFace labels the feature network regresses: which parameters of params.jsonl, and how each is normalised.
// A label is the value at `source` ([group, key or index]) of a params.jsonl record, mapped from its sampling range
// [lo, hi] (SYNFACE_DEFAULTS) to [-1, 1]. Values outside the range (none with the default generator) map outside.
import { Gan3dError } from '../../engine/errors.js';
import { SYNFACE_DEFAULTS } from '../../data/synface/params.js';

export interface LabelSpec {
  /** "group.key", e.g. "view.ry". */
  name: string;
  /** Where the value sits in a params.jsonl record: record[group][key]. */
  source: [string, string | number];
  lo: number;
  hi: number;
  /** Unit of the raw value: angles are radians in the file and reported in degrees. */
  unit: 'rad' | '1';
}

const DEG = Math.PI / 180;
const d = SYNFACE_DEFAULTS;

const angle = (name: string, index: number, deg: number): LabelSpec => ({ name: `view.${name}`, source: ['view', index], lo: -deg * DEG, hi: deg * DEG, unit: 'rad' });
const light = (name: string, index: number, [lo, hi]: readonly [number, number]): LabelSpec => ({ name: `light.${name}`, source: ['light', index], lo, hi, unit: '1' });
const field = (group: string, key: string, [lo, hi]: readonly [number, number]): LabelSpec => ({ name: `${group}.${key}`, source: [group, key], lo, hi, unit: '1' });

/**
 * 18 labels: the pose (pitch, yaw, roll), the light (ambient, diffuse, direction), and visible shape, expression and
 * albedo scalars (head size, jaw, nose, mouth, smile, open mouth, brows, skin tone, hair length, beard). Left out:
 * the translations (a pixel or less), the depth-only reliefs (headDepth, noseHeight…: hard to see in an image) and
 * colours drawn from discrete palettes.
 */
export const FEATURE_LABELS: readonly LabelSpec[] = Object.freeze([
  angle('rx', 0, d.view.pitchDeg),
  angle('ry', 1, d.view.yawDeg),
  angle('rz', 2, d.view.rollDeg),
  light('ambient', 0, d.light.ambient),
  light('diffuse', 1, d.light.diffuse),
  light('lx', 2, d.light.lx),
  light('ly', 3, d.light.ly),
  field('shape', 'headWidth', d.shape.headWidth),
  field('shape', 'headHeight', d.shape.headHeight),
  field('shape', 'jaw', d.shape.jaw),
  field('shape', 'noseLength', d.shape.noseLength),
  field('shape', 'mouthWidth', d.shape.mouthWidth),
  field('expression', 'smile', d.expression.smile),
  // 0 with probability 0.7, else uniform in 0.2–1: normalised over [0, 1].
  field('expression', 'mouthOpen', [0, d.expression.mouthOpen[1]]),
  field('expression', 'browRaise', d.expression.browRaise),
  field('albedo', 'skinTone', d.albedo.skinTone),
  field('albedo', 'hairLength', d.albedo.hairLength),
  // 0 with probability 0.85, else uniform in 0.4–1: normalised over [0, 1].
  field('albedo', 'beard', [0, d.albedo.beard[1]]),
]);

/** Labels whose sign flips when the image is mirrored left-right (yaw, roll, the light's x); measured on the feature
 *  network's predictions for 300 SynFace test images and their mirror images: correlation −0.95 to −0.98 for these,
 *  +0.78 to +0.99 for every other label. Their ranges are symmetric, so the normalised value flips too. */
export const MIRROR_NEGATED_LABELS: readonly string[] = Object.freeze(['view.ry', 'view.rz', 'light.lx']);

/** Groups of labels by their name's prefix ("view", "light", "shape", "expression", "albedo"). */
export const LABEL_GROUPS: readonly string[] = Object.freeze([...new Set(FEATURE_LABELS.map((s) => s.name.split('.')[0]))]);

/**
 * The label specs a list names: each item a group ("view": every view.* label) or one label ("view.rz"), in the
 * order of FEATURE_LABELS, without duplicates. An unknown item is an error that lists the choices.
 */
export function labelsNamed(items: readonly string[]): LabelSpec[] {
  const wanted = new Set<string>();
  for (const raw of items) {
    const item = raw.trim();
    const hits = FEATURE_LABELS.filter((s) => s.name === item || s.name.split('.')[0] === item);
    if (hits.length === 0) {
      throw new Gan3dError(`Unknown label "${item}": give groups (${LABEL_GROUPS.join(', ')}) or labels (${FEATURE_LABELS.map((s) => s.name).join(', ')}).`, 'BAD_ARGUMENT');
    }
    hits.forEach((s) => wanted.add(s.name));
  }
  return FEATURE_LABELS.filter((s) => wanted.has(s.name));
}

/** Negates, in place, the labels of `row` (laid out as `specs`) that flip when the image is mirrored. */
export function mirrorLabels(specs: readonly LabelSpec[], row: Float32Array, offset = 0): void {
  specs.forEach((s, j) => {
    if (MIRROR_NEGATED_LABELS.includes(s.name)) row[offset + j] = -row[offset + j];
  });
}

/** The raw value of `spec` in a params.jsonl record. */
export function rawLabel(record: Record<string, unknown>, spec: LabelSpec): number {
  const [group, key] = spec.source;
  const g = record[group] as Record<string | number, unknown> | undefined;
  const v = g?.[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Gan3dError(`Label ${spec.name}: the record ${String(record.id ?? '?')} has no number at ${group}.${key}.`, 'BAD_DATA');
  }
  return v;
}

export function normalizeLabel(value: number, spec: LabelSpec): number {
  return (2 * (value - spec.lo)) / (spec.hi - spec.lo) - 1;
}

export function denormalizeLabel(value: number, spec: LabelSpec): number {
  return spec.lo + ((value + 1) * (spec.hi - spec.lo)) / 2;
}

/** The normalised label vector of one record, written into `out` at `offset`. */
export function labelVector(record: Record<string, unknown>, specs: readonly LabelSpec[], out = new Float32Array(specs.length), offset = 0): Float32Array {
  specs.forEach((s, i) => (out[offset + i] = normalizeLabel(rawLabel(record, s), s)));
  return out;
}
