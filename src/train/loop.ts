// The one training loop every trainer shares. A Trainer supplies the model (a replica for DataParallel, or a replica
// built in this thread), batches from a resumable data iterator, and optionally sample grids and evaluation; the loop
// does the rest: Adam steps on all cores, a progress bar, a JSONL log, sample grids, checkpoints, exact resume and a
// clean stop on Ctrl-C. "Exact" means a resumed run computes the same bits as one that never stopped: the checkpoint
// holds the weights, Adam's moments and step count, the loop's Rng state and the data iterator's position.
// A trainer may instead give several optimizer phases per step (a GAN: D, then G), each with its own variables and
// Adam state, plus buffers outside the optimizer (EMA weights, a tracked mean) that the checkpoint carries beside the
// weights. Phases run single-threaded (src/train/stepper.ts PhasedStepper) or, when the trainer also gives a
// replicaSpec that builds every phase in a worker and more than one thread is asked for, data-parallel
// (src/engine/parallel/phased-data-parallel.ts); both save the same checkpoint, so either resumes the other's run.
import * as tf from '@tensorflow/tfjs';
import cliProgress from 'cli-progress';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backendInfo, initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { DataParallel, defaultWorkerCount, groupedShards, type Batch, type Replica, type ReplicaSpec } from '../engine/parallel/data-parallel.js';
import { PhasedDataParallel } from '../engine/parallel/phased-data-parallel.js';
import { ADAM_DEFAULTS, type AdamConfig } from '../engine/parallel/flat-adam.js';
import { Rng } from '../engine/random.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, type LoadedCheckpoint, type VariableSpec } from '../io/checkpoint.js';
import { memorySnapshot } from './memory.js';
import { LocalAdamStepper, PhasedStepper, type Stepper } from './stepper.js';

/** A data iterator's saved state; `epoch` counts completed passes over the data. */
export interface DataState {
  epoch: number;
  [key: string]: unknown;
}

export interface TrainerContext {
  step: number;
  epoch: number;
  /** The main thread's replica, holding the current weights. */
  replica: Replica;
  outDir: string;
}

/** One optimizer phase of a multi-phase trainer (see Trainer.phases). */
export interface TrainerPhase {
  /** Short name ("D", "G"): keys its Adam config, its Adam settings in the checkpoint and its loss in the log. */
  name: string;
  /** Built in this thread; its variables belong to this phase only (its loss may read other phases' variables). */
  replica: Replica;
  adam?: Partial<AdamConfig>;
  /** Stable checkpoint names of its variables, in order (default `<name>/var<i>`). */
  variableNames?: string[];
}

export interface Trainer {
  /** Model kind, written into checkpoints and checked on resume (e.g. "photogeo"). */
  readonly kind: string;
  /** The model's full typed config (JSON-serializable): printed into every checkpoint, must match on resume. */
  readonly config: unknown;
  /** Module + config for DataParallel (training on every core). With `phases`: a module whose createReplica returns
   *  { phases } in the same order, built in each worker thread (PhasedDataParallel); without it phases run on one thread. */
  readonly replicaSpec?: ReplicaSpec;
  /** Data-parallel sharding keeps minibatch-std groups whole: rows i and j share a shard when i ≡ j mod (batch / g),
   *  g = min(shardGroupSize, batch) (see groupedShards). Default: contiguous shards. */
  readonly shardGroupSize?: number;
  /** Or a replica built in this thread: trained single-threaded with the same Adam. */
  readonly replica?: Replica;
  /** Or several optimizer phases run in order in every step on the same batch, each with its own Adam state
   *  (data-parallel when `replicaSpec` is given too). `adam` and `variableNames` are then given per phase. */
  readonly phases?: TrainerPhase[];
  /** Tensors outside the optimizer that exact resume needs (EMA weights, tracked means), by stable name: saved after
   *  the trained variables (with zero Adam moments, as the checkpoint format sizes the moments by its manifest). */
  readonly buffers?: ReadonlyMap<string, tf.Variable>;
  readonly adam?: Partial<AdamConfig>;
  /** Stable names for the checkpoint manifest, in variable order (default: tf names, or var<i> for unnamed ones). */
  readonly variableNames?: string[];
  /** Examples in one epoch: needed when training is given in epochs. */
  readonly examplesPerEpoch?: number;
  /** Starting weights of a new run (fine-tuning), in variable order; variables given as null keep their seeded
   *  initial values. Ignored on resume: the checkpoint's weights win. */
  readonly initialWeights?: (Float32Array | null)[];
  /** The next training batch; draws any randomness (augmentation, noise) from `rng` only. */
  nextBatch(rng: Rng, batchSize: number): Batch;
  getDataState(): DataState;
  setDataState(state: DataState): void;
  /** Any further state a trainer keeps between steps (JSON-serializable). */
  getState?(): unknown;
  setState?(state: unknown): void;
  /** Called after every optimizer step with that step's batch (EMA updates, tracked statistics). */
  afterStep?(batch: Batch, ctx: TrainerContext): void;
  /** A PNG sample grid for the current weights (see grid.ts). */
  makeSampleGrid?(ctx: TrainerContext): Promise<Uint8Array>;
  evaluate?(ctx: TrainerContext): Promise<Record<string, number>>;
}

