// Training the photo-geometric autoencoder (Unsup3d) on an image folder: the photogeo Trainer for the shared loop
// (src/train/loop.ts). Steps run data-parallel over src/models/photogeo/replica.ts; sample grids show fixed
// validation images decomposed; evaluation scores the model's input-view depth (SIDE/MAD) on the val split.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import fsSync from 'node:fs';
import path from 'node:path';
import { listDepthIds } from '../data/depth-folder.js';
import { ImageFolderDataset, listImageIds, loadImageBatch, type ImageFolderInfo } from '../data/image-folder.js';
import { initBackend } from '../engine/backend.js';
import { Gan3dError } from '../engine/errors.js';
import type { Replica } from '../engine/parallel/data-parallel.js';
import type { EpochIteratorState } from '../train/data-iterator.js';
import { tileGrid } from '../train/grid.js';
import type { DataState, Trainer, TrainerContext } from '../train/loop.js';
import { latestCheckpoint } from '../io/checkpoint.js';
import { HALF_WIDTHS, PAPER_WIDTHS, photoGeoConfig, type PhotoGeoConfig, type PhotoGeoOverrides } from '../models/photogeo/config.js';
import { PhotoGeoModel } from '../models/photogeo/model.js';
import type { PhotoGeoReplicaConfig } from '../models/photogeo/replica.js';
import { evaluateDepth } from './evaluate.js';
import type { LoadedPhotoGeoModel } from './model-bundle.js';

export const PHOTOGEO_WIDTHS = ['default', 'half', 'paper'] as const;
export type PhotoGeoWidths = (typeof PHOTOGEO_WIDTHS)[number];

/** Model overrides for a named width preset. */
export function widthOverrides(widths: PhotoGeoWidths): PhotoGeoOverrides {
  if (widths === 'paper') return structuredClone(PAPER_WIDTHS) as PhotoGeoOverrides;
  if (widths === 'half') return structuredClone(HALF_WIDTHS) as PhotoGeoOverrides;
  return {};
}

export interface PhotoGeoTrainerOptions {
  /** Dataset root with `train/image/*.png` (and `val/{image,depth,mask}` for samples and evaluation). */
  data: string;
  /** Seed of the initial weights and of the epoch shuffles. */
  seed: number;
  /** Model config overrides (network widths, loss weights, lr, …) on PHOTOGEO_DEFAULTS. */
  model?: PhotoGeoOverrides;
  /** Validation images SIDE/MAD is computed on (the first ones in id order; default 200). */
  evalImages?: number;
  /** Rows of the sample grid (default 4). */
  sampleImages?: number;
  /** Images per forward pass during evaluation (default 50). */
  evalBatch?: number;
  flipProbability?: number;
  /** Start from this model's weights (fine-tuning); its networks must have the widths of `model`. */
  init?: LoadedPhotoGeoModel;
  /** On resume: the `init` record of the run (its weights come from the checkpoint). */
  initRecord?: { id: string; path: string };
  onLoadProgress?: (done: number, total: number) => void;
}

/** The trainer's config, as written into every checkpoint and checked on resume. */
export interface PhotoGeoTrainerConfig {
  seed: number;
  model: PhotoGeoConfig;
  data: ImageFolderInfo;
  optimizer: { kind: 'adam'; learningRate: number; weightDecayApplied: false; note: string };
  /** The model a fine-tuning run started from. */
  init?: { id: string; path: string };
}

const WEIGHT_DECAY_NOTE =
  "Adam without weight decay: the shared flat Adam has none, so the paper's L2 weight decay (model.weightDecay) is not applied.";

type PhotoGeoReplica = Replica & { model: PhotoGeoModel };

function replicaModule(): string {
  // From source the workers load the .ts module through tsx; the compiled package has the .js beside it.
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`../models/photogeo/replica.${ext}`, import.meta.url).href;
}

function modelOf(replica: Replica): PhotoGeoModel {
  const model = (replica as Partial<PhotoGeoReplica>).model;
  if (!(model instanceof PhotoGeoModel)) throw new Gan3dError('The photogeo trainer was handed a replica without a PhotoGeoModel.', 'TRAIN_BAD_OPTION');
  return model;
}

