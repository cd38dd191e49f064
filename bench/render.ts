// `npm run bench:render`: forward and backward time of renderView (rasterize, warp, sample) for batch 16 at 64x64
// and 128x128, plus the plain-JS z-buffer alone. Prints a table and writes bench/results/render.json.
// Backward is (forward + backward) - forward, measured as separate medians.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { Rng } from '../src/engine/random.js';
import { type CameraConfig, cameraConfig } from '../src/geometry/camera.js';
import { gridFaces } from '../src/geometry/mesh.js';
import { depthToPoints } from '../src/geometry/points.js';
import { rasterize } from '../src/geometry/rasterizer.js';
import { renderView } from '../src/geometry/render.js';
import { warpToView } from '../src/geometry/view.js';

const BATCH = 16;
const SIZES = [64, 128];
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');

function medianMs(fn: () => void, reps: number): number {
  fn(); // warm-up: kernel setup and memory growth
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

interface Inputs {
  canonDepth: tf.Tensor4D;
  canonImage: tf.Tensor4D;
  view: tf.Tensor2D;
}

/** A bumpy surface inside [0.9, 1.1], a random image and views within +-0.3 rad and +-0.05 translation. */
function makeInputs(size: number, rng: Rng): Inputs {
  return tf.tidy(() => {
    const noise = tf.tensor4d(rng.uniformArray(BATCH * 8 * 8, -1, 1), [BATCH, 8, 8, 1]);
    const canonDepth = tf.add(1, tf.mul(0.08, tf.image.resizeBilinear(noise, [size, size], true))) as tf.Tensor4D;
    const canonImage = tf.tensor4d(rng.uniformArray(BATCH * size * size * 3, -1, 1), [BATCH, size, size, 3]);
    const views = Array.from({ length: BATCH }, () => [
      ...[0, 1, 2].map(() => rng.range(-0.3, 0.3)),
      rng.range(-0.05, 0.05),
      rng.range(-0.05, 0.05),
      0,
    ]);
    return { canonDepth, canonImage, view: tf.tensor2d(views) };
  });
}

function benchSize(size: number, reps: number) {
  const cam: CameraConfig = cameraConfig(size);
  const inputs = makeInputs(size, new Rng(size));
  const forward = () =>
    tf.tidy(() => {
      renderView({ ...inputs, camera: cam }).image.dataSync();
    });
  const forwardBackward = () =>
    tf.tidy(() => {
      const grads = tf.grads((d: tf.Tensor, im: tf.Tensor, v: tf.Tensor) => {
        const out = renderView({ canonDepth: d as tf.Tensor4D, canonImage: im as tf.Tensor4D, view: v as tf.Tensor2D, camera: cam });
        return tf.add(tf.mean(out.image), tf.mean(out.viewDepth));
      })([inputs.canonDepth, inputs.canonImage, inputs.view]);
      grads.forEach((g) => g.dataSync());
    });
  const vertices = tf.tidy(() => warpToView(depthToPoints(inputs.canonDepth, cam), inputs.view, cam).dataSync() as Float32Array);
  const faces = gridFaces(size);
  const rasterOnly = () => void rasterize(vertices, BATCH, faces, cam);

  const before = tf.memory().numTensors;
  const fwd = medianMs(forward, reps);
  const both = medianMs(forwardBackward, reps);
  const raster = medianMs(rasterOnly, reps);
  const tensorsStable = tf.memory().numTensors === before;
  tf.dispose([inputs.canonDepth, inputs.canonImage, inputs.view]);
  return {
    size,
    batch: BATCH,
    faces_per_image: faces.length / 3,
    forward_ms: fwd,
    backward_ms: Math.max(both - fwd, 0),
    forward_backward_ms: both,
    rasterize_js_ms: raster,
    tensors_stable: tensorsStable,
  };
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  const reps = quick ? 3 : 7;
  process.stdout.write(`render benchmark: backend ${backend.name}, ${os.cpus().length} cores, batch ${BATCH}, median of ${reps}\n`);
  const rows = SIZES.map((s) => benchSize(s, reps));
  const result = {
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, backend: backend.name },
    reps,
    quick,
    rows,
  };
  const fmt = (v: number) => v.toFixed(1).padStart(8);
  const lines = [
    'size     | forward  | backward | fwd+bwd  | z-buffer (ms, batch 16)',
    ...rows.map((r) => `${`${r.size}x${r.size}`.padEnd(8)} |${fmt(r.forward_ms)}  |${fmt(r.backward_ms)}  |${fmt(r.forward_backward_ms)}  |${fmt(r.rasterize_js_ms)}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'render.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
