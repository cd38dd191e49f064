// Float crop and resize for data that must not be quantised (depth maps). sharp/libvips resizes 16-bit images in
// fixed point, which moves even a constant map by up to ~1e-3 of its range; here a constant stays constant.

/** The centred square of side round(fraction · min(w, h)), offsets rounded like torchvision's CenterCrop. */
export function centerSquare(width: number, height: number, fraction = 1): { left: number; top: number; side: number } {
  const side = Math.max(1, Math.round(fraction * Math.min(width, height)));
  return { left: Math.round((width - side) / 2), top: Math.round((height - side) / 2), side };
}

/** Copies the rectangle [left, left+w) × [top, top+h) of a single-channel row-major image. */
export function cropChannel(data: ArrayLike<number>, width: number, left: number, top: number, w: number, h: number): Float64Array {
  const out = new Float64Array(w * h);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[i * w + j] = data[(top + i) * width + left + j];
  return out;
}

/**
 * Weights of a triangle (bilinear) filter along one axis, widened by the shrink factor when downscaling so every
 * input sample contributes (Pillow's BILINEAR, which torchvision's Resize used on PIL images). Pixel centres are at
 * k + 0.5 on both grids.
 */
function axisWeights(inSize: number, outSize: number): { start: number[]; weights: number[][] } {
  const scale = inSize / outSize;
  const width = Math.max(scale, 1);
  const start: number[] = [];
  const weights: number[][] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - width));
    const hi = Math.min(inSize, Math.ceil(center + width));
    const w: number[] = [];
    let total = 0;
    for (let k = lo; k < hi; k++) {
      const t = Math.max(0, 1 - Math.abs((k + 0.5 - center) / width));
      w.push(t);
      total += t;
    }
    start.push(lo);
    weights.push(w.map((t) => t / total));
  }
  return { start, weights };
}

/** Separable triangle-filter resize of a single-channel image, in float64. */
export function resizeBilinear(data: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number): Float64Array {
  const xs = axisWeights(width, outWidth);
  const ys = axisWeights(height, outHeight);
  const rows = new Float64Array(height * outWidth);
  for (let i = 0; i < height; i++) {
    for (let o = 0; o < outWidth; o++) {
      let s = 0;
      const w = xs.weights[o];
      for (let t = 0; t < w.length; t++) s += w[t] * data[i * width + xs.start[o] + t];
      rows[i * outWidth + o] = s;
    }
  }
  const out = new Float64Array(outHeight * outWidth);
  for (let o = 0; o < outHeight; o++) {
    const w = ys.weights[o];
    for (let j = 0; j < outWidth; j++) {
      let s = 0;
      for (let t = 0; t < w.length; t++) s += w[t] * rows[(ys.start[o] + t) * outWidth + j];
      out[o * outWidth + j] = s;
    }
  }
  return out;
}
