// `npm run bench:gan`: training and generation speed of the 64x64 StyleGAN prior on this machine, and its realism
// score when a trained GAN and the feature network are there. Writes bench/results/gan.json (atomically) and prints
// the same JSON.
//
// Speed: the real trainer (src/pipelines/train-gan.ts: D phase, G phase, EMA and mean-w update, the loop's
// PhasedStepper with its flat Adam) at batch 16, single-threaded wasm, with --widths small (default: the bundled GAN's
// widths) or default; and the same step data-parallel over 2 threads (the loop's PhasedDataParallel, as
// `gan3d train gan --threads 2` runs it), timed in the same rotation: train_images_per_s_2threads. Steps alternate between
// the current engine (the fused ops of src/engine/ops: bias-act, box-resample, modulation; the no-copy Identity kernel;
// the stride-1 contiguous-column filter gradient) and the reference, the same step with those switched off (the plain
// tf-ops version and the engine as they were before), so both are measured under the same machine load; the first
// steps of each are warm-up and left out, the rest give medians (wall and CPU time).
// R1 steps (every r1Every-th D step) are timed separately and amortised: step = ((k - 1) plain + 1 R1) / k.
// Generation: the EMA generator's forward (mapping, synthesis with noise) at batch 16 and at batch 1.
// Realism (when --gan or models/gan and models/features exist): N samples (default 1,000, truncation 1, fixed seed)
// written as PNGs and scored against the even half of data/synface/test, beside the floor (the odd half against the
// same even half: equal sample sizes). Inversion: `measureInversion` on the first 50 test images with the GAN and,
// when there (--encoder or models/gan-encoder), its encoder.
// Flags: --quick (few steps: a smoke check), --gan <bundle|checkpoint|run>, --encoder <dir>, --n <samples> (default
//        1000), --widths,
//        --data <image folder for the trainer> (default data/synface/test, else a small generated SynFace set),
//        --quality-only (realism and inversion only: the speed fields are kept from the existing gan.json, whose date
//        becomes speed_date; for re-scoring a newly bundled GAN while the machine is busy, since only speed needs it idle).
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import fsSync from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/engine/backend.js';
import { filterGradTuning } from '../src/engine/kernels/conv2d-backprop-filter.js';
import { identityTuning } from '../src/engine/kernels/identity.js';
import { loopKernelTuning } from '../src/engine/ops/loop-kernel.js';
import { Rng } from '../src/engine/random.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { encodePng8, signedToUint8 } from '../src/io/png.js';
import { listImageIds } from '../src/data/image-folder.js';
import { realismScore } from '../src/metrics/realism.js';
import { DEFAULT_ENCODER_DIR } from '../src/pipelines/encoder-bundle.js';
import { readSplitLabels } from '../src/data/split-labels.js';
import { labelsNamed } from '../src/models/features/labels.js';
import { DEFAULT_FEATURES_DIR, folderFeatures, labelAgreement, labelCorrelationGaps, labelFrechet, labelSpread, loadFeatureModel, resolveImageDir } from '../src/pipelines/features-bundle.js';
import { DEFAULT_GAN_DIR, loadGanModel, sampleGan, type LoadedGan } from '../src/pipelines/gan-bundle.js';
import { measureInversion } from '../src/pipelines/invert-bench.js';
import { STYLEGAN_WIDTHS } from '../src/models/stylegan/config.js';
import { createGanTrainer } from '../src/pipelines/train-gan.js';
import { groupedShards } from '../src/engine/parallel/data-parallel.js';
import { PhasedDataParallel } from '../src/engine/parallel/phased-data-parallel.js';
import { PhasedStepper } from '../src/train/stepper.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('--quick');
/** Channel preset of the timed trainer: small by default, the widths the bundled GAN is trained with. */
const widths = (option('--widths') ?? 'small') as keyof typeof STYLEGAN_WIDTHS;
if (!Object.hasOwn(STYLEGAN_WIDTHS, widths)) {
  process.stderr.write(`--widths must be one of ${Object.keys(STYLEGAN_WIDTHS).join(', ')}, got "${widths}".\n`);
  process.exit(2);
}
const nSamples = Number(option('--n') ?? (quick ? 200 : 1000));
const BATCH = 16;
/** Timed steps per variant (after WARMUP), R1 steps per variant, generator forwards per batch size. */
const STEPS = quick ? 2 : 7;
const R1_STEPS = quick ? 1 : 2;
const WARMUP = quick ? 1 : 2;
const GEN_REPS = quick ? 3 : 9;

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const log = (msg: string) => process.stderr.write(`${msg}\n`);

