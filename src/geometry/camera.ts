// The one coordinate convention of gan3d. Every other geometry module takes its numbers from here.
//
// - A pinhole camera at the origin looks down +z; depth is the z coordinate (positive, away from the camera).
// - x points right (image columns), y points down (image rows).
// - Pixel (row i, column j) has image coordinates (u, v) = (j, i); pixel centres sit at integers 0..S-1.
// - Intrinsics for an S x S image: f = ((S - 1) / 2) / tan(fov / 2), principal point c = (S - 1) / 2, so
//   P = d * K^-1 [u, v, 1] = (d (u - c) / f, d (v - c) / f, d) and (u, v) = (f X / Z + c, f Y / Z + c).
// - The depth range [minDepth, maxDepth] bounds predicted canonical depth; rendered view depth is clamped to the
//   range widened by half its width on each side, and rotations turn about (0, 0, rotCenterDepth).
import { Gan3dError } from '../engine/errors.js';

export interface CameraConfig {
  /** Side of the square image in pixels. */
  size: number;
  /** Full field of view in degrees. */
  fovDeg: number;
  minDepth: number;
  maxDepth: number;
  /** Depth of the point on the optical axis that view rotations turn about. */
  rotCenterDepth: number;
}

/** Defaults shared by Unsup3d and GAN2Shape (fov 10 degrees, depth 0.9..1.1, rotation centre at depth 1). */
export const CAMERA_DEFAULTS: Readonly<Omit<CameraConfig, 'size'>> = Object.freeze({
  fovDeg: 10,
  minDepth: 0.9,
  maxDepth: 1.1,
  rotCenterDepth: 1.0,
});

/** Depth written where no surface covers a pixel (the far plane of the renderer); clamping maps it to the far clamp. */
export const EMPTY_DEPTH = 10;

/** Triangles with a vertex closer than this are not drawn (they would project through or behind the camera). */
export const NEAR_PLANE = 0.1;

/** The camera for `size` x `size` images, with any fields overridden; checks that the numbers make sense. */
export function cameraConfig(size: number, overrides: Partial<Omit<CameraConfig, 'size'>> = {}): CameraConfig {
  const cam: CameraConfig = { ...CAMERA_DEFAULTS, ...overrides, size };
  checkCamera(cam);
  return cam;
}

export function checkCamera(cam: CameraConfig): void {
  const problems: string[] = [];
  if (!Number.isInteger(cam.size) || cam.size < 3) problems.push(`size must be an integer >= 3 (got ${cam.size})`);
  if (!(cam.fovDeg > 0 && cam.fovDeg < 180)) problems.push(`fovDeg must be in (0, 180) (got ${cam.fovDeg})`);
  if (!(cam.minDepth > NEAR_PLANE && cam.minDepth < cam.maxDepth)) {
    problems.push(`depth range must satisfy ${NEAR_PLANE} < minDepth < maxDepth (got ${cam.minDepth}..${cam.maxDepth})`);
  }
  if (!(cam.rotCenterDepth > 0)) problems.push(`rotCenterDepth must be positive (got ${cam.rotCenterDepth})`);
  if (problems.length > 0) {
    throw new Gan3dError(`Invalid camera config: ${problems.join('; ')}.`, 'BAD_CONFIG');
  }
}

export interface Intrinsics {
  /** Focal length in pixels (the same along x and y). */
  f: number;
  /** Principal point, the same along u and v. */
  c: number;
}

/** Intrinsics of a camera; only its size and field of view matter. */
export function intrinsics(cam: Pick<CameraConfig, 'size' | 'fovDeg'>): Intrinsics {
  const c = (cam.size - 1) / 2;
  return { f: c / Math.tan((cam.fovDeg * Math.PI) / 360), c };
}

/** Rendered depth is clamped to [minDepth - m, maxDepth + m] with m = (maxDepth - minDepth) / 2. */
export function depthClampRange(cam: CameraConfig): { lo: number; hi: number } {
  const m = (cam.maxDepth - cam.minDepth) / 2;
  return { lo: cam.minDepth - m, hi: cam.maxDepth + m };
}

/** Per pixel K^-1 [j, i, 1]: the point at depth 1 seen by pixel (i, j); row-major [S * S * 3]. */
export function pixelRays(cam: CameraConfig): Float32Array {
  const { f, c } = intrinsics(cam);
  const s = cam.size;
  const rays = new Float32Array(s * s * 3);
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < s; j++) {
      const o = (i * s + j) * 3;
      rays[o] = (j - c) / f;
      rays[o + 1] = (i - c) / f;
      rays[o + 2] = 1;
    }
  }
  return rays;
}

/** Throws a user-facing error unless `shape` is [N, S, S, channels] for this camera (channels -1: any). */
export function checkImageShape(what: string, shape: number[], cam: CameraConfig, channels: number, batch?: number): void {
  const [n, h, w, c] = shape;
  const ok =
    shape.length === 4 && h === cam.size && w === cam.size && (channels < 0 || c === channels) && (batch === undefined || n === batch);
  if (!ok) {
    const want = `[${batch ?? 'N'}, ${cam.size}, ${cam.size}, ${channels < 0 ? 'C' : channels}]`;
    throw new Gan3dError(`${what} must have shape ${want} for a ${cam.size}x${cam.size} camera, got [${shape}].`, 'BAD_SHAPE');
  }
}
