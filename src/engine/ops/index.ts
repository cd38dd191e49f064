// Differentiable ops the models need beyond tfjs's own set; each runs on every backend.
export { groupNorm } from './group-norm.js';
export { gridSample, gridSamplePortable } from './grid-sample.js';
