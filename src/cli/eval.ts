// `gan3d eval`: SIDE/MAD of a baseline or a trained photogeo model on a split with ground-truth depth.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import fs from 'node:fs';
import { Gan3dError } from '../engine/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { loadPhotoGeoModel } from '../pipelines/model-bundle.js';
import { BASELINES, evaluateBaseline, evaluateModel, type BaselineName, type EvaluationReport } from '../pipelines/evaluate.js';

export function formatReports(reports: EvaluationReport[]): string {
  const rows = reports.map((r) => [
    r.method,
    String(r.images),
    `${(r.side.mean * 100).toFixed(3)} ± ${(r.side.std * 100).toFixed(3)}`,
    `${r.mad.mean.toFixed(2)} ± ${r.mad.std.toFixed(2)}`,
  ]);
  const head = ['method', 'images', 'SIDE (×10⁻²)', 'MAD (deg)'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((x, c) => x.padEnd(widths[c])).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export interface EvalCommandOptions {
  data: string;
  baseline?: string;
  model?: string;
  batch?: string;
  meanFrom?: string;
  limit?: number;
  json?: string;
  force?: boolean;
  quiet?: boolean;
  /** Not on the command line: where the table goes (default stdout). */
  write?: (text: string) => void;
}

/** The `eval` action, callable without commander (tests). */
export async function evalCommand(opts: EvalCommandOptions): Promise<EvaluationReport> {
  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  if (opts.baseline && opts.model) throw new Gan3dError('give --baseline or --model, not both.', 'BAD_ARGUMENT');
  if (!opts.baseline && !opts.model) {
    throw new Gan3dError('say what to evaluate: --baseline null|mean|ellipsoid, or --model <bundle, checkpoint or run folder>.', 'BAD_ARGUMENT');
  }
  if (opts.baseline && !BASELINES.includes(opts.baseline as BaselineName)) {
    throw new Gan3dError(`unknown baseline "${opts.baseline}": use one of ${BASELINES.join(', ')}.`, 'BAD_ARGUMENT');
  }
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit > 0)) {
    throw new Gan3dError('--limit must be a positive whole number.', 'BAD_ARGUMENT');
  }
  const batch = Number(opts.batch ?? '50');
  if (!(Number.isInteger(batch) && batch >= 1)) throw new Gan3dError(`--batch must be a whole number ≥ 1, got "${opts.batch}".`, 'BAD_ARGUMENT');
  if (opts.json && !opts.force && fs.existsSync(opts.json)) {
    throw new Gan3dError(`${opts.json} already exists: pass --force to overwrite it.`, 'OUTPUT_EXISTS');
  }
  const bar = new cliProgress.SingleBar({ format: 'eval {bar} {value}/{total} images', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  const onProgress = (done: number, total: number) => {
    if (!started && !opts.quiet && process.stderr.isTTY) {
      bar.start(total, 0);
      started = true;
    }
    if (started) bar.update(done);
  };
  let report: EvaluationReport;
  try {
    if (opts.model) {
      const loaded = await loadPhotoGeoModel(opts.model);
      try {
        report = await evaluateModel(loaded, opts.data, { limit: opts.limit, batch, onProgress });
      } finally {
        loaded.model.dispose();
      }
    } else {
      report = await evaluateBaseline(opts.baseline as BaselineName, opts.data, { meanFrom: opts.meanFrom, limit: opts.limit, onProgress });
    }
  } finally {
    if (started) bar.stop();
  }
  write(formatReports([report]));
  if (opts.json) {
    await writeFileAtomic(opts.json, JSON.stringify(report, null, 2) + '\n', { force: opts.force });
    write(`wrote ${opts.json}\n`);
  }
  return report;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('score depth against ground truth (SIDE, MAD) on a data split: a baseline or a trained model')
    .requiredOption('--data <dir>', 'split folder with depth/ (and mask/; image/ for --model), e.g. data/synface/test')
    .option('--baseline <name>', `one of ${BASELINES.join(', ')}`)
    .option('--model <dir>', 'photogeo model bundle, training checkpoint or training run folder (its newest checkpoint)')
    .option('--batch <n>', 'images per forward pass with --model', '50')
    .option('--mean-from <dir>', 'split whose average depth the mean baseline uses (default: the sibling train split)')
    .option('--limit <n>', 'evaluate only the first n images', (v) => Number(v))
    .option('--json <file>', 'also write the result as JSON')
    .option('--force', 'overwrite an existing JSON file')
    .option('--quiet', 'no progress bar')
    .action(async (opts: EvalCommandOptions) => {
      await evalCommand(opts);
    });
}
