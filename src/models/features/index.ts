// The feature network of the project's offline FID/KID: a small CNN regressing SynFace labels.
export { FEATURE_NET_DEFAULTS, featureNetConfig, type FeatureNetConfig, type FeatureNetOverrides } from './config.js';
export { FEATURE_LABELS, denormalizeLabel, labelVector, normalizeLabel, rawLabel, type LabelSpec } from './labels.js';
export { FeatureNet } from './model.js';
export { createFeatureNetReplica, type FeatureNetReplicaConfig } from './replica.js';
