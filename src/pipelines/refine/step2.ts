// Step 2 (C.4–C.6): render pseudo-samples from the current shape under random lights and views, train the offset
// encoder E (alone: the GAN and the per-image nets are frozen) so the GAN reproduces them from w + Δw, then fill the
// bank with `collectIters × batch` projected samples Ĩ = clamp(G(w + Δw(E(I′)))) and their pseudo-sample masks.
import * as tf from '@tensorflow/tfjs';
import { inversionLoss, resizeTo } from './offset-encoder.js';
import { predictLight, predictViewRaw } from './nets.js';
import { AdamPhase } from './optim.js';
import { renderPseudo, samplePseudoParams, type PseudoSource } from './pseudo.js';
import { imageSize, type Bank, type ProgressFn, type RefineSession } from './session.js';
import { depthToNormals } from '../../geometry/normals.js';
import { invertImages } from '../invert.js';

/** The input's current canonical maps, light and view: what pseudo-samples are rendered from (caller disposes). */
export function pseudoSource(s: RefineSession): PseudoSource {
  const { model, image } = s;
  return tf.tidy(() => {
    const canonDepth = model.decodeDepth(model.depthNet.apply(image));
    const light = predictLight(model, image).dataSync();
    const viewRaw = Array.from(predictViewRaw(model, image).dataSync());
    return {
      canonDepth,
      canonAlbedo: model.albedoNet.apply(image),
      normals: depthToNormals(canonDepth, model.camera),
      ambient: light[0],
      diffuse: light[1],
      viewRaw,
    } as unknown as tf.TensorContainer;
  }) as unknown as PseudoSource;
}

function disposeSource(src: PseudoSource): void {
  tf.dispose([src.canonDepth, src.canonAlbedo, src.normals]);
}

/** A batch of pseudo-samples drawn from the session's Rng, on the host. */
function pseudoBatch(s: RefineSession, src: PseudoSource): { images: Float32Array; masks: Float32Array } {
  const params = samplePseudoParams(s.rng, s.config.batch, src, s.config);
  const r = renderPseudo(s.model, src, params);
  const out = { images: r.images.dataSync() as Float32Array, masks: r.masks.dataSync() as Float32Array };
  tf.dispose([r.images, r.masks]);
  return out;
}

/** Runs `iters` Step-2 iterations with a fresh Adam on E; returns the loss of each. */
export async function runStep2(s: RefineSession, stage: number, iters: number, onProgress?: ProgressFn): Promise<number[]> {
  const { config, encoder, projector } = s;
  const n = imageSize(s);
  const b = config.batch;
  const opts = { relative: config.relativeEncoding, lambdaFeat: config.lambdaFeat, featureBlocks: config.featureBlocks, lambdaReg: config.lambdaReg };
  const phase = new AdamPhase({
    variables: encoder.variables(),
    lr: config.lr,
    weightDecay: config.weightDecay,
    loss: (x) => inversionLoss(projector, encoder, x.pseudo as tf.Tensor4D, x.masks as tf.Tensor4D, opts).total,
  });
  const src = pseudoSource(s);
  const losses: number[] = [];
  try {
    for (let i = 0; i < iters; i++) {
      const p = pseudoBatch(s, src);
      losses.push(await phase.step({ pseudo: { data: p.images, shape: [b, n, n, 3] }, masks: { data: p.masks, shape: [b, n, n, 1] } }));
      onProgress?.({ phase: 'step2', stage, iter: i + 1, iters, loss: losses[i] });
    }
  } finally {
    disposeSource(src);
  }
  return losses;
}