type Variant = 'fused' | 'reference';
/** 'reference' switches off everything this benchmark's engine changes added: the fused ops, the no-copy Identity
 * and the stride-1 contiguous-column filter gradient (so the step runs as it did before them). */
function use(variant: Variant): void {
  loopKernelTuning.enabled = variant === 'fused';
  identityTuning.share = variant === 'fused';
  filterGradTuning.flatColumns = variant === 'fused';
}

async function trainerData(): Promise<{ dir: string; note: string; cleanup?: string }> {
  const given = option('--data');
  if (given) return { dir: given, note: given };
  const test = path.join(repo, 'data/synface/test');
  if (fsSync.existsSync(path.join(test, 'image'))) return { dir: test, note: 'data/synface/test' };
  const { generateSynface } = await import('../src/data/synface/dataset.js');
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-bench-gan-'));
  await generateSynface({ out: path.join(tmp, 'synface'), n: 64, size: 64, seed: 1, batch: 32 });
  return { dir: path.join(tmp, 'synface', 'train'), note: 'a generated SynFace set (64 images)', cleanup: tmp };
}

async function speed() {
  const data = await trainerData();
  const channels = STYLEGAN_WIDTHS[widths];
  const trainer = await createGanTrainer({ data: data.dir, seed: 1, batchSize: BATCH, model: { generatorChannels: channels, discriminatorChannels: channels } });
  const stepper = new PhasedStepper(trainer.phases!.map((p) => ({ name: p.name, replica: p.replica, adam: p.adam })));
  // The 2-thread stepper trains the same variables: each stepper takes the current values before its step.
  const group = trainer.shardGroupSize!;
  const parallel = await PhasedDataParallel.create(
    trainer.phases!.map((p) => ({ name: p.name, replica: p.replica, adam: p.adam })),
    trainer.replicaSpec!,
    { workers: 1, shard: (n, t) => groupedShards(n, t, group) },
  );
  const threads2 = { step: [] as number[], r1: [] as number[], stepCpu: [] as number[], r1Cpu: [] as number[] };
  const parallelStep = async (r1: boolean, record: boolean) => {
    use('fused');
    trainer.setState!({ batches: r1 ? 0 : 1 });
    const batch = trainer.nextBatch(rng, BATCH);
    parallel.syncFromReplica();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await parallel.step(batch);
    trainer.afterStep!(batch, { step: 0, epoch: 0, replica: parallel.replica, outDir: '' });
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (!record) return;
    (r1 ? threads2.r1 : threads2.step).push(ms);
    (r1 ? threads2.r1Cpu : threads2.stepCpu).push((c.user + c.system) / 1000);
    tensorCounts.push(tf.memory().numTensors);
  };
  const rng = new Rng(2);
  const k = trainer.config.model.r1Every;
  // Wall time and this process's CPU time (user + system) per step: other processes sharing the cores stretch the
  // wall time, much less the CPU time, so the ratios are given on both.
  const times: Record<Variant, { step: number[]; r1: number[]; d: number[]; g: number[]; stepCpu: number[]; r1Cpu: number[] }> = {
    fused: { step: [], r1: [], d: [], g: [], stepCpu: [], r1Cpu: [] },
    reference: { step: [], r1: [], d: [], g: [], stepCpu: [], r1Cpu: [] },
  };
  const tensorCounts: number[] = [];
  const oneStep = async (variant: Variant, r1: boolean, record: boolean) => {
    use(variant);
    trainer.setState!({ batches: r1 ? 0 : 1 }); // the lazy-R1 schedule: R1 on batch 0, k, 2k, …
    const batch = trainer.nextBatch(rng, BATCH);
    stepper.syncFromReplica();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await stepper.phases[0].stepper.step(batch);
    const t1 = performance.now();
    await stepper.phases[1].stepper.step(batch);
    const t2 = performance.now();
    trainer.afterStep!(batch, { step: 0, epoch: 0, replica: stepper.replica, outDir: '' });
    const t3 = performance.now();
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1000;
    if (!record) return;
    const t = times[variant];
    if (r1) {
      t.r1.push(t3 - t0);
      t.r1Cpu.push(cpu);
    } else {
      t.stepCpu.push(cpu);
      t.step.push(t3 - t0);
      t.d.push(t1 - t0);
      t.g.push(t2 - t1);
    }
    tensorCounts.push(tf.memory().numTensors);
  };
  const variants: Variant[] = ['fused', 'reference'];
  // Each rotation: fused and reference on one thread, then the fused step on 2 threads (the order reversed every
  // other rotation).
  const rotation = async (i: number, r1: boolean, record: boolean) => {
    const order: (Variant | 'threads2')[] = [...variants, 'threads2'];
    for (const v of i % 2 ? order.reverse() : order) {
      if (v === 'threads2') await parallelStep(r1, record);
      else await oneStep(v, r1, record);
    }
  };
  try {
    for (let i = 0; i < WARMUP; i++) await rotation(i, i === 0, false);
    // Alternate the variants (and which goes first) so that a change in machine load hits them alike.
    for (let i = 0; i < STEPS; i++) {
      await rotation(i, false, true);
      log(
        `step ${i + 1}/${STEPS}: fused ${round(times.fused.step.at(-1)!, 0)} ms (cpu ${round(times.fused.stepCpu.at(-1)!, 0)}), reference ${round(times.reference.step.at(-1)!, 0)} ms ` +
          `(cpu ${round(times.reference.stepCpu.at(-1)!, 0)}), 2 threads ${round(threads2.step.at(-1)!, 0)} ms (cpu ${round(threads2.stepCpu.at(-1)!, 0)})`,
      );
    }
    for (let i = 0; i < R1_STEPS; i++) {
      await rotation(i, true, true);
      log(`R1 step ${i + 1}/${R1_STEPS}: fused ${round(times.fused.r1.at(-1)!, 0)} ms, reference ${round(times.reference.r1.at(-1)!, 0)} ms, 2 threads ${round(threads2.r1.at(-1)!, 0)} ms`);
    }
  } finally {
    await parallel.dispose();
  }
  use('fused');

  // The EMA generator's forward: mapping + synthesis with per-layer noise, at batch 16 and 1.
  const gen: Record<string, Record<Variant, number>> = {};
  for (const n of [16, 1]) {
    const z = tf.tensor2d(new Rng(3).normalArray(n * trainer.config.model.zDim), [n, trainer.config.model.zDim]);
    const noise = trainer.ema.makeNoise(new Rng(4), n);
    const ms: Record<Variant, number[]> = { fused: [], reference: [] };
    for (let r = 0; r < GEN_REPS + 1; r++) {
      for (const v of variants) {
        use(v);
        const t0 = performance.now();
        const img = trainer.ema.generate(z, { psi: 1, noise });
        img.dataSync();
        const dt = performance.now() - t0;
        img.dispose();
        if (r > 0) ms[v].push(dt / n);
      }
    }
    use('fused');
    gen[`batch${n}`] = { fused: median(ms.fused), reference: median(ms.reference) };
    tf.dispose([z, ...noise]);
  }
  const stable = tensorCounts.every((c) => c === tensorCounts[0]);
  trainer.dispose();
  if (data.cleanup) await fs.rm(data.cleanup, { recursive: true, force: true });

  const summary = (v: Variant) => {
    const step = median(times[v].step);
    const r1 = median(times[v].r1);
    const amortised = ((k - 1) * step + r1) / k;
    const stepCpu = median(times[v].stepCpu);
    const r1Cpu = median(times[v].r1Cpu);
    const amortisedCpu = ((k - 1) * stepCpu + r1Cpu) / k;
    return {
      step, r1, amortised, d: median(times[v].d), g: median(times[v].g), imagesPerS: (BATCH * 1000) / amortised,
      stepCpu, r1Cpu, imagesPerCpuS: (BATCH * 1000) / amortisedCpu,
    };
  };
  const step2 = median(threads2.step);
  const amortised2 = ((k - 1) * step2 + median(threads2.r1)) / k;
  const amortised2Cpu = ((k - 1) * median(threads2.stepCpu) + median(threads2.r1Cpu)) / k;
  const twoThreads = {
    step: step2, r1: median(threads2.r1), amortised: amortised2, imagesPerS: (BATCH * 1000) / amortised2,
    stepCpu: median(threads2.stepCpu), r1Cpu: median(threads2.r1Cpu), imagesPerCpuS: (BATCH * 1000) / amortised2Cpu,
  };
  return { fused: summary('fused'), reference: summary('reference'), twoThreads, gen, stable, k, dataNote: data.note, times, threads2 };
}

