// The camera and depth-grid math (PART B.1, B.2, B.5) on plain typed arrays, so that exporters and metrics need no
// tensors. This is a local stand-in for src/geometry/camera.ts; both follow the same equations and the lead will
// point these callers at the shared module.
import { Gan3dError } from '../engine/errors.js';

/** A depth map: positive distance along +z for each pixel, row-major, `data.length === width * height`. */
export interface DepthMap {
  data: Float32Array;
  width: number;
  height: number;
}

/** The pinhole camera of an S×S image (B.1). `fovDeg` is the full field of view, 10° by default. */
export interface CameraSpec {
  size: number;
  fovDeg?: number;
}

export const DEFAULT_FOV_DEG = 10;

/** Intrinsics of B.1: f = ((S−1)/2)/tan(fov/2), c = (S−1)/2, the same for x and y. */
export function intrinsics(camera: CameraSpec): { focal: number; center: number } {
  const fov = ((camera.fovDeg ?? DEFAULT_FOV_DEG) * Math.PI) / 180;
  const center = (camera.size - 1) / 2;
  return { focal: center / Math.tan(fov / 2), center };
}

/** Checks that a depth map is square, matches the camera and holds only finite positive values. */
export function checkDepthMap(depth: DepthMap, camera: CameraSpec, label: string): void {
  const { data, width, height } = depth;
  if (data.length !== width * height) {
    throw new Gan3dError(`${label}: depth map has ${data.length} values but is declared ${width}×${height}.`, 'IO_BAD_SHAPE');
  }
  if (width !== height || width !== camera.size) {
    throw new Gan3dError(
      `${label}: depth map is ${width}×${height} but the camera is ${camera.size}×${camera.size}; pass a square depth map of the camera's size.`,
      'IO_BAD_SHAPE',
    );
  }
  if (width < 2) throw new Gan3dError(`${label}: depth map must be at least 2×2.`, 'IO_BAD_SHAPE');
  let bad = 0;
  let first = -1;
  for (let k = 0; k < data.length; k++) {
    const d = data[k];
    if (!Number.isFinite(d) || d <= 0) {
      bad++;
      if (first < 0) first = k;
    }
  }
  if (bad > 0) {
    const d = data[first];
    throw new Gan3dError(
      `${label}: depth map has ${bad} value(s) that are NaN, infinite or not positive ` +
        `(first at row ${Math.floor(first / width)}, column ${first % width}: ${d}); depth must be finite and > 0.`,
      'IO_BAD_DEPTH',
    );
  }
}

/**
 * Back-projection of B.2: P(i,j) = d(i,j)·K⁻¹[j, i, 1]ᵀ, i.e. X = d(j−c)/f, Y = d(i−c)/f, Z = d.
 * Returns xyz per pixel (row-major) in float64 so callers choose their own precision.
 */
export function backProject(depth: Float32Array, camera: CameraSpec): Float64Array {
  const S = camera.size;
  const { focal, center } = intrinsics(camera);
  const points = new Float64Array(S * S * 3);
  for (let i = 0; i < S; i++) {
    for (let j = 0; j < S; j++) {
      const k = i * S + j;
      const d = depth[k];
      points[3 * k] = (d * (j - center)) / focal;
      points[3 * k + 1] = (d * (i - center)) / focal;
      points[3 * k + 2] = d;
    }
  }
  return points;
}

/**
 * How a normal is scaled after the cross product.
 * - 'reference': n / (‖n‖ + 1e-7), exactly B.5 and the Unsup3d/GAN2Shape code. At fov 10° the cross product is tiny
 *   (‖n‖ ≈ (2d/f)² ≈ 3e-5 at S = 64, d = 1), so these normals are about 0.3% short of unit length, and two identical
 *   normals meet at ≈ 6.5° instead of 0°. Published MAD numbers carry this floor; use it to compare with them.
 * - 'unit': n / ‖n‖ (and (0,0,1) where ‖n‖ = 0): true unit normals, for meshes and for analytic checks.
 */
export type NormalScaling = 'reference' | 'unit';

export const NORMAL_EPS = 1e-7;

/**
 * Normals of B.5 on a back-projected grid: t_u = P(i,j+1) − P(i,j−1), t_v = P(i+1,j) − P(i−1,j), n = t_u × t_v.
 * The 1-pixel border gets (0,0,1). A fronto-parallel plane gives +z, pointing away from the camera: the sign the
 * shading code uses.
 */
export function gridNormals(points: Float64Array, size: number, scaling: NormalScaling = 'reference'): Float64Array {
  const S = size;
  const normals = new Float64Array(S * S * 3);
  for (let k = 0; k < S * S; k++) normals[3 * k + 2] = 1;
  for (let i = 1; i < S - 1; i++) {
    for (let j = 1; j < S - 1; j++) {
      const right = 3 * (i * S + j + 1);
      const left = 3 * (i * S + j - 1);
      const down = 3 * ((i + 1) * S + j);
      const up = 3 * ((i - 1) * S + j);
      const ux = points[right] - points[left];
      const uy = points[right + 1] - points[left + 1];
      const uz = points[right + 2] - points[left + 2];
      const vx = points[down] - points[up];
      const vy = points[down + 1] - points[up + 1];
      const vz = points[down + 2] - points[up + 2];
      const nx = uy * vz - uz * vy;
      const ny = uz * vx - ux * vz;
      const nz = ux * vy - uy * vx;
      const length = Math.sqrt(nx * nx + ny * ny + nz * nz);
      const k = 3 * (i * S + j);
      if (scaling === 'unit' && length === 0) continue; // keeps (0,0,1)
      const divisor = scaling === 'reference' ? length + NORMAL_EPS : length;
      normals[k] = nx / divisor;
      normals[k + 1] = ny / divisor;
      normals[k + 2] = nz / divisor;
    }
  }
  return normals;
}

/** Normals of a depth map by B.5, via back-projection with the given camera. */
export function depthNormals(depth: Float32Array, camera: CameraSpec, scaling: NormalScaling = 'reference'): Float64Array {
  return gridNormals(backProject(depth, camera), camera.size, scaling);
}
