// `gan3d invert`: image files or folders → latents of a trained GAN (src/pipelines/invert.ts), one folder per image:
//   latent.json        w_start (encoder or mean w), w (W stage), w_plus (W+ stage, one w per layer), PSNR and loss per
//                      stage, the GAN's and the encoder's ids, the noise; `generator.synthesize(w_plus)` redraws
//                      reconstruction.png
//   reconstruction.png G(w_plus), the final reconstruction
//   side_by_side.png   input | start (encoder, or the mean w) | W | W+
//   meta.json          input, crop, models, settings, timings
// Inputs are read like `gan3d reconstruct` reads them (centre square, resized to the GAN's resolution). Existing
// output folders are refused unless --force; each folder is written under a temp name and renamed into place.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { readImage, type CropMode } from '../io/image.js';
import { encodePng8, signedToUint8 } from '../io/png.js';
import { gan3dVersion } from '../io/version.js';
import { DEFAULT_ENCODER_DIR, encoderGanWarning, loadEncoderModel, type LoadedEncoder } from '../pipelines/encoder-bundle.js';
import { DEFAULT_GAN_DIR, loadGanModel } from '../pipelines/gan-bundle.js';
import { INVERSION_DEFAULTS, invertImages, mean, type InversionConfig, type InversionResult } from '../pipelines/invert.js';
import { listInputFiles, outputNames } from '../pipelines/reconstruct.js';
import { tileGrid } from '../train/grid.js';

export interface InvertCommandOptions {
  out: string;
  /** GAN bundle, checkpoint or run (default models/gan). */
  model?: string;
  /** Encoder bundle, checkpoint or run; false (--no-encoder): start from the mean w. Default: models/gan-encoder when it exists. */
  encoder?: string | false;
  stepsW?: string;
  stepsWplus?: string;
  lr?: string;
  lrWplus?: string;
  lambdaFeat?: string;
  lambdaReg?: string;
  noise?: string;
  seed?: string;
  batch?: string;
  crop?: string;
  force?: boolean;
  quiet?: boolean;
  /** Not on the command line: where the summary goes (default stdout) and warnings go (default stderr). */
  write?: (text: string) => void;
  warn?: (text: string) => void;
}

export interface InvertedImage {
  input: string;
  name: string;
  dir: string;
  files: string[];
  psnr: { start: number; w: number; wPlus: number };
}

export interface InvertCommandResult {
  images: InvertedImage[];
  gan: string;
  encoder: string | null;
  warnings: string[];
  config: InversionConfig;
  totalMs: number;
  mean: { start: number; w: number; wPlus: number };
}

const OUTPUT_FILES = ['latent.json', 'reconstruction.png', 'side_by_side.png', 'meta.json'];

function parseCount(flag: string, raw: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min || v > max) {
    throw new Gan3dError(`--${flag} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, got "${raw}".`, 'BAD_ARGUMENT');
  }
  return v;
}

function parseNumber(flag: string, raw: string | undefined, positive: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (positive ? v <= 0 : v < 0)) {
    throw new Gan3dError(`--${flag} must be a ${positive ? 'positive number' : 'number ≥ 0'}, got "${raw}".`, 'BAD_ARGUMENT');
  }
  return v;
}

async function statOf(p: string): Promise<fsSync.Stats | null> {
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}