/** Runs `fn` on [N,S,S,3] images in chunks of `batch` and reads each result back to the host. */
function inChunks(images: { data: Float32Array; shape: number[] }, batch: number, fn: (x: tf.Tensor4D) => tf.Tensor): Float32Array[] {
  const [n, h, w, c] = images.shape;
  const per = h * w * c;
  const out: Float32Array[] = [];
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    // The tensor leaves the tidy and is read outside it: a typed array returned from tf.tidy is walked element by
    // element looking for tensors, which costs more than the forward pass.
    const result = tf.tidy(() => fn(tf.tensor4d(images.data.subarray(start * per, (start + m) * per), [m, h, w, c])));
    out.push(result.dataSync() as Float32Array);
    result.dispose();
  }
  return out;
}

/** The seed and model config a run in `outDir` was trained with (from its newest checkpoint), or null. */
export async function savedPhotoGeoSettings(outDir: string): Promise<{ seed: number; model: PhotoGeoConfig; init?: { id: string; path: string } } | null> {
  const ckpt = await latestCheckpoint(path.join(outDir, 'checkpoints'));
  if (!ckpt) return null;
  try {
    const json = JSON.parse(await fs.readFile(path.join(ckpt, 'checkpoint.json'), 'utf8')) as { config?: { trainer?: Partial<PhotoGeoTrainerConfig> } };
    const t = json.config?.trainer;
    return t && typeof t.seed === 'number' && t.model ? { seed: t.seed, model: t.model, ...(t.init ? { init: t.init } : {}) } : null;
  } catch {
    return null; // the loop's own resume reports a corrupt checkpoint properly
  }
}

/**
 * The weights of `init` in the order of `target`'s variables. A variable `init` lacks (its model has no confidence
 * net, say) keeps its seeded value (null); a width that differs is an error, since the weights cannot carry over.
 */
function initialWeightsFrom(init: LoadedPhotoGeoModel, target: PhotoGeoModel): (Float32Array | null)[] {
  const source = init.model.namedVariables();
  const out: (Float32Array | null)[] = [];
  for (const [name, v] of target.namedVariables()) {
    const s = source.get(name);
    if (!s) {
      out.push(null);
      continue;
    }
    if (s.shape.join('x') !== v.shape.join('x')) {
      throw new Gan3dError(
        `--init ${init.meta.path}: ${name} is [${s.shape}] there and [${v.shape}] in this run; fine-tune with the widths the model was trained with.`,
        'TRAIN_BAD_OPTION',
      );
    }
    out.push(Float32Array.from(s.dataSync() as Float32Array));
  }
  return out;
}

