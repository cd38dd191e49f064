// Rendering SynFace samples with the project's own renderer, in batches: the canonical face is shaded
// (geometry/shading.ts `shade`) and warped into its view (geometry/render.ts `renderView`), so the ground truth and
// the models share one camera, one warp and one z-buffer.
import * as tf from '@tensorflow/tfjs';
import { type CameraConfig, cameraConfig } from '../../geometry/camera.js';
import { depthNormals } from '../../geometry/depth-grid.js';
import { renderView } from '../../geometry/render.js';
import { lambertShading } from '../../geometry/shading.js';
import { SYNFACE_DEPTH_RANGE, encodeDepth16 } from '../../io/depth-png.js';
import { backgroundImage } from './background.js';
import { BACKGROUND_DEPTH, canonicalFace } from './face.js';
import type { SynfaceParams } from './params.js';

/**
 * Canonical depth given to renderView for background pixels. Behind the camera, so every triangle touching the
 * background fails the rasterizer's near-plane test and is not drawn: the face is rendered without the stretched
 * "walls" that would join its silhouette to a background plane (which, rotated, would also cover the whole view).
 */
const CULLED_DEPTH = -3;

/**
 * Farthest view depth kept as face: one 16-bit step short of the background value, so every foreground pixel
 * decodes to d < 1.1 and the synface mask (d < max) finds exactly the foreground.
 */
export const FOREGROUND_FAR_LIMIT = SYNFACE_DEPTH_RANGE.maxDepth - (SYNFACE_DEPTH_RANGE.maxDepth - SYNFACE_DEPTH_RANGE.minDepth) / 65535;

/** One rendered sample: the arrays written to the dataset's PNGs (row-major, S x S). */
export interface SynfaceSample {
  /** Input-view image, RGB bytes. */
  image: Uint8Array;
  /** Input-view depth d_v as written: the rendered depth on the face, BACKGROUND_DEPTH elsewhere. */
  depth: Float32Array;
  /** `depth` in the synface 16-bit encoding (v = (1.1 - d) / 0.2). */
  depth16: Uint16Array;
  /** Canonical depth, background BACKGROUND_DEPTH. */
  canonDepth: Float32Array;
  canonDepth16: Uint16Array;
  /** Canonical albedo, RGB bytes. */
  canonAlbedo: Uint8Array;
  /** Normals of `depth` (depthToNormals, computed by depthNormals) as bytes of n * 0.5 + 0.5. */
  normal: Uint8Array;
  /** 255 on the face (depth < 1.1), 0 elsewhere. */
  mask: Uint8Array;
  stats: SampleStats;
}

export interface SampleStats {
  /** Pixels on the face. */
  foreground: number;
  /** Face pixels rendered farther than the encoding's far end, made background. */
  farClipped: number;
  /** Face pixels nearer than the encoding's near end (0.9), clamped to it. */
  nearClamped: number;
}

/**
 * The canonical image J = (albedo + 1) * S - 1 of `shade` (geometry/shading.ts) for canonical depths [N, S, S]
 * (flat) and albedos [N, S, S, 3] under light [N, 4]: shade's own lambertShading, with the normals from depthNormals
 * instead of depthToNormals (the same maths; the tests compare the two), which saves ~4 ms per 64 x 64 image on wasm.
 */
export function shadeCanonical(depth: Float32Array, albedo: Float32Array, light: tf.Tensor2D, camera: CameraConfig): tf.Tensor4D {
  const n = light.shape[0];
  const s = camera.size;
  const px = s * s;
  const normals = new Float32Array(n * px * 3);
  for (let b = 0; b < n; b++) {
    depthNormals(depth.subarray(b * px, (b + 1) * px), camera, 'reference', normals.subarray(b * px * 3, (b + 1) * px * 3));
  }
  return tf.tidy(() => {
    const { shading } = lambertShading(tf.tensor4d(normals, [n, s, s, 3]), light);
    return tf.sub(tf.mul(tf.add(tf.tensor4d(albedo, [n, s, s, 3]), 1), shading), 1) as tf.Tensor4D;
  });
}

