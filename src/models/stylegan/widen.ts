// Function-preserving widening of a trained StyleGAN (Net2Net-style growth by zero fan-in): a fine-tune may start a
// wider G and D from a narrower run. Every weight here is laid out [..., in, out] (conv [k, k, in, out], linear
// [in, out]) and biases [out], so one rule covers all layers:
//   - old channels keep their weights, scaled by sqrt(in_new / in_old) because the equalized learning rate divides by
//     sqrt(fan-in) at run time (demodulated convs ignore the scale; the others need it to stay exact);
//   - new input channels get zero weights into the old outputs, so the old outputs are unchanged;
//   - new output channels keep their fresh initialisation (they feed only the zero weights above, so the networks
//     compute the same function at step 0, yet their gradients are not zero and they start to learn).
// The 4×4 width stays fixed: D's flatten and minibatch-std channel sit after it in memory order.

import { Gan3dError } from '../../engine/errors.js';
import { resolutions, type StyleGanConfig } from './config.js';

/** Why `to` cannot be grown from `from` (null when it can): same architecture except wider or equal channels above 4×4. */
export function wideningProblem(from: StyleGanConfig, to: StyleGanConfig): string | null {
  for (const k of ['resolution', 'zDim', 'wDim', 'mappingLayers', 'mappingLrMul', 'upsample', 'mbstdGroupSize', 'mbstdFeatures'] as const) {
    if (from[k] !== to[k]) return `${k} differs (${String(from[k])} → ${String(to[k])})`;
  }
  for (const table of ['generatorChannels', 'discriminatorChannels'] as const) {
    for (const r of resolutions(to.resolution)) {
      const a = from[table][r], b = to[table][r];
      if (r === 4 && a !== b) return `${table}[4] differs (${a} → ${b}); the 4×4 width cannot change`;
      if (b < a) return `${table}[${r}] would shrink (${a} → ${b}); a fine-tune can only widen`;
    }
  }
  return null;
}

/** True when the two configs have the same channel tables (no widening needed). */
export function sameWidths(a: StyleGanConfig, b: StyleGanConfig): boolean {
  return resolutions(b.resolution).every((r) => a.generatorChannels[r] === b.generatorChannels[r] && a.discriminatorChannels[r] === b.discriminatorChannels[r]);
}

/**
 * One parameter of the wider network: `old` (shape `oldShape`) grown to `newShape`, the new entries taken from `fresh`
 * (the wider network's own initialisation of this parameter), per the rules above.
 */
export function widenParameter(name: string, old: Float32Array, oldShape: readonly number[], fresh: Float32Array, newShape: readonly number[]): Float32Array {
  const rank = newShape.length;
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  if (oldShape.length !== rank || old.length !== size(oldShape) || fresh.length !== size(newShape)) {
    throw new Gan3dError(`Cannot widen "${name}": shapes [${oldShape}] → [${newShape}] do not match its data.`, 'CHECKPOINT_INCOMPATIBLE');
  }
  if (oldShape.every((d, i) => d === newShape[i])) return old;
  // Only the last two axes (in, out) of a weight, or the one axis of a bias, may grow.
  const growable = rank === 1 ? [0] : [rank - 2, rank - 1];
  for (let i = 0; i < rank; i++) {
    if (newShape[i] < oldShape[i] || (newShape[i] !== oldShape[i] && !growable.includes(i))) {
      throw new Gan3dError(`Cannot widen "${name}" from [${oldShape}] to [${newShape}].`, 'CHECKPOINT_INCOMPATIBLE');
    }
  }
  const out = Float32Array.from(fresh);
  if (rank === 1) {
    out.set(old);
    return out;
  }
  const [inOld, outOld] = [oldShape[rank - 2], oldShape[rank - 1]];
  const [inNew, outNew] = [newShape[rank - 2], newShape[rank - 1]];
  const gain = Math.sqrt(inNew / inOld);
  const lead = size(oldShape.slice(0, rank - 2));
  for (let l = 0; l < lead; l++) {
    for (let i = 0; i < inNew; i++) {
      const dst = (l * inNew + i) * outNew;
      if (i < inOld) {
        const src = (l * inOld + i) * outOld;
        for (let o = 0; o < outOld; o++) out[dst + o] = old[src + o] * gain;
      } else {
        out.fill(0, dst, dst + outOld);
      }
    }
  }
  return out;
}
