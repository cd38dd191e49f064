// GAN2Shape refinement of one image (paper notes part C), as a schedule of steps:
//   0. init: the depth net fitted to the ellipsoid prior of the object mask (C.8), or the amortized photogeo model's
//      D, A, V, L copied in;
//   then per stage k: Step 1 (albedo, C.7) → Step 2 (offset encoder on pseudo-samples, then the bank; C.4–C.6) →
//   Step 3 (depth, albedo, view, light on the input plus projected samples, C.7);
//   and once the schedule is done, the GAN-projected rotation frames (C.10, rotation.ts).
// Each step starts a fresh Adam (C.2). After every step the session is checkpointed (state.ts), so `resume` continues
// from the last finished step and computes what an uninterrupted run would; after the init and each stage the
// current estimate is written as snapshot PNGs (snapshots.ts).
// The input's latent w comes from `projectInput` (GAN inversion; for GAN samples, the w they were drawn from).
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { initBackend } from '../../engine/backend.js';
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';
import type { PhotoGeoModel } from '../../models/photogeo/model.js';
import type { ParserNet } from '../../models/parser/model.js';
import type { Discriminator } from '../../models/stylegan/discriminator.js';
import type { Generator } from '../../models/stylegan/generator.js';
import { refineConfig, stageLengths, type RefineConfig, type RefineOverrides } from './config.js';
import { fitEllipsoid } from './ellipsoid-init.js';
import { buildRefineNets, type RefineModel } from './nets.js';
import { Encoder } from '../../models/encoder/model.js';
import { LatentProjector, OffsetEncoder, PretrainedOffsets, type OffsetPredictor } from './offset-encoder.js';
import { emptyBank, type Bank, type ProgressFn, type RefineSession } from './session.js';
import { projectedRotation, writeProjectedRotation, type RotationOptions } from './rotation.js';
import { currentEstimate, writeSnapshot, type RefineEstimate } from './snapshots.js';
import { imageDigest, loadRefineState, peekRefineState, saveRefineState, type PhaseRecord, type RefineProgressState } from './state.js';
import { collectBank, optimizeBank, runStep2 } from './step2.js';
import { runStep1 } from './step1.js';
import { runStep3 } from './step3.js';

export interface RefineImageOptions {
  /** The input [S·S·3] in [-1, 1] (S = 64), row-major HWC. */
  image: Float32Array;
  /** The frozen GAN: generator (W space, mapping network) and discriminator (features). */
  gan: { generator: Generator; discriminator: Discriminator; id?: string };
  /** image [1, S, S, 3] → its latent w [wDim] (GAN inversion; not called on resume: w is in the checkpoint). */
  projectInput: (image: tf.Tensor4D) => Float32Array | Promise<Float32Array>;
  config?: RefineOverrides;
  /** The GAN's inversion encoder (models/gan-encoder), for projection 'pretrained': a copy is fine-tuned, it is not changed. */
  inversionEncoder?: { encoder: Encoder; id?: string };
  /** The amortized model, for init 'photogeo' (its D, A, V, L are copied; it is not changed). */
  photogeo?: { model: PhotoGeoModel; id?: string };
  /** The object mask [S·S] in [0, 1], for init 'ellipsoid' and config.inputObjectMask; or a parser to predict it. */
  mask?: Float32Array;
  parser?: ParserNet;
  /** Checkpoints (`checkpoints/`) and snapshots (`stages/`) go here; without it nothing is written. */
  outDir?: string;
  /** Continue from the newest checkpoint in outDir. */
  resume?: boolean;
  /** Write per-stage snapshot PNGs into outDir (default true). */
  snapshots?: boolean;
  onProgress?: ProgressFn;
  /** Called after every finished step (and its checkpoint). */
  onPhase?: (record: PhaseRecord, phasesDone: number, totalPhases: number) => void;
  /** Called after each stage's Step 3 (and its checkpoint) with the per-image model as it stands and the refinement's
   *  seconds so far (over every session): evaluate intermediate stages, e.g. for a quality-against-time curve. Not
   *  called again for stages finished before a resume. The model must not be changed or disposed. */
  onStageEnd?: (stage: number, model: PhotoGeoModel, seconds: number) => void | Promise<void>;
  /** Stop (as an interruption) once this many schedule steps are done (the init counts as one). */
  stopAfterPhases?: number;
  /** Aborting stops the refinement at the next step switch. */
  signal?: AbortSignal;
  /** Replaces Step 2: the bank of stage `stage` comes from here instead of GAN projections (oracle experiments, e.g.
   *  true renders of a SynFace face under other views and lights: the bound a perfect GAN prior would give). */
  bankSource?: (stage: number) => Bank | Promise<Bank>;
  /** Return the refined per-image model (the caller disposes it) instead of disposing it. */
  keepModel?: boolean;
  /** After a completed schedule, write the GAN-projected rotation frames (C.10) into outDir: projected_rotate.gif and
   *  projected_rotate.png (default on, 9 yaws over ±60°; false: skip). */
  rotation?: RotationOptions | false;
}

