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
