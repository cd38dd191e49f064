// The engine's fixed yardstick: Unsup3d's depth network (encoder–decoder) at half width, trained with L1 and Adam.
// Its step time is what `npm run bench:engine` reports, so numbers compare across versions of the engine.
// Layout (64×64 input): encoder conv k4 s2 3→32→64→128→256 (GroupNorm + LeakyReLU(0.2) after the first three,
// LeakyReLU after the fourth), conv k4 256→128 to 1×1 + ReLU; decoder transposed conv k4 128→256 to 4×4 + ReLU,
// three blocks [transposed conv k4 s2 + conv k3, each GroupNorm + ReLU] 256→128→64→32 up to 32×32, nearest ×2,
// conv k5 32→1. No biases (as in Unsup3d); GroupNorm keeps 4 channels per group, as Unsup3d's widths do.
import * as tf from '@tensorflow/tfjs';
import { groupNorm } from './ops/group-norm.js';
import { Rng } from './random.js';

export interface ReferenceNetworkConfig {
  /** Input side in pixels (64 in the benchmark). */
  size: number;
  /** Base width: 32 is Unsup3d's 64 halved. */
  width: number;
  /** Bottleneck channels: 128 is Unsup3d's 256 halved. */
  zdim: number;
  channelsPerGroup: number;
}

export const REFERENCE_CONFIG: ReferenceNetworkConfig = { size: 64, width: 32, zdim: 128, channelsPerGroup: 4 };

type ConvKind = 'conv' | 'deconv';

interface ConvSpec {
  name: string;
  kind: ConvKind;
  k: number;
  stride: number;
  /** 'valid' for the 1×1 bottleneck layers, else symmetric padding (k-1)/2 or 1 as in Unsup3d. */
  pad: number | 'valid';
  cin: number;
  cout: number;
  norm: boolean;
  act: 'lrelu' | 'relu' | 'none';
}

function layerSpecs(c: ReferenceNetworkConfig): ConvSpec[] {
  const w = c.width;
  const specs: ConvSpec[] = [
    { name: 'enc1', kind: 'conv', k: 4, stride: 2, pad: 1, cin: 3, cout: w, norm: true, act: 'lrelu' },
    { name: 'enc2', kind: 'conv', k: 4, stride: 2, pad: 1, cin: w, cout: 2 * w, norm: true, act: 'lrelu' },
    { name: 'enc3', kind: 'conv', k: 4, stride: 2, pad: 1, cin: 2 * w, cout: 4 * w, norm: true, act: 'lrelu' },
    { name: 'enc4', kind: 'conv', k: 4, stride: 2, pad: 1, cin: 4 * w, cout: 8 * w, norm: false, act: 'lrelu' },
    { name: 'enc5', kind: 'conv', k: 4, stride: 1, pad: 'valid', cin: 8 * w, cout: c.zdim, norm: false, act: 'relu' },
    { name: 'dec0', kind: 'deconv', k: 4, stride: 1, pad: 'valid', cin: c.zdim, cout: 8 * w, norm: false, act: 'relu' },
  ];
  let cin = 8 * w;
  for (let i = 1; i <= 3; i++) {
    const cout = cin / 2;
    specs.push({ name: `dec${i}up`, kind: 'deconv', k: 4, stride: 2, pad: 1, cin, cout, norm: true, act: 'relu' });
    specs.push({ name: `dec${i}conv`, kind: 'conv', k: 3, stride: 1, pad: 1, cin: cout, cout, norm: true, act: 'relu' });
    cin = cout;
  }
  specs.push({ name: 'out', kind: 'conv', k: 5, stride: 1, pad: 2, cin: w, cout: 1, norm: false, act: 'none' });
  return specs;
}

/** A variable that owns its value: the initial tensor is released so the tensor count stays exact. */
function ownedVariable(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial);
  initial.dispose();
  return v;
}

export class ReferenceNetwork {
  readonly config: ReferenceNetworkConfig;
  readonly specs: ConvSpec[];
  readonly weights = new Map<string, tf.Variable>();

