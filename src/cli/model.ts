// `gan3d model export`: a training checkpoint (or a run's newest) → a model bundle (model.json + weights.bin). The kind
// (photogeo, GAN or GAN-inversion encoder) is read from the source unless --kind names it; a GAN bundle holds the EMA
// generator, its mean w and the discriminator (src/pipelines/gan-bundle.ts); an encoder bundle records the id of the
// GAN it was trained for (src/pipelines/encoder-bundle.ts).
import type { Command } from 'commander';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import { DEFAULT_GAN_DIR, GAN_KIND, detectModelKind, exportGanBundle } from '../pipelines/gan-bundle.js';
import { DEFAULT_MODEL_DIR, exportPhotoGeoBundle } from '../pipelines/model-bundle.js';
import { DEFAULT_ENCODER_DIR, exportEncoderBundle } from '../pipelines/encoder-bundle.js';
import { ENCODER_KIND } from '../pipelines/train-encoder.js';

export interface ModelExportOptions {
  /** Bundle folder (default: models/photogeo, or models/gan for a GAN). */
  out?: string;
  id?: string;
  force?: boolean;
  /** photogeo, gan (or stylegan), encoder; default: the kind the source declares. */
  kind?: string;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
}

const KINDS = ['photogeo', 'gan', GAN_KIND, ENCODER_KIND];

/** The `model export` action, callable without commander (tests). */
export async function modelExportCommand(source: string, opts: ModelExportOptions): Promise<void> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  if (opts.kind !== undefined && !KINDS.includes(opts.kind)) {
    throw new Gan3dError(`--kind must be photogeo or gan, got "${opts.kind}" (or encoder, for a GAN-inversion encoder).`, 'BAD_ARGUMENT');
  }
  await initBackend();
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const declared = opts.kind === undefined ? await detectModelKind(source) : null;
  if (opts.kind === ENCODER_KIND || declared === ENCODER_KIND) {
    const r = await exportEncoderBundle(source, opts.out ?? DEFAULT_ENCODER_DIR, { id: opts.id, force: opts.force });
    const step = typeof r.training.step === 'number' ? ` (step ${r.training.step})` : '';
    write(
      `Wrote encoder "${r.id}" (for GAN "${r.gan.id}") to ${r.dir}/: model.json, weights.bin (${r.parameters.toLocaleString('en-US')} parameters, ` +
        `${mib(r.bytes)}) from ${source}${step}.\n`,
    );
    return;
  }
  // Anything that does not declare itself a GAN goes the photogeo way, which reports what is wrong with it.
  const gan = opts.kind === undefined ? declared === GAN_KIND : opts.kind !== 'photogeo';
  if (gan) {
    const r = await exportGanBundle(source, opts.out ?? DEFAULT_GAN_DIR, { id: opts.id, force: opts.force });
    const step = typeof r.training.step === 'number' ? ` (step ${r.training.step})` : '';
    write(
      `Wrote GAN "${r.id}" to ${r.dir}/: model.json, weights.bin (EMA generator ${r.generatorParameters.toLocaleString('en-US')} and ` +
        `discriminator ${r.discriminatorParameters.toLocaleString('en-US')} parameters, ${mib(r.bytes)}) from ${source}${step}.\n`,
    );
    return;
  }
  const r = await exportPhotoGeoBundle(source, opts.out ?? DEFAULT_MODEL_DIR, { id: opts.id, force: opts.force });
  const step = typeof r.training.step === 'number' ? ` (step ${r.training.step})` : '';
  write(
    `Wrote model "${r.id}" to ${r.dir}/: model.json, weights.bin (${r.parameters.toLocaleString('en-US')} parameters, ` +
      `${mib(r.bytes)}) from ${source}${step}.\n`,
  );
}

export function registerModelCommand(program: Command): void {
  const model = program.command('model').description('model bundles: export trained weights for reconstruct, eval and sample');
  model
    .command('export')
    .description('write a model bundle (model.json + weights.bin) from a training checkpoint or run folder (photogeo or GAN)')
    .argument('<source>', 'training run folder (its newest checkpoint), checkpoint folder ckpt-XXXXXXXX, or bundle')
    .option('--out <dir>', `bundle folder (default: ${DEFAULT_MODEL_DIR}, ${DEFAULT_GAN_DIR} for a GAN, ${DEFAULT_ENCODER_DIR} for an encoder)`)
    .option('--kind <kind>', 'photogeo, gan or encoder (default: the kind the source was trained as)')
    .option('--id <name>', 'model id recorded in every output (default: <run>-step<step>)')
    .option('--force', 'replace an existing bundle in --out')
    .action(async (source: string, opts: ModelExportOptions) => {
      await modelExportCommand(source, opts);
    });
}
