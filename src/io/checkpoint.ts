// Training checkpoints: one folder per saved step under a checkpoints root,
//   <root>/ckpt-00001234/{checkpoint.json, weights.bin, optimizer.bin}
//   <root>/latest            (text: the folder name of the newest complete checkpoint)
// A checkpoint is written into `ckpt-<step>.tmp` and renamed into place only when all three files are synced, and
// `latest` is replaced atomically afterwards, so a reader (or a resume after a crash) never sees half a checkpoint.
// The JSON records sizes and SHA-256 digests of the binary files, so truncation and corruption are caught on load.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { Gan3dError } from '../engine/errors.js';
import { writeFileAtomic } from './atomic-write.js';

export const CHECKPOINT_FORMAT = 'gan3d-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;
export const DEFAULT_KEEP_CHECKPOINTS = 2;
const JSON_FILE = 'checkpoint.json';
const WEIGHTS_FILE = 'weights.bin';
const OPTIMIZER_FILE = 'optimizer.bin';
const LATEST_FILE = 'latest';
const FOLDER_RE = /^ckpt-(\d+)$/;

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface VariableSpec {
  name: string;
  shape: number[];
}

export interface ManifestEntry extends VariableSpec {
  /** Offset into weights.bin (and into each moment block of optimizer.bin) in float32 elements. */
  offset: number;
  size: number;
}

export interface OptimizerCheckpoint {
  kind: 'adam';
  /** Optimizer steps taken (Adam's bias correction depends on it). */
  step: number;
  /** The optimizer's hyperparameters (learning rate, betas, epsilon). */
  config: Record<string, number>;
  /** Flat moments in manifest order. */
  firstMoment: Float32Array;
  secondMoment: Float32Array;
}

/** Everything a checkpoint holds; `config`, `data`, `state` and `metrics` must be JSON-serializable. */
export interface CheckpointState {
  kind: string;
  config: unknown;
  step: number;
  epoch: number;
  variables: NamedArray[];
  optimizer?: OptimizerCheckpoint;
  /** Named Rng states (Rng.getState()); NaN entries survive the JSON round trip. */
  rng?: Record<string, number[]>;
  /** The data iterator's state (epoch, position, shuffle seed, …). */
  data?: unknown;
  /** Any further trainer state. */
  state?: unknown;
  metrics?: Record<string, number>;
  /** Training time in seconds summed over every session of the run. */
  elapsedSeconds?: number;
  engine?: Record<string, unknown>;
}

export interface LoadedCheckpoint extends CheckpointState {
  /** The checkpoint folder that was read. */
  path: string;
  createdAt: string;
}

interface FileRecord {
  file: string;
  bytes: number;
  sha256: string;
}

/** The JSON document stored as checkpoint.json. */
interface CheckpointJson {
  format: string;
  formatVersion: number;
  kind: string;
  config: unknown;
  step: number;
  epoch: number;
  variables: ManifestEntry[];
  weights: FileRecord;
  optimizer: (Omit<OptimizerCheckpoint, 'firstMoment' | 'secondMoment'> & FileRecord & { layout: string[] }) | null;
  rng: Record<string, (number | null)[]>;
  data: unknown;
  state: unknown;
  metrics: Record<string, number>;
  elapsedSeconds: number;
  createdAt: string;
  engine: Record<string, unknown>;
}

export interface SaveOptions {
  /** Checkpoints to keep (newest by step); older ones are deleted after a successful save. Default 2. */
  keep?: number;
}

