// The feature network of the project's offline FID/KID: a small CNN regressing SynFace labels.
export { FEATURE_NET_DEFAULTS, featureNetConfig, type FeatureNetConfig, type FeatureNetOverrides } from './config.js';
export { FEATURE_LABELS, LABEL_GROUPS, MIRROR_NEGATED_LABELS, denormalizeLabel, labelVector, labelsNamed, mirrorLabels, normalizeLabel, rawLabel, type LabelSpec } from './labels.js';
export { FeatureNet } from './model.js';
export { createFeatureNetReplica, type FeatureNetReplicaConfig } from './replica.js';
