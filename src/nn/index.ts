// Layers with explicit variables (no tf.layers): see module.ts for the naming pattern.
export { Module, Sequential, ownedVariable } from './module.js';
export { type InitScheme, initBias, initWeight } from './init.js';
export { Conv2d, ConvTranspose2d, type ConvOptions } from './conv.js';
export { GroupNorm } from './norm.js';
export { Activation, type ActivationKind, UpsampleNearest, activate } from './activation.js';
export { EqualConv2d, type EqualActivation, type EqualConvOptions, EqualLinear, type EqualLinearOptions, LRELU_GAIN, LRELU_SLOPE, lreluGain } from './equalized.js';
export { ModulatedConv2d, type ModulatedConvOptions } from './modulated-conv.js';
export { NoiseInjection, drawNoise } from './noise.js';
export { PixelNorm, pixelNorm } from './pixel-norm.js';
export { MappingNetwork, type MappingOptions } from './mapping.js';
export { Downsample2x, Upsample2x, type UpsampleMode, downsample2x, upsample2x } from './resample.js';
export { StyledConv, type StyledConvOptions } from './styled-conv.js';
export { ToRGB } from './to-rgb.js';
export { DiscResBlock } from './disc-block.js';
export { MinibatchStd, minibatchStd } from './minibatch-std.js';
export { FREQ_SCALE, FREQ_SHIFT, FilmSiren, type FilmSirenOptions } from './film-siren.js';
export { MODULATED_LINEAR_SLOPE, ModulatedLinear, type ModulatedLinearActivation, type ModulatedLinearOptions } from './modulated-linear.js';
