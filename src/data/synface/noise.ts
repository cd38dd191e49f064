// Seeded, smooth value noise for textures and backgrounds: a pure function of (x, y, seed), so a face can be
// rendered from its parameters alone, at any size, without drawing from an Rng.

/** A hash of a lattice point to [0, 1). */
export function latticeHash(ix: number, iy: number, seed: number): number {
  let h = Math.imul(ix | 0, 0x27d4eb2d) ^ Math.imul(iy | 0, 0x165667b1) ^ Math.imul(seed | 0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Lattice points kept in the cache per axis: [-LATTICE_HALF, LATTICE_HALF). */
const LATTICE_HALF = 64;
const LATTICE_SIDE = 2 * LATTICE_HALF;

/**
 * Value noise in [0, 1): lattice values blended with a smooth (C1) interpolant. Lattice values are cached per
 * instance, since every pixel would otherwise hash four lattice points (most of the cost of a texture).
 */
export class ValueNoise {
  private readonly cache = new Float64Array(LATTICE_SIDE * LATTICE_SIDE).fill(-1);
  constructor(private seed: number) {}

  /** Starts over with another seed, keeping the cache's memory (faces are made by the thousand). */
  reseed(seed: number): this {
    if (seed !== this.seed) {
      this.seed = seed;
      this.cache.fill(-1);
    }
    return this;
  }

  private lattice(ix: number, iy: number): number {
    const cx = ix + LATTICE_HALF;
    const cy = iy + LATTICE_HALF;
    if (cx < 0 || cy < 0 || cx >= LATTICE_SIDE || cy >= LATTICE_SIDE) return latticeHash(ix, iy, this.seed);
    const k = cy * LATTICE_SIDE + cx;
    let v = this.cache[k];
    if (v < 0) v = this.cache[k] = latticeHash(ix, iy, this.seed);
    return v;
  }

  at(x: number, y: number): number {
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    const fx = x - ix;
    const fy = y - iy;
    const sx = fx * fx * (3 - 2 * fx);
    const sy = fy * fy * (3 - 2 * fy);
    const a = this.lattice(ix, iy);
    const b = this.lattice(ix + 1, iy);
    const c = this.lattice(ix, iy + 1);
    const d = this.lattice(ix + 1, iy + 1);
    return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
  }

  /** Two octaves, in [0, 1). */
  fractal(x: number, y: number): number {
    return (2 * this.at(x, y) + this.at(2 * x + 17.3, 2 * y + 5.1)) / 3;
  }
}