  constructor(rng: Rng, config: ReferenceNetworkConfig = REFERENCE_CONFIG) {
    this.config = config;
    this.specs = layerSpecs(config);
    for (const s of this.specs) {
      // He-normal initialization; filter layout is [k,k,in,out] for conv and [k,k,out,in] for transposed conv.
      const shape = s.kind === 'conv' ? [s.k, s.k, s.cin, s.cout] : [s.k, s.k, s.cout, s.cin];
      const std = Math.sqrt(2 / (s.k * s.k * s.cin));
      const n = shape.reduce((a, b) => a * b, 1);
      this.weights.set(`${s.name}/w`, ownedVariable(tf.tensor(rng.normalArray(n, std), shape)));
      if (s.norm) {
        this.weights.set(`${s.name}/gamma`, ownedVariable(tf.ones([s.cout])));
        this.weights.set(`${s.name}/beta`, ownedVariable(tf.zeros([s.cout])));
      }
    }
  }

  get variables(): tf.Variable[] {
    return [...this.weights.values()];
  }

  private layer(x: tf.Tensor4D, s: ConvSpec): tf.Tensor4D {
    const w = this.weights.get(`${s.name}/w`)! as tf.Tensor4D;
    const pad: 'valid' | [[0, 0], [number, number], [number, number], [0, 0]] =
      s.pad === 'valid' ? 'valid' : [[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]];
    let y: tf.Tensor4D;
    if (s.kind === 'conv') {
      y = tf.conv2d(x, w, s.stride, pad);
    } else {
      const [n, h, wd] = x.shape;
      const p = s.pad === 'valid' ? 0 : s.pad;
      const outH = (h - 1) * s.stride + s.k - 2 * p;
      const outW = (wd - 1) * s.stride + s.k - 2 * p;
      // conv2dTranspose takes explicit numeric padding only as 'same'/'valid'; p=1, k=4, s=2 is exactly 'same'.
      y = tf.conv2dTranspose(x, w, [n, outH, outW, s.cout], s.stride, s.pad === 'valid' ? 'valid' : 'same');
    }
    if (s.norm) {
      y = groupNorm(y, s.cout / this.config.channelsPerGroup, this.weights.get(`${s.name}/gamma`)! as tf.Tensor1D,
        this.weights.get(`${s.name}/beta`)! as tf.Tensor1D);
    }
    if (s.act === 'lrelu') y = tf.leakyRelu(y, 0.2);
    else if (s.act === 'relu') y = tf.relu(y);
    return y;
  }

  /** images [N,S,S,3] → depth-like map [N,S,S,1]. */
  apply(images: tf.Tensor4D): tf.Tensor4D {
    let x = images;
    for (const s of this.specs) {
      if (s.name === 'out') {
        x = tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]);
      }
      x = this.layer(x, s);
    }
    return x;
  }

  l1Loss(images: tf.Tensor4D, target: tf.Tensor4D): tf.Scalar {
    return tf.mean(tf.abs(tf.sub(this.apply(images), target)));
  }

  /** Multiply–add FLOPs of one training step: forward convs, filter gradients, and input gradients past layer 1. */
  stepFlops(batch: number): number {
    let h = this.config.size;
    let total = 0;
    for (const s of this.specs) {
      if (s.name === 'out') h *= 2;
      let outH: number;
      if (s.kind === 'conv') {
        outH = s.pad === 'valid' ? h - s.k + 1 : Math.floor((h + 2 * s.pad - s.k) / s.stride) + 1;
      } else {
        outH = s.pad === 'valid' ? (h - 1) * s.stride + s.k : h * s.stride;
      }
      // A transposed conv costs what the conv it transposes costs: measured on its input side.
      const spatial = s.kind === 'conv' ? outH * outH : h * h;
      const fwd = 2 * batch * spatial * s.k * s.k * s.cin * s.cout;
      total += fwd * (s.name === 'enc1' ? 2 : 3);
      h = outH;
    }
    return total;
  }
}

/** One Adam step of the reference network on a batch; returns the loss value. */
export function referenceTrainStep(
  net: ReferenceNetwork,
  optimizer: tf.Optimizer,
  images: tf.Tensor4D,
  target: tf.Tensor4D,
): number {
  const loss = optimizer.minimize(() => net.l1Loss(images, target), true, net.variables)!;
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
}
