// `npm start`: the main job. Until the reconstruction model exists it prints the engine self-check and the
// commands that are available, so a new user sees what works on their machine.
import type { Command } from 'commander';
import { runSelfCheck, formatSelfCheck } from '../engine/self-check.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('the main job: engine self-check and the list of commands')
    .action(async () => {
      const report = await runSelfCheck();
      process.stdout.write(formatSelfCheck(report));
      process.stdout.write('\nCommands:\n');
      for (const cmd of program.commands) {
        if (cmd.name() === 'start') continue;
        process.stdout.write(`  gan3d ${cmd.name().padEnd(10)} ${cmd.description()}\n`);
        for (const sub of cmd.commands) process.stdout.write(`    gan3d ${cmd.name()} ${sub.name().padEnd(8)} ${sub.description()}\n`);
      }
      if (!report.ok) process.exitCode = 1;
    });
}