/** The loop's hyperparameters: written into every checkpoint beside the trainer's config. */
export interface TrainingConfig {
  batchSize: number;
  /** Total optimizer steps (or derived from epochs). */
  maxSteps: number;
  epochs: number | null;
  seed: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  sampleEvery: number;
  evalEvery: number;
  logEvery: number;
  /** Adam's settings; for a multi-phase trainer, one per phase by name. */
  adam: AdamConfig | Record<string, AdamConfig>;
}

export const TRAINING_DEFAULTS = {
  seed: 0,
  checkpointEvery: 1000,
  keepCheckpoints: 2,
  sampleEvery: 0,
  evalEvery: 0,
  logEvery: 10,
} as const;

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  stepper: Stepper;
}

export interface RunOptions {
  trainer: Trainer;
  outDir: string;
  /** Continue from the newest checkpoint in outDir. */
  resume?: boolean;
  /** Start afresh in a folder that holds a run (deletes its log, samples and checkpoints). */
  force?: boolean;
  /** Give exactly one of maxSteps and epochs; a resumed run may raise either. */
  maxSteps?: number;
  epochs?: number;
  batchSize: number;
  seed?: number;
  /** Steps between checkpoints (0: only at the end or on a stop). */
  checkpointEvery?: number;
  keepCheckpoints?: number;
  /** Steps between sample grids (0: never). */
  sampleEvery?: number;
  /** Steps between evaluations (0: never). */
  evalEvery?: number;
  /** Steps per log line (each line carries the mean loss over its steps). */
  logEvery?: number;
  /** Worker threads beside the main one (default GAN3D_THREADS − 1 or one per extra core). */
  workers?: number;
  quiet?: boolean;
  /** Called after the step that finished an epoch. */
  onEpochEnd?: (ctx: TrainerContext) => void | Promise<void>;
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Save and stop on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  /** Aborting it stops the run like Ctrl-C does. */
  signal?: AbortSignal;
}

export interface RunResult {
  status: 'completed' | 'interrupted';
  step: number;
  epoch: number;
  /** The loss of the last step (NaN if no step ran in this session). */
  loss: number;
  checkpoint: string;
  outDir: string;
}

export interface LogLine {
  type: 'start' | 'train' | 'eval' | 'checkpoint' | 'stop';
  step: number;
  [key: string]: unknown;
}

const RUN_FILES = ['log.jsonl', 'checkpoints', 'samples'];

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

function positiveInt(name: string, v: number | undefined, allowZero: boolean): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new Gan3dError(`${name} must be a whole number ≥ ${allowZero ? 0 : 1}, got ${v}.`, 'TRAIN_BAD_OPTION');
  }
}

