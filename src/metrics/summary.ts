// Mean ± std over per-image scores, as the papers report them.

export interface Summary {
  mean: number;
  /** Population standard deviation (divides by n, like numpy's default np.std). */
  std: number;
  /** Values that entered the summary. */
  count: number;
  /** Values left out because they were NaN or infinite (e.g. an image whose evaluation mask was empty). */
  excluded: number;
}

/** Mean and population std of the finite values; non-finite values are counted in `excluded`. */
export function summarize(values: Iterable<number>): Summary {
  let count = 0;
  let excluded = 0;
  let sum = 0;
  const finite: number[] = [];
  for (const v of values) {
    if (Number.isFinite(v)) {
      finite.push(v);
      sum += v;
      count++;
    } else {
      excluded++;
    }
  }
  if (count === 0) return { mean: Number.NaN, std: Number.NaN, count, excluded };
  const mean = sum / count;
  let squares = 0;
  for (const v of finite) squares += (v - mean) ** 2;
  return { mean, std: Math.sqrt(squares / count), count, excluded };
}
