// The 2D StyleGAN2-style prior: config, generator (mapping + skip synthesis), residual discriminator.
export * from './config.js';
export { type GenerateOptions, Generator, type NoiseInput, type SynthesisOptions } from './generator.js';
export { Discriminator, type DiscriminatorOutput } from './discriminator.js';
export { sameWidths, wideningProblem, widenParameter } from './widen.js';