export function checkpointFolderName(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}`;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Float32 values as little-endian bytes whatever the host's byte order. */
export function toLittleEndian(values: Float32Array): Uint8Array {
  if (os.endianness() === 'LE') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/** Little-endian bytes (a multiple of 4) as float32 values, copied. */
export function fromLittleEndian(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  if (os.endianness() === 'LE') {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function concat(parts: Float32Array[], total: number): Float32Array {
  const out = new Float32Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

async function writeSynced(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

function badArgument(message: string): Gan3dError {
  return new Gan3dError(message, 'CHECKPOINT_BAD_ARGUMENT');
}

/** Builds the manifest and checks that every variable's data matches its shape. */
function manifestOf(variables: NamedArray[]): { manifest: ManifestEntry[]; total: number } {
  const seen = new Set<string>();
  let offset = 0;
  const manifest = variables.map((v) => {
    const size = v.shape.reduce((a, b) => a * b, 1);
    if (seen.has(v.name)) throw badArgument(`Checkpoint variable name "${v.name}" appears twice.`);
    if (size !== v.data.length) {
      throw badArgument(`Checkpoint variable "${v.name}": shape [${v.shape.join(',')}] needs ${size} values, got ${v.data.length}.`);
    }
    seen.add(v.name);
    const entry = { name: v.name, shape: [...v.shape], offset, size };
    offset += size;
    return entry;
  });
  return { manifest, total: offset };
}

/** Lists complete checkpoint folders under `root`, oldest first. */
export async function listCheckpoints(root: string): Promise<{ step: number; path: string }[]> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    return [];
  }
  const out: { step: number; path: string }[] = [];
  for (const name of names) {
    const m = FOLDER_RE.exec(name);
    if (m) out.push({ step: Number(m[1]), path: path.join(root, name) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * Saves a checkpoint under `root` (created when missing) and returns its folder. An existing checkpoint of the same
 * step is replaced. Keeps the newest `keep` checkpoints and removes leftovers of interrupted saves.
 */
export async function saveCheckpoint(root: string, state: CheckpointState, options: SaveOptions = {}): Promise<string> {
  const keep = options.keep ?? DEFAULT_KEEP_CHECKPOINTS;
  if (!Number.isInteger(keep) || keep < 1) throw badArgument(`keep must be a whole number ≥ 1, got ${keep}.`);
  if (!Number.isInteger(state.step) || state.step < 0) throw badArgument(`Checkpoint step must be a whole number ≥ 0, got ${state.step}.`);
  const { manifest, total } = manifestOf(state.variables);
  const weightBytes = toLittleEndian(concat(state.variables.map((v) => v.data), total));

  let optimizer: CheckpointJson['optimizer'] = null;
  let optimizerBytes: Uint8Array | null = null;
  if (state.optimizer) {
    const o = state.optimizer;
    if (o.firstMoment.length !== total || o.secondMoment.length !== total) {
      throw badArgument(`Optimizer moments have ${o.firstMoment.length}/${o.secondMoment.length} values for ${total} parameters.`);
    }
    // Moments laid out as [first | second], each in manifest order.
    optimizerBytes = toLittleEndian(concat([o.firstMoment, o.secondMoment], 2 * total));
    optimizer = {
      kind: o.kind,
      step: o.step,
      config: { ...o.config },
      layout: ['firstMoment', 'secondMoment'],
      file: OPTIMIZER_FILE,
      bytes: optimizerBytes.length,
      sha256: sha256(optimizerBytes),
    };
  }
  const rng: Record<string, (number | null)[]> = {};
  for (const [name, s] of Object.entries(state.rng ?? {})) rng[name] = s.map((v) => (Number.isNaN(v) ? null : v));

  const doc: CheckpointJson = {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    kind: state.kind,
    config: state.config ?? null,
    step: state.step,
    epoch: state.epoch,
    variables: manifest,
    weights: { file: WEIGHTS_FILE, bytes: weightBytes.length, sha256: sha256(weightBytes) },
    optimizer,
    rng,
    data: state.data ?? null,
    state: state.state ?? null,
    metrics: state.metrics ?? {},
    elapsedSeconds: state.elapsedSeconds ?? 0,
    createdAt: new Date().toISOString(),
    engine: state.engine ?? {},
  };

  const name = checkpointFolderName(state.step);
  const final = path.join(root, name);
  const tmp = `${final}.tmp`;
  try {
    await fs.mkdir(root, { recursive: true });
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp);
    await writeSynced(path.join(tmp, WEIGHTS_FILE), weightBytes);
    if (optimizerBytes) await writeSynced(path.join(tmp, OPTIMIZER_FILE), optimizerBytes);
    // The JSON goes last: a folder with a valid checkpoint.json has all its data.
    await writeSynced(path.join(tmp, JSON_FILE), `${JSON.stringify(doc, null, 2)}\n`);
    if (await exists(final)) {
      const aside = `${final}.old`;
      await fs.rm(aside, { recursive: true, force: true });
      await fs.rename(final, aside);
      await fs.rename(tmp, final);
      await fs.rm(aside, { recursive: true, force: true });
    } else {
      await fs.rename(tmp, final);
    }
    await writeFileAtomic(path.join(root, LATEST_FILE), `${name}\n`, { force: true });
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof Gan3dError) throw e;
    throw new Gan3dError(`Cannot write checkpoint ${final}: ${(e as Error).message}.`, 'CHECKPOINT_WRITE_FAILED');
  }
  await prune(root, keep, name);
  return final;
}

/** Removes all but the newest `keep` checkpoints (never the one just written) and stale temp folders. */
async function prune(root: string, keep: number, current: string): Promise<void> {
  const all = await listCheckpoints(root);
  const old = all.slice(0, Math.max(0, all.length - keep)).filter((c) => path.basename(c.path) !== current);
  for (const c of old) await fs.rm(c.path, { recursive: true, force: true });
  for (const name of await fs.readdir(root)) {
    if (/^ckpt-\d+\.(tmp|old)$/.test(name)) await fs.rm(path.join(root, name), { recursive: true, force: true });
  }
}

/** The newest checkpoint folder under `root` (following `latest`, else the highest step), or null if none. */
export async function latestCheckpoint(root: string): Promise<string | null> {
  try {
    const name = (await fs.readFile(path.join(root, LATEST_FILE), 'utf8')).trim();
    if (FOLDER_RE.test(name) && (await exists(path.join(root, name, JSON_FILE)))) return path.join(root, name);
  } catch {
    // No pointer (or an unreadable one): fall back to the folder listing, which only holds complete checkpoints.
  }
  const all = await listCheckpoints(root);
  return all.length > 0 ? all[all.length - 1].path : null;
}

function corrupt(dir: string, what: string): Gan3dError {
  return new Gan3dError(
    `Checkpoint ${dir} is corrupt: ${what}. Delete this checkpoint folder and resume from an older one (or start again).`,
    'CHECKPOINT_CORRUPT',
  );
}

function incompatible(dir: string, what: string): Gan3dError {
  return new Gan3dError(
    `Checkpoint ${dir} has an incompatible config: ${what}. Use the configuration it was trained with, or start a new run.`,
    'CHECKPOINT_INCOMPATIBLE',
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

async function readBinary(dir: string, record: unknown, label: string): Promise<Uint8Array> {
  if (!isObject(record) || typeof record.file !== 'string' || !isCount(record.bytes) || typeof record.sha256 !== 'string') {
    throw corrupt(dir, `the ${label} entry of ${JSON_FILE} is malformed`);
  }
  if (path.basename(record.file) !== record.file) throw corrupt(dir, `${label} file name "${record.file}" is not a plain name`);
  const file = path.join(dir, record.file);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Gan3dError(`Checkpoint ${dir} is incomplete: ${record.file} is missing. Resume from an older checkpoint.`, 'CHECKPOINT_MISSING');
    }
    throw new Gan3dError(`Cannot read ${file}: ${(e as Error).message}.`, 'CHECKPOINT_READ_FAILED');
  }
  if (bytes.length !== record.bytes) {
    throw new Gan3dError(
      `Checkpoint ${dir} is truncated: ${record.file} has ${bytes.length} bytes, ${JSON_FILE} says ${record.bytes}. ` +
        'Delete this checkpoint folder and resume from an older one.',
      'CHECKPOINT_TRUNCATED',
    );
  }
  if (sha256(bytes) !== record.sha256) throw corrupt(dir, `${record.file} does not match its SHA-256 digest`);
  return bytes;
}

function checkManifest(dir: string, value: unknown): ManifestEntry[] {
  if (!Array.isArray(value)) throw corrupt(dir, 'the variable manifest is missing');
  let offset = 0;
  return value.map((entry, i) => {
    const ok =
      isObject(entry) &&
      typeof entry.name === 'string' &&
      Array.isArray(entry.shape) &&
      entry.shape.every(isCount) &&
      entry.offset === offset &&
      entry.size === (entry.shape as number[]).reduce((a, b) => a * b, 1);
    if (!ok) throw corrupt(dir, `manifest entry ${i} is malformed or out of order`);
    offset += entry.size as number;
    return entry as unknown as ManifestEntry;
  });
}

export interface LoadOptions {
  /** Model kind the caller expects (e.g. "photogeo"). */
  kind?: string;
  /** The model's variables in order: names and shapes must match the manifest exactly. */
  variables?: VariableSpec[];
}

/** Checks that a manifest matches the model's variables; throws an "incompatible config" error naming the first difference. */
export function checkVariables(dir: string, manifest: VariableSpec[], expected: VariableSpec[]): void {
  const shape = (s: number[]) => `[${s.join(',')}]`;
  const n = Math.min(manifest.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = manifest[i];
    const b = expected[i];
    if (a.name !== b.name || shape(a.shape) !== shape(b.shape)) {
      throw incompatible(dir, `variable ${i} is "${a.name}" ${shape(a.shape)} in the checkpoint but "${b.name}" ${shape(b.shape)} in the model`);
    }
  }
  if (manifest.length !== expected.length) {
    throw incompatible(dir, `the checkpoint has ${manifest.length} variables, the model ${expected.length}`);
  }
}

/**
 * Loads and validates a checkpoint. `dir` is a checkpoint folder, or a checkpoints root (then its newest one).
 * Throws Gan3dError for a missing, truncated or corrupt file, an unknown format version, or (with `options`) a kind or
 * variable manifest that does not match the model.
 */
export async function loadCheckpoint(dir: string, options: LoadOptions = {}): Promise<LoadedCheckpoint> {
  if (!(await exists(path.join(dir, JSON_FILE)))) {
    const newest = await latestCheckpoint(dir);
    if (newest) dir = newest;
  }
  const jsonPath = path.join(dir, JSON_FILE);
  let text: string;
  try {
    text = await fs.readFile(jsonPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Gan3dError(`No checkpoint at ${dir}: ${JSON_FILE} is missing. Check the path (a run's checkpoints are in <run>/checkpoints).`, 'CHECKPOINT_MISSING');
    }
    throw new Gan3dError(`Cannot read ${jsonPath}: ${(e as Error).message}.`, 'CHECKPOINT_READ_FAILED');
  }
  let doc: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) throw new Error('not an object');
    doc = parsed;
  } catch {
    throw corrupt(dir, `${JSON_FILE} is not valid JSON (truncated?)`);
  }
  if (doc.format !== CHECKPOINT_FORMAT) throw corrupt(dir, `${JSON_FILE} is not a gan3d checkpoint`);
  if (doc.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new Gan3dError(
      `Checkpoint ${dir} has format version ${String(doc.formatVersion)}; this gan3d reads version ${CHECKPOINT_FORMAT_VERSION}. ` +
        'Use the gan3d version that wrote it, or start a new run.',
      'CHECKPOINT_VERSION',
    );
  }
  if (typeof doc.kind !== 'string' || !isCount(doc.step) || !isCount(doc.epoch)) throw corrupt(dir, 'kind, step or epoch is missing');
  if (options.kind !== undefined && doc.kind !== options.kind) {
    throw incompatible(dir, `it holds a "${doc.kind}" model, not "${options.kind}"`);
  }
  const manifest = checkManifest(dir, doc.variables);
  if (options.variables) checkVariables(dir, manifest, options.variables);
  const total = manifest.reduce((a, e) => a + e.size, 0);

  const weightBytes = await readBinary(dir, doc.weights, 'weights');
  if (weightBytes.length !== total * 4) throw corrupt(dir, `${WEIGHTS_FILE} holds ${weightBytes.length / 4} values, the manifest ${total}`);
  const weights = fromLittleEndian(weightBytes);
  const variables = manifest.map((e) => ({ name: e.name, shape: e.shape, data: weights.slice(e.offset, e.offset + e.size) }));

  let optimizer: OptimizerCheckpoint | undefined;
  if (doc.optimizer !== null && doc.optimizer !== undefined) {
    const o = doc.optimizer as Record<string, unknown>;
    if (!isObject(o) || o.kind !== 'adam' || !isCount(o.step) || !isObject(o.config)) throw corrupt(dir, 'the optimizer entry is malformed');
    const bytes = await readBinary(dir, o, 'optimizer');
    if (bytes.length !== total * 8) throw corrupt(dir, `${OPTIMIZER_FILE} holds ${bytes.length / 4} values, expected ${2 * total}`);
    const moments = fromLittleEndian(bytes);
    optimizer = {
      kind: 'adam',
      step: o.step,
      config: o.config as Record<string, number>,
      firstMoment: moments.slice(0, total),
      secondMoment: moments.slice(total),
    };
  }
  const rng: Record<string, number[]> = {};
  if (isObject(doc.rng)) {
    for (const [name, s] of Object.entries(doc.rng)) {
      if (!Array.isArray(s)) throw corrupt(dir, `Rng state "${name}" is malformed`);
      rng[name] = s.map((v) => (v === null ? Number.NaN : Number(v)));
    }
  }
  return {
    path: dir,
    kind: doc.kind,
    config: doc.config,
    step: doc.step,
    epoch: doc.epoch,
    variables,
    optimizer,
    rng,
    data: doc.data ?? undefined,
    state: doc.state ?? undefined,
    metrics: isObject(doc.metrics) ? (doc.metrics as Record<string, number>) : {},
    elapsedSeconds: typeof doc.elapsedSeconds === 'number' ? doc.elapsedSeconds : 0,
    engine: isObject(doc.engine) ? doc.engine : {},
    createdAt: typeof doc.createdAt === 'string' ? doc.createdAt : '',
  };
}
