// `gan3d refine <images…> -o out/`: GAN2Shape refinement of each image (src/pipelines/refine), then every export of
// `gan3d reconstruct` made with the refined per-image model. Per image:
//   <out>/<name>/            what `reconstruct` writes (depth, normals, albedo, shading, meshes, GIFs, meta.json)
//   <out>/<name>-refine/     checkpoints/ (one per finished step: `--resume` continues from there), stages/ (the
//                            snapshot PNGs after the init and each stage), projected_rotate.gif/.png (the refined
//                            shape at a yaw sweep projected onto the GAN, C.10), refine.json (config, per-step losses
//                            and times, the input's latent)
// `gan3d reconstruct --refine` runs this command (src/cli/reconstruct.ts).
// The input's latent w comes from GAN inversion in W (src/pipelines/invert.ts, the W stage only: GAN2Shape's offset
// is one w for every layer).
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readImage, type CropMode } from '../io/image.js';
import { gan3dVersion } from '../io/version.js';
import { DEFAULT_GAN_DIR, loadGanModel } from '../pipelines/gan-bundle.js';
import { DEFAULT_MODEL_DIR, loadPhotoGeoModel, type LoadedPhotoGeoModel } from '../pipelines/model-bundle.js';
import { DEFAULT_PARSER_DIR, loadParserModel, type LoadedParser } from '../pipelines/parser-bundle.js';
import { listInputFiles, outputNames, reconstructImages } from '../pipelines/reconstruct.js';
import { DEFAULT_ENCODER_DIR, encoderGanWarning, loadEncoderModel, type LoadedEncoder } from '../pipelines/encoder-bundle.js';
import {
  DEFAULT_INVERT_STEPS,
  OPTIMIZE_BATCH,
  REFINE_PROJECTIONS,
  inversionProjector,
  peekRefineState,
  refineConfig,
  refineImage,
  stageLengths,
  type RefineConfig,
  type RefineImageResult,
  type RefineOverrides,
  type RefineProjection,
} from '../pipelines/refine/index.js';

export interface RefineCommandOptions {
  out: string;
  gan?: string;
  model?: string;
  parser?: string;
  init?: string;
  projection?: string;
  /** The GAN's inversion encoder for --projection pretrained (default models/gan-encoder). */
  encoder?: string;
  lambdaProj?: string;
  stages?: string;
  stage1?: string;
  later?: string;
  batch?: string;
  collect?: string;
  seed?: string;
  invertSteps?: string;
  /** Largest yaw of the GAN-projected rotation sweep, degrees (default 60); 0 skips the sweep. */
  rotateYaw?: string;
  /** How the input is cut to 64×64 (reconstruct's --crop; default center). */
  crop?: string;
  /** Side of the GIF frames of the reconstruct exports (reconstruct's --gif-size; default 128). */
  gifSize?: string;
  resume?: boolean;
  force?: boolean;
  /** commander's --no-object-mask sets this to false: the input's reconstruction terms use the render's mask alone. */
  objectMask?: boolean;
  /** commander's --no-gif / --no-mesh set these to false. */
  gif?: boolean;
  mesh?: boolean;
  quiet?: boolean;
  /** Not on the command line: refinement overrides on top of the flags (tests run tiny schedules). */
  config?: RefineOverrides;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
}

export interface RefineCommandResult {
  images: { name: string; dir: string; refineDir: string; result: RefineImageResult }[];
}

function whole(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new Gan3dError(`--${name} must be a whole number ≥ ${min}, got "${raw}".`, 'BAD_ARGUMENT');
  return v;
}

