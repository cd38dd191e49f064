// GAN-projected rotation frames of a finished refinement (paper notes C.10).
//
// What follows C.10: GAN2Shape shows a refined shape turning about the vertical axis in two ways, rendered (the
// shape and its albedo under the refined light) and "GAN-projected" (each rendered view pushed through the trained
// latent-offset encoder onto the GAN's image manifold, Ĩ = clamp(G(w + Δw(E(view))))); its sweeps span yaw ±70° for
// faces (±45° for cars and churches) at 9 yaws.
// What differs: one row of yaws at pitch 0 (the paper's grid adds 5 pitches within ±20°), ±60° by default like
// `reconstruct`'s rotate.gif (the paper's ±70° is `maxYawDeg: 70`), and the views are rendered exactly as Step 2's
// pseudo-samples are (canonical shading under the input's refined ambient, diffuse and direction, then warped into
// the view with the unseen pixels left at 0), so the encoder sees the kind of image it was trained on. The sweep turns
// the canonical frame (view 0) about the rotation centre, as rotate.gif does, not the input's own view.
//
// Written into the refinement folder:
//   projected_rotate.gif   the projected frames, −max … +max and back
//   projected_rotate.png   a strip: the rendered views (top row) over their GAN projections (bottom row)
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { Gan3dError } from '../../engine/errors.js';
import { renderView } from '../../geometry/render.js';
import { lambertShading } from '../../geometry/shading.js';
import { depthToNormals } from '../../geometry/normals.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { encodeGif } from '../../io/gif.js';
import { encodePng8, signedToUint8 } from '../../io/png.js';
import { predictLight } from './nets.js';
import type { RefineSession } from './session.js';
import { stageLengths } from './config.js';
import { optimizeProjections } from './step2.js';

export interface RotationOptions {
  /** Yaws in the sweep, evenly spaced over [−maxYawDeg, +maxYawDeg] (default 9, as C.10). */
  yaws?: number;
  /** Largest yaw in degrees (default 60; the paper uses 70 for faces, 45 for cars and churches). */
  maxYawDeg?: number;
}

export const ROTATION_DEFAULTS = { yaws: 9, maxYawDeg: 60 } as const;

export interface ProjectedRotation {
  size: number;
  yawsDeg: number[];
  /** The refined shape rendered at each yaw [F·S·S·3] and its GAN projection [F·S·S·3], in [-1, 1]. */
  rendered: Float32Array;
  projected: Float32Array;
}

/** Evenly spaced yaws from −max to +max (one frame: 0). */
export function sweepYaws(count: number, maxYawDeg: number): number[] {
  if (!(Number.isInteger(count) && count >= 1 && count <= 64)) throw new Gan3dError(`The rotation sweep needs 1..64 yaws, got ${count}.`, 'BAD_ARGUMENT');
  if (!(maxYawDeg >= 0 && maxYawDeg <= 90)) throw new Gan3dError(`The rotation sweep's largest yaw must be in 0..90°, got ${maxYawDeg}.`, 'BAD_ARGUMENT');
  return count === 1 ? [0] : Array.from({ length: count }, (_, k) => -maxYawDeg + (2 * maxYawDeg * k) / (count - 1));
}

/** Renders the session's current shape at a yaw sweep and projects every view onto the GAN (no gradients). */
export async function projectedRotation(s: RefineSession, options: RotationOptions = {}): Promise<ProjectedRotation> {
  const yawsDeg = sweepYaws(options.yaws ?? ROTATION_DEFAULTS.yaws, options.maxYawDeg ?? ROTATION_DEFAULTS.maxYawDeg);
  const { model, image, encoder, projector, config } = s;
  const f = yawsDeg.length;
  const [rendered, projected] = tf.tidy(() => {
    const tile = (x: tf.Tensor4D) => tf.tile(x, [f, 1, 1, 1]) as tf.Tensor4D;
    const depth = model.decodeDepth(model.depthNet.apply(image));
    const albedo = model.albedoNet.apply(image);
    const light = predictLight(model, image); // [1, 4]: the refined ambient, diffuse, lx, ly
    const { shading } = lambertShading(tile(depthToNormals(depth, model.camera)), tf.tile(light, [f, 1]) as tf.Tensor2D);
    const canon = tf.sub(tf.mul(tf.add(tile(albedo), 1), shading), 1) as tf.Tensor4D;
    const view = tf.tensor2d(yawsDeg.map((d) => [0, (d * Math.PI) / 180, 0, 0, 0, 0]));
    const r = renderView({ canonDepth: tile(depth), canonImage: canon, view, camera: model.camera });
    const views = tf.clipByValue(r.image, -1, 1) as tf.Tensor4D;
    // C.10's projection: the same map the bank uses, Ĩ = clamp(G(w + Δw(E(view)))) (or fitted per view, below).
    return [views, config.projection !== 'optimize' ? projector.projectImages(encoder, views, config.relativeEncoding).projected : tf.zeros([1])];
  });
  const renderedData = rendered.dataSync() as Float32Array;
  const projectedData =
    config.projection !== 'optimize'
      ? (projected.dataSync() as Float32Array)
      : (await optimizeProjections(s, renderedData, f, stageLengths(config, config.stages - 1).step2)).projected;
  const out = { size: model.config.imageSize, yawsDeg, rendered: renderedData, projected: projectedData };
  tf.dispose([rendered, projected]);
  return out;
}

/** Frames [F·S·S·3] laid side by side in one row [S, F·S, 3]. */
function row(frames: Float32Array, count: number, n: number): Float32Array {
  const out = new Float32Array(frames.length);
  for (let y = 0; y < n; y++) {
    for (let k = 0; k < count; k++) out.set(frames.subarray((k * n * n + y * n) * 3, (k * n * n + (y + 1) * n) * 3), (y * n * count + k * n) * 3);
  }
  return out;
}

/** Writes projected_rotate.gif and projected_rotate.png into `dir`; returns the file names. */
export async function writeProjectedRotation(dir: string, r: ProjectedRotation): Promise<string[]> {
  const n = r.size;
  const f = r.yawsDeg.length;
  const per = n * n * 3;
  // −max … +max, then back without repeating the ends.
  const order = [...Array.from({ length: f }, (_, k) => k), ...Array.from({ length: Math.max(f - 2, 0) }, (_, k) => f - 2 - k)];
  const loop = new Float32Array(order.length * per);
  order.forEach((k, i) => loop.set(r.projected.subarray(k * per, (k + 1) * per), i * per));
  const gif = await encodeGif({ data: loop, width: n, height: n, count: order.length }, { delayMs: 120 });
  const strip = new Float32Array(2 * f * per);
  strip.set(row(r.rendered, f, n), 0);
  strip.set(row(r.projected, f, n), f * per);
  const png = await encodePng8(signedToUint8(strip), f * n, 2 * n, 3);
  await writeFileAtomic(path.join(dir, 'projected_rotate.gif'), gif, { force: true });
  await writeFileAtomic(path.join(dir, 'projected_rotate.png'), png, { force: true });
  return ['projected_rotate.gif', 'projected_rotate.png'];
}
