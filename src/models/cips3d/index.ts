// CIPS-3D (paper notes part A): the 3D-aware generator's config, networks and forward.
export { CIPS3D_DEFAULTS, type Cips3dConfig, cips3dConfig, inrBlockKeys } from './config.js';
export { AuxHead, InrMapping, InrNet, NerfMapping, type NerfOutput, ShallowNerf, layerNorm } from './networks.js';
export { type Cips3dGenerateOptions, Cips3dGenerator, type Cips3dOutput, type Cips3dRenderOptions } from './generator.js';
