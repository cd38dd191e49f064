// The `gan3d` command line: one file per command under src/cli/, wired here. Errors a user can cause print
// their message (no stack) and exit with code 2.
import { Command } from 'commander';
import { isGan3dError } from '../engine/errors.js';
import { registerStartCommand } from './start.js';
import { registerEngineCommand } from './engine.js';
import { registerDataCommand } from './data.js';
import { registerEvalCommand } from './eval.js';
import { registerTrainCommand } from './train.js';
import { registerModelCommand } from './model.js';
import { registerReconstructCommand } from './reconstruct.js';
import { registerSampleCommand } from './sample.js';
import { registerScoreCommand } from './score.js';
import { registerInvertCommand } from './invert.js';
import { registerRefineCommand } from './refine.js';
import { gan3dVersion } from '../io/version.js';

const program = new Command();
program
  .name('gan3d')
  .description('Single image to 3D with what GANs know about shape (GAN2Shape, CIPS-3D, GAN-Control) in TypeScript.')
  .version(gan3dVersion());

registerStartCommand(program);
registerEngineCommand(program);
registerDataCommand(program);
registerEvalCommand(program);
registerTrainCommand(program);
registerModelCommand(program);
registerReconstructCommand(program);
registerSampleCommand(program);
registerScoreCommand(program);
registerInvertCommand(program);
registerRefineCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (isGan3dError(e)) {
    process.stderr.write(`gan3d: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
