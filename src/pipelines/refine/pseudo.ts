// Pseudo-samples (C.6): the input's current shape and albedo under random lights and views, rendered with the
// project's renderer. Light: l = normalise(lx, ly, 1) with lx, ly uniform, and a diffuse boost r taken partly from the
// ambient term: S = (k_s + α·r) + (k_d + r)·max(0, ⟨n, l⟩), k_s and k_d the input's current ambient and diffuse.
// View: Gaussian in the pre-scaling 6-D space (×60°, ×0.1, ×0) around the input's current view (or the prior mean),
// the yaw deviation × viewScale. The image is (a/2 + 0.5)·S·2 − 1 rendered into that view, clamped to [-1, 1]; its
// mask is where the view sees the surface (GAN2Shape uses ones for faces; the renderer's mask keeps the empty
// corners of strongly turned views out of the inversion loss).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../engine/random.js';
import { lambertShading } from '../../geometry/shading.js';
import { renderView } from '../../geometry/render.js';
import type { PhotoGeoModel } from '../../models/photogeo/model.js';
import type { RefineConfig } from './config.js';

/** What pseudo-samples are rendered from: one image's canonical maps and light (no gradient needed). */
export interface PseudoSource {
  /** [1, S, S, 1], [1, S, S, 3], [1, S, S, 3]. */
  canonDepth: tf.Tensor4D;
  canonAlbedo: tf.Tensor4D;
  normals: tf.Tensor4D;
  /** Current ambient and diffuse strengths. */
  ambient: number;
  diffuse: number;
  /** Current view in the pre-scaling space [6]. */
  viewRaw: number[];
}

export interface PseudoParams {
  /** Per sample (ambient, diffuse, lx, ly) as `shade` takes it: [n·4]. */
  light: Float32Array;
  /** Per sample pre-scaling view [n·6]. */
  viewRaw: Float32Array;
}

/** Draws `n` pseudo-sample lights and views from `rng` (fixed order: per sample lx, ly, r, then six normals). */
export function samplePseudoParams(rng: Rng, n: number, source: Pick<PseudoSource, 'ambient' | 'diffuse' | 'viewRaw'>, config: RefineConfig): PseudoParams {
  const [xMin, xMax, yMin, yMax, rMin, rMax, alpha] = config.randLight;
  const light = new Float32Array(n * 4);
  const viewRaw = new Float32Array(n * 6);
  // Raw values are decoded by the model, which adds the prior mean itself when config.addPriorMean.
  const prior = config.addPriorMean ? [0, 0, 0, 0, 0, 0] : config.viewMean;
  const centre = config.viewCenter === 'current' ? source.viewRaw : prior;
  for (let i = 0; i < n; i++) {
    const lx = rng.range(xMin, xMax);
    const ly = rng.range(yMin, yMax);
    const r = rng.range(rMin, rMax);
    light.set([source.ambient + alpha * r, source.diffuse + r, lx, ly], 4 * i);
    for (let k = 0; k < 6; k++) {
      const scale = k === 1 ? config.viewScale : 1;
      viewRaw[6 * i + k] = centre[k] + rng.normal() * config.viewStd[k] * scale;
    }
  }
  return { light, viewRaw };
}

/** Renders pseudo-samples: images [n, S, S, 3] in [-1, 1] and masks [n, S, S, 1]. */
export function renderPseudo(model: PhotoGeoModel, source: PseudoSource, params: PseudoParams): { images: tf.Tensor4D; masks: tf.Tensor4D } {
  const n = params.light.length / 4;
  return tf.tidy(() => {
    const tile = (x: tf.Tensor4D) => tf.tile(x, [n, 1, 1, 1]) as tf.Tensor4D;
    const { shading } = lambertShading(tile(source.normals), tf.tensor2d(params.light, [n, 4]));
    const canon = tf.sub(tf.mul(tf.add(tile(source.canonAlbedo), 1), shading), 1) as tf.Tensor4D;
    const view = model.decodeView(tf.tensor2d(params.viewRaw, [n, 6]));
    const r = renderView({ canonDepth: tile(source.canonDepth), canonImage: canon, view, camera: model.camera });
    return { images: tf.clipByValue(r.image, -1, 1) as tf.Tensor4D, masks: r.mask };
  });
}
