// The per-image networks of a refinement (D, A, V, L of the photo-geometric model; no confidence net, C.2) and the
// differentiable pieces every step shares: the nets' decoded outputs with GAN2Shape's optional prior means, the
// Lambertian render into a view with the flip branch, and the second-order smoothness of C.7.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import { renderView } from '../../geometry/render.js';
import { lambertShading } from '../../geometry/shading.js';
import { depthToNormals } from '../../geometry/normals.js';
import type { PhotoGeoOverrides } from '../../models/photogeo/config.js';
import { PhotoGeoModel, flipWidth } from '../../models/photogeo/model.js';
import type { RefineConfig } from './config.js';


/**
 * The per-image photo-geometric model: PhotoGeoModel with GAN2Shape's prior means (C.2 add_mean) folded into its light
 * and view decoding, v = V(I) + viewMean and l = L(I) + lightMean in the raw (pre-scaling) space, so that its own
 * `predict` / `reconstruct` (and everything that runs a PhotoGeoModel: `reconstructImages`) see the refined estimate.
 */
export class RefineModel extends PhotoGeoModel {
  readonly viewMean: readonly number[];
  readonly lightMean: readonly number[];

  constructor(seed: number, overrides: PhotoGeoOverrides, prior: { viewMean: readonly number[]; lightMean: readonly number[] } | null) {
    super(seed, overrides);
    this.viewMean = prior ? [...prior.viewMean] : [0, 0, 0, 0, 0, 0];
    this.lightMean = prior ? [...prior.lightMean] : [0, 0, 0, 0];
  }

  override decodeLight(raw: tf.Tensor2D): tf.Tensor2D {
    if (this.lightMean.every((m) => m === 0)) return super.decodeLight(raw);
    return tf.tidy(() => super.decodeLight(tf.add(raw, tf.tensor2d([[...this.lightMean]])) as tf.Tensor2D));
  }

  override decodeView(raw: tf.Tensor2D): tf.Tensor2D {
    if (this.viewMean.every((m) => m === 0)) return super.decodeView(raw);
    return tf.tidy(() => super.decodeView(tf.add(raw, tf.tensor2d([[...this.viewMean]])) as tf.Tensor2D));
  }
}

/** Builds the per-image model: fresh (seeded) for init 'ellipsoid', a copy of `source`'s D, A, V, L for 'photogeo'. */
export function buildRefineNets(config: RefineConfig, source?: PhotoGeoModel): RefineModel {
  const prior = config.addPriorMean ? { viewMean: config.viewMean, lightMean: config.lightMean } : null;
  if (config.init === 'photogeo') {
    if (!source) throw new Gan3dError('Refinement from the photogeo model needs the model (init "photogeo"): load one, or use init "ellipsoid".', 'BAD_ARGUMENT');
    const model = new RefineModel(config.seed, { ...(source.config as PhotoGeoOverrides), useConfidence: false, lambdaPerc: 0 }, prior);
    copyNetWeights(source, model);
    return model;
  }
  const [lo, hi] = config.depthRange;
  return new RefineModel(config.seed, { minDepth: lo, maxDepth: hi, borderDepth: borderDepthFor(config.depthRange), useConfidence: false, lambdaPerc: 0 }, prior);
}

/** Unsup3d's border depth 0.7 max + 0.3 min. */
export function borderDepthFor([lo, hi]: readonly [number, number]): number {
  return 0.7 * hi + 0.3 * lo;
}

/** Copies the depth, albedo, light and view nets' weights by name (the confidence net is not used here). */
export function copyNetWeights(from: PhotoGeoModel, to: PhotoGeoModel): void {
  const src = from.namedVariables();
  for (const [name, v] of to.namedVariables()) {
    const s = src.get(name);
    if (!s || s.shape.join(',') !== v.shape.join(',')) throw new Gan3dError(`Cannot copy the photogeo weights: ${name} differs between the models.`, 'MODEL_INCOMPATIBLE');
    v.assign(s);
  }
}

/** The variables of the named nets, in the model's order. */
export function netVariables(model: PhotoGeoModel, nets: readonly ('depth' | 'albedo' | 'light' | 'view')[]): tf.Variable[] {
  return [...model.namedVariables()].filter(([name]) => nets.some((n) => name.startsWith(`${n}/`))).map(([, v]) => v);
}

/** Canonical depth without the border overwrite (what the ellipsoid fit compares, C.8). */
export function depthBeforeBorder(model: PhotoGeoModel, images: tf.Tensor4D): tf.Tensor4D {
  const c = model.config;
  return tf.tidy(() => {
    const raw = model.depthNet.apply(images);
    const t = tf.tanh(tf.sub(raw, tf.mean(raw, [1, 2, 3], true)));
    return tf.add(tf.mul(t, (c.maxDepth - c.minDepth) / 2), (c.maxDepth + c.minDepth) / 2) as tf.Tensor4D;
  });
}