const shown = (p: string) => {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

const round = (v: number, digits = 3) => Number(v.toFixed(digits));

/** The inversion settings the flags give (defaults from INVERSION_DEFAULTS). */
function configFromFlags(opts: InvertCommandOptions): Partial<InversionConfig> {
  const c: Partial<InversionConfig> = {};
  const set = <K extends keyof InversionConfig>(k: K, v: InversionConfig[K] | undefined) => {
    if (v !== undefined) c[k] = v;
  };
  set('stepsW', parseCount('steps-w', opts.stepsW, 0, 100000));
  set('stepsWPlus', parseCount('steps-wplus', opts.stepsWplus, 0, 100000));
  set('lrW', parseNumber('lr', opts.lr, true));
  set('lrWPlus', parseNumber('lr-wplus', opts.lrWplus, true));
  set('lambdaFeat', parseNumber('lambda-feat', opts.lambdaFeat, false));
  set('lambdaReg', parseNumber('lambda-reg', opts.lambdaReg, false));
  set('seed', parseCount('seed', opts.seed, 0, 0xffff_ffff));
  set('batch', parseCount('batch', opts.batch, 1, 1024));
  if (opts.noise !== undefined) {
    if (opts.noise !== 'none' && opts.noise !== 'fixed') throw new Gan3dError(`--noise must be none or fixed, got "${opts.noise}".`, 'BAD_ARGUMENT');
    c.noise = opts.noise;
  }
  return c;
}

async function moveIntoPlace(tmpDir: string, finalDir: string, force: boolean): Promise<void> {
  if (await statOf(finalDir)) {
    if (!force) throw new Gan3dError(`Output folder ${finalDir} appeared while writing; pass --force to replace it.`, 'OUTPUT_EXISTS');
    const aside = `${tmpDir}.old`;
    await fs.rename(finalDir, aside);
    await fs.rename(tmpDir, finalDir);
    await fs.rm(aside, { recursive: true, force: true });
  } else {
    await fs.rename(tmpDir, finalDir);
  }
}

/** The `invert` action, callable without commander (tests). */
export async function invertCommand(inputs: string[], opts: InvertCommandOptions): Promise<InvertCommandResult> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  const warn = opts.warn ?? ((t: string) => process.stderr.write(`gan3d: ${t}\n`));
  const t0 = performance.now();
  // Cheap checks first: flags, inputs, output clashes; then the models; then the pixels.
  const flagged = configFromFlags(opts);
  const crop = (opts.crop ?? 'center') as CropMode;
  if (crop !== 'center' && crop !== 'none') throw new Gan3dError(`--crop must be center or none, got "${String(opts.crop)}".`, 'BAD_ARGUMENT');
  if (inputs.length === 0) throw new Gan3dError('Give at least one image file or folder to invert.', 'BAD_ARGUMENT');
  const files = await listInputFiles(inputs);
  const names = outputNames(files);
  const outDir = path.resolve(opts.out);
  const st = await statOf(outDir);
  if (st && !st.isDirectory()) throw new Gan3dError(`Output ${opts.out} is a file; give a folder with -o.`, 'IO_NOT_A_FOLDER');
  if (st && !opts.force) {
    const clashes = [];
    for (const n of names) if (await statOf(path.join(outDir, n))) clashes.push(n);
    if (clashes.length > 0) {
      const list = clashes.slice(0, 10).join(', ') + (clashes.length > 10 ? ` and ${clashes.length - 10} more` : '');
      throw new Gan3dError(
        `${opts.out} already has output folders for ${clashes.length} of the ${files.length} inputs (${list}). Pass --force to replace them, or choose another -o.`,
        'OUTPUT_EXISTS',
      );
    }
  }
  let encoderSource: string | null = null;
  if (typeof opts.encoder === 'string') encoderSource = opts.encoder;
  else if (opts.encoder === undefined && (await statOf(path.join(DEFAULT_ENCODER_DIR, 'model.json')))) encoderSource = DEFAULT_ENCODER_DIR;

  await initBackend();
  const gan = await loadGanModel(opts.model ?? DEFAULT_GAN_DIR);
  let encoder: LoadedEncoder | null = null;
  let bar: cliProgress.SingleBar | null = null;
  const warnings: string[] = [];
  try {
    encoder = encoderSource !== null ? await loadEncoderModel(encoderSource) : null;
    const w = encoder ? encoderGanWarning(encoder, gan.id) : null;
    if (w) {
      warnings.push(w);
      warn(w);
    }
    const R = gan.config.resolution;
    const per = R * R * 3;
    // Decode every input first: an unreadable one is reported before any work or output.
    const pixels = new Float32Array(files.length * per);
    for (let i = 0; i < files.length; i++) pixels.set((await readImage(files[i], { crop, size: R })).data, i * per);

    const config = { ...INVERSION_DEFAULTS, ...flagged };
    const total = files.length;
    if (!opts.quiet && process.stderr.isTTY === true) {
      bar = new cliProgress.SingleBar(
        { format: 'invert {bar} {value}/{total} images | {stage} {step} | ETA {eta_formatted}', hideCursor: true, stream: process.stderr, etaBuffer: 20 },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { stage: '', step: '' });
    }
    const images: InvertedImage[] = [];
    const all = { start: [] as number[], w: [] as number[], wPlus: [] as number[] };
    await fs.mkdir(outDir, { recursive: true });
    for (let done = 0; done < total; done += config.batch) {
      const b = Math.min(config.batch, total - done);
      const r = await invertImages(gan, pixels.subarray(done * per, (done + b) * per), b, {
        encoder: encoder?.encoder,
        config,
        indexOffset: done,
        onProgress: (p) => bar?.update(done, { stage: p.stage, step: p.steps > 0 ? `${p.step}/${p.steps}` : '' }),
      });
      for (let k = 0; k < b; k++) {
        const i = done + k;
        images.push(await writeImageFolder({ outDir, file: files[i], name: names[i], index: i, k, r, input: pixels.subarray(i * per, (i + 1) * per), gan, encoder, crop, force: opts.force ?? false }));
        all.start.push(r.stages.start.psnr[k]);
        all.w.push(r.stages.w.psnr[k]);
        all.wPlus.push(r.stages.wPlus.psnr[k]);
      }
      bar?.update(done + b, { stage: '', step: '' });
    }
    bar?.stop();
    bar = null;
    const totalMs = performance.now() - t0;
    const m = { start: round(mean(all.start), 2), w: round(mean(all.w), 2), wPlus: round(mean(all.wPlus), 2) };
    if (!opts.quiet) {
      for (const im of images.slice(0, 10)) write(`${shown(im.dir)}/  PSNR ${im.psnr.start.toFixed(2)} → ${im.psnr.w.toFixed(2)} → ${im.psnr.wPlus.toFixed(2)} dB\n`);
      if (images.length > 10) write(`… and ${images.length - 10} more folders in ${shown(outDir)}/\n`);
    }
    const n = images.length;
    write(
      `Inverted ${n} image${n === 1 ? '' : 's'} into GAN "${gan.id}" (start: ${encoder ? `encoder "${encoder.id}"` : 'mean w'}; ` +
        `${config.stepsW} W + ${config.stepsWPlus} W+ steps) in ${(totalMs / 1000).toFixed(1)} s (${(totalMs / 1000 / n).toFixed(2)} s/image): ` +
        `mean PSNR start ${m.start} dB, W ${m.w} dB, W+ ${m.wPlus} dB.\n`,
    );
    return { images, gan: gan.id, encoder: encoder?.id ?? null, warnings, config, totalMs, mean: m };
  } finally {
    bar?.stop();
    encoder?.dispose();
    gan.dispose();
  }
}

