// The object-mask parser (GAN2Shape's BiSeNet stand-in): a small U-Net trained on SynFace's foreground masks.
export { PARSER_DEFAULTS, parserConfig, type ParserConfig, type ParserOverrides } from './config.js';
export { ParserNet, binaryCrossEntropyWithLogits, maskIoU } from './model.js';
export { createParserReplica, type ParserReplicaConfig } from './replica.js';
