// Frame stacks that show a reconstruction in 3-D: a yaw sweep of the canonical shape (novel views) and a light
// circling the object in the input view (relighting). Both reuse the renderer and the shading of the model, so what
// they show is exactly what the model's depth and albedo imply. Pixels no surface covers get a plain background.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { type CameraConfig, cameraConfig, checkImageShape } from './camera.js';
import { renderView } from './render.js';
import { depthToNormals } from './normals.js';
import { lightDirections } from './shading.js';

export interface AnimationOptions {
  /** Frames in the loop (default 24). */
  frames?: number;
  /** Side of the rendered frames: depth and images are resized bilinearly to it first (default: the camera's). */
  size?: number;
  /** Background colour in [-1, 1], RGB (default a light grey). */
  background?: [number, number, number];
}

export interface YawSweepOptions extends AnimationOptions {
  /** The sweep goes −maxYawDeg … +maxYawDeg and back (default 60). */
  maxYawDeg?: number;
}

export interface RelightOptions extends AnimationOptions {
  /** |(lx, ly)| of the circling light: 1 tilts it 45° off the viewing axis (default 1, the light net's largest). */
  radius?: number;
}

/** Light grey, #e6e6e6. */
export const DEFAULT_BACKGROUND: [number, number, number] = [0.8, 0.8, 0.8];

function framesOf(o: AnimationOptions): number {
  const f = o.frames ?? 24;
  if (!(Number.isInteger(f) && f >= 1 && f <= 1000)) throw new Gan3dError(`frames must be a whole number in 1..1000, got ${f}.`, 'BAD_ARGUMENT');
  return f;
}

/** The camera and the depth/image resized to `size` (a camera of the same field of view and depth range). */
function atSize(camera: CameraConfig, size: number | undefined, depth: tf.Tensor4D, image: tf.Tensor4D): { cam: CameraConfig; depth: tf.Tensor4D; image: tf.Tensor4D } {
  const s = size ?? camera.size;
  if (s === camera.size) return { cam: camera, depth, image };
  const cam = cameraConfig(s, { fovDeg: camera.fovDeg, minDepth: camera.minDepth, maxDepth: camera.maxDepth, rotCenterDepth: camera.rotCenterDepth });
  return {
    cam,
    depth: tf.image.resizeBilinear(depth, [s, s], false, true),
    image: tf.image.resizeBilinear(image, [s, s], false, true),
  };
}

function composite(image: tf.Tensor4D, mask: tf.Tensor4D, background: [number, number, number]): tf.Tensor4D {
  const bg = tf.tensor4d(background, [1, 1, 1, 3]);
  return tf.add(tf.mul(image, mask), tf.mul(bg, tf.sub(1, mask))) as tf.Tensor4D;
}

/** Yaw angle of frame k: −max·cos(2πk/F), so frame 0 is −max, frame F/2 is +max and the loop closes smoothly. */
export function yawAngles(frames: number, maxYawDeg = 60): number[] {
  return Array.from({ length: frames }, (_, k) => -maxYawDeg * Math.cos((2 * Math.PI * k) / frames));
}

/**
 * Renders one canonical depth [1, S, S, 1] and image [1, S, S, C] turning about the vertical axis through the
 * rotation centre: frames [F, s, s, C] in [-1, 1], composited over the background.
 */
export function renderYawSweep(canonDepth: tf.Tensor4D, canonImage: tf.Tensor4D, camera: CameraConfig, options: YawSweepOptions = {}): tf.Tensor4D {
  const frames = framesOf(options);
  checkImageShape('canonDepth', canonDepth.shape, camera, 1, 1);
  checkImageShape('canonImage', canonImage.shape, camera, 3, 1);
  return tf.tidy(() => {
    const { cam, depth, image } = atSize(camera, options.size, canonDepth, canonImage);
    const views = yawAngles(frames, options.maxYawDeg ?? 60).map((deg) => [0, (deg * Math.PI) / 180, 0, 0, 0, 0]);
    const r = renderView({
      canonDepth: tf.tile(depth, [frames, 1, 1, 1]),
      canonImage: tf.tile(image, [frames, 1, 1, 1]),
      view: tf.tensor2d(views),
      camera: cam,
    });
    return composite(r.image, r.mask, options.background ?? DEFAULT_BACKGROUND);
  });
}

/** Light of frame k: the given ambient and diffuse strengths, (lx, ly) = radius·(cos, sin)(2πk/F). */
export function circlingLights(frames: number, ambient: number, diffuse: number, radius = 1): number[][] {
  return Array.from({ length: frames }, (_, k) => {
    const a = (2 * Math.PI * k) / frames;
    return [ambient, diffuse, radius * Math.cos(a), radius * Math.sin(a)];
  });
}

/**
 * Shades canonical depth [1, S, S, 1] and albedo [1, S, S, 3] under a light circling the viewing axis (ambient and
 * diffuse from `light` [1, 4]) and renders each frame into `view` [1, 6]: frames [F, s, s, 3] in [-1, 1].
 */
export function renderRelight(
  canonDepth: tf.Tensor4D,
  canonAlbedo: tf.Tensor4D,
  light: tf.Tensor2D,
  view: tf.Tensor2D,
  camera: CameraConfig,
  options: RelightOptions = {},
): tf.Tensor4D {
  const frames = framesOf(options);
  checkImageShape('canonDepth', canonDepth.shape, camera, 1, 1);
  checkImageShape('canonAlbedo', canonAlbedo.shape, camera, 3, 1);
  if (light.rank !== 2 || light.shape[0] !== 1 || light.shape[1] !== 4) throw new Gan3dError(`light must be [1, 4], got [${light.shape}].`, 'BAD_SHAPE');
  if (view.rank !== 2 || view.shape[0] !== 1 || view.shape[1] !== 6) throw new Gan3dError(`view must be [1, 6], got [${view.shape}].`, 'BAD_SHAPE');
  const [ambient, diffuse] = light.dataSync();
  return tf.tidy(() => {
    const { cam, depth, image: albedo } = atSize(camera, options.size, canonDepth, canonAlbedo);
    const s = cam.size;
    // One depth and one view for every frame: the frames ride as channels through a single render, the shading
    // J_f = (albedo + 1)·S_f − 1 with S_f = ambient + diffuse·max(0, n·l_f), as geometry/shading.ts computes it.
    const normals = depthToNormals(depth, cam);
    const dirs = lightDirections(tf.tensor2d(circlingLights(frames, ambient, diffuse, options.radius ?? 1)));
    const cosines = tf.relu(tf.matMul(tf.reshape(normals, [s * s, 3]), dirs, false, true)); // [s·s, F]
    const shading = tf.add(ambient, tf.mul(diffuse, cosines));
    const images = tf.sub(tf.mul(tf.reshape(tf.add(albedo, 1), [s * s, 1, 3]), tf.reshape(shading, [s * s, frames, 1])), 1); // [s·s, F, 3]
    const r = renderView({ canonDepth: depth, canonImage: tf.reshape(images, [1, s, s, frames * 3]), view, camera: cam });
    const stack = tf.transpose(tf.reshape(r.image, [s, s, frames, 3]), [2, 0, 1, 3]) as tf.Tensor4D;
    return composite(stack, r.mask, options.background ?? DEFAULT_BACKGROUND);
  });
}