/** Decoded light [N, 4] (ambient, diffuse, lx, ly) of images (the prior mean, if any, is in the model's decoding). */
export function predictLight(model: PhotoGeoModel, images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => model.decodeLight(model.lightNet.vector(images)));
}

/** The view net's raw output [N, 6] (pre-scaling, before any prior mean): decode it with model.decodeView. */
export function predictViewRaw(model: PhotoGeoModel, images: tf.Tensor4D): tf.Tensor2D {
  return model.viewNet.vector(images);
}

export interface Rendered {
  /** Reconstruction [N, S, S, 3] clamped to [-1, 1] (GAN2Shape clamps; B.4). */
  recon: tf.Tensor4D;
  /** The flip branch's reconstruction, when asked for. */
  reconFlip?: tf.Tensor4D;
  /** Pixels valid in every branch rendered [N, S, S, 1]; no gradient. */
  mask: tf.Tensor4D;
  /** Input-view depth [N, S, S, 1]. */
  viewDepth: tf.Tensor4D;
  /** Canonical diffuse term max(0, n·l) [N, S, S, 1] and normals [N, S, S, 3] (of the unflipped depth). */
  diffuse: tf.Tensor4D;
  normals: tf.Tensor4D;
  /** Canonical shaded image [N, S, S, 3]. */
  canonImage: tf.Tensor4D;
}

/**
 * Shades canonical depth and albedo [N, …] under light [N, 4] and renders them into view [N, 6] (decoded), with the
 * flip branch (depth and albedo mirrored, light and view shared; A.4) when `flip`. Depth and albedo may be given for
 * one image and broadcast to N lights and views (Step 3: the input's shape under each projected sample's view).
 */
export function renderComposite(
  model: PhotoGeoModel,
  depth: tf.Tensor4D,
  albedo: tf.Tensor4D,
  light: tf.Tensor2D,
  view: tf.Tensor2D,
  flip: boolean,
): Rendered {
  return tf.tidy(() => {
    const n = view.shape[0];
    const tile = (x: tf.Tensor4D) => (x.shape[0] === n ? x : (tf.tile(x, [n, 1, 1, 1]) as tf.Tensor4D));
    const d = tile(depth);
    const a = tile(albedo);
    const cam = model.camera;
    const both = <T extends tf.Tensor>(x: T, m: T): T => (flip ? (tf.concat([x, m]) as T) : x);
    const dd = both(d, flip ? flipWidth(d) : d);
    const aa = both(a, flip ? flipWidth(a) : a);
    const ll = both(light, light);
    const vv = both(view, view);
    const normals = depthToNormals(dd, cam);
    const { shading, diffuse } = lambertShading(normals, ll);
    const canon = tf.sub(tf.mul(tf.add(aa, 1), shading), 1) as tf.Tensor4D;
    const r = renderView({ canonDepth: dd, canonImage: canon, view: vv, camera: cam });
    const image = tf.clipByValue(r.image, -1, 1) as tf.Tensor4D;
    const first = <T extends tf.Tensor>(x: T): T => (flip ? (tf.slice(x, 0, n) as T) : x);
    const second = (x: tf.Tensor4D): tf.Tensor4D => tf.slice(x, n, n);
    return {
      recon: first(image),
      ...(flip ? { reconFlip: second(image) } : {}),
      mask: (flip ? tf.mul(first(r.mask), second(r.mask)) : r.mask) as tf.Tensor4D,
      viewDepth: first(r.viewDepth),
      diffuse: first(diffuse),
      normals: first(normals),
      canonImage: first(canon),
    } as unknown as tf.TensorContainer;
  }) as unknown as Rendered;
}

/** C.7 Sm(x): mean |∂²x/∂u²| + |∂²x/∂u∂v| + |∂²x/∂v∂u| + |∂²x/∂v²| by second-order finite differences (the two mixed
 *  terms are equal on a grid, so counted twice). */
export function secondOrderSmoothness(x: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const at = (dy: number, dx: number, hh: number, ww: number) => tf.slice(x, [0, dy, dx, 0], [n, hh, ww, c]);
    const uu = tf.add(tf.sub(at(0, 2, h, w - 2), tf.mul(at(0, 1, h, w - 2), 2)), at(0, 0, h, w - 2));
    const vv = tf.add(tf.sub(at(2, 0, h - 2, w), tf.mul(at(1, 0, h - 2, w), 2)), at(0, 0, h - 2, w));
    const uv = tf.add(tf.sub(tf.sub(at(1, 1, h - 1, w - 1), at(1, 0, h - 1, w - 1)), at(0, 1, h - 1, w - 1)), at(0, 0, h - 1, w - 1));
    return tf.addN([tf.mean(tf.abs(uu)), tf.mul(tf.mean(tf.abs(uv)), 2), tf.mean(tf.abs(vv))]) as tf.Scalar;
  });
}
