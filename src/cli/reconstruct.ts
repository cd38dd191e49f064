// `gan3d reconstruct`: image files or folders → one output folder per image (maps, depth, meshes, GIFs, meta.json).
// With --refine, each image is first refined with GAN2Shape (the `gan3d refine` command, src/cli/refine.ts) and the
// same exports are made with the refined per-image model, beside a <name>-refine/ folder.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { DEFAULT_MODEL_DIR } from '../pipelines/model-bundle.js';
import { reconstructImages, type ReconstructResult } from '../pipelines/reconstruct.js';
import { refineCommand, type RefineCommandResult } from './refine.js';

export interface ReconstructCommandOptions {
  out: string;
  model?: string;
  batch?: string;
  crop?: string;
  gifSize?: string;
  force?: boolean;
  /** commander's --no-gif / --no-mesh set these to false. */
  gif?: boolean;
  mesh?: boolean;
  quiet?: boolean;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
  /** --refine and its options: GAN2Shape refinement first (see `gan3d refine`). */
  refine?: boolean;
  gan?: string;
  init?: string;
  projection?: string;
  encoder?: string;
  lambdaProj?: string;
  parser?: string;
  stages?: string;
  stage1?: string;
  later?: string;
  seed?: string;
  invertSteps?: string;
  resume?: boolean;
  /** --no-object-mask (with --refine) sets this to false. */
  objectMask?: boolean;
}

const REFINE_ONLY = ['gan', 'init', 'projection', 'encoder', 'lambdaProj', 'parser', 'stages', 'stage1', 'later', 'seed', 'invertSteps', 'resume'] as const;

/** `reconstruct --refine`: the `refine` command with reconstruct's options (its --batch, images per forward pass,
 *  does not apply: refinement takes one image at a time). */
export async function reconstructRefineCommand(inputs: string[], opts: ReconstructCommandOptions): Promise<RefineCommandResult> {
  return refineCommand(inputs, {
    out: opts.out,
    model: opts.model,
    gan: opts.gan,
    init: opts.init,
    projection: opts.projection,
    encoder: opts.encoder,
    lambdaProj: opts.lambdaProj,
    parser: opts.parser,
    stages: opts.stages,
    stage1: opts.stage1,
    later: opts.later,
    seed: opts.seed,
    invertSteps: opts.invertSteps,
    resume: opts.resume,
    objectMask: opts.objectMask,
    force: opts.force,
    crop: opts.crop,
    gifSize: opts.gifSize,
    gif: opts.gif,
    mesh: opts.mesh,
    quiet: opts.quiet,
    write: opts.write,
  });
}

/** The `reconstruct` action, callable without commander (tests). */
export async function reconstructCommand(inputs: string[], opts: ReconstructCommandOptions): Promise<ReconstructResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  const batch = Number(opts.batch ?? '16');
  if (!(Number.isInteger(batch) && batch >= 1)) throw new Gan3dError(`--batch must be a whole number ≥ 1, got "${opts.batch}".`, 'BAD_ARGUMENT');
  const crop = opts.crop ?? 'center';
  if (crop !== 'center' && crop !== 'none') throw new Gan3dError(`--crop must be center or none, got "${crop}".`, 'BAD_ARGUMENT');
  const gifSize = Number(opts.gifSize ?? '128');
  if (!(Number.isInteger(gifSize) && gifSize >= 16 && gifSize <= 1024)) {
    throw new Gan3dError(`--gif-size must be a whole number of pixels in 16..1024, got "${opts.gifSize}".`, 'BAD_ARGUMENT');
  }
  await initBackend();
  let bar: cliProgress.SingleBar | null = null;
  const showBar = !opts.quiet && process.stderr.isTTY === true;
  try {
    const result = await reconstructImages({
      inputs,
      outDir: opts.out,
      model: opts.model ?? DEFAULT_MODEL_DIR,
      batch,
      crop,
      force: opts.force,
      gif: opts.gif ?? true,
      gifSize,
      mesh: opts.mesh ?? true,
      onStart: (total) => {
        if (!showBar) return;
        bar = new cliProgress.SingleBar(
          { format: 'reconstruct {bar} {value}/{total} images | {name}', hideCursor: true, stream: process.stderr, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { name: '' });
      },
      onProgress: (done, _total, image) => {
        (bar as cliProgress.SingleBar | null)?.update(done, { name: image.name });
      },
    });
    (bar as cliProgress.SingleBar | null)?.stop();
    bar = null;
    const t = result.timings;
    const n = result.images.length;
    const shown = (p: string) => {
      const r = path.relative(process.cwd(), p);
      return r === '' ? '.' : r.startsWith('..') ? p : r;
    };
    if (!opts.quiet) {
      for (const im of result.images.slice(0, 10)) write(`${shown(im.dir)}/  (${im.files.length} files)\n`);
      if (n > 10) write(`… and ${n - 10} more folders in ${shown(opts.out)}/\n`);
    }
    write(
      `Reconstructed ${n} image${n === 1 ? '' : 's'} with model ${result.model.id} in ${(t.totalMs / 1000).toFixed(1)} s ` +
        `(forward ${(t.forwardMs / n).toFixed(1)} ms/image, exports ${(t.exportMs / n).toFixed(0)} ms/image).\n`,
    );
    return result;
  } finally {
    (bar as cliProgress.SingleBar | null)?.stop();
  }
}

