// Backend selection: one call that every entry point (CLI, tests, benchmarks, workers) makes before touching tensors.
// Order of preference in Node: tfjs-node (native TensorFlow, optional) → wasm (SIMD + XNNPACK, default).
// GAN3D_BACKEND=wasm|cpu|tensorflow overrides the choice; asking for one that cannot load is a clear error.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from './errors.js';
import { registerWasmKernels } from './kernels/index.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgl' | 'webgpu';

export interface BackendInfo {
  name: BackendName;
  /** Threads the backend computes with inside this process. */
  threads: number;
  simd: boolean;
  /** Why this backend was chosen (override, preference, fallback). */
  reason: string;
}

const KNOWN: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu'];

let current: BackendInfo | null = null;

async function tryLoadTfjsNode(): Promise<boolean> {
  try {
    // Optional accelerator: not a dependency, picked up only when the user installed it.
    const moduleName = '@tensorflow/tfjs-node';
    await import(moduleName);
    return tf.engine().findBackendFactory('tensorflow') != null;
  } catch {
    return false;
  }
}

async function loadWasm(): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmKernels();
}

function requestedBackend(explicit?: string): BackendName | undefined {
  const raw = explicit ?? process.env.GAN3D_BACKEND;
  if (raw === undefined || raw === '') return undefined;
  const name = raw.trim().toLowerCase();
  if (!KNOWN.includes(name as BackendName)) {
    throw new Gan3dError(
      `Unknown backend "${raw}" in GAN3D_BACKEND. Use one of: wasm, cpu, tensorflow.`,
      'BACKEND_UNKNOWN',
    );
  }
  return name as BackendName;
}

async function activate(name: BackendName): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Selects and initializes the tensor backend once per process. Later calls return the same info unless a
 * different backend is named explicitly.
 */
export async function initBackend(explicit?: string): Promise<BackendInfo> {
  // tfjs's own console notes (e.g. its "install tfjs-node" banner on first use of the cpu backend) are noise for
  // gan3d's users, who chose their backend on purpose; GAN3D_TFJS_WARNINGS=1 keeps them.
  if (process.env.GAN3D_TFJS_WARNINGS !== '1') tf.env().set('PROD', true);
  const wanted = requestedBackend(explicit);
  if (current && (wanted === undefined || wanted === current.name)) return current;

  let reason: string;
  let name: BackendName;
  if (wanted === 'tensorflow') {
    if (!(await tryLoadTfjsNode()) || !(await activate('tensorflow'))) {
      throw new Gan3dError(
        'GAN3D_BACKEND=tensorflow needs the optional package @tensorflow/tfjs-node: run `npm install @tensorflow/tfjs-node` ' +
          '(it downloads libtensorflow, so it needs internet access), or unset GAN3D_BACKEND to use wasm.',
        'BACKEND_UNAVAILABLE',
      );
    }
    name = 'tensorflow';
    reason = 'GAN3D_BACKEND=tensorflow';
  } else if (wanted === 'wasm') {
    await loadWasm();
    if (!(await activate('wasm'))) {
      throw new Gan3dError(
        'The wasm backend failed to start: check that @tensorflow/tfjs-backend-wasm is installed (`npm ci`).',
        'BACKEND_UNAVAILABLE',
      );
    }
    name = 'wasm';
    reason = 'GAN3D_BACKEND=wasm';
  } else if (wanted === 'cpu') {
    await activate('cpu');
    name = 'cpu';
    reason = 'GAN3D_BACKEND=cpu (pure JavaScript, slow; for reference checks)';
  } else if (wanted === 'webgl' || wanted === 'webgpu') {
    if (!(await activate(wanted))) {
      throw new Gan3dError(`The ${wanted} backend is only available in a browser with GPU support.`, 'BACKEND_UNAVAILABLE');
    }
    name = wanted;
    reason = `GAN3D_BACKEND=${wanted}`;
  } else if (await tryLoadTfjsNode() && (await activate('tensorflow'))) {
    name = 'tensorflow';
    reason = '@tensorflow/tfjs-node is installed';
  } else {
    await loadWasm();
    if (!(await activate('wasm'))) {
      await activate('cpu');
      name = 'cpu';
      reason = 'wasm failed to start; fell back to the slow cpu backend';
    } else {
      name = 'wasm';
      reason = 'default (tfjs-node not installed)';
    }
  }
  await tf.ready();
  current = {
    name,
    threads: name === 'wasm' ? await wasmThreads() : 1,
    simd: name === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') as boolean : false,
    reason,
  };
  return current;
}

async function wasmThreads(): Promise<number> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  return wasm.getThreadsCount();
}

/** The active backend, or an error if `initBackend` has not run. */
export function backendInfo(): BackendInfo {
  if (!current) throw new Gan3dError('The tensor backend is not initialized: call initBackend() first.', 'BACKEND_NOT_READY');
  return current;
}