/**
 * FID/KID of N generated images (default 1,000, truncation 1, seed 0, written as 8-bit PNGs like the real ones) against
 * the even half of data/synface/test (1,000 images), beside the floor: the odd half against the same even half. Same
 * sample sizes on both sides, so FID's small-sample bias is the same in the score and in its floor.
 */
async function realism() {
  const source = option('--gan') ?? (fsSync.existsSync(path.join(repo, DEFAULT_GAN_DIR)) ? DEFAULT_GAN_DIR : null);
  const features = fsSync.existsSync(path.join(repo, DEFAULT_FEATURES_DIR)) ? DEFAULT_FEATURES_DIR : null;
  const test = path.join(repo, 'data/synface/test');
  if (!source || !features || !fsSync.existsSync(path.join(test, 'image'))) {
    const missing = [!source && `a GAN (${DEFAULT_GAN_DIR} or --gan)`, !features && `the feature network (${DEFAULT_FEATURES_DIR})`, !fsSync.existsSync(path.join(test, 'image')) && 'data/synface/test'].filter(Boolean);
    return { skipped: `not scored, missing: ${missing.join('; ')}` };
  }
  const seed = 0;
  const t0 = performance.now();
  const gan = await loadGanModel(source);
  const loaded = await loadFeatureModel(features);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-bench-gan-samples-'));
  try {
    const R = gan.config.resolution;
    const per = R * R * 3;
    const fakeIds: string[] = [];
    const names = gan.config.conditionLabels ?? [];
    const given = new Float32Array(nSamples * names.length);
    for (let start = 0; start < nSamples; start += 250) {
      const n = Math.min(250, nSamples - start);
      const s = sampleGan(gan.generator, { n, psi: 1, seed: seed + start });
      if (s.labels) given.set(s.labels, start * names.length);
      for (let i = 0; i < n; i++) {
        const pixels = signedToUint8(s.images.subarray(i * per, (i + 1) * per));
        const id = `sample-${String(start + i).padStart(5, '0')}`;
        await fs.writeFile(path.join(tmp, `${id}.png`), await encodePng8(pixels, R, R, 3));
        fakeIds.push(id);
      }
    }
    const d = loaded.config.featureDim;
    const realDir = resolveImageDir(test);
    const ids = listImageIds(realDir);
    const even = ids.filter((_, i) => i % 2 === 0);
    const odd = ids.filter((_, i) => i % 2 === 1).slice(0, nSamples);
    const fe = await folderFeatures(loaded.model, realDir, even);
    const fo = await folderFeatures(loaded.model, realDir, odd);
    const ff = await folderFeatures(loaded.model, tmp, fakeIds);
    const score = realismScore(fe, ff, d);
    const floor = realismScore(fe, fo, d);
    return {
      gan: gan.id,
      gan_source: source,
      features_model: loaded.id,
      samples: nSamples,
      truncation: 1,
      seed,
      real: `data/synface/test, even positions (${even.length} images)`,
      floor_real: `data/synface/test, odd positions (${odd.length} images)`,
      fid: score.fid,
      kid: score.kid,
      kid_std: score.kid_std,
      fid_floor: floor.fid,
      kid_floor: floor.kid,
      fid_over_floor: score.fid / floor.fid,
      // What the samples under-represent: each label the feature network predicts, its std over the samples / over
      // the even half (as `gan3d score --labels`).
      label_std_ratio: Object.fromEntries(labelSpread(loaded, fe, ff).map((l) => [l.label, round(l.std_ratio, 3)])),
      // FID on the 18 predicted labels, whole and label by label (its floor: odd half against even half); the gap
      // between the two is how much comes from how the labels co-vary.
      ...(() => {
        const [lf, lo] = [labelFrechet(loaded, fe, ff), labelFrechet(loaded, fe, fo)];
        return { label_fid: round(lf.label_fid, 4), label_fid_independent: round(lf.label_fid_independent, 4), label_fid_floor: round(lo.label_fid, 4) };
      })(),
      // Which factors the samples tie together (or apart) unlike the data: the label pairs whose correlation differs most.
      label_corr_gaps: labelCorrelationGaps(loaded, fe, ff, 6).map((g) => ({ labels: g.labels.join(' – '), real: round(g.real_corr, 2), fake: round(g.fake_corr, 2) })),
      // A conditional GAN: how well the samples show the labels they were drawn with (the feature network's predictions
      // against them: correlation and RMS error, normalised units), beside the same for the even half's true labels
      // (what the regressor itself reaches on real faces).
      ...(names.length > 0
        ? await (async () => {
            const truth = await readSplitLabels(test, even, labelsNamed(names));
            const real = new Map(labelAgreement(loaded, fe, truth, names).map((a) => [a.label, a]));
            return {
              condition_labels: names,
              label_follow: Object.fromEntries(
                labelAgreement(loaded, ff, given, names).map((a) => [a.label, { r: round(a.r, 3), rmse: round(a.rmse, 3), r_real: round(real.get(a.label)!.r, 3), rmse_real: round(real.get(a.label)!.rmse, 3) }]),
              ),
            };
          })()
        : {}),
      score_s: round((performance.now() - t0) / 1000),
      gan_loaded: gan,
    };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
    loaded.model.dispose();
  }
}