export interface RefineImageResult {
  status: 'completed' | 'interrupted';
  phasesDone: number;
  totalPhases: number;
  config: RefineConfig;
  estimate: RefineEstimate;
  history: PhaseRecord[];
  w: number[];
  /** Seconds of refinement over every session of this image. */
  seconds: number;
  /** The refined per-image model, with `keepModel` (a PhotoGeoModel: `reconstruct` gives the estimate above). */
  model?: RefineModel;
  /** The GAN-projected rotation frames written (completed refinements with an outDir; not counted in `seconds`). */
  rotation?: { yawsDeg: number[]; files: string[]; seconds: number };
}

/** Names of the schedule's steps: "init", then "s<k>-step1|2|3" per stage. */
export function scheduleNames(config: RefineConfig): string[] {
  const names = ['init'];
  for (let k = 0; k < config.stages; k++) names.push(`s${k}-step1`, `s${k}-step2`, `s${k}-step3`);
  return names;
}

/** What a checkpoint must agree on to be resumed. */
function checkpointConfig(config: RefineConfig, model: PhotoGeoModel, options: RefineImageOptions, mask: Float32Array | null): unknown {
  return {
    refine: config,
    ...(mask ? { objectMask: imageDigest(mask) } : {}),
    nets: model.config,
    gan: { id: options.gan.id ?? null, config: options.gan.generator.config },
    ...(options.bankSource ? { bank: 'bankSource' } : {}),
    ...(config.projection === 'pretrained' ? { inversionEncoder: options.inversionEncoder?.id ?? null } : {}),
    photogeo: config.init === 'photogeo' ? (options.photogeo?.id ?? null) : null,
  };
}

