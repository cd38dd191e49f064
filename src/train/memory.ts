// Memory figures for the training log. The peak resident set size comes from the kernel (getrusage maxrss), so it
// also counts the wasm heap and worker threads, which process.memoryUsage() samples would miss between samples.
import * as tf from '@tensorflow/tfjs';

export interface MemorySnapshot {
  /** Peak resident set size of the process so far, in MiB. */
  peakRssMiB: number;
  /** Current resident set size, in MiB. */
  rssMiB: number;
  /** Live tensors in the active backend: a number that grows means a leak. */
  tensors: number;
}

const MIB = 1024 * 1024;

/** Peak RSS in bytes (resourceUsage().maxRSS is in kilobytes). */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export function memorySnapshot(): MemorySnapshot {
  return {
    peakRssMiB: Math.round((peakRssBytes() / MIB) * 10) / 10,
    rssMiB: Math.round((process.memoryUsage.rss() / MIB) * 10) / 10,
    tensors: tf.memory().numTensors,
  };
}