function trainingConfig(o: RunOptions): TrainingConfig {
  positiveInt('batchSize', o.batchSize, false);
  positiveInt('maxSteps', o.maxSteps, false);
  positiveInt('epochs', o.epochs, false);
  positiveInt('checkpointEvery', o.checkpointEvery, true);
  positiveInt('keepCheckpoints', o.keepCheckpoints, false);
  positiveInt('sampleEvery', o.sampleEvery, true);
  positiveInt('evalEvery', o.evalEvery, true);
  positiveInt('logEvery', o.logEvery, false);
  if ((o.maxSteps === undefined) === (o.epochs === undefined)) {
    throw new Gan3dError('Give exactly one of maxSteps (--steps) and epochs (--epochs).', 'TRAIN_BAD_OPTION');
  }
  let maxSteps = o.maxSteps ?? 0;
  if (o.epochs !== undefined) {
    const n = o.trainer.examplesPerEpoch;
    if (!n) throw new Gan3dError(`The "${o.trainer.kind}" trainer does not know its epoch size: give a step count instead.`, 'TRAIN_BAD_OPTION');
    maxSteps = Math.ceil((o.epochs * n) / o.batchSize);
  }
  return {
    batchSize: o.batchSize,
    maxSteps,
    epochs: o.epochs ?? null,
    seed: o.seed ?? TRAINING_DEFAULTS.seed,
    checkpointEvery: o.checkpointEvery ?? TRAINING_DEFAULTS.checkpointEvery,
    keepCheckpoints: o.keepCheckpoints ?? TRAINING_DEFAULTS.keepCheckpoints,
    sampleEvery: o.sampleEvery ?? TRAINING_DEFAULTS.sampleEvery,
    evalEvery: o.evalEvery ?? TRAINING_DEFAULTS.evalEvery,
    logEvery: o.logEvery ?? TRAINING_DEFAULTS.logEvery,
    adam: o.trainer.phases
      ? Object.fromEntries(o.trainer.phases.map((p) => [p.name, { ...ADAM_DEFAULTS, ...p.adam }]))
      : { ...ADAM_DEFAULTS, ...o.trainer.adam },
  };
}

function variableSpecs(trainer: Trainer, variables: tf.Variable[]): VariableSpec[] {
  const names = trainer.phases
    ? trainer.phases.flatMap((p) => p.variableNames ?? p.replica.variables.map((_, i) => `${p.name}/var${i}`))
    : trainer.variableNames;
  if (names && names.length !== variables.length) {
    throw new Gan3dError(`The trainer names ${names.length} variables but its model has ${variables.length}.`, 'TRAIN_BAD_OPTION');
  }
  // tfjs names unnamed variables by a process-wide counter, which differs between runs: use the position instead.
  return variables.map((v, i) => ({ name: names?.[i] ?? (/^\d+$/.test(v.name) ? `var${i}` : v.name), shape: [...v.shape] }));
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x,
  );

/** A resumed run must train the same model on the same data the same way; only its length may change. */
function checkResumeConfig(ckpt: LoadedCheckpoint, trainer: Trainer, config: TrainingConfig): void {
  const saved = (ckpt.config ?? {}) as { trainer?: unknown; training?: Partial<TrainingConfig> };
  const differ = (what: string) =>
    new Gan3dError(
      `Checkpoint ${ckpt.path} has an incompatible config: ${what} differs from this run's. Resume with the settings it was trained with ` +
        '(see its checkpoint.json), or start a new run with --force.',
      'CHECKPOINT_INCOMPATIBLE',
    );
  if (canonical(saved.trainer) !== canonical(JSON.parse(JSON.stringify(trainer.config ?? null)))) throw differ('the model/trainer config');
  const t = saved.training ?? {};
  if (t.batchSize !== config.batchSize) throw differ(`the batch size (${t.batchSize} vs ${config.batchSize})`);
  if (t.seed !== config.seed) throw differ(`the seed (${t.seed} vs ${config.seed})`);
  if (canonical(t.adam) !== canonical(config.adam)) throw differ('the Adam config');
}

/** Keeps log lines up to the checkpoint's step, so a resumed run's log reads as if it had never stopped. */
async function trimLog(logPath: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await fs.readFile(logPath, 'utf8');
  } catch {
    return;
  }
  const kept = text.split('\n').filter((line) => {
    try {
      const parsed = JSON.parse(line) as LogLine;
      return typeof parsed.step === 'number' && parsed.step <= step;
    } catch {
      return false; // a half-written last line from a crash
    }
  });
  await writeFileAtomic(logPath, kept.map((l) => `${l}\n`).join(''), { force: true });
}

function stepName(step: number): string {
  return `step-${String(step).padStart(6, '0')}.png`;
}