/** Refines one image; see the file comment. */
export async function refineImage(options: RefineImageOptions): Promise<RefineImageResult> {
  await initBackend();
  const config = refineConfig(options.config);
  const size = 64;
  if (options.image.length !== size * size * 3) throw new Gan3dError(`Refinement takes a ${size}×${size} RGB image (${size * size * 3} values), got ${options.image.length}.`, 'BAD_SHAPE');
  if (options.resume && !options.outDir) throw new Gan3dError('Resuming a refinement needs the output folder that holds its checkpoints.', 'BAD_ARGUMENT');
  const names = scheduleNames(config);
  const totalPhases = names.length;
  const model = buildRefineNets(config, options.photogeo?.model);
  const image = tf.tensor4d(options.image, [1, size, size, 3]);
  if (config.projection === 'pretrained' && !options.inversionEncoder) {
    throw new Gan3dError("Projection 'pretrained' needs the GAN's inversion encoder (models/gan-encoder): pass one, or use projection 'encoder'.", 'BAD_ARGUMENT');
  }
  const inv = options.inversionEncoder?.encoder.config;
  if (config.projection === 'pretrained' && inv && (inv.wDim !== options.gan.generator.config.wDim || inv.imageSize !== size)) {
    throw new Gan3dError(
      `The inversion encoder predicts w of width ${inv.wDim} from ${inv.imageSize}×${inv.imageSize} images; refinement needs width ` +
        `${options.gan.generator.config.wDim} (this GAN's) from ${size}×${size}: use the encoder trained for this GAN (gan3d train encoder --gan …).`,
      'MODEL_INCOMPATIBLE',
    );
  }
  let encoder: OffsetPredictor | null = null;
  let projector: LatentProjector | null = null;
  let objectMask: tf.Tensor4D | undefined;
  try {
    const mask = objectMaskOf(options, image, config, size);
    if (mask && config.inputObjectMask) objectMask = tf.tensor4d(mask, [1, size, size, 1]);
    const inputSha256 = imageDigest(options.image);
    let progress: RefineProgressState;
    const peek = options.resume ? await peekRefineState(options.outDir!) : null;
    if (options.resume && !peek) throw new Gan3dError(`Nothing to resume in ${options.outDir}: it holds no refinement checkpoint. Start without --resume.`, 'TRAIN_NO_CHECKPOINT');
    if (peek && peek.progress.inputSha256 !== inputSha256) {
      throw new Gan3dError(`The refinement in ${options.outDir} is of another image: resume it with the same input, or start again with --force.`, 'CHECKPOINT_INCOMPATIBLE');
    }
    const w = peek ? Float32Array.from(peek.progress.w) : await options.projectInput(image);
    projector = new LatentProjector(options.gan.generator, options.gan.discriminator, w, config.offsetDepth, size);
    encoder =
      config.projection === 'pretrained'
        ? new PretrainedOffsets(copyEncoder(options.inversionEncoder!.encoder))
        : new OffsetEncoder((config.seed * 7919 + 17) >>> 0, config.encoderWidth, projector.codeDim);
    const session: RefineSession = { config, model, encoder, projector, image, objectMask, rng: new Rng((config.seed + 0x5eed) >>> 0), bank: emptyBank() };
    const ckptConfig = checkpointConfig(config, model, options, mask);
    if (peek) progress = await loadRefineState(options.outDir!, session, ckptConfig);
    else progress = { phasesDone: 0, history: [], w: Array.from(w), inputSha256, elapsedSeconds: 0 };

    const onProgress = options.onProgress;
    const snapshot = async (name: string) => {
      if (!options.outDir || options.snapshots === false) return;
      await writeSnapshot(path.join(options.outDir, 'stages', name), currentEstimate(session), session);
    };
    const sessionStart = performance.now();
    const before = progress.elapsedSeconds;
    let status: 'completed' | 'interrupted' = 'completed';
    while (progress.phasesDone < totalPhases) {
      if (options.signal?.aborted || (options.stopAfterPhases !== undefined && progress.phasesDone >= options.stopAfterPhases)) {
        status = 'interrupted';
        break;
      }
      const p = progress.phasesDone;
      const t0 = performance.now();
      let losses: number[] = [];
      let stage = -1;
      if (p === 0) {
        if (config.init === 'ellipsoid') {
          const fit = await fitEllipsoid(model, image, mask!, config, (iter, loss) => onProgress?.({ phase: 'ellipsoid', stage: 0, iter, iters: config.ellipsoid.steps, loss }));
          losses = fit.losses;
        }
      } else {
        stage = Math.floor((p - 1) / 3);
        const lengths = stageLengths(config, stage);
        const step = (p - 1) % 3;
        if (step === 0) losses = await runStep1(session, stage, lengths.step1, onProgress);
        else if (step === 1) {
          if (options.bankSource) {
            session.bank = await options.bankSource(stage);
            if (session.bank.count < 1) throw new Gan3dError('bankSource gave an empty bank.', 'BAD_ARGUMENT');
          } else if (config.projection === 'optimize') {
            const r = await optimizeBank(session, stage, lengths.step2, onProgress);
            losses = r.losses;
            session.bank = r.bank;
          } else {
            losses = await runStep2(session, stage, lengths.step2, onProgress);
            session.bank = collectBank(session, stage, onProgress);
          }
        } else losses = await runStep3(session, stage, lengths.step3, onProgress);
      }
      const record: PhaseRecord = {
        name: names[p],
        stage: Math.max(stage, 0),
        iters: losses.length,
        firstLoss: losses.length > 0 ? losses[0] : Number.NaN,
        lastLoss: losses.length > 0 ? losses[losses.length - 1] : Number.NaN,
        seconds: Math.round(((performance.now() - t0) / 1000) * 1000) / 1000,
      };
      progress = {
        ...progress,
        phasesDone: p + 1,
        history: [...progress.history, record],
        elapsedSeconds: before + (performance.now() - sessionStart) / 1000,
      };
      if (options.outDir) await saveRefineState(options.outDir, session, progress, ckptConfig);
      if (p === 0) await snapshot('0-init');
      else if ((p - 1) % 3 === 2) {
        await snapshot(`${stage + 1}-stage${stage + 1}`);
        await options.onStageEnd?.(stage, model, progress.elapsedSeconds);
      }
      options.onPhase?.(record, p + 1, totalPhases);
    }
    const seconds = before + (performance.now() - sessionStart) / 1000;
    let rotation: RefineImageResult['rotation'];
    if (status === 'completed' && options.outDir && options.rotation !== false) {
      const t0 = performance.now();
      const frames = await projectedRotation(session, options.rotation ?? {});
      const files = await writeProjectedRotation(options.outDir, frames);
      rotation = { yawsDeg: frames.yawsDeg, files, seconds: Math.round(performance.now() - t0) / 1000 };
    }
    return {
      status,
      phasesDone: progress.phasesDone,
      totalPhases,
      config,
      estimate: currentEstimate(session),
      history: progress.history,
      w: progress.w,
      seconds,
      ...(options.keepModel ? { model } : {}),
      ...(rotation ? { rotation } : {}),
    };
  } catch (e) {
    if (options.keepModel) model.dispose(); // (otherwise `finally` does)
    throw e;
  } finally {
    if (!options.keepModel) model.dispose();
    encoder?.dispose();
    projector?.dispose();
    objectMask?.dispose();
    image.dispose();
  }
}

