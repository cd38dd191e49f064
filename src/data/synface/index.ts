// SynFace: procedural faces with exact ground truth, rendered with the project's own geometry (see README.md).
export {
  ASYMMETRY_OFFSETS,
  type AlbedoParams,
  type AsymmetryParams,
  type BackgroundKind,
  type BackgroundParams,
  type ExpressionParams,
  type Range,
  type Rgb,
  SYNFACE_DEFAULTS,
  type ShapeParams,
  type SynfaceConfig,
  type SynfaceParams,
  imageSeed,
  sampleParams,
  synfaceConfig,
} from './params.js';
export { ASYMMETRY_SCALES, BACKGROUND_DEPTH, type CanonicalFace, canonicalFace } from './face.js';
export { backgroundImage } from './background.js';
export { FOREGROUND_FAR_LIMIT, type SampleStats, type SynfaceSample, renderSynfaceBatch, shadeCanonical } from './render.js';
export {
  DEFAULT_BATCH,
  DEFAULT_FRACTIONS,
  SPLITS,
  SYNFACE_FOLDERS,
  type DatasetStats,
  type Split,
  type SplitFractions,
  type SynfaceDatasetOptions,
  type SynfaceDatasetResult,
  type SynfaceFolder,
  type SynfaceRecord,
  datasetMeta,
  encodeSample,
  generateSynface,
  parseSynfaceRecord,
  recordParams,
  sampleId,
  splitCounts,
  splitOf,
  synfaceParamsAt,
} from './dataset.js';
export { type ContactSheet, type ContactSheetOptions, contactSheet } from './contact-sheet.js';
