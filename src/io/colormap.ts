// Colour maps for showing scalar fields (depth) as RGB images.

/**
 * Turbo (Google's rainbow map: dark blue → cyan → green → yellow → red → dark red) at t ∈ [0, 1], by its published
 * degree-5 polynomial fit (an approximation of Mikhailov's table, within a few percent). Returns 0..255 RGB.
 */
export function turbo(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const x2 = x * x;
  const x3 = x2 * x;
  const x4 = x2 * x2;
  const x5 = x4 * x;
  const r = 0.13572138 + 4.6153926 * x - 42.66032258 * x2 + 132.13108234 * x3 - 152.94239396 * x4 + 59.28637943 * x5;
  const g = 0.09140261 + 2.19418839 * x + 4.84296658 * x2 - 14.18503333 * x3 + 4.27729857 * x4 + 2.82956604 * x5;
  const b = 0.1066733 + 12.64194608 * x - 60.58204836 * x2 + 110.36276771 * x3 - 89.90310912 * x4 + 27.34824973 * x5;
  const byte = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
  return [byte(r), byte(g), byte(b)];
}

export interface DepthColorOptions {
  /** Pixels to take the range from and to colour (values > 0.5); others get `background`. Default: all. */
  mask?: ArrayLike<number>;
  /** Fixed range; default the min and max of the masked depths. */
  near?: number;
  far?: number;
  /** RGB bytes for pixels outside the mask (default black). */
  background?: [number, number, number];
}

/**
 * Depth as RGB bytes with the turbo map, near = warm (red), far = cool (blue): t = (far − d) / (far − near).
 * Returns the pixels and the range used.
 */
export function colorizeDepth(depth: ArrayLike<number>, options: DepthColorOptions = {}): { rgb: Uint8Array; near: number; far: number } {
  const { mask } = options;
  const inside = (k: number) => !mask || mask[k] > 0.5;
  let near = Infinity;
  let far = -Infinity;
  for (let k = 0; k < depth.length; k++) {
    if (inside(k) && Number.isFinite(depth[k])) {
      near = Math.min(near, depth[k]);
      far = Math.max(far, depth[k]);
    }
  }
  near = options.near ?? (Number.isFinite(near) ? near : 0);
  far = options.far ?? (Number.isFinite(far) ? far : 1);
  const span = far - near;
  const bg = options.background ?? [0, 0, 0];
  const rgb = new Uint8Array(depth.length * 3);
  for (let k = 0; k < depth.length; k++) {
    const c = inside(k) ? turbo(span > 1e-12 ? (far - depth[k]) / span : 0.5) : bg;
    rgb[3 * k] = c[0];
    rgb[3 * k + 1] = c[1];
    rgb[3 * k + 2] = c[2];
  }
  return { rgb, near, far };
}
