// Camera rays into an object-centred frame, for volume rendering (CIPS-3D's NeRF) in gan3d's one convention.
//
// The object frame is the canonical frame of camera.ts moved to the rotation centre c0 = (0, 0, rotCenterDepth):
// X = P − c0, x right, y down, z away from the camera. A view (rx, ry, rz, tx, ty, tz) means what it means in
// view.ts: the object turned by R = Rz Ry Rx about c0 and moved by t, so a camera-frame point is P' = R X + c0 + t.
// Pixel (i, j) sees P' = z · K⁻¹[j, i, 1] for depths z > 0, hence in the object frame
//   X(z) = o + z · d,  o = −Rᵀ (c0 + t),  d = Rᵀ K⁻¹[j, i, 1].
// The ray parameter is the camera's z-depth (camera.ts's depth), so volume-rendered depth is a depth map of the
// project's convention, and a NeRF rendered at a photogeo view lines up with that model's depth. Distance along a
// ray is z · |K⁻¹[j, i, 1]|: `rayLengths` gives the factor for volumeRender.
//
// CIPS-3D (paper notes A.4) puts its camera on the unit sphere around the object looking at the origin, FOV 12°,
// near/far 0.88/1.12, yaw ~ N(π/2, 0.3²) and pitch ~ N(π/2, 0.155²) in its own angles; here the same is a view with
// rotCenterDepth 1, rx = pitch − π/2 and ry = yaw − π/2 (up to the axes' signs), the camera config's fovDeg 12, and
// z-depth bounds.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { type CameraConfig, pixelRays } from './camera.js';
import { VIEW_SIZE, rotationMatrices } from './view.js';

export interface ViewRays {
  /** Ray origins in the object frame [N, 3] (one per view: every pixel's ray starts at the camera centre). */
  origins: Float32Array;
  /** Directions in the object frame [N, S·S, 3], scaled so that the z-depth is the ray parameter. */
  directions: Float32Array;
  /** |K⁻¹[j, i, 1]| per pixel [S·S]: distance per unit of z-depth (the same for every view). */
  rayLengths: Float32Array;
  views: number;
  pixels: number;
}

/** The rays of every pixel for each view ([N·6] floats, view.ts's layout) of camera `cam`. */
export function viewRays(cam: CameraConfig, views: Float32Array): ViewRays {
  if (views.length % VIEW_SIZE !== 0 || views.length === 0) {
    throw new Gan3dError(`viewRays: views must hold N × 6 numbers (rx, ry, rz, tx, ty, tz), got ${views.length}.`, 'BAD_SHAPE');
  }
  const n = views.length / VIEW_SIZE;
  const rays = pixelRays(cam);
  const pixels = cam.size * cam.size;
  const rot = tf.tidy(() => rotationMatrices(tf.tensor2d(views, [n, VIEW_SIZE])).dataSync() as Float32Array);
  const origins = new Float32Array(n * 3);
  const directions = new Float32Array(n * pixels * 3);
  for (let v = 0; v < n; v++) {
    const R = rot.subarray(v * 9, v * 9 + 9);
    const c = [views[v * 6 + 3], views[v * 6 + 4], cam.rotCenterDepth + views[v * 6 + 5]];
    // Rᵀ y: column a of R dotted with y.
    for (let a = 0; a < 3; a++) origins[v * 3 + a] = -(R[a] * c[0] + R[3 + a] * c[1] + R[6 + a] * c[2]);
    for (let p = 0; p < pixels; p++) {
      const [x, y, z] = [rays[p * 3], rays[p * 3 + 1], rays[p * 3 + 2]];
      const o = (v * pixels + p) * 3;
      for (let a = 0; a < 3; a++) directions[o + a] = R[a] * x + R[3 + a] * y + R[6 + a] * z;
    }
  }
  const rayLengths = new Float32Array(pixels);
  for (let p = 0; p < pixels; p++) rayLengths[p] = Math.hypot(rays[p * 3], rays[p * 3 + 1], rays[p * 3 + 2]);
  return { origins, directions, rayLengths, views: n, pixels };
}

/** Object-frame points X = o + z d of every sample: depths [N, P, K] → [N, P, K, 3]. Differentiable in nothing
 *  (positions are inputs), so it is a plain function of the rays and depths. */
export function rayPoints(rays: ViewRays, depths: tf.Tensor3D): tf.Tensor4D {
  const [n, p] = depths.shape;
  if (n !== rays.views || p !== rays.pixels) {
    throw new Gan3dError(`rayPoints: depths [${depths.shape}] must be [${rays.views}, ${rays.pixels}, samples].`, 'BAD_SHAPE');
  }
  return tf.tidy(() => {
    const o = tf.tensor4d(rays.origins, [n, 1, 1, 3]);
    const d = tf.tensor4d(rays.directions, [n, p, 1, 3]);
    return tf.add(o, tf.mul(tf.expandDims(depths, 3), d)) as tf.Tensor4D;
  });
}
