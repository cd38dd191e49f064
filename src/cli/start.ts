// `npm start`: the main job. Checks the engine, then reconstructs the bundled sample faces (a few SynFace test
// images shipped in samples/synface) with the bundled model (models/photogeo) into out/: depth, normals, albedo,
// shading, meshes and rotate/relight GIFs per image, and lists the other commands.
import type { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gan3dError } from '../engine/errors.js';
import { formatSelfCheck, runSelfCheck } from '../engine/self-check.js';
import { listInputFiles, outputNames } from '../pipelines/reconstruct.js';
import { reconstructCommand } from './reconstruct.js';

/** The package root (samples/ and models/ ship there), whether running from src/ or from the compiled dist/. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Gan3dError('Cannot find the gan3d package root (package.json) above the start command.', 'NO_PACKAGE');
    dir = up;
  }
  return dir;
}

export const SAMPLES_DIR = 'samples/synface';
export const BUNDLED_MODEL_DIR = 'models/photogeo';

/**
 * Output folders that already exist, split into those an earlier `start` wrote from the same sample (safe to
 * replace: they are this command's own output) and anything else (a user's files: never replaced without --force).
 */
function clashes(samples: string[], outDir: string): { ours: string[]; foreign: string[] } {
  const ours: string[] = [];
  const foreign: string[] = [];
  const names = outputNames(samples);
  samples.forEach((sample, i) => {
    const dir = path.join(outDir, names[i]);
    if (!fs.existsSync(dir)) return;
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { input?: string };
      if (meta.input !== undefined && path.resolve(meta.input) === path.resolve(sample)) {
        ours.push(dir);
        return;
      }
    } catch {
      // no readable meta.json: not ours
    }
    foreign.push(dir);
  });
  return { ours, foreign };
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('the main job: engine self-check, then reconstruct the bundled sample faces into out/ with the bundled model')
    .option('-o, --out <dir>', 'output folder', 'out')
    .option('--force', 'replace output folders that an earlier run of something else left in --out')
    .action(async (opts: { out: string; force?: boolean }) => {
      const report = await runSelfCheck();
      process.stdout.write(formatSelfCheck(report));
      if (!report.ok) {
        process.exitCode = 1;
        return;
      }
      const root = packageRoot();
      const model = path.join(root, BUNDLED_MODEL_DIR);
      const samples = await listInputFiles([path.join(root, SAMPLES_DIR)]);
      const { ours, foreign } = clashes(samples, opts.out);
      if (foreign.length > 0 && !opts.force) {
        throw new Gan3dError(
          `${foreign.join(', ')} already exist${foreign.length === 1 ? 's' : ''} and ${foreign.length === 1 ? 'was' : 'were'} not written by ` +
            '`gan3d start` from the same sample: pass --force to replace, or choose another folder with --out.',
          'OUTPUT_EXISTS',
        );
      }
      process.stdout.write(`\nReconstructing ${samples.length} bundled sample faces (${SAMPLES_DIR}) with ${BUNDLED_MODEL_DIR} into ${opts.out}/ …\n`);
      await reconstructCommand(samples, { out: opts.out, model, force: ours.length > 0 || opts.force === true });
      process.stdout.write('\nOpen mesh.glb in any glTF viewer; rotate.gif and relight.gif show the recovered 3D shape.\nCommands:\n');
      for (const cmd of program.commands) {
        if (cmd.name() === 'start') continue;
        process.stdout.write(`  gan3d ${cmd.name().padEnd(12)} ${cmd.description()}\n`);
        for (const sub of cmd.commands) process.stdout.write(`    gan3d ${cmd.name()} ${sub.name().padEnd(8)} ${sub.description()}\n`);
      }
    });
}
