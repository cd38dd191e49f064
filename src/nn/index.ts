// Layers with explicit variables (no tf.layers): see module.ts for the naming pattern.
export { Module, Sequential, ownedVariable } from './module.js';
export { type InitScheme, initBias, initWeight } from './init.js';
export { Conv2d, ConvTranspose2d, type ConvOptions } from './conv.js';
export { GroupNorm } from './norm.js';
export { Activation, type ActivationKind, UpsampleNearest, activate } from './activation.js';