export function registerReconstructCommand(program: Command): void {
  program
    .command('reconstruct')
    .description('image(s) → depth, normals, albedo, shading, meshes (GLB/OBJ), rotate/relight GIFs, one folder per image')
    .argument('<inputs...>', 'PNG, JPEG or WebP files, or folders of them (not searched recursively)')
    .requiredOption('-o, --out <dir>', 'output folder: one sub-folder per image, named after the file')
    .option('--model <dir>', 'model bundle, training checkpoint or training run folder', DEFAULT_MODEL_DIR)
    .option('--batch <n>', 'images per forward pass', '16')
    .option('--crop <mode>', 'center: centred square of the shorter side, resized to 64×64; none: whole image resized to 64×64 (stretched)', 'center')
    .option('--force', 'replace existing output folders')
    .option('--no-gif', 'skip rotate.gif and relight.gif')
    .option('--gif-size <px>', 'side of the GIF frames (the 64×64 depth and image are resized and rendered at it)', '128')
    .option('--no-mesh', 'skip mesh.glb and mesh.obj')
    .option('--quiet', 'no progress bar and no per-folder lines')
    .option('--refine', 'refine each image with GAN2Shape first, one at a time (as `gan3d refine`; writes <name>-refine/ too; --batch does not apply)')
    .option('--gan <dir>', 'with --refine: the 2D GAN prior (default models/gan)')
    .option('--init <kind>', 'with --refine: photogeo (start from --model) or ellipsoid (default photogeo)')
    .option('--projection <how>', 'with --refine: Step 2 by the GAN\'s inversion encoder fine-tuned (pretrained, default), a fresh offset encoder (encoder) or per-sample W fits (optimize)')
    .option('--encoder <dir>', 'with --refine --projection pretrained: the GAN\'s inversion encoder (default models/gan-encoder)')
    .option('--lambda-proj <x>', 'with --refine: weight of the projected samples in Step 3 (default 1)')
    .option('--parser <dir>', 'with --refine: the object-mask parser (default models/parser)')
    .option('--no-object-mask', 'with --refine: fit the input over the render\'s mask alone, not also the parser\'s object mask')
    .option('--stages <n>', 'with --refine: stages of Step 1 → 2 → 3')
    .option('--stage1 <a,b,c>', 'with --refine: iterations of Steps 1, 2, 3 in the first stage')
    .option('--later <a,b,c>', 'with --refine: iterations of Steps 1, 2, 3 in later stages')
    .option('--seed <s>', 'with --refine: seed of the refinement')
    .option('--invert-steps <n>', 'with --refine: Adam steps of the W-space inversion of the input')
    .option('--resume', 'with --refine: continue the refinements in <out>/<name>-refine/')
    .action(async (inputs: string[], opts: ReconstructCommandOptions) => {
      if (opts.refine) {
        await reconstructRefineCommand(inputs, opts);
        return;
      }
      const stray: string[] = REFINE_ONLY.filter((k) => opts[k] !== undefined);
      if (opts.objectMask === false) stray.push('noObjectMask');
      if (stray.length > 0) {
        const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        throw new Gan3dError(`${stray.map(flag).join(', ')} only apply with --refine.`, 'BAD_ARGUMENT');
      }
      await reconstructCommand(inputs, opts);
    });
}
