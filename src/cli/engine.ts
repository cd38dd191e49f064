// `gan3d engine check`: which backend runs, and whether the project's own kernels agree with the reference.
import type { Command } from 'commander';
import { runSelfCheck, formatSelfCheck } from '../engine/self-check.js';

export function registerEngineCommand(program: Command): void {
  const engine = program.command('engine').description('tensor engine: backend, kernels, self-check');
  engine
    .command('check')
    .description('initialize the backend and check the registered kernels against the cpu reference')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const report = await runSelfCheck();
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatSelfCheck(report));
      if (!report.ok) process.exitCode = 1;
    });
}
