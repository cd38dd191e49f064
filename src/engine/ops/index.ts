// Differentiable ops the models need beyond tfjs's own set; each runs on every backend.
export { groupNorm } from './group-norm.js';
export { gridSample, gridSamplePortable } from './grid-sample.js';
export { biasLrelu } from './bias-act.js';
export { boxDownsample2x } from './box-resample.js';
export { modulatedAct, scaleChannels } from './modulation.js';
export { bilinearUpsample2x, bilinearUpsample2xPortable } from './bilinear-up.js';