/** The input's object mask [S·S] (given, or predicted by the parser) when the config needs one (init 'ellipsoid',
 *  inputObjectMask), else null. */
function objectMaskOf(options: RefineImageOptions, image: tf.Tensor4D, config: RefineConfig, size: number): Float32Array | null {
  if (config.init !== 'ellipsoid' && !config.inputObjectMask) return null;
  const mask = options.mask ?? (options.parser ? (tf.tidy(() => options.parser!.predict(image)).dataSync() as Float32Array) : null);
  if (!mask) {
    const why = config.init === 'ellipsoid' ? 'The ellipsoid initialisation' : 'Refinement with inputObjectMask';
    throw new Gan3dError(`${why} needs an object mask: pass a mask or a parser (models/parser).`, 'BAD_ARGUMENT');
  }
  if (mask.length !== size * size) throw new Gan3dError(`The object mask must have ${size * size} values (${size}×${size}), got ${mask.length}.`, 'BAD_SHAPE');
  return Float32Array.from(mask);
}

/** A trainable copy of an inversion encoder (same config, weights assigned by name). */
function copyEncoder(source: Encoder): Encoder {
  const copy = new Encoder(0, source.config);
  const from = source.namedVariables();
  for (const [name, v] of copy.namedVariables()) v.assign(from.get(name)!);
  return copy;
}