/** The bank: `collectIters` no-grad batches of fresh pseudo-samples projected through the GAN (C.6). */
export function collectBank(s: RefineSession, stage: number, onProgress?: ProgressFn): Bank {
  const { config, encoder, projector } = s;
  const n = imageSize(s);
  const b = config.batch;
  const count = config.collectIters * b;
  const bank: Bank = { images: new Float32Array(count * n * n * 3), masks: new Float32Array(count * n * n), count };
  const src = pseudoSource(s);
  try {
    for (let i = 0; i < config.collectIters; i++) {
      const p = pseudoBatch(s, src);
      const projected = tf.tidy(() => projector.projectImages(encoder, tf.tensor4d(p.images, [b, n, n, 3]), config.relativeEncoding).projected);
      bank.images.set(projected.dataSync() as Float32Array, i * b * n * n * 3);
      projected.dispose();
      bank.masks.set(p.masks, i * b * n * n);
      onProgress?.({ phase: 'collect', stage, iter: i + 1, iters: config.collectIters, loss: Number.NaN });
    }
  } finally {
    disposeSource(src);
  }
  return bank;
}

/** Largest number of bank samples inverted together by 'optimize' projection. */
export const OPTIMIZE_BATCH = 16;

/** Latents [n, wDim] of G(w) projections of `images` [n·S·S·3], each fitted in W by `steps` Adam steps from the input's
 *  w with C.5's loss (L1 + D features + λ_reg·mean(Δw²)); returns the projections clamped to [-1, 1] and the final
 *  loss of each. The same map serves the bank and the rotation frames. */
export async function optimizeProjections(
  s: RefineSession,
  images: Float32Array,
  n: number,
  steps: number,
  onStep?: (done: number, total: number) => void,
): Promise<{ projected: Float32Array; losses: number[] }> {
  const { config, projector } = s;
  const size = imageSize(s);
  const R = projector.generator.config.resolution;
  const wDim = projector.generator.config.wDim;
  const w = projector.w.dataSync() as Float32Array;
  const start = new Float32Array(n * wDim);
  for (let i = 0; i < n; i++) start.set(w, i * wDim);
  const atR = tf.tidy(() => resizeTo(tf.tensor4d(images, [n, size, size, 3]), R));
  const data = atR.dataSync() as Float32Array;
  atR.dispose();
  const batch = Math.min(OPTIMIZE_BATCH, n);
  const perBatch = Math.max(steps, 1);
  const inv = await invertImages({ generator: projector.generator, discriminator: projector.discriminator }, data, n, {
    start,
    config: { stepsW: steps, stepsWPlus: 0, lambdaFeat: config.lambdaFeat, featureBlocks: config.featureBlocks, lambdaReg: config.lambdaReg, batch },
    onProgress: (p) => {
      if (p.stage === 'W') onStep?.((p.done / batch) * perBatch + p.step, Math.ceil(n / batch) * perBatch);
    },
  });
  const back = tf.tidy(() => resizeTo(tf.tensor4d(inv.images.w, [n, R, R, 3]), size));
  const projected = Float32Array.from(back.dataSync() as Float32Array);
  back.dispose();
  return { projected, losses: steps > 0 ? inv.stages.w.lossEnd : [] };
}

/** Step 2 with projection 'optimize': the bank's `collectIters × batch` fresh pseudo-samples, each inverted on its own
 *  (`steps` W steps, optimizeProjections); returns the bank and each sample's final loss. */
export async function optimizeBank(s: RefineSession, stage: number, steps: number, onProgress?: ProgressFn): Promise<{ bank: Bank; losses: number[] }> {
  const { config } = s;
  const n = imageSize(s);
  const count = config.collectIters * config.batch;
  const pseudo = new Float32Array(count * n * n * 3);
  const masks = new Float32Array(count * n * n);
  const src = pseudoSource(s);
  try {
    for (let i = 0; i < config.collectIters; i++) {
      const p = pseudoBatch(s, src);
      pseudo.set(p.images, i * config.batch * n * n * 3);
      masks.set(p.masks, i * config.batch * n * n);
    }
  } finally {
    disposeSource(src);
  }
  const r = await optimizeProjections(s, pseudo, count, steps, (iter, iters) => onProgress?.({ phase: 'step2', stage, iter, iters, loss: Number.NaN }));
  return { bank: { images: r.projected, masks, count }, losses: r.losses };
}
