// `gan3d model export`: a training checkpoint (or a run's newest) → a model bundle (model.json + weights.bin).
import type { Command } from 'commander';
import { initBackend } from '../engine/backend.js';
import { DEFAULT_MODEL_DIR, exportPhotoGeoBundle } from '../pipelines/model-bundle.js';

export interface ModelExportOptions {
  out: string;
  id?: string;
  force?: boolean;
  /** Not on the command line: where the summary goes (default stdout). */
  write?: (text: string) => void;
}

/** The `model export` action, callable without commander (tests). */
export async function modelExportCommand(source: string, opts: ModelExportOptions): Promise<void> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  await initBackend();
  const r = await exportPhotoGeoBundle(source, opts.out, { id: opts.id, force: opts.force });
  const step = typeof r.training.step === 'number' ? ` (step ${r.training.step})` : '';
  write(
    `Wrote model "${r.id}" to ${r.dir}/: model.json, weights.bin (${r.parameters.toLocaleString('en-US')} parameters, ` +
      `${(r.bytes / 2 ** 20).toFixed(1)} MiB) from ${source}${step}.\n`,
  );
}

export function registerModelCommand(program: Command): void {
  const model = program.command('model').description('model bundles: export trained weights for reconstruct and eval');
  model
    .command('export')
    .description('write a model bundle (model.json + weights.bin) from a training checkpoint or run folder')
    .argument('<source>', 'training run folder (its newest checkpoint), checkpoint folder ckpt-XXXXXXXX, or bundle')
    .option('--out <dir>', 'bundle folder', DEFAULT_MODEL_DIR)
    .option('--id <name>', 'model id recorded in every output (default: <run>-step<step>)')
    .option('--force', 'replace an existing bundle in --out')
    .action(async (source: string, opts: ModelExportOptions) => {
      await modelExportCommand(source, opts);
    });
}
