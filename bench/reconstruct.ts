// `npm run bench:reconstruct`: how fast the photo-geometric model reconstructs, and what the whole command costs.
//   - forward milliseconds per 64x64 image at batch 1 and batch 32 on one core (main thread, wasm), beside the
//     engine's fixed reference network forward at batch 32 measured in the same run (the ratio compares versions);
//   - the whole `reconstruct` pipeline's milliseconds per image with every export (maps, meshes, GIFs) on 32 images;
//   - streaming: a folder of 1,000 images reconstructed by a child process, its peak resident memory (`peak_rss_mb`).
// Prints a table and writes bench/results/reconstruct.json. `--quick`: fewer repetitions and 100 streamed images.
// `--model DIR`: a bundle, checkpoint or run folder (default models/photogeo).
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSynface } from '../src/data/synface/dataset.js';
import { initBackend } from '../src/engine/backend.js';
import { Rng } from '../src/engine/random.js';
import { ReferenceNetwork } from '../src/engine/reference-network.js';
import { DEFAULT_MODEL_DIR, loadPhotoGeoModel } from '../src/pipelines/model-bundle.js';
import { reconstructImages } from '../src/pipelines/reconstruct.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const value = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const quick = flag('--quick');
const modelDir = value('--model', DEFAULT_MODEL_DIR);

function medianMs(fn: () => void, reps: number): number {
  fn(); // warm-up: kernel setup, memory growth
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Child mode: reconstruct every image under the given folders and print timings and peak memory as JSON. */
async function streamChild(inputs: string[], out: string): Promise<void> {
  await initBackend('wasm');
  const result = await reconstructImages({ inputs, outDir: out, model: modelDir, batch: 16 });
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ images: result.images.length, timings: result.timings, peakRssMb }) + '\n');
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  const loaded = await loadPhotoGeoModel(modelDir);
  const model = loaded.model;
  const reps = quick ? 3 : 7;
  const streamCount = quick ? 100 : 1000;
  process.stdout.write(`reconstruct benchmark: model ${loaded.id}, backend ${backend.name}, one core for the forward passes, median of ${reps}\n`);

  const rng = new Rng(5);
  const forwardMs = (batch: number) => {
    const x = tf.tensor4d(rng.uniformArray(batch * 64 * 64 * 3, -1, 1), [batch, 64, 64, 3]);
    // Everything the exports read back: depth seen from the input view, canonical depth/albedo, shading, light, view.
    const ms = medianMs(() => {
      tf.tidy(() => {
        const r = model.reconstruct(x, { flip: false, confidence: false });
        for (const t of [r.viewDepth, r.canonDepth, r.canonAlbedo, r.shading, r.recon, r.light, r.view]) void t.dataSync();
      });
    }, reps);
    x.dispose();
    return ms / batch;
  };
  const tensorsBefore = tf.memory().numTensors;
  const perImage1 = forwardMs(1);
  const perImage32 = forwardMs(32);
  const tensorsStable = tf.memory().numTensors === tensorsBefore;

  // The yardstick: the engine's reference network (Unsup3d's depth net at half width), forward only, batch 32.
  const reference = new ReferenceNetwork(new Rng(1));
  const refInput = tf.tensor4d(rng.uniformArray(32 * 64 * 64 * 3, -1, 1), [32, 64, 64, 3]);
  const referenceMs = medianMs(() => tf.tidy(() => void reference.apply(refInput).dataSync()), reps) / 32;
  refInput.dispose();
  for (const v of reference.weights.values()) v.dispose();

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gan3d-bench-reconstruct-'));
  try {
    // Inputs: SynFace faces made here (seeded), so the benchmark needs no dataset on disk.
    const data = path.join(work, 'synface');
    await generateSynface({ out: data, n: streamCount, seed: 7, workers: 1 });
    const folders = ['train', 'val', 'test'].map((s) => path.join(data, s, 'image')).filter((d) => fs.existsSync(d));
    const first32 = fs.readdirSync(folders[0]).sort().slice(0, 32).map((f) => path.join(folders[0], f));

    const full = await reconstructImages({ inputs: first32, outDir: path.join(work, 'full'), model: loaded, batch: 16 });
    const noGif = await reconstructImages({ inputs: first32, outDir: path.join(work, 'nogif'), model: loaded, batch: 16, gif: false });

    const self = fileURLToPath(import.meta.url);
    const child = spawnSync(process.execPath, ['--import', 'tsx', self, '--child-stream', path.join(work, 'stream'), '--model', modelDir, ...folders], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, GAN3D_THREADS: '1' },
    });
    if (child.status !== 0) throw new Error(`streaming child failed (${child.status}): ${child.stderr.slice(-2000)}`);
    const stream = JSON.parse(child.stdout.trim().split('\n').pop()!) as { images: number; timings: { totalMs: number }; peakRssMb: number };

    const result = {
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, backend: backend.name },
      model: { id: loaded.id, parameters: model.parameterCount(), widths: { depth: model.config.depthNet, albedo: model.config.albedoNet } },
      quick,
      reps,
      forward_ms_per_image_batch1: perImage1,
      forward_ms_per_image_batch32: perImage32,
      forward_images_per_s_batch32: 1000 / perImage32,
      reference_forward_ms_per_image_batch32: referenceMs,
      forward_vs_reference_batch32: perImage32 / referenceMs,
      command_ms_per_image: full.timings.totalMs / first32.length,
      command_ms_per_image_no_gif: noGif.timings.totalMs / first32.length,
      command_images: first32.length,
      stream_images: stream.images,
      stream_ms_per_image: stream.timings.totalMs / stream.images,
      peak_rss_mb: stream.peakRssMb,
      tensors_stable: tensorsStable,
    };
    const f = (v: number) => v.toFixed(1).padStart(9);
    process.stdout.write(
      [
        `forward, batch 1          ${f(perImage1)} ms/image`,
        `forward, batch 32         ${f(perImage32)} ms/image  (${(1000 / perImage32).toFixed(1)} images/s)`,
        `reference net, batch 32   ${f(referenceMs)} ms/image  (model / reference ${(perImage32 / referenceMs).toFixed(2)})`,
        `whole command, 32 images  ${f(result.command_ms_per_image)} ms/image  (without GIFs ${result.command_ms_per_image_no_gif.toFixed(1)})`,
        `streaming ${String(stream.images).padStart(5)} images   ${f(result.stream_ms_per_image)} ms/image, peak RSS ${stream.peakRssMb.toFixed(0)} MiB`,
      ].join('\n') + '\n',
    );
    const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'reconstruct.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    loaded.model.dispose();
  }
}

const childAt = argv.indexOf('--child-stream');
if (childAt >= 0) {
  const out = argv[childAt + 1];
  const modelAt = argv.indexOf('--model');
  const skip = new Set([childAt, childAt + 1, ...(modelAt >= 0 ? [modelAt, modelAt + 1] : [])]);
  await streamChild(argv.filter((_, i) => !skip.has(i)), out);
} else {
  await main();
}
