// Binary masks for evaluation, with the 1-pixel erosion of the Unsup3d protocol (PART D.1).

/**
 * 1-pixel erosion as a 3×3 box filter with zero padding and threshold > 0.99 (Unsup3d's avg_pool2d(3, stride 1,
 * padding 1) > 0.99): a pixel survives only if it and all 8 neighbours are set, so the image's own 1-pixel border
 * is always removed.
 */
export function erodeMask(mask: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      let sum = 0;
      for (let di = -1; di <= 1; di++) {
        const y = i + di;
        if (y < 0 || y >= height) continue;
        for (let dj = -1; dj <= 1; dj++) {
          const x = j + dj;
          if (x >= 0 && x < width && mask[y * width + x]) sum++;
        }
      }
      out[i * width + j] = sum / 9 > 0.99 ? 1 : 0;
    }
  }
  return out;
}

/** 1 where `values[k] < threshold`, else 0. */
export function maskBelow(values: ArrayLike<number>, threshold: number): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let k = 0; k < values.length; k++) out[k] = values[k] < threshold ? 1 : 0;
  return out;
}
