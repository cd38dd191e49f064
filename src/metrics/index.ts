// Public API of gan3d's metrics.
export { erodeMask, maskBelow } from './mask.js';
export {
  evaluateSideMad,
  evaluateSideMadSet,
  meanAngleDeviation,
  scaleInvariantDepthError,
  sideMadMask,
  VALID_DEPTH_MAX,
  type SideMadOptions,
  type SideMadResult,
  type SideMadSummary,
} from './side-mad.js';
export { summarize, type Summary } from './summary.js';
export { matMul, sqrtPsd, symmetricEigen, traceSqrtProduct, type SymmetricEigen } from './linalg.js';
export { featureCount, featureStats, fid, frechetDistance, type FeatureStats } from './fid.js';
export { KID_DEFAULTS, kid, type KidOptions, type KidResult } from './kid.js';
export { realismScore, type RealismOptions, type RealismScore } from './realism.js';