/** Inversion PSNR on the first 50 test images (not used in training) with the GAN and, when there, its encoder. */
async function inversion(gan: LoadedGan | null) {
  const test = path.join(repo, 'data/synface/test');
  if (!gan) return { invert_note: 'not measured: no GAN' };
  const encoderDir = option('--encoder') ?? (fsSync.existsSync(path.join(repo, DEFAULT_ENCODER_DIR)) ? DEFAULT_ENCODER_DIR : null);
  const m = await measureInversion({ gan, encoder: encoderDir, folder: test, count: quick ? 4 : 50 });
  return {
    invert_psnr_encoder: m.invert_psnr_encoder,
    invert_psnr_start: m.invert_psnr_start,
    invert_psnr_w: m.invert_psnr_w,
    invert_psnr_wplus: m.invert_psnr_wplus,
    invert_seconds_per_image: m.seconds_per_image,
    invert_images: m.images,
    invert_encoder: m.encoder,
    invert_note: `first ${m.images} images of data/synface/test, PSNR on [0, 1]; default gan3d invert settings${m.encoder ? '' : ', no encoder (start: the mean w)'}`,
  };
}

const backend = await initBackend('wasm');
const started = Date.now();
const resultsFile = path.join(repo, 'bench/results/gan.json');
if (flag('--quality-only')) {
  if (!fsSync.existsSync(resultsFile)) {
    process.stderr.write(`--quality-only keeps the speed fields of ${path.relative(repo, resultsFile)}, which does not exist: run the whole benchmark first.\n`);
    process.exit(2);
  }
  const previous = JSON.parse(await fs.readFile(resultsFile, 'utf8')) as Record<string, unknown>;
  const realismOnly = await realism();
  const gan = 'skipped' in realismOnly ? null : realismOnly.gan_loaded;
  const invOnly = await inversion(gan);
  gan?.dispose();
  const rest = 'skipped' in realismOnly ? { realism_note: realismOnly.skipped } : (({ gan_loaded: _g, ...x }) => x)(realismOnly);
  const merged = {
    ...previous,
    speed_date: previous.speed_date ?? previous.date,
    date: new Date().toISOString(),
    quality_loadavg_1m_at_end: round(os.loadavg()[0], 2),
    ...rest,
    ...invOnly,
    quality_wall_s: round((Date.now() - started) / 1000),
  };
  const text = JSON.stringify(merged, null, 2);
  await writeFileAtomic(resultsFile, `${text}\n`, { force: true });
  process.stdout.write(`${text}\n`);
  process.exit(0);
}
const s = await speed();
const realismResult = await realism();
const ganForInversion = 'skipped' in realismResult ? null : realismResult.gan_loaded;
const inv = await inversion(ganForInversion);
ganForInversion?.dispose();
const r = 'skipped' in realismResult ? realismResult : (({ gan_loaded: _g, ...rest }) => rest)(realismResult);
const f = s.fused;
const ref = s.reference;
const result = {
  benchmark: 'gan',
  date: new Date().toISOString(),
  quick,
  machine: {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    tfjs: tf.version.tfjs,
    backend: backend.name,
    threads: backend.threads,
    simd: backend.simd,
    loadavg_1m_at_end: round(os.loadavg()[0], 2),
    note: 'one training thread; other processes may share the cores (see loadavg): compare the ratios, which are measured in the same run',
  },
  config: { resolution: 64, widths, channels: STYLEGAN_WIDTHS[widths], batch: BATCH, r1_every: s.k, trainer_data: s.dataNote, timed_steps: STEPS, r1_steps: R1_STEPS, warmup_steps: WARMUP },
  train_images_per_s: round(f.imagesPerS, 2),
  train_images_per_s_2threads: round(s.twoThreads.imagesPerS, 2),
  two_threads: {
    what: 'the fused step data-parallel over 2 worker threads (PhasedDataParallel, as `gan3d train gan --threads 2`), alternated step by step with the single-thread ones; CPU time is the whole process (both threads)',
    train_step_ms: round(s.twoThreads.step),
    train_step_amortised_ms: round(s.twoThreads.amortised),
    r1_step_ms: round(s.twoThreads.r1),
    train_step_cpu_ms: round(s.twoThreads.stepCpu),
    r1_step_cpu_ms: round(s.twoThreads.r1Cpu),
    train_images_per_cpu_s: round(s.twoThreads.imagesPerCpuS, 2),
    speedup_vs_1thread: round(s.twoThreads.imagesPerS / f.imagesPerS, 3),
    step_ms_all: s.threads2.step.map((v) => round(v, 0)),
    step_cpu_ms_all: s.threads2.stepCpu.map((v) => round(v, 0)),
  },
  train_step_ms: round(f.step),
  train_step_amortised_ms: round(f.amortised),
  d_phase_ms: round(f.d),
  g_phase_ms: round(f.g),
  r1_step_ms: round(f.r1),
  train_step_cpu_ms: round(f.stepCpu),
  r1_step_cpu_ms: round(f.r1Cpu),
  train_images_per_cpu_s: round(f.imagesPerCpuS, 2),
  generate_ms_per_image: { batch16: round(s.gen.batch16.fused, 2), batch1: round(s.gen.batch1.fused, 2) },
  reference: {
    what: 'the same trainer step with the fused StyleGAN ops, the no-copy Identity and the contiguous-column filter gradient switched off (the plain tf-ops version and the engine before them), alternated step by step with the current one in this run',
    train_images_per_s: round(ref.imagesPerS, 2),
    train_step_ms: round(ref.step),
    d_phase_ms: round(ref.d),
    g_phase_ms: round(ref.g),
    r1_step_ms: round(ref.r1),
    train_step_cpu_ms: round(ref.stepCpu),
    r1_step_cpu_ms: round(ref.r1Cpu),
    train_images_per_cpu_s: round(ref.imagesPerCpuS, 2),
    generate_ms_per_image: { batch16: round(s.gen.batch16.reference, 2), batch1: round(s.gen.batch1.reference, 2) },
  },
  speedup_vs_reference: {
    train_step: round(ref.step / f.step, 3),
    r1_step: round(ref.r1 / f.r1, 3),
    train_images_per_s: round(f.imagesPerS / ref.imagesPerS, 3),
    train_step_cpu: round(ref.stepCpu / f.stepCpu, 3),
    r1_step_cpu: round(ref.r1Cpu / f.r1Cpu, 3),
    generate_batch16: round(s.gen.batch16.reference / s.gen.batch16.fused, 3),
    generate_batch1: round(s.gen.batch1.reference / s.gen.batch1.fused, 3),
  },
  step_ms_all: {
    fused: s.times.fused.step.map((v) => round(v, 0)),
    reference: s.times.reference.step.map((v) => round(v, 0)),
    fused_cpu: s.times.fused.stepCpu.map((v) => round(v, 0)),
    reference_cpu: s.times.reference.stepCpu.map((v) => round(v, 0)),
  },
  peak_rss_mb: round(process.resourceUsage().maxRSS / 1024, 0),
  tensors_stable: s.stable,
  ...('skipped' in r ? { fid: null, kid: null, kid_std: null, fid_floor: null, kid_floor: null, label_std_ratio: null, realism_note: r.skipped } : r),
  invert_psnr_encoder: null,
  invert_psnr_w: null,
  invert_psnr_wplus: null,
  ...inv,
  wall_s: round((Date.now() - started) / 1000),
};
const json = JSON.stringify(result, null, 2);
await writeFileAtomic(resultsFile, `${json}\n`, { force: true });
process.stdout.write(`${json}\n`);
