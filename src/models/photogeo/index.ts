// The photo-geometric autoencoder (Unsup3d): config, networks, forward, losses, data-parallel replica.
export * from './config.js';
export { ConfNet, type ConfidenceMaps, EDDeconv, Encoder, type NetOptions } from './networks.js';
export { PhotoGeoModel, type PhotoGeoPrediction, type PhotoGeoReconstruction, type ReconstructOptions, flipWidth } from './model.js';
export {
  type PerceptualFeatures,
  type PhotoGeoLoss,
  type PhotoGeoLossOptions,
  SIGMA_EPS,
  depthSmoothness,
  featureLoss,
  maskedMean,
  photoGeoLoss,
  photometricLoss,
} from './losses.js';
export { type PhotoGeoReplicaConfig, createPhotoGeoReplica, createReplica } from './replica.js';
