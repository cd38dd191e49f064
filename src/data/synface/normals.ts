// Normal maps for the dataset: the maths of geometry/normals.ts `depthToNormals`, as one loop over the pixels.
// On wasm that function's slices and channel stacks cost ~4 ms per 64 x 64 map, as much as everything else a
// sample needs together; this loop takes ~0.1 ms. The tests check it against depthToNormals.
import { type CameraConfig, intrinsics } from '../../geometry/camera.js';
import { NORMAL_EPS } from '../../geometry/normals.js';

/**
 * Normals [S * S * 3] of the depth map `depth` [S * S] (one image), as depthToNormals computes them: central
 * differences of the back-projected grid P = d K^-1 [j, i, 1], n = t_u x t_v normalised, (0, 0, 1) on the border.
 */
export function depthNormals(depth: ArrayLike<number>, cam: CameraConfig, out: Float32Array = new Float32Array(cam.size * cam.size * 3)): Float32Array {
  const s = cam.size;
  const { f, c } = intrinsics(cam);
  out.fill(0);
  for (let k = 2; k < out.length; k += 3) out[k] = 1;
  const px = (i: number, j: number) => (depth[i * s + j] * (j - c)) / f;
  const py = (i: number, j: number) => (depth[i * s + j] * (i - c)) / f;
  for (let i = 1; i < s - 1; i++) {
    for (let j = 1; j < s - 1; j++) {
      const ux = px(i, j + 1) - px(i, j - 1);
      const uy = py(i, j + 1) - py(i, j - 1);
      const uz = depth[i * s + j + 1] - depth[i * s + j - 1];
      const vx = px(i + 1, j) - px(i - 1, j);
      const vy = py(i + 1, j) - py(i - 1, j);
      const vz = depth[(i + 1) * s + j] - depth[(i - 1) * s + j];
      const nx = uy * vz - uz * vy;
      const ny = uz * vx - ux * vz;
      const nz = ux * vy - uy * vx;
      const len = Math.sqrt(nx * nx + ny * ny + nz * nz) + NORMAL_EPS;
      const o = 3 * (i * s + j);
      out[o] = nx / len;
      out[o + 1] = ny / len;
      out[o + 2] = nz / len;
    }
  }
  return out;
}
