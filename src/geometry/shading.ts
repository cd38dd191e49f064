// Lambertian shading in the canonical frame: S = ambient + diffuse * max(0, n . l), l = normalise(lx, ly, 1),
// and the canonical image J = (albedo / 2 + 0.5) * S * 2 - 1 (albedo and J in [-1, 1]).
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { type CameraConfig, cameraConfig, checkImageShape } from './camera.js';
import { depthToNormals } from './normals.js';

/** Numbers per light: (ambient, diffuse, lx, ly). */
export const LIGHT_SIZE = 4;

export interface Shaded {
  /** Canonical image J [N, S, S, C] in [-1, 1] (not clamped). */
  image: tf.Tensor4D;
  /** Shading S [N, S, S, 1]. */
  shading: tf.Tensor4D;
  /** Diffuse term max(0, n . l) [N, S, S, 1] (GAN2Shape smooths it). */
  diffuse: tf.Tensor4D;
  /** Canonical normals [N, S, S, 3]. */
  normals: tf.Tensor4D;
}

function checkLight(light: tf.Tensor, batch: number): void {
  if (light.rank !== 2 || light.shape[1] !== LIGHT_SIZE || light.shape[0] !== batch) {
    throw new Gan3dError(`light must have shape [${batch}, 4] (ambient, diffuse, lx, ly), got [${light.shape}].`, 'BAD_SHAPE');
  }
}

/** Unit light directions [N, 3] from light [N, 4]: (lx, ly, 1) / |(lx, ly, 1)|. */
export function lightDirections(light: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = light.shape[0];
    const l = tf.concat([tf.slice(light, [0, 2], [n, 2]), tf.ones([n, 1])], 1);
    return tf.div(l, tf.norm(l, 'euclidean', 1, true)) as tf.Tensor2D;
  });
}

/** Shading and its diffuse term for normals [N, H, W, 3] under light [N, 4]. */
export function lambertShading(normals: tf.Tensor4D, light: tf.Tensor2D): { shading: tf.Tensor4D; diffuse: tf.Tensor4D } {
  checkLight(light, normals.shape[0]);
  return tf.tidy(() => {
    const n = light.shape[0];
    const dir = tf.reshape(lightDirections(light), [n, 1, 1, 3]);
    const diffuse = tf.relu(tf.sum(tf.mul(normals, dir), 3, true)) as tf.Tensor4D;
    const ambient = tf.reshape(tf.slice(light, [0, 0], [n, 1]), [n, 1, 1, 1]);
    const strength = tf.reshape(tf.slice(light, [0, 1], [n, 1]), [n, 1, 1, 1]);
    return { shading: tf.add(ambient, tf.mul(strength, diffuse)) as tf.Tensor4D, diffuse };
  });
}

/**
 * Shades albedo [N, S, S, C] in [-1, 1] with the normals of canonDepth [N, S, S, 1] under light [N, 4]
 * (ambient, diffuse, lx, ly). Differentiable with respect to depth, albedo and light.
 */
export function shade(canonDepth: tf.Tensor4D, albedo: tf.Tensor4D, light: tf.Tensor2D, camera?: CameraConfig): Shaded {
  const cam = camera ?? cameraConfig(canonDepth.shape[1]);
  checkImageShape('canonDepth', canonDepth.shape, cam, 1);
  checkImageShape('albedo', albedo.shape, cam, -1, canonDepth.shape[0]);
  checkLight(light, canonDepth.shape[0]);
  return tf.tidy(() => {
    const normals = depthToNormals(canonDepth, cam);
    const { shading, diffuse } = lambertShading(normals, light);
    // (a / 2 + 0.5) * S * 2 - 1 = (a + 1) * S - 1.
    const image = tf.sub(tf.mul(tf.add(albedo, 1), shading), 1) as tf.Tensor4D;
    return { image, shading, diffuse, normals };
  });
}
