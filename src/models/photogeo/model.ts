// The photo-geometric autoencoder (Unsup3d), top to bottom as the paper's equations:
//   d = r(tanh(D(I) - mean D(I)); minDepth, maxDepth), border columns = borderDepth      canonical depth
//   a = A(I) in [-1, 1]^3                                                                canonical albedo
//   l = L(I) -> (ambient, diffuse, lx, ly),  w = V(I) -> (rx, ry, rz, tx, ty, tz)        light, view
//   J = shade(d, a, l),  Î = renderView(d, J, w)                                         reconstruction
// and the flip branch: the same with d and a mirrored left-right, sharing l and w.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../../engine/errors.js';
import { Rng } from '../../engine/random.js';
import type { CameraConfig } from '../../geometry/camera.js';
import { renderView } from '../../geometry/render.js';
import { shade } from '../../geometry/shading.js';
import { type PhotoGeoConfig, type PhotoGeoOverrides, cameraOf, photoGeoConfig } from './config.js';
import { ConfNet, type ConfidenceMaps, EDDeconv, Encoder, type NetOptions } from './networks.js';

export interface PhotoGeoPrediction {
  /** Canonical depth [N, S, S, 1] in [minDepth, maxDepth], border columns at borderDepth. */
  canonDepth: tf.Tensor4D;
  /** Canonical albedo [N, S, S, 3] in [-1, 1]. */
  canonAlbedo: tf.Tensor4D;
  /** Light net output [N, 4] in (-1, 1). */
  lightRaw: tf.Tensor2D;
  /** Decoded light [N, 4]: (ambient, diffuse, lx, ly), as geometry's `shade` takes it. */
  light: tf.Tensor2D;
  /** View net output [N, 6] in (-1, 1). */
  viewRaw: tf.Tensor2D;
  /** Decoded view [N, 6]: (rx, ry, rz in radians, tx, ty, tz), as geometry's `renderView` takes it. */
  view: tf.Tensor2D;
  /** σ maps when the config uses confidence (channel 0 original, 1 flipped): l1 [N, S, S, 2]; perc [N, S/4, S/4, 2] when
   *  lambdaPerc > 0. */
  confidence?: ConfidenceMaps;
}

export interface PhotoGeoReconstruction extends PhotoGeoPrediction {
  /** Canonical shading [N, S, S, 1]. */
  shading: tf.Tensor4D;
  /** Canonical normals [N, S, S, 3]. */
  normals: tf.Tensor4D;
  /** Shaded canonical image J [N, S, S, 3]. */
  canonImage: tf.Tensor4D;
  /** J rendered into the input view [N, S, S, 3] (masked). */
  recon: tf.Tensor4D;
  /** The flip branch's reconstruction [N, S, S, 3] (absent when the flip branch is off). */
  reconFlip?: tf.Tensor4D;
  /** Pixels valid in both reconstructions [N, S, S, 1]; carries no gradient. */
  mask: tf.Tensor4D;
  /** Depth seen from the input view [N, S, S, 1]. */
  viewDepth: tf.Tensor4D;
}

export interface ReconstructOptions {
  /** Compute the flip branch (default: when lambdaFlip > 0). */
  flip?: boolean;
  /** Run the confidence net (default: when the config uses it). Inference needs no σ maps: skipping them saves a
   *  full encoder-decoder pass. */
  confidence?: boolean;
}

/** Maps t in [-1, 1] to [lo, hi]. */
function toRange(t: tf.Tensor, lo: number, hi: number): tf.Tensor {
  return tf.add(tf.mul(t, (hi - lo) / 2), (hi + lo) / 2);
}

/** Mirrors NHWC maps left-right. */
export function flipWidth(x: tf.Tensor4D): tf.Tensor4D {
  return tf.reverse(x, 2);
}

export class PhotoGeoModel {
  readonly config: PhotoGeoConfig;
  readonly camera: CameraConfig;
  readonly depthNet: EDDeconv;
  readonly albedoNet: EDDeconv;
  readonly lightNet: Encoder;
  readonly viewNet: Encoder;
  readonly confNet?: ConfNet;

  /** Builds the networks with weights drawn from `rng` (a seed or an Rng) in a fixed order. */
  constructor(rng: Rng | number, overrides: PhotoGeoOverrides = {}) {
    const r = typeof rng === 'number' ? new Rng(rng) : rng;
    const c = photoGeoConfig(overrides);
    this.config = c;
    this.camera = cameraOf(c);
    const o: NetOptions = { channelsPerGroup: c.channelsPerGroup, leakySlope: c.leakySlope, init: c.init };
    // Each net from its own fork, so changing one net's width leaves the others' initial weights unchanged.
    const forks = [r.fork(), r.fork(), r.fork(), r.fork(), r.fork()];
    this.depthNet = new EDDeconv(forks[0], 3, 1, c.depthNet.nf, c.depthNet.zdim, 'none', o);
    this.albedoNet = new EDDeconv(forks[1], 3, 3, c.albedoNet.nf, c.albedoNet.zdim, 'tanh', o);
    this.lightNet = new Encoder(forks[2], 3, 4, c.lightNet.nf, o);
    this.viewNet = new Encoder(forks[3], 3, 6, c.viewNet.nf, o);
    if (c.useConfidence) this.confNet = new ConfNet(forks[4], 3, c.confNet.nf, c.confNet.zdim, o, c.lambdaPerc > 0);
  }