/** Renders a batch of faces at `size` x `size`. Each sample depends only on its own parameters, not on the batch. */
export function renderSynfaceBatch(params: readonly SynfaceParams[], size: number, camera: CameraConfig = cameraConfig(size)): SynfaceSample[] {
  const n = params.length;
  const px = size * size;
  const faces = params.map((p) => canonicalFace(p, size));
  const cull = new Float32Array(n * px);
  const shadeDepth = new Float32Array(n * px);
  const albedo = new Float32Array(n * px * 3);
  faces.forEach((f, b) => {
    for (let k = 0; k < px; k++) cull[b * px + k] = f.depth[k] < BACKGROUND_DEPTH ? f.depth[k] : CULLED_DEPTH;
    shadeDepth.set(f.shadeDepth, b * px);
    albedo.set(f.albedo, b * px * 3);
  });
  const light = tf.tensor2d(params.flatMap((p) => p.light), [n, 4]);
  const view = tf.tensor2d(params.flatMap((p) => p.view), [n, 6]);
  const [imageT, depthT, maskT] = tf.tidy(() => {
    const canonImage = shadeCanonical(shadeDepth, albedo, light, camera);
    const out = renderView({ canonDepth: tf.tensor4d(cull, [n, size, size, 1]), canonImage, view, camera });
    return [out.image, out.viewDepth, out.mask];
  });
  const rendered = imageT.dataSync() as Float32Array;
  const viewDepth = depthT.dataSync() as Float32Array;
  const seen = maskT.dataSync() as Float32Array;
  tf.dispose([imageT, depthT, maskT, light, view]);

  const { minDepth, maxDepth } = SYNFACE_DEPTH_RANGE;
  const written = new Float32Array(n * px);
  const stats: SampleStats[] = [];
  for (let b = 0; b < n; b++) {
    const st: SampleStats = { foreground: 0, farClipped: 0, nearClamped: 0 };
    for (let k = 0; k < px; k++) {
      const o = b * px + k;
      const d = viewDepth[o];
      if (seen[o] > 0 && d <= FOREGROUND_FAR_LIMIT) {
        st.foreground++;
        if (d < minDepth) st.nearClamped++;
        written[o] = Math.max(minDepth, d);
      } else {
        if (seen[o] > 0) st.farClipped++;
        written[o] = maxDepth;
      }
    }
    stats.push(st);
  }
  const bg = new Float32Array(px * 3);
  const viewNormals = new Float32Array(px * 3);
  return params.map((p, b) => {
    backgroundImage(p.background, size, bg);
    const depth = written.slice(b * px, (b + 1) * px);
    depthNormals(depth, camera, 'reference', viewNormals);
    // Clamped arrays clamp and round on assignment (half to even): the 8-bit conversion at no extra cost.
    const image = new Uint8ClampedArray(px * 3);
    const normal = new Uint8ClampedArray(px * 3);
    const mask = new Uint8Array(px);
    const canonAlbedo = new Uint8ClampedArray(px * 3);
    const fa = faces[b].albedo;
    const base = 3 * b * px;
    for (let k = 0; k < px; k++) {
      const fg = depth[k] < maxDepth;
      mask[k] = fg ? 255 : 0;
      const src = fg ? rendered : bg;
      const off = fg ? base : 0;
      const scale = fg ? 127.5 : 255;
      const shift = fg ? 127.5 : 0;
      for (let ch = 3 * k; ch < 3 * k + 3; ch++) {
        image[ch] = src[off + ch] * scale + shift;
        normal[ch] = viewNormals[ch] * 127.5 + 127.5;
        canonAlbedo[ch] = fa[ch] * 127.5 + 127.5;
      }
    }
    const canonDepth = faces[b].depth;
    return {
      image: new Uint8Array(image.buffer),
      depth,
      depth16: encodeDepth16(depth, SYNFACE_DEPTH_RANGE, { label: 'synface view depth' }),
      canonDepth,
      canonDepth16: encodeDepth16(canonDepth, SYNFACE_DEPTH_RANGE, { label: 'synface canonical depth' }),
      canonAlbedo: new Uint8Array(canonAlbedo.buffer),
      normal: new Uint8Array(normal.buffer),
      mask,
      stats: stats[b],
    };
  });
}