interface WriteContext {
  outDir: string;
  file: string;
  name: string;
  /** Index in the whole call, and in the batch result. */
  index: number;
  k: number;
  r: InversionResult;
  input: Float32Array;
  gan: Awaited<ReturnType<typeof loadGanModel>>;
  encoder: LoadedEncoder | null;
  crop: CropMode;
  force: boolean;
}

async function writeImageFolder(c: WriteContext): Promise<InvertedImage> {
  const { r, k } = c;
  const R = r.resolution;
  const per = R * R * 3;
  const { wDim, numWs } = r;
  const img = (a: Float32Array) => a.subarray(k * per, (k + 1) * per);
  const label = (what: string) => `${c.file} ${what}`;
  const recon = await encodePng8(signedToUint8(img(r.images.wPlus), label('reconstruction')), R, R, 3);
  const one = (name: string, data: Float32Array) => ({ name, images: { data: Float32Array.from(data), shape: [1, R, R, 3] } });
  const side = await tileGrid([
    one('input', c.input),
    one(r.start === 'encoder' ? 'encoder' : r.start === 'given' ? 'start' : 'mean w', img(r.images.start)),
    one('W', img(r.images.w)),
    one('W+', img(r.images.wPlus)),
  ]);
  const psnr = { start: r.stages.start.psnr[k], w: r.stages.w.psnr[k], wPlus: r.stages.wPlus.psnr[k] };
  const vec = (a: Float32Array, offset: number, length: number) => Array.from(a.subarray(offset, offset + length));
  const ganRecord = { id: c.gan.id, source: c.gan.meta.source, path: path.resolve(c.gan.meta.path), step: c.gan.meta.training.step ?? null };
  const encoderRecord = c.encoder ? { id: c.encoder.id, source: c.encoder.meta.source, path: path.resolve(c.encoder.meta.path), trainedForGan: c.encoder.gan.id } : null;
  const noise = r.config.noise === 'fixed' ? { mode: 'fixed', seed: (r.config.seed + c.index) >>> 0, maps: 'Rng(seed).normalArray(h·w) per noise layer, in synthesis order' } : { mode: 'none' };
  const latent = {
    format: 'gan3d-latent',
    formatVersion: 1,
    input: c.file,
    name: c.name,
    gan: ganRecord,
    encoder: encoderRecord,
    start: r.start,
    resolution: R,
    wDim,
    numWs,
    noise,
    psnr: { start: round(psnr.start), w: round(psnr.w), w_plus: round(psnr.wPlus) },
    loss: {
      w: { start: round(r.stages.w.lossStart[k], 6), end: round(r.stages.w.lossEnd[k], 6) },
      w_plus: { start: round(r.stages.wPlus.lossStart[k], 6), end: round(r.stages.wPlus.lossEnd[k], 6) },
    },
    usage: 'generator.synthesize(w_plus as [1, numWs, wDim]) with the recorded noise draws reconstruction.png (before clamping to [-1, 1]); w as [1, wDim] draws the W column',
    w_start: vec(r.wStart, k * wDim, wDim),
    w: vec(r.w, k * wDim, wDim),
    w_plus: Array.from({ length: numWs }, (_, l) => vec(r.wPlus, (k * numWs + l) * wDim, wDim)),
  };
  const b = r.n;
  const ms = (x: number) => round(x / b, 1);
  const meta = {
    input: c.file,
    name: c.name,
    crop: {
      mode: c.crop,
      size: R,
      description: c.crop === 'center' ? `centred square of side min(width, height), resized to ${R}×${R} (lanczos3)` : `whole image resized to ${R}×${R} (lanczos3), stretched if not square`,
    },
    gan: ganRecord,
    encoder: encoderRecord,
    inversion: r.config,
    loss: 'mean |G(w) − x| + lambdaFeat · Σ_k mean |D_k(G(w)) − D_k(x)| + lambdaReg · mean (w − w_stage_start)² (GAN2Shape Step 2)',
    psnr: latent.psnr,
    timingsMs: { start: ms(r.stages.start.ms), w: ms(r.stages.w.ms), wPlus: ms(r.stages.wPlus.ms), total: ms(r.totalMs) },
    timingsNote: `this image's share of its batch of ${b} (images are optimised together)`,
    files: OUTPUT_FILES,
    gan3d: gan3dVersion(),
    createdAt: new Date().toISOString(),
  };
  const finalDir = path.join(c.outDir, c.name);
  const tmpDir = path.join(c.outDir, `.${c.name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmpDir);
  try {
    await fs.writeFile(path.join(tmpDir, 'latent.json'), `${JSON.stringify(latent, null, 2)}\n`);
    await fs.writeFile(path.join(tmpDir, 'reconstruction.png'), recon);
    await fs.writeFile(path.join(tmpDir, 'side_by_side.png'), side);
    await fs.writeFile(path.join(tmpDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    await moveIntoPlace(tmpDir, finalDir, c.force);
  } catch (e) {
    await fs.rm(tmpDir, { recursive: true, force: true });
    throw e;
  }
  return { input: c.file, name: c.name, dir: finalDir, files: OUTPUT_FILES, psnr };
}

export function registerInvertCommand(program: Command): void {
  const d = INVERSION_DEFAULTS;
  program
    .command('invert')
    .description('image(s) → GAN latents (encoder, then W, then W+ optimisation): latent.json, reconstruction.png, side_by_side.png, meta.json per image')
    .argument('<inputs...>', 'PNG, JPEG or WebP files, or folders of them (not searched recursively)')
    .requiredOption('-o, --out <dir>', 'output folder: one sub-folder per image, named after the file')
    .option('--model <dir>', 'GAN bundle, training checkpoint or training run folder', DEFAULT_GAN_DIR)
    .option('--encoder <dir>', `encoder bundle, checkpoint or run that predicts the starting w (default: ${DEFAULT_ENCODER_DIR} when it exists)`)
    .option('--no-encoder', 'start from the GAN\'s mean w')
    .option('--steps-w <n>', 'Adam steps in W (one w per image)', String(d.stepsW))
    .option('--steps-wplus <n>', 'Adam steps in W+ (one w per layer), after W', String(d.stepsWPlus))
    .option('--lr <rate>', 'peak step size of the W stage', String(d.lrW))
    .option('--lr-wplus <rate>', 'peak step size of the W+ stage', String(d.lrWPlus))
    .option('--lambda-feat <w>', 'weight of the discriminator-feature L1 (GAN2Shape: 1)', String(d.lambdaFeat))
    .option('--lambda-reg <w>', 'weight of the latent regulariser mean (w − stage start)² (GAN2Shape: 0.01)', String(d.lambdaReg))
    .option('--noise <mode>', 'per-layer noise of the generator: none or fixed (seeded)', d.noise)
    .option('--seed <s>', 'seed of the fixed noise (image i uses seed + i)', String(d.seed))
    .option('--batch <n>', 'images optimised together', String(d.batch))
    .option('--crop <mode>', 'center: centred square of the shorter side, resized to the GAN\'s resolution; none: whole image (stretched)', 'center')
    .option('--force', 'replace existing output folders')
    .option('--quiet', 'no progress bar and no per-folder lines')
    .action(async (inputs: string[], opts: InvertCommandOptions) => {
      await invertCommand(inputs, opts);
    });
}