/** Runs (or resumes) training; resolves when maxSteps is reached or a stop was requested and the checkpoint is saved. */
export async function runTraining(options: RunOptions): Promise<RunResult> {
  const { trainer } = options;
  const config = trainingConfig(options);
  await initBackend();
  const outDir = path.resolve(options.outDir);
  const ckptRoot = path.join(outDir, 'checkpoints');
  const logPath = path.join(outDir, 'log.jsonl');
  const samplesDir = path.join(outDir, 'samples');

  let resumeFrom: string | null = null;
  if (options.resume) {
    resumeFrom = await latestCheckpoint(ckptRoot);
    if (!resumeFrom) throw new Gan3dError(`Nothing to resume: ${ckptRoot} holds no checkpoint. Start without --resume.`, 'TRAIN_NO_CHECKPOINT');
  } else {
    const found = [];
    for (const f of RUN_FILES) if (await exists(path.join(outDir, f))) found.push(f);
    if (found.length > 0 && !options.force) {
      throw new Gan3dError(
        `${outDir} already holds a training run (${found.join(', ')}): pass --resume to continue it or --force to start over.`,
        'TRAIN_RUN_EXISTS',
      );
    }
    for (const f of found) await fs.rm(path.join(outDir, f), { recursive: true, force: true });
  }
  await fs.mkdir(outDir, { recursive: true });

  let stepper: Stepper;
  if (trainer.phases) {
    const adam = config.adam as Record<string, AdamConfig>;
    const phases = trainer.phases.map((p) => ({ name: p.name, replica: p.replica, adam: adam[p.name] }));
    const workers = trainer.replicaSpec ? (options.workers ?? defaultWorkerCount()) : 0;
    if (workers > 0) {
      const group = trainer.shardGroupSize;
      const shard = group ? (n: number, threads: number) => groupedShards(n, threads, group) : undefined;
      stepper = await PhasedDataParallel.create(phases, trainer.replicaSpec!, { workers, shard });
    } else {
      stepper = new PhasedStepper(phases);
    }
  } else if (trainer.replicaSpec) {
    stepper = await DataParallel.create(trainer.replicaSpec, { workers: options.workers ?? defaultWorkerCount(), adam: config.adam as AdamConfig });
  } else if (trainer.replica) {
    stepper = new LocalAdamStepper(trainer.replica, config.adam as AdamConfig);
  } else {
    throw new Gan3dError(`The "${trainer.kind}" trainer gives neither phases, a replicaSpec nor a replica.`, 'TRAIN_BAD_OPTION');
  }

  const replica = stepper.replica;
  const specs = variableSpecs(trainer, replica.variables);
  const buffers = [...(trainer.buffers ?? new Map<string, tf.Variable>())];
  const bufferSpecs: VariableSpec[] = buffers.map(([name, v]) => ({ name, shape: [...v.shape] }));
  const trainedSize = replica.variables.reduce((a, v) => a + v.size, 0);
  const bufferSize = buffers.reduce((a, [, v]) => a + v.size, 0);
  const rng = new Rng(config.seed);
  let step = 0;
  let elapsedBefore = 0;
  let metrics: Record<string, number> = {};
  let bar: cliProgress.SingleBar | null = null;
  let stopRequested = false;
  let signalsSeen = 0;
  let firstSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    // One Ctrl-C under `npm run`/`npx` arrives twice (the terminal signals the whole process group and npm forwards
    // it again): signals within a second of the first count as the same request.
    if (signalsSeen > 0 && Date.now() - firstSignalAt < 1000) return;
    if (signalsSeen === 0) firstSignalAt = Date.now();
    signalsSeen++;
    if (signalsSeen > 1) {
      // A second Ctrl-C means "now": restore the default handling and re-raise.
      removeHandlers();
      process.kill(process.pid, sig);
      return;
    }
    stopRequested = true;
    if (!options.quiet) process.stderr.write(`\n${sig}: saving a checkpoint after this step (press again to quit at once)\n`);
  };
  const removeHandlers = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const onAbort = () => (stopRequested = true);

  try {
    if (resumeFrom) {
      const ckpt = await loadCheckpoint(resumeFrom, { kind: trainer.kind, variables: [...specs, ...bufferSpecs] });
      // A resume that names no seed continues with the run's own.
      const savedSeed = (ckpt.config as { training?: { seed?: unknown } } | null)?.training?.seed;
      if (options.seed === undefined && typeof savedSeed === 'number') {
        config.seed = savedSeed;
      }
      checkResumeConfig(ckpt, trainer, config);
      const targets = [...replica.variables, ...buffers.map(([, v]) => v)];
      ckpt.variables.forEach((v, i) => tf.tidy(() => targets[i].assign(tf.tensor(v.data, v.shape))));
      stepper.syncFromReplica();
      if (ckpt.optimizer) {
        // The buffers' (zero) moments follow the trained variables' ones.
        const { step: adamStep, firstMoment, secondMoment } = ckpt.optimizer;
        stepper.importAdamState({ step: adamStep, firstMoment: firstMoment.subarray(0, trainedSize), secondMoment: secondMoment.subarray(0, trainedSize) });
      }
      const rngState = ckpt.rng?.train;
      if (!rngState || rngState.length !== 5) throw new Gan3dError(`Checkpoint ${ckpt.path} has no training Rng state.`, 'CHECKPOINT_CORRUPT');
      rng.setState(rngState);
      trainer.setDataState(ckpt.data as DataState);
      if (trainer.setState && ckpt.state !== undefined) trainer.setState(ckpt.state);
      step = ckpt.step;
      elapsedBefore = ckpt.elapsedSeconds ?? 0;
      metrics = ckpt.metrics ?? {};
      await trimLog(logPath, step);
    } else if (trainer.initialWeights) {
      const init = trainer.initialWeights;
      if (init.length !== replica.variables.length) {
        throw new Gan3dError(`The trainer gives ${init.length} initial weights for ${replica.variables.length} variables.`, 'TRAIN_BAD_OPTION');
      }
      init.forEach((data, i) => {
        const v = replica.variables[i];
        if (!data) return;
        if (data.length !== v.size) throw new Gan3dError(`Initial weights for ${specs[i].name} have ${data.length} values, the variable ${v.size}.`, 'TRAIN_BAD_OPTION');
        tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
      });
      stepper.syncFromReplica();
    }

    const sessionStart = performance.now();
    const wall = () => elapsedBefore + (performance.now() - sessionStart) / 1000;
    const log = (line: LogLine) => fs.appendFile(logPath, `${JSON.stringify({ ...line, time: new Date().toISOString() })}\n`);
    const epochNow = () => trainer.getDataState().epoch;
    const ctx = (): TrainerContext => ({ step, epoch: epochNow(), replica, outDir });
    let lastSaved = resumeFrom ? step : -1;
    let lastCheckpoint = resumeFrom ?? '';

    const save = async () => {
      const adam = stepper.exportAdamState();
      const withBuffers = (m: Float32Array) => {
        if (bufferSize === 0) return m;
        const out = new Float32Array(trainedSize + bufferSize);
        out.set(m);
        return out;
      };
      const values = [...replica.variables.map((v, i) => ({ ...specs[i], v })), ...buffers.map(([, v], i) => ({ ...bufferSpecs[i], v }))];
      lastCheckpoint = await saveCheckpoint(
        ckptRoot,
        {
          kind: trainer.kind,
          config: { trainer: trainer.config, training: config },
          step,
          epoch: epochNow(),
          variables: values.map(({ name, shape, v }) => ({ name, shape, data: Float32Array.from(v.dataSync() as Float32Array) })),
          optimizer: { kind: 'adam', step: adam.step, config: stepper.optimizerConfig(), firstMoment: withBuffers(adam.firstMoment), secondMoment: withBuffers(adam.secondMoment) },
          rng: { train: rng.getState() },
          data: trainer.getDataState(),
          state: trainer.getState?.(),
          metrics,
          elapsedSeconds: wall(),
          engine: { ...backendInfo(), dataParallelThreads: stepper.threads, tfjs: tf.version.tfjs, node: process.version, platform: process.platform },
        },
        { keep: config.keepCheckpoints },
      );
      lastSaved = step;
      await log({ type: 'checkpoint', step, path: path.relative(outDir, lastCheckpoint) });
    };

    await log({ type: 'start', step, resumed: resumeFrom !== null, threads: stepper.threads, config: { trainer: trainer.config, training: config } });
    if (options.handleSignals ?? true) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) stopRequested = true;

    if (!options.quiet && process.stderr.isTTY) {
      bar = new cliProgress.SingleBar(
        { format: `${trainer.kind} {bar} {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}`, hideCursor: true, stream: process.stderr, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      );
      bar.start(config.maxSteps, step, { loss: '-', ips: '-' });
    }

    let windowLoss = 0;
    let windowPhaseLoss: Record<string, number> = {};
    let windowSteps = 0;
    let windowStart = performance.now();
    let lastLoss = Number.NaN;
    while (step < config.maxSteps && !stopRequested) {
      const epochBefore = epochNow();
      const batch = trainer.nextBatch(rng, config.batchSize);
      const loss = await stepper.step(batch);
      step++;
      lastLoss = loss;
      if (!Number.isFinite(loss)) {
        throw new Gan3dError(
          `The loss is ${loss} at step ${step}: training diverged. Lower the learning rate, or resume from an earlier checkpoint.`,
          'TRAIN_DIVERGED',
        );
      }
      windowLoss += loss;
      for (const [name, l] of Object.entries(stepper.phaseLosses ?? {})) windowPhaseLoss[name] = (windowPhaseLoss[name] ?? 0) + l;
      windowSteps++;
      trainer.afterStep?.(batch, ctx());
      const epoch = epochNow();

      if (step % config.logEvery === 0 || step === config.maxSteps) {
        const seconds = (performance.now() - windowStart) / 1000;
        const ips = (windowSteps * config.batchSize) / Math.max(seconds, 1e-9);
        const phaseMeans = Object.entries(windowPhaseLoss).map(([name, l]) => [name, l / windowSteps] as const);
        const phaseFields = Object.fromEntries(phaseMeans.map(([name, l]) => [`loss_${name}`, l]));
        await log({ type: 'train', step, epoch, loss: windowLoss / windowSteps, ...phaseFields, lastLoss: loss, imagesPerSec: Math.round(ips * 100) / 100, wallSeconds: Math.round(wall() * 1000) / 1000, ...memorySnapshot() });
        const shown = phaseMeans.length > 0 ? phaseMeans.map(([name, l]) => `${name} ${l.toPrecision(4)}`).join(' ') : (windowLoss / windowSteps).toPrecision(4);
        bar?.update(step, { loss: shown, ips: ips.toFixed(1) });
        windowLoss = 0;
        windowPhaseLoss = {};
        windowSteps = 0;
        windowStart = performance.now();
      } else {
        bar?.update(step);
      }
      if (config.sampleEvery > 0 && step % config.sampleEvery === 0 && trainer.makeSampleGrid) {
        await writeFileAtomic(path.join(samplesDir, stepName(step)), await trainer.makeSampleGrid(ctx()), { force: true });
      }
      if (config.evalEvery > 0 && step % config.evalEvery === 0 && trainer.evaluate) {
        metrics = await trainer.evaluate(ctx());
        await log({ type: 'eval', step, epoch, ...metrics });
      }
      if (epoch > epochBefore && options.onEpochEnd) await options.onEpochEnd({ step, epoch: epochBefore, replica, outDir });
      if (config.checkpointEvery > 0 && step % config.checkpointEvery === 0) await save();
      if (options.onStep) await options.onStep({ step, epoch, loss, stepper });
    }
    if (lastSaved !== step) await save();
    const status = step < config.maxSteps ? 'interrupted' : 'completed';
    await log({ type: 'stop', step, status, wallSeconds: Math.round(wall() * 1000) / 1000 });
    return { status, step, epoch: epochNow(), loss: lastLoss, checkpoint: lastCheckpoint, outDir };
  } finally {
    bar?.stop();
    removeHandlers();
    options.signal?.removeEventListener('abort', onAbort);
    await stepper.dispose();
    // The loop built this replica, so it frees it; the trained weights live on in the checkpoint. (A phased trainer's
    // replicas are its own.)
    if (trainer.replicaSpec && !trainer.phases) tf.dispose(stepper.replica.variables);
  }
}
