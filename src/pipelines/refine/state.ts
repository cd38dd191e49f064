// The refinement checkpoint, written after every step switch (the ellipsoid fit, then each Step 1, 2 and 3): the
// per-image nets, the offset encoder, the bank, the Rng state, the input's latent and digest, and the loss history,
// in the project's checkpoint format (src/io/checkpoint.ts, kind "refine"). Adam state is not saved: GAN2Shape
// starts a fresh Adam at every step switch (C.2), so a refinement resumed from a switch computes what it would have.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Gan3dError } from '../../engine/errors.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, type NamedArray } from '../../io/checkpoint.js';
import type { RefineSession } from './session.js';

export const REFINE_KIND = 'refine';

/** One finished step of the schedule, for the record. */
export interface PhaseRecord {
  name: string;
  stage: number;
  iters: number;
  firstLoss: number;
  lastLoss: number;
  seconds: number;
}

export interface RefineProgressState {
  /** Steps of the schedule done (0: none; 1: the init; then three per stage). */
  phasesDone: number;
  history: PhaseRecord[];
  /** The input's latent. */
  w: number[];
  /** SHA-256 of the input image's float32 bytes: a resume must refine the same image. */
  inputSha256: string;
  elapsedSeconds: number;
}

export function imageDigest(image: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(image.buffer, image.byteOffset, image.byteLength)).digest('hex');
}

function namedArrays(prefix: string, vars: Map<string, tf.Variable>): NamedArray[] {
  return [...vars].map(([name, v]) => ({ name: `${prefix}${name}`, shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) }));
}

function sessionVariables(s: RefineSession): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [k, v] of s.model.namedVariables()) out.set(`nets/${k}`, v);
  for (const [k, v] of s.encoder.namedVariables()) out.set(`encoder/${k}`, v);
  return out;
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x,
  );

/** Saves the session after `progress.phasesDone` steps into `<dir>/checkpoints/` (keeps the newest two). */
export async function saveRefineState(dir: string, s: RefineSession, progress: RefineProgressState, config: unknown): Promise<string> {
  const n = s.model.config.imageSize;
  const variables = namedArrays('', sessionVariables(s));
  variables.push({ name: 'bank/images', shape: [s.bank.count, n, n, 3], data: s.bank.images });
  variables.push({ name: 'bank/masks', shape: [s.bank.count, n, n, 1], data: s.bank.masks });
  return saveCheckpoint(
    path.join(dir, 'checkpoints'),
    {
      kind: REFINE_KIND,
      config,
      step: progress.phasesDone,
      epoch: 0,
      variables,
      rng: { refine: s.rng.getState() },
      state: progress,
      elapsedSeconds: progress.elapsedSeconds,
      engine: { tfjs: tf.version.tfjs, node: process.version },
    },
    { keep: 2 },
  );
}

/** The newest refinement checkpoint's config and progress (without loading weights), or null when there is none. */
export async function peekRefineState(dir: string): Promise<{ path: string; config: unknown; progress: RefineProgressState } | null> {
  const ckpt = await latestCheckpoint(path.join(dir, 'checkpoints'));
  if (!ckpt) return null;
  const loaded = await loadCheckpoint(ckpt, { kind: REFINE_KIND });
  return { path: loaded.path, config: loaded.config, progress: loaded.state as RefineProgressState };
}

/** Loads the newest checkpoint into the session (weights, bank, Rng) after checking it was made with `config`. */
export async function loadRefineState(dir: string, s: RefineSession, config: unknown): Promise<RefineProgressState> {
  const ckpt = await latestCheckpoint(path.join(dir, 'checkpoints'));
  if (!ckpt) throw new Gan3dError(`Nothing to resume: ${path.join(dir, 'checkpoints')} holds no refinement checkpoint. Start without --resume.`, 'TRAIN_NO_CHECKPOINT');
  const loaded = await loadCheckpoint(ckpt, { kind: REFINE_KIND });
  if (canonical(loaded.config) !== canonical(JSON.parse(JSON.stringify(config)))) {
    throw new Gan3dError(
      `Checkpoint ${loaded.path} was made with another refinement config (schedule, models or seed): resume with the same settings, or start again with --force.`,
      'CHECKPOINT_INCOMPATIBLE',
    );
  }
  const vars = sessionVariables(s);
  const byName = new Map(loaded.variables.map((v) => [v.name, v]));
  for (const [name, v] of vars) {
    const a = byName.get(name);
    if (!a || a.shape.join(',') !== v.shape.join(',')) throw new Gan3dError(`Checkpoint ${loaded.path} does not match the refinement's networks (${name}).`, 'CHECKPOINT_INCOMPATIBLE');
    tf.tidy(() => v.assign(tf.tensor(a.data, v.shape)));
  }
  const images = byName.get('bank/images');
  const masks = byName.get('bank/masks');
  if (!images || !masks) throw new Gan3dError(`Checkpoint ${loaded.path} has no bank: it is not a refinement checkpoint.`, 'CHECKPOINT_INCOMPATIBLE');
  s.bank = { images: images.data, masks: masks.data, count: images.shape[0] };
  const rng = loaded.rng?.refine;
  if (!rng) throw new Gan3dError(`Checkpoint ${loaded.path} has no random state.`, 'CHECKPOINT_CORRUPT');
  s.rng.setState(rng);
  return loaded.state as RefineProgressState;
}
