// GAN2Shape's ellipsoid shape prior (paper notes C.8): a spherical cap stretched to the object's mask bounding box,
// near at the centre and far at the rim and outside. Built in the image frame, so it is also an input-view depth.

export interface EllipsoidPriorConfig {
  /** Mask values ≥ threshold count as object. */
  threshold: number;
  /** Fraction of the box height added above it (synface: 1/6, to cover the forehead the parser misses). */
  extendUp: number;
  /** Sphere radius R, and depths at the cap's centre (near) and rim (far). */
  radius: number;
  near: number;
  far: number;
}

export const ELLIPSOID_DEFAULTS: EllipsoidPriorConfig = { threshold: 0.7, extendUp: 1 / 6, radius: 0.4, near: 0.91, far: 1.02 };

/** Depth map [S·S] of the ellipsoid prior for a mask [S·S] with values in [0,1]; an empty mask gives the far plane. */
export function ellipsoidPrior(mask: ArrayLike<number>, size: number, config: EllipsoidPriorConfig = ELLIPSOID_DEFAULTS): Float32Array {
  const { threshold, extendUp, radius: R, near, far } = config;
  let minY = size;
  let maxY = -1;
  let minX = size;
  let maxX = -1;
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      if (mask[i * size + j] >= threshold) {
        if (i < minY) minY = i;
        if (i > maxY) maxY = i;
        if (j < minX) minX = j;
        if (j > maxX) maxX = j;
      }
    }
  }
  const depth = new Float32Array(size * size).fill(far);
  if (maxY < 0 || maxX <= minX) return depth;
  minY -= (maxY - minY) * extendUp;
  const rPx = (maxX - minX) / 2;
  const ratio = (maxY - minY) / (maxX - minX);
  const cy = (minY + maxY) / 2;
  const cx = (minX + maxX) / 2;
  const rhoMax = Math.sqrt(R * R - (R - (far - near)) ** 2);
  for (let i = 0; i < size; i++) {
    // The vertical stretch is about the image centre, as in the reference code (not about the box centre).
    const iStretched = (i - size / 2) / ratio + size / 2;
    for (let j = 0; j < size; j++) {
      const dist = Math.hypot(iStretched - cy, j - cx);
      if (dist <= rPx) {
        const rho = (dist / rPx) * rhoMax;
        depth[i * size + j] = R - Math.sqrt(Math.abs(R * R - rho * rho)) + near;
      }
    }
  }
  return depth;
}