function lengths(name: string, raw: string | undefined): { step1: number; step2: number; step3: number } | undefined {
  if (raw === undefined) return undefined;
  const v = raw.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (v.length !== 3 || !v.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new Gan3dError(`--${name} must be three whole numbers "step1,step2,step3" (iterations), got "${raw}".`, 'BAD_ARGUMENT');
  }
  return { step1: v[0], step2: v[1], step3: v[2] };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Iterations of each schedule step (init, then Step 1, Step 2 + bank, Step 3 per stage), for the progress bar. */
function phaseIterations(c: RefineConfig): number[] {
  const out = [c.init === 'ellipsoid' ? c.ellipsoid.steps : 0];
  for (let k = 0; k < c.stages; k++) {
    const l = stageLengths(c, k);
    const step2 = c.projection === 'optimize' ? l.step2 * Math.ceil((c.collectIters * c.batch) / OPTIMIZE_BATCH) : l.step2 + c.collectIters;
    out.push(l.step1, step2, l.step3);
  }
  return out;
}

const shown = (p: string) => {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

/** The `refine` action, callable without commander (tests). */
export async function refineCommand(inputs: string[], opts: RefineCommandOptions): Promise<RefineCommandResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  if (opts.resume && opts.force) throw new Gan3dError('--resume continues a refinement and --force deletes it: give one of them.', 'BAD_ARGUMENT');
  const init = opts.init ?? 'photogeo';
  if (init !== 'photogeo' && init !== 'ellipsoid') throw new Gan3dError(`--init must be photogeo or ellipsoid, got "${init}".`, 'BAD_ARGUMENT');
  const projection = opts.projection ?? 'pretrained';
  if (!(REFINE_PROJECTIONS as readonly string[]).includes(projection)) {
    throw new Gan3dError(`--projection must be ${REFINE_PROJECTIONS.join(', ')}, got "${projection}".`, 'BAD_ARGUMENT');
  }
  const flagged: RefineOverrides = { init, projection: projection as RefineProjection };
  const set = <K extends keyof RefineOverrides>(k: K, v: RefineOverrides[K] | undefined) => {
    if (v !== undefined) flagged[k] = v;
  };
  set('stages', whole('stages', opts.stages, 1));
  set('firstStage', lengths('stage1', opts.stage1));
  set('laterStages', lengths('later', opts.later));
  set('batch', whole('batch', opts.batch, 1));
  set('collectIters', whole('collect', opts.collect, 1));
  set('seed', whole('seed', opts.seed, 0));
  if (opts.objectMask === false) flagged.inputObjectMask = false;
  if (opts.lambdaProj !== undefined) {
    const v = Number(opts.lambdaProj);
    if (opts.lambdaProj.trim() === '' || !(v >= 0 && Number.isFinite(v))) throw new Gan3dError(`--lambda-proj must be a number ≥ 0, got "${opts.lambdaProj}".`, 'BAD_ARGUMENT');
    flagged.lambdaProj = v;
  }
  const config = refineConfig({ ...flagged, ...opts.config });
  const invertSteps = whole('invert-steps', opts.invertSteps, 1) ?? DEFAULT_INVERT_STEPS;
  const rotateYaw = Number(opts.rotateYaw ?? '60');
  if (!(opts.rotateYaw === undefined || (opts.rotateYaw.trim() !== '' && rotateYaw >= 0 && rotateYaw <= 90))) {
    throw new Gan3dError(`--rotate-yaw must be a number of degrees in 0..90, got "${opts.rotateYaw}".`, 'BAD_ARGUMENT');
  }
  const crop = opts.crop ?? 'center';
  if (crop !== 'center' && crop !== 'none') throw new Gan3dError(`--crop must be center or none, got "${crop}".`, 'BAD_ARGUMENT');
  const gifSize = whole('gif-size', opts.gifSize, 16) ?? 128;
  if (gifSize > 1024) throw new Gan3dError(`--gif-size must be a whole number of pixels in 16..1024, got "${opts.gifSize}".`, 'BAD_ARGUMENT');

  const files = await listInputFiles(inputs);
  const names = outputNames(files);
  const lower = names.map((n) => n.toLowerCase());
  const clash = files.find((_, i) => path.parse(files[i]).name.toLowerCase() !== lower[i]);
  if (clash) throw new Gan3dError(`Two inputs are named like ${path.parse(clash).name}: give images with distinct file names.`, 'BAD_ARGUMENT');
  for (const name of names) {
    const dirs = [path.join(opts.out, name), path.join(opts.out, `${name}-refine`)];
    if (opts.resume) {
      if (!(await exists(path.join(dirs[1], 'checkpoints')))) throw new Gan3dError(`Nothing to resume for ${name}: ${dirs[1]}/checkpoints is missing. Start without --resume.`, 'TRAIN_NO_CHECKPOINT');
    } else if (!opts.force) {
      const found = [];
      for (const d of dirs) if (await exists(d)) found.push(shown(d));
      if (found.length > 0) throw new Gan3dError(`${found.join(' and ')} already exist: pass --resume to continue the refinement or --force to start over.`, 'OUTPUT_EXISTS');
    }
  }

  await initBackend();
  const gan = await loadGanModel(opts.gan ?? DEFAULT_GAN_DIR);
  let photogeo: LoadedPhotoGeoModel | null = null;
  let parser: LoadedParser | null = null;
  let encoder: LoadedEncoder | null = null;
  const out: RefineCommandResult = { images: [] };
  const showBar = !opts.quiet && process.stderr.isTTY === true;
  try {
    if (config.init === 'photogeo') photogeo = await loadPhotoGeoModel(opts.model ?? DEFAULT_MODEL_DIR);
    if (config.init === 'ellipsoid' || config.inputObjectMask) parser = await loadParserModel(opts.parser ?? DEFAULT_PARSER_DIR);
    if (config.projection === 'pretrained') {
      try {
        encoder = await loadEncoderModel(opts.encoder ?? DEFAULT_ENCODER_DIR);
      } catch (e) {
        if (e instanceof Gan3dError && e.code === 'MODEL_NOT_FOUND') throw new Gan3dError(`${e.message} (Or refine with --projection encoder, which needs none.)`, e.code);
        throw e;
      }
      const warning = encoderGanWarning(encoder, gan.id);
      if (warning) process.stderr.write(`${warning}\n`);
    }
    const invert = inversionProjector(gan, invertSteps);
    for (let i = 0; i < files.length; i++) {
      const name = names[i];
      const dir = path.join(opts.out, name);
      const refineDir = path.join(opts.out, `${name}-refine`);
      if (opts.force) await fs.rm(refineDir, { recursive: true, force: true });
      const image = (await readImage(files[i], { size: 64, crop: crop as CropMode })).data;
      const iters = phaseIterations(config);
      const total = iters.reduce((a, b) => a + b, 0);
      const peek = opts.resume ? await peekRefineState(refineDir) : null;
      let done = iters.slice(0, peek?.progress.phasesDone ?? 0).reduce((a, b) => a + b, 0);
      let bar: cliProgress.SingleBar | null = null;
      if (showBar) {
        bar = new cliProgress.SingleBar(
          { format: `refine ${name} {bar} {value}/{total} | {phase} | loss {loss} | ETA {eta_formatted}`, hideCursor: true, stream: process.stderr, etaBuffer: 50 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, done, { phase: peek ? 'resuming' : 'inverting', loss: '-' });
      }
      let result: RefineImageResult;
      let invertSeconds = 0;
      try {
        result = await refineImage({
          image,
          gan: { generator: gan.generator, discriminator: gan.discriminator, id: gan.id },
          projectInput: async (x) => {
            const t0 = performance.now();
            const w = await invert(x);
            invertSeconds = (performance.now() - t0) / 1000;
            return w;
          },
          config,
          photogeo: photogeo ? { model: photogeo.model, id: photogeo.id } : undefined,
          parser: parser?.model,
          inversionEncoder: encoder ? { encoder: encoder.encoder, id: encoder.id } : undefined,
          outDir: refineDir,
          resume: opts.resume,
          keepModel: true,
          rotation: rotateYaw > 0 ? { maxYawDeg: rotateYaw } : false,
          onProgress: (p) => {
            done++;
            bar?.update(done, { phase: `stage ${p.stage + 1} ${p.phase} ${p.iter}/${p.iters}`, loss: Number.isFinite(p.loss) ? p.loss.toPrecision(4) : '-' });
          },
        });
      } finally {
        bar?.stop();
      }
      const model = result.model!;
      try {
        const id = `refined-${name}`.replace(/[^A-Za-z0-9._@+-]/g, '_');
        await reconstructImages({
          inputs: [files[i]],
          outDir: opts.out,
          model: {
            model,
            id,
            config: model.config,
            meta: { source: 'checkpoint', path: path.resolve(refineDir), training: { refine: config, gan: gan.id, photogeo: photogeo?.id ?? null, parser: parser?.id ?? null }, createdAt: new Date().toISOString(), gan3dVersion: gan3dVersion() },
          },
          batch: 1,
          crop: crop as CropMode,
          force: true,
          gif: opts.gif ?? true,
          gifSize,
          mesh: opts.mesh ?? true,
        });
      } finally {
        model.dispose();
      }
      const report = {
        input: path.resolve(files[i]),
        gan: gan.id,
        photogeo: photogeo?.id ?? null,
        parser: parser?.id ?? null,
        encoder: encoder?.id ?? null,
        config,
        seconds: Math.round(result.seconds * 1000) / 1000,
        // The W-space inversion of the input before the schedule (0 on resume: w is in the checkpoint).
        invertSeconds: Math.round(invertSeconds * 1000) / 1000,
        invertSteps,
        history: result.history,
        rotation: result.rotation ?? null,
        w: result.w,
        gan3d: gan3dVersion(),
      };
      await writeFileAtomic(path.join(refineDir, 'refine.json'), `${JSON.stringify(report, null, 2)}\n`, { force: true });
      out.images.push({ name, dir, refineDir, result: { ...result, model: undefined } });
      if (!opts.quiet) write(`${shown(dir)}/ and ${shown(refineDir)}/ (${config.init} init, ${result.seconds.toFixed(1)} s)\n`);
    }
    write(`Refined ${files.length} image${files.length === 1 ? '' : 's'} with GAN ${gan.id} (${config.stages} stage${config.stages === 1 ? '' : 's'}, batch ${config.batch}, bank ${config.collectIters * config.batch}).\n`);
    return out;
  } finally {
    gan.dispose();
    photogeo?.model.dispose();
    parser?.model.dispose();
    encoder?.dispose();
  }
}

export function registerRefineCommand(program: Command): void {
  program
    .command('refine')
    .description('GAN2Shape refinement: per-image depth, albedo, light and view sharpened with the GAN prior, then every reconstruct export')
    .argument('<inputs...>', 'PNG, JPEG or WebP files, or folders of them (centre square, resized to 64×64)')
    .requiredOption('-o, --out <dir>', 'output folder: <name>/ (the reconstruct exports) and <name>-refine/ (checkpoints, stage snapshots)')
    .option('--gan <dir>', 'the 2D GAN prior: bundle, checkpoint or run folder', DEFAULT_GAN_DIR)
    .option('--init <kind>', 'photogeo: start from the amortized model; ellipsoid: fresh nets, depth fitted to the parser mask\'s ellipsoid', 'photogeo')
    .option('--model <dir>', 'the photogeo model to start from (--init photogeo)', DEFAULT_MODEL_DIR)
    .option('--parser <dir>', 'the object-mask parser (the input\'s mask and --init ellipsoid\'s prior)', DEFAULT_PARSER_DIR)
    .option('--no-object-mask', 'fit the input over the render\'s mask alone, not also the parser\'s object mask')
    .option(
      '--projection <how>',
      'Step 2: pretrained (fine-tune a copy of the GAN\'s inversion encoder, --encoder), encoder (train a fresh latent-offset encoder, the paper\'s C.4) or optimize (fit each bank sample in W; step-2 length = Adam steps per sample)',
      'pretrained',
    )
    .option('--encoder <dir>', 'the GAN\'s inversion encoder, for --projection pretrained', DEFAULT_ENCODER_DIR)
    .option('--lambda-proj <x>', 'weight of the projected samples in Step 3 (default 1; 0: the input alone)')
    .option('--stages <n>', 'stages of Step 1 → 2 → 3 (default 2)')
    .option('--stage1 <a,b,c>', 'iterations of Steps 1, 2, 3 in the first stage (default 100,100,100)')
    .option('--later <a,b,c>', 'iterations of Steps 1, 2, 3 in later stages (default 50,60,80)')
    .option('--batch <n>', 'pseudo-samples per Step-2 and projected samples per Step-3 iteration (default 4)')
    .option('--collect <n>', 'Step-2 batches projected into the bank after each Step 2 (default 8)')
    .option('--seed <s>', 'seed of the nets, encoder, pseudo-samples and bank order (default 0)')
    .option('--invert-steps <n>', 'Adam steps of the W-space inversion of the input (default 100)')
    .option('--rotate-yaw <deg>', 'largest yaw of the GAN-projected rotation frames (projected_rotate.gif/.png; 0: none)', '60')
    .option('--resume', 'continue from the refinement checkpoints in <out>/<name>-refine/')
    .option('--force', 'replace existing outputs')
    .option('--no-gif', 'skip rotate.gif and relight.gif')
    .option('--no-mesh', 'skip mesh.glb and mesh.obj')
    .option('--quiet', 'no progress bar and no per-image lines')
    .action(async (inputs: string[], opts: RefineCommandOptions) => {
      await refineCommand(inputs, opts);
    });
}