  /** All variables keyed "depth/…", "albedo/…", "light/…", "view/…", "conf/…": stable names for checkpoints. */
  namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    const nets: [string, { namedVariables(prefix: string): Map<string, tf.Variable> } | undefined][] = [
      ['depth', this.depthNet],
      ['albedo', this.albedoNet],
      ['light', this.lightNet],
      ['view', this.viewNet],
      ['conf', this.confNet],
    ];
    for (const [name, net] of nets) if (net) for (const [k, v] of net.namedVariables(`${name}/`)) out.set(k, v);
    return out;
  }

  get variables(): tf.Variable[] {
    return [...this.namedVariables().values()];
  }

  parameterCount(): number {
    return this.variables.reduce((a, v) => a + v.size, 0);
  }

  dispose(): void {
    tf.dispose(this.variables);
  }

  private checkImages(images: tf.Tensor4D): void {
    const s = this.config.imageSize;
    if (images.rank !== 4 || images.shape[1] !== s || images.shape[2] !== s || images.shape[3] !== 3) {
      throw new Gan3dError(`PhotoGeo expects images [N, ${s}, ${s}, 3] in [-1, 1], got [${images.shape}]; resize them first.`, 'BAD_SHAPE');
    }
  }

  /** Raw depth net output [N, S, S, 1] -> canonical depth (A.3). */
  decodeDepth(raw: tf.Tensor4D): tf.Tensor4D {
    const c = this.config;
    return tf.tidy(() => {
      const centred = tf.sub(raw, tf.mean(raw, [1, 2, 3], true));
      const depth = toRange(tf.tanh(centred), c.minDepth, c.maxDepth);
      if (c.borderColumns === 0) return depth as tf.Tensor4D;
      const s = c.imageSize;
      const cols = new Float32Array(s);
      for (let j = 0; j < c.borderColumns; j++) cols[j] = cols[s - 1 - j] = 1;
      const border = tf.tensor4d(cols, [1, 1, s, 1]);
      return tf.add(tf.mul(depth, tf.sub(1, border)), tf.mul(border, c.borderDepth)) as tf.Tensor4D;
    });
  }

  /** Light net output (t0..t3) -> (ambient, diffuse, lx, ly). */
  decodeLight(raw: tf.Tensor2D): tf.Tensor2D {
    const c = this.config;
    return tf.tidy(() => {
      const n = raw.shape[0];
      const ambient = toRange(tf.slice(raw, [0, 0], [n, 1]), c.ambientRange[0], c.ambientRange[1]);
      const diffuse = toRange(tf.slice(raw, [0, 1], [n, 1]), c.diffuseRange[0], c.diffuseRange[1]);
      return tf.concat([ambient, diffuse, tf.slice(raw, [0, 2], [n, 2])], 1) as tf.Tensor2D;
    });
  }

  /** View net output (v0..v5) -> (rx, ry, rz in radians, tx, ty, tz). */
  decodeView(raw: tf.Tensor2D): tf.Tensor2D {
    const c = this.config;
    return tf.tidy(() => {
      const rot = (c.rotRangeDeg * Math.PI) / 180;
      const scale = tf.tensor2d([[rot, rot, rot, c.xyTranslationRange, c.xyTranslationRange, c.zTranslationRange]]);
      return tf.mul(raw, scale) as tf.Tensor2D;
    });
  }

  /** Runs the five networks on images [N, S, S, 3] in [-1, 1]. */
  predict(images: tf.Tensor4D, options: { confidence?: boolean } = {}): PhotoGeoPrediction {
    this.checkImages(images);
    return tf.tidy(() => {
      const lightRaw = this.lightNet.vector(images);
      const viewRaw = this.viewNet.vector(images);
      const prediction: PhotoGeoPrediction = {
        canonDepth: this.decodeDepth(this.depthNet.apply(images)),
        canonAlbedo: this.albedoNet.apply(images),
        lightRaw,
        light: this.decodeLight(lightRaw),
        viewRaw,
        view: this.decodeView(viewRaw),
      };
      if (this.confNet && options.confidence !== false) prediction.confidence = this.confNet.maps(images);
      return prediction as unknown as tf.TensorContainer;
    }) as unknown as PhotoGeoPrediction;
  }

  /** predict, then shade and render back into the input view, with the flip branch (A.4). */
  reconstruct(images: tf.Tensor4D, options: ReconstructOptions = {}): PhotoGeoReconstruction {
    const flip = options.flip ?? this.config.lambdaFlip > 0;
    return tf.tidy(() => {
      const p = this.predict(images, { confidence: options.confidence });
      const n = images.shape[0];
      const cam = this.camera;
      // The flip branch rides in the same batch: [original; mirrored] depth and albedo, light and view repeated.
      const both = <T extends tf.Tensor>(x: T, mirrored: T): T => (flip ? (tf.concat([x, mirrored]) as T) : x);
      const twice = <T extends tf.Tensor>(x: T): T => both(x, x);
      const depth = both(p.canonDepth, flip ? flipWidth(p.canonDepth) : p.canonDepth);
      const albedo = both(p.canonAlbedo, flip ? flipWidth(p.canonAlbedo) : p.canonAlbedo);
      const shaded = shade(depth, albedo, twice(p.light), cam);
      const rendered = renderView({ canonDepth: depth, canonImage: shaded.image, view: twice(p.view), camera: cam });
      const first = <T extends tf.Tensor>(x: T): T => (flip ? (tf.slice(x, 0, n) as T) : x);
      const second = (x: tf.Tensor4D): tf.Tensor4D => tf.slice(x, n, n);
      const mask = flip ? tf.mul(first(rendered.mask), second(rendered.mask)) : rendered.mask;
      return {
        ...p,
        shading: first(shaded.shading),
        normals: first(shaded.normals),
        canonImage: first(shaded.image),
        recon: first(rendered.image),
        ...(flip ? { reconFlip: second(rendered.image) } : {}),
        mask: mask as tf.Tensor4D,
        viewDepth: first(rendered.viewDepth),
      } as unknown as tf.TensorContainer;
    }) as unknown as PhotoGeoReconstruction;
  }
}
