// The GAN-inversion encoder: image → w (an offset from the generator's mean w).
export { ENCODER_DEFAULTS, defaultEncoderWidths, encoderConfig, type EncoderConfig, type EncoderOverrides } from './config.js';
export { Encoder } from './model.js';
