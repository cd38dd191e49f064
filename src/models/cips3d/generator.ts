// The CIPS-3D generator (paper notes A.1): z_nerf, z_inr and a view → image, by
//   1. w_nerf, w_inr from their mapping networks (truncated toward tracked means when ψ < 1);
//   2. one ray per pixel for the view (src/geometry/rays.ts: gan3d's view convention, z-depth as the ray parameter),
//      coarse samples stratified between near and far, the shallow NeRF's density and feature at each;
//   3. optionally fine samples drawn from the coarse weights (hierarchical sampling), the NeRF again on them, and both
//      sets merged in depth order;
//   4. volume rendering of the features (src/geometry/volume-render.ts) into a feature image, plus depth and opacity;
//   5. the deep INR maps each pixel's feature to RGB on its own (no convolution, no upsampling), and the aux head maps
//      the same features to the aux image.
// Randomness (stratified jitter, importance draws, density noise) comes from the Rng passed in; without one the
// samples sit at bin centres and quantiles, so a render is a deterministic function of (z, view).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import type { Rng } from '../../engine/random.js';
import { cameraConfig, type CameraConfig } from '../../geometry/camera.js';
import { rayPoints, viewRays } from '../../geometry/rays.js';
import { VIEW_SIZE } from '../../geometry/view.js';
import { importanceDepths, mergeSortedDepths, stratifiedDepths, volumeRender } from '../../geometry/volume-render.js';
import { Module, ownedVariable } from '../../nn/module.js';
import { type Cips3dConfig, cips3dConfig } from './config.js';
import { AuxHead, InrMapping, InrNet, NerfMapping, ShallowNerf } from './networks.js';

export interface Cips3dRenderOptions {
  /** Draws the stratified jitter, the importance samples and the density noise; none: deterministic samples. */
  rng?: Rng;
  /** Std of the noise added to densities (training's schedule: max(0, 1 − step / densityNoiseSteps)). Default 0. */
  densityNoise?: number;
  /** Run the fine pass (when config.fineSamples > 0). Default true. */
  hierarchical?: boolean;
}

export interface Cips3dGenerateOptions extends Cips3dRenderOptions {
  /** Truncation ψ of both latents toward their tracked means (1 = none). Default 1. */
  psi?: number;
}

// A type alias (not an interface) so tf.tidy can return it.
export type Cips3dOutput = {
  /** The INR's image [N, S, S, 3] in (−1, 1). */
  image: tf.Tensor4D;
  /** The aux head's image of the same features [N, S, S, 3]. */
  aux: tf.Tensor4D;
  /** Volume-rendered z-depth [N, S, S, 1] (camera.ts's convention) and opacity [N, S, S, 1]. */
  depth: tf.Tensor4D;
  opacity: tf.Tensor4D;
};

export class Cips3dGenerator extends Module {
  readonly config: Cips3dConfig;
  readonly camera: CameraConfig;
  readonly nerfMapping: NerfMapping;
  readonly inrMapping: InrMapping;
  readonly nerf: ShallowNerf;
  readonly inr: InrNet;
  readonly aux: AuxHead;
  /** Tracked means of w_nerf and w_inr (truncation centres; not trainable). */
  readonly wNerfAvg: tf.Variable;
  readonly wInrAvg: tf.Variable;

  constructor(rng: Rng, config: Partial<Cips3dConfig> = {}) {
    super();
    const c = cips3dConfig(config);
    this.config = c;
    this.camera = cameraConfig(c.resolution, { fovDeg: c.fovDeg, rotCenterDepth: c.rotCenterDepth, minDepth: c.near, maxDepth: c.far });
    this.nerfMapping = this.child('nerf_mapping', new NerfMapping(rng, c));
    this.inrMapping = this.child('inr_mapping', new InrMapping(rng, c));
    this.nerf = this.child('nerf', new ShallowNerf(rng, c));
    this.inr = this.child('inr', new InrNet(rng, c));
    this.aux = this.child('aux', new AuxHead(rng, c));
    this.wNerfAvg = ownedVariable(tf.zeros([c.wNerfDim]), false);
    this.wInrAvg = ownedVariable(tf.zeros([c.wInrDim]), false);
  }

  /** The tracked means, named for checkpoints. */
  namedBuffers(prefix = ''): Map<string, tf.Variable> {
    return new Map([
      [`${prefix}w_nerf_avg`, this.wNerfAvg],
      [`${prefix}w_inr_avg`, this.wInrAvg],
    ]);
  }

  /** Sets the tracked means to the mean w of `samples` latents drawn from `rng` (CIPS-3D averages 10,000). */
  computeWAvg(rng: Rng, samples = this.config.wAvgSamples): void {
    const c = this.config;
    tf.tidy(() => {
      let nerf: tf.Tensor = tf.zeros([c.wNerfDim]);
      let inr: tf.Tensor = tf.zeros([c.wInrDim]);
      for (let start = 0; start < samples; start += 1000) {
        const n = Math.min(1000, samples - start);
        nerf = tf.add(nerf, tf.sum(this.nerfMapping.forward(tf.tensor2d(rng.normalArray(n * c.zNerfDim), [n, c.zNerfDim])), 0));
        inr = tf.add(inr, tf.sum(this.inrMapping.forward(tf.tensor2d(rng.normalArray(n * c.zInrDim), [n, c.zInrDim])), 0));
      }
      this.wNerfAvg.assign(tf.div(nerf, samples));
      this.wInrAvg.assign(tf.div(inr, samples));
    });
  }