/** Builds the photogeo Trainer: decodes the train split into memory and reads the fixed sample images. */
export async function createPhotoGeoTrainer(options: PhotoGeoTrainerOptions): Promise<Trainer & { config: PhotoGeoTrainerConfig }> {
  const root = path.resolve(options.data);
  if (!fsSync.existsSync(root)) throw new Gan3dError(`${options.data}: no such data folder. Make one with \`gan3d data synface --out ${options.data}\`.`, 'NO_DATA');
  // Before any tensor exists: the probe model below and the sample images would otherwise land on tfjs's default
  // cpu backend.
  await initBackend();
  const model = photoGeoConfig(options.model ?? {});
  const evalImages = options.evalImages ?? 200;
  const evalBatch = options.evalBatch ?? 50;
  if (!(Number.isInteger(evalImages) && evalImages >= 1)) throw new Gan3dError(`evalImages must be a whole number ≥ 1, got ${evalImages}.`, 'TRAIN_BAD_OPTION');

  // Names in `variables` order, without keeping a model around: the replicas build their own.
  const probe = new PhotoGeoModel(options.seed, model);
  const variableNames = [...probe.namedVariables().keys()];
  const initialWeights = options.init ? initialWeightsFrom(options.init, probe) : undefined;
  probe.dispose();

  const dataset = await ImageFolderDataset.load({
    root,
    size: model.imageSize,
    seed: options.seed,
    flipProbability: options.flipProbability,
    onProgress: options.onLoadProgress,
  });

  // Samples come from the val split (never trained on) when there is one, else from the first train images.
  const valSplit = path.join(root, 'val');
  const valImageDir = path.join(valSplit, 'image');
  const sampleDir = fsSync.existsSync(valImageDir) ? valImageDir : path.join(root, 'train', 'image');
  const sampleIds = listImageIds(sampleDir).slice(0, options.sampleImages ?? 4);
  const samples = await loadImageBatch(sampleDir, sampleIds, model.imageSize);
  let evalSet: { ids: string[]; images: { data: Float32Array; shape: number[] } } | null = null;

  const config: PhotoGeoTrainerConfig = {
    seed: options.seed,
    model,
    data: dataset.info,
    optimizer: { kind: 'adam', learningRate: model.lr, weightDecayApplied: false, note: WEIGHT_DECAY_NOTE },
    ...(options.init ? { init: { id: options.init.id, path: options.init.meta.path } } : options.initRecord ? { init: options.initRecord } : {}),
  };
  const replicaConfig: PhotoGeoReplicaConfig = { seed: options.seed, model };

  return {
    kind: 'photogeo',
    config,
    replicaSpec: { moduleUrl: replicaModule(), config: replicaConfig },
    // Unsup3d: Adam, lr 1e-4 (its weight decay 5e-4 is not applied: see WEIGHT_DECAY_NOTE).
    adam: { learningRate: model.lr },
    variableNames,
    initialWeights,
    examplesPerEpoch: dataset.size,
    nextBatch: (rng, batchSize) => dataset.nextBatch(rng, batchSize),
    getDataState: () => dataset.getState() as unknown as DataState,
    setDataState: (s) => dataset.setState(s as unknown as EpochIteratorState),

    async makeSampleGrid(ctx: TrainerContext): Promise<Uint8Array> {
      const m = modelOf(ctx.replica);
      const [n, s] = samples.shape;
      const panels = tf.tidy(() => {
        const images = tf.tensor4d(samples.data, [n, s, s, 3]);
        const r = m.reconstruct(images, { flip: false });
        return { images, recon: r.recon, depth: r.canonDepth, normals: r.normals, albedo: r.canonAlbedo, shading: r.shading };
      });
      try {
        return await tileGrid([
          { name: 'input', images: panels.images },
          { name: 'reconstruction', images: panels.recon },
          // Depth varies by a few percent of its range: stretched per image to be visible.
          { name: 'canonical depth', images: panels.depth, range: 'auto' },
          { name: 'normals', images: panels.normals },
          { name: 'albedo', images: panels.albedo },
          // ambient + diffuse, each in [0, 1]
          { name: 'shading', images: panels.shading, range: [0, 2] },
        ]);
      } finally {
        tf.dispose(Object.values(panels));
      }
    },

    async evaluate(ctx: TrainerContext): Promise<Record<string, number>> {
      const m = modelOf(ctx.replica);
      if (!evalSet) {
        // Decoded once per session: evaluations repeat on the same images.
        const ids = listDepthIds(valSplit).slice(0, evalImages);
        evalSet = { ids, images: await loadImageBatch(valImageDir, ids, model.imageSize) };
      }
      const depths = inChunks(evalSet.images, evalBatch, (x) => m.reconstruct(x, { flip: false, confidence: false }).viewDepth);
      const per = model.imageSize * model.imageSize;
      const byId = new Map<string, Float32Array>();
      let k = 0;
      for (const chunk of depths) for (let i = 0; i < chunk.length / per; i++) byId.set(evalSet.ids[k++], chunk.subarray(i * per, (i + 1) * per));
      const report = await evaluateDepth(valSplit, 'photogeo', (sample) => {
        const d = byId.get(sample.id);
        if (!d) throw new Gan3dError(`No prediction for validation image ${sample.id}.`, 'BAD_SHAPE');
        return d;
      }, { limit: evalImages });
      return { val_side: report.side.mean, val_mad: report.mad.mean };
    },
  };
}
