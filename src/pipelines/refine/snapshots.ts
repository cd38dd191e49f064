// The current estimate of a refinement as host arrays, and per-stage snapshots of it as PNGs:
//   <out>/stages/<k>-<name>/depth.png           input-view depth, 16-bit, SynFace's encoding (0.9..1.1, clamped)
//                          depth_color.png     the same through the turbo map, stretched over the visible pixels
//                          normal.png          canonical normals, RGB = (x right, y up, z toward the viewer)/2 + 0.5
//                          albedo.png          canonical albedo
//                          reconstruction.png  the input view re-rendered
//                          projected.png       up to 8 samples of the bank, side by side (after a Step 2)
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { colorizeDepth } from '../../io/colormap.js';
import { encodeDepth16, SYNFACE_DEPTH_RANGE } from '../../io/depth-png.js';
import { encodePng16Grey, encodePng8, signedToUint8 } from '../../io/png.js';
import { predictLight, predictViewRaw, renderComposite } from './nets.js';
import type { RefineSession } from './session.js';

/** The refined photo-geometric estimate of the input, on the host. */
export interface RefineEstimate {
  size: number;
  /** [S·S] canonical and input-view depth, [S·S·3] albedo, normals, canonical shaded image, reconstruction, [S·S] mask. */
  canonDepth: Float32Array;
  viewDepth: Float32Array;
  canonAlbedo: Float32Array;
  normals: Float32Array;
  canonImage: Float32Array;
  recon: Float32Array;
  mask: Float32Array;
  /** (ambient, diffuse, lx, ly) and (rx, ry, rz in radians, tx, ty, tz). */
  light: number[];
  view: number[];
}

/** A no-grad forward of the per-image nets on the input. */
export function currentEstimate(s: RefineSession): RefineEstimate {
  const { model, image } = s;
  const t = tf.tidy(() => {
    const depth = model.decodeDepth(model.depthNet.apply(image));
    const albedo = model.albedoNet.apply(image);
    const light = predictLight(model, image);
    const view = model.decodeView(predictViewRaw(model, image));
    const r = renderComposite(model, depth, albedo, light, view, false);
    return [depth, r.viewDepth, albedo, r.normals, r.canonImage, r.recon, r.mask, light, view];
  });
  const [canonDepth, viewDepth, canonAlbedo, normals, canonImage, recon, mask, light, view] = t.map((x) => x.dataSync() as Float32Array);
  tf.dispose(t);
  return { size: model.config.imageSize, canonDepth, viewDepth, canonAlbedo, normals, canonImage, recon, mask, light: Array.from(light), view: Array.from(view) };
}

function normalsToRgb(normals: Float32Array): Uint8Array {
  const out = new Uint8Array(normals.length);
  const byte = (v: number) => Math.round((Math.min(1, Math.max(-1, v)) * 0.5 + 0.5) * 255);
  for (let k = 0; k < normals.length; k += 3) {
    out[k] = byte(-normals[k]);
    out[k + 1] = byte(normals[k + 1]);
    out[k + 2] = byte(normals[k + 2]);
  }
  return out;
}

/** Writes the snapshot PNGs of `e` (and of the bank's first samples) into `dir`, replacing older ones. */
export async function writeSnapshot(dir: string, e: RefineEstimate, s: RefineSession): Promise<void> {
  const n = e.size;
  const write = (name: string, data: Uint8Array) => writeFileAtomic(path.join(dir, name), data, { force: true });
  const depth16 = encodeDepth16(e.viewDepth, SYNFACE_DEPTH_RANGE, { clamp: true, label: 'refined depth' });
  await write('depth.png', await encodePng16Grey({ data: depth16, width: n, height: n }));
  await write('depth_color.png', await encodePng8(colorizeDepth(e.viewDepth, { mask: e.mask }).rgb, n, n, 3));
  await write('normal.png', await encodePng8(normalsToRgb(e.normals), n, n, 3));
  await write('albedo.png', await encodePng8(signedToUint8(e.canonAlbedo), n, n, 3));
  await write('reconstruction.png', await encodePng8(signedToUint8(e.recon), n, n, 3));
  const shown = Math.min(8, s.bank.count);
  if (shown > 0) {
    const row = new Float32Array(n * n * 3 * shown);
    for (let y = 0; y < n; y++) {
      for (let k = 0; k < shown; k++) {
        row.set(s.bank.images.subarray((k * n * n + y * n) * 3, (k * n * n + (y + 1) * n) * 3), (y * n * shown + k * n) * 3);
      }
    }
    await write('projected.png', await encodePng8(signedToUint8(row), n * shown, n, 3));
  }
}