  /** Latents → (w_nerf, w_inr), truncated by ψ. */
  mapping(zNerf: tf.Tensor2D, zInr: tf.Tensor2D, psi = 1): { wNerf: tf.Tensor2D; wInr: tf.Tensor2D } {
    const c = this.config;
    if (zNerf.rank !== 2 || zNerf.shape[1] !== c.zNerfDim || zInr.rank !== 2 || zInr.shape[1] !== c.zInrDim || zNerf.shape[0] !== zInr.shape[0]) {
      throw new Gan3dError(`CIPS-3D expects z_nerf [N, ${c.zNerfDim}] and z_inr [N, ${c.zInrDim}], got [${zNerf.shape}] and [${zInr.shape}].`, 'BAD_SHAPE');
    }
    if (!(psi >= 0 && psi <= 2)) throw new Gan3dError(`The truncation ψ must be in [0, 2], got ${psi}.`, 'BAD_ARGUMENT');
    return tf.tidy(() => {
      const trunc = (w: tf.Tensor2D, avg: tf.Variable) => (psi === 1 ? w : (tf.add(avg, tf.mul(tf.sub(w, avg), psi)) as tf.Tensor2D));
      return { wNerf: trunc(this.nerfMapping.forward(zNerf), this.wNerfAvg), wInr: trunc(this.inrMapping.forward(zInr), this.wInrAvg) };
    });
  }

  /** Latents and views ([N·6]: view.ts's rx, ry, rz, tx, ty, tz) → images. */
  generate(zNerf: tf.Tensor2D, zInr: tf.Tensor2D, views: Float32Array, options: Cips3dGenerateOptions = {}): Cips3dOutput {
    return tf.tidy(() => {
      const { wNerf, wInr } = this.mapping(zNerf, zInr, options.psi ?? 1);
      return this.render(wNerf, wInr, views, options);
    });
  }

  /** w_nerf [N, wNerfDim], w_inr [N, wInrDim] and views [N·6] → images, depth and opacity. */
  render(wNerf: tf.Tensor2D, wInr: tf.Tensor2D, views: Float32Array, options: Cips3dRenderOptions = {}): Cips3dOutput {
    const c = this.config;
    const n = wNerf.shape[0];
    if (views.length !== n * VIEW_SIZE) throw new Gan3dError(`CIPS-3D: ${n} latents need ${n} views (${n * VIEW_SIZE} numbers), got ${views.length} numbers.`, 'BAD_SHAPE');
    const S = c.resolution;
    const P = S * S;
    const rays = viewRays(this.camera, views);
    const lengths = new Float32Array(n * P);
    for (let v = 0; v < n; v++) lengths.set(rays.rayLengths, v * P);
    const coarse = stratifiedDepths(n * P, c.coarseSamples, c.near, c.far, options.rng);
    const nerfAt = (depths: Float32Array, k: number) =>
      tf.tidy(() => {
        const points = rayPoints(rays, tf.tensor3d(depths, [n, P, k]));
        return this.nerf.forward(tf.reshape(points, [n, P * k, 3]) as tf.Tensor3D, wNerf);
      });
    return tf.tidy(() => {
      const Kc = c.coarseSamples;
      const first = nerfAt(coarse, Kc);
      let sigma = tf.reshape(first.sigma, [n * P, Kc]) as tf.Tensor2D;
      let features = tf.reshape(first.features, [n * P, Kc, c.featureDim]) as tf.Tensor3D;
      let depths = coarse;
      let K = Kc;
      if ((options.hierarchical ?? true) && c.fineSamples > 0) {
        // The fine samples follow the coarse weights; their positions carry no gradient (NeRF, CIPS-3D).
        const weights = tf.tidy(
          () => volumeRender({ sigma, values: tf.zeros([n * P, Kc, 1]), depths: tf.tensor2d(coarse, [n * P, Kc]), rayLengths: tf.tensor1d(lengths) }).weights.dataSync() as Float32Array,
        );
        const fine = importanceDepths(coarse, weights, Kc, c.fineSamples, options.rng);
        const second = nerfAt(fine, c.fineSamples);
        K = Kc + c.fineSamples;
        const { order, merged } = mergeSortedDepths(coarse, Kc, fine, c.fineSamples);
        const index = tf.tensor1d(order, 'int32');
        const allSigma = tf.concat([tf.reshape(sigma, [-1]), tf.reshape(second.sigma, [-1])]);
        const allFeatures = tf.concat([tf.reshape(features, [-1, c.featureDim]), tf.reshape(second.features, [-1, c.featureDim])]);
        sigma = tf.reshape(tf.gather(allSigma, index), [n * P, K]) as tf.Tensor2D;
        features = tf.reshape(tf.gather(allFeatures, index), [n * P, K, c.featureDim]) as tf.Tensor3D;
        depths = merged;
      }
      const rendered = volumeRender({
        sigma,
        values: features,
        depths: tf.tensor2d(depths, [n * P, K]),
        rayLengths: tf.tensor1d(lengths),
        densityNoise: options.densityNoise ?? 0,
        rng: options.rng,
      });
      const featureImage = tf.reshape(rendered.values, [n, P, c.featureDim]) as tf.Tensor3D;
      const image = tf.reshape(this.inr.forward(featureImage, wInr), [n, S, S, 3]) as tf.Tensor4D;
      const aux = tf.reshape(this.aux.forward(featureImage), [n, S, S, 3]) as tf.Tensor4D;
      return {
        image,
        aux,
        depth: tf.reshape(rendered.depth, [n, S, S, 1]) as tf.Tensor4D,
        opacity: tf.reshape(rendered.opacity, [n, S, S, 1]) as tf.Tensor4D,
      };
    });
  }

  override dispose(): void {
    super.dispose();
    this.wNerfAvg.dispose();
    this.wInrAvg.dispose();
  }

  apply(): tf.Tensor4D {
    throw new Gan3dError('Cips3dGenerator renders from latents and views: call generate() or render().', 'BAD_ARGUMENT');
  }
}
