// GAN2Shape refinement (paper notes part C): the public surface of src/pipelines/refine.
export { GAN2SHAPE_SYNFACE, REFINE_DEFAULTS, REFINE_NETS, REFINE_PROJECTIONS, checkRefineConfig, perStage, refineConfig, stageLengths, type RefineConfig, type RefineInit, type RefineNet, type RefineOverrides, type RefineProjection, type StageLengths } from './config.js';
export { PAPER_ELLIPSOID, ellipsoidForRange, ellipsoidTarget, fitEllipsoid, type EllipsoidFitResult } from './ellipsoid-init.js';
export { RefineModel, borderDepthFor, buildRefineNets, copyNetWeights, depthBeforeBorder, netVariables, renderComposite, secondOrderSmoothness } from './nets.js';
export { LatentProjector, OffsetEncoder, PretrainedOffsets, inversionLoss, resizeTo, type OffsetPredictor } from './offset-encoder.js';
export { renderPseudo, samplePseudoParams, type PseudoParams, type PseudoSource } from './pseudo.js';
export { inputLoss, projectedLoss, reconstructionL1 } from './losses.js';
export { runStep1 } from './step1.js';
export { OPTIMIZE_BATCH, collectBank, optimizeBank, optimizeProjections, pseudoSource, runStep2 } from './step2.js';
export { runStep3 } from './step3.js';
export { emptyBank, type Bank, type ProgressFn, type RefineSession, type StepProgress } from './session.js';
export { ROTATION_DEFAULTS, projectedRotation, sweepYaws, writeProjectedRotation, type ProjectedRotation, type RotationOptions } from './rotation.js';
export { currentEstimate, writeSnapshot, type RefineEstimate } from './snapshots.js';
export { REFINE_KIND, loadRefineState, peekRefineState, saveRefineState, type PhaseRecord, type RefineProgressState } from './state.js';
export { DEFAULT_INVERT_STEPS, inversionProjector } from './invert-input.js';
export { refineImage, scheduleNames, type RefineImageOptions, type RefineImageResult } from './run.js';
