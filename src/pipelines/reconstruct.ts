// Image files → 3-D with the photo-geometric model: for each input image a folder of maps, meshes, animations and
// metadata. Inputs are checked (and output clashes found) before anything is written; images are then decoded and
// run through the model batch by batch, so a thousand images never sit in memory at once. Each image's folder is
// written under a hidden temp name and renamed into place when complete, so a folder is either whole or absent.
//
//   <out>/<name>/input.png           the 64×64 crop the model saw
//                reconstruction.png  the model's rendering of the input view (black where it sees nothing)
//                depth.png           input-view depth, 16-bit, d = maxDepth − v/65535·(maxDepth − minDepth) (SynFace's
//                                    encoding with the model's depth range: 0.9..1.1 by default; clamped to it)
//                depth_color.png     the same depth through the turbo map, near = red, stretched per image
//                normal.png          canonical normals, RGB = (x right, y up, z toward the viewer)/2 + 0.5
//                albedo.png          canonical albedo
//                shading.png         canonical diffuse shading max(0, n·l) under the predicted light (the model's shading
//                                    is ambient + diffuse·this); 1 = white
//                mesh.glb            canonical depth as a mesh, textured with the shaded canonical image
//                mesh.obj (+ mesh.mtl, mesh_texture.png)
//                rotate.gif          the canonical shape turning −60°…+60° and back
//                relight.gif         the input view under a light circling the viewing axis
//                meta.json           input, crop, light, view, model id, timings, gan3d version
import * as tf from '@tensorflow/tfjs';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { Gan3dError } from '../engine/errors.js';
import { renderRelight, renderYawSweep } from '../geometry/animate.js';
import { buildDepthMesh } from '../geometry/depth-mesh.js';
import { colorizeDepth } from '../io/colormap.js';
import { encodeDepth16 } from '../io/depth-png.js';
import { encodeGif } from '../io/gif.js';
import { encodeGlb } from '../io/glb.js';
import { readImage, SUPPORTED_IMAGE_FORMATS, type CropMode } from '../io/image.js';
import { encodeObj, objCompanionPaths } from '../io/obj.js';
import { encodePng16Grey, encodePng8, signedToUint8 } from '../io/png.js';
import { gan3dVersion } from '../io/version.js';
import { DEFAULT_MODEL_DIR, loadPhotoGeoModel, type LoadedPhotoGeoModel } from './model-bundle.js';

/** File extensions picked up when a folder is given (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'] as const;

export interface ReconstructImagesOptions {
  /** Image files and folders (scanned non-recursively for IMAGE_EXTENSIONS, sorted by name). */
  inputs: string[];
  /** Each image gets `<outDir>/<image name>/`. */
  outDir: string;
  /**
   * A loaded model (left for the caller to dispose), or the folder of a bundle, training checkpoint or training run
   * (loaded here and disposed at the end). Default {@link DEFAULT_MODEL_DIR}.
   */
  model?: LoadedPhotoGeoModel | string;
  /** Images per forward pass (default 16). */
  batch?: number;
  /**
   * 'center' (default): the centred square of side min(width, height), resized to the model's 64×64.
   * 'none': the whole image resized to 64×64 (stretched when it is not square).
   */
  crop?: CropMode;
  /** Replace existing output folders (default false: any clash is an error before anything is written). */
  force?: boolean;
  /** Write rotate.gif and relight.gif (default true). */
  gif?: boolean;
  /** Write mesh.glb and mesh.obj (default true). */
  mesh?: boolean;
  /** Side of the GIF frames: the 64×64 depth and image are resized to it and rendered there (default 128). */
  gifSize?: number;
  /** Frames per GIF loop (default 24). */
  gifFrames?: number;
  /** Called once the inputs are checked and the model is loaded, before the first image. */
  onStart?: (total: number) => void;
  /** Called after each image's folder is complete. */
  onProgress?: (done: number, total: number, image: ReconstructedImage) => void;
}

export interface LightSummary {
  ambient: number;
  diffuse: number;
  /** The light net's (lx, ly); the direction is (lx, ly, 1) normalised. */
  lx: number;
  ly: number;
  /** Unit vector in the camera frame (x right, y down, z forward), as the shading uses it. */
  direction: [number, number, number];
}

export interface ViewSummary {
  /** Rotation of the canonical frame into the input view, degrees about x, y, z (R = Rz Ry Rx). */
  rotationDeg: { x: number; y: number; z: number };
  translation: { x: number; y: number; z: number };
}

export interface ReconstructedImage {
  input: string;
  name: string;
  /** The image's output folder. */
  dir: string;
  /** File names written into `dir`. */
  files: string[];
  light: LightSummary;
  view: ViewSummary;
  /** Milliseconds: decode and forward are this image's share of its batch. */
  timings: Record<string, number>;
}

export interface ReconstructResult {
  images: ReconstructedImage[];
  model: { id: string; source: string; path: string };
  /** Milliseconds: checking the inputs, loading the model, decoding, forward passes, and the rest (exports, which overlap the others). */
  timings: { totalMs: number; checkInputsMs: number; loadModelMs: number; decodeMs: number; forwardMs: number; exportMs: number; imagesPerSecond: number };
}

interface InputImage {
  file: string;
  name: string;
  width: number;
  height: number;
  format: string;
}

const now = () => performance.now();
const round = (v: number, digits = 3) => Number(v.toFixed(digits));

async function statOf(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}

/** Input files in order: files as given, folders' images sorted by name; duplicates (same resolved path) once. */
export async function listInputFiles(inputs: readonly string[]): Promise<string[]> {
  if (inputs.length === 0) throw new Gan3dError('Give at least one image file or folder to reconstruct.', 'BAD_ARGUMENT');
  const files: string[] = [];
  const seen = new Set<string>();
  const add = (f: string) => {
    const key = path.resolve(f);
    if (!seen.has(key)) {
      seen.add(key);
      files.push(f);
    }
  };
  for (const input of inputs) {
    const st = await statOf(input);
    if (!st) throw new Gan3dError(`Input not found: ${input}. Check the path.`, 'IO_NOT_FOUND');
    if (st.isDirectory()) {
      const names = (await fs.readdir(input, { withFileTypes: true }))
        .filter((e) => !e.isDirectory() && (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(e.name).toLowerCase()))
        .map((e) => e.name)
        .sort();
      if (names.length === 0) {
        throw new Gan3dError(`${input}: the folder has no PNG, JPEG or WebP images (${IMAGE_EXTENSIONS.join(' ')}; sub-folders are not searched).`, 'NO_DATA');
      }
      for (const n of names) add(path.join(input, n));
    } else {
      add(input);
    }
  }
  return files;
}

/** Reads each file's header: a missing, empty, non-image or unsupported file is an error naming it. */
async function probe(file: string): Promise<{ width: number; height: number; format: string }> {
  const st = await statOf(file);
  if (!st) throw new Gan3dError(`Input not found: ${file}. Check the path.`, 'IO_NOT_FOUND');
  if (st.size === 0) throw new Gan3dError(`${file} is empty (0 bytes); it is not an image.`, 'IO_EMPTY_FILE');
  let meta: Metadata;
  try {
    meta = await sharp(file).metadata();
  } catch {
    throw new Gan3dError(`${file} is not an image (expected PNG, JPEG or WebP).`, 'IO_NOT_AN_IMAGE');
  }
  if (!(SUPPORTED_IMAGE_FORMATS as readonly string[]).includes(meta.format)) {
    throw new Gan3dError(`${file} is a ${meta.format.toUpperCase()} image; only PNG, JPEG and WebP are supported. Convert it first.`, 'IO_UNSUPPORTED_FORMAT');
  }
  return { width: meta.autoOrient?.width ?? meta.width, height: meta.autoOrient?.height ?? meta.height, format: meta.format };
}

/** Folder names from the files' base names; a repeated name gets -2, -3… (compared case-insensitively). */
export function outputNames(files: readonly string[]): string[] {
  const used = new Set<string>();
  return files.map((f) => {
    const base = path.parse(f).name || 'image';
    let name = base;
    for (let k = 2; used.has(name.toLowerCase()); k++) name = `${base}-${k}`;
    used.add(name.toLowerCase());
    return name;
  });
}

async function resolveInputs(inputs: readonly string[]): Promise<InputImage[]> {
  const files = await listInputFiles(inputs);
  const names = outputNames(files);
  const out: InputImage[] = [];
  // Headers only, a few at a time.
  for (let start = 0; start < files.length; start += 16) {
    const chunk = files.slice(start, start + 16);
    const infos = await Promise.all(chunk.map(probe));
    infos.forEach((info, k) => out.push({ file: chunk[k], name: names[start + k], ...info }));
  }
  return out;
}

async function checkClashes(outDir: string, images: readonly InputImage[], force: boolean): Promise<void> {
  const st = await statOf(outDir);
  if (st && !st.isDirectory()) throw new Gan3dError(`Output ${outDir} is a file; give a folder with -o.`, 'IO_NOT_A_FOLDER');
  if (!st || force) return;
  const clashes: string[] = [];
  for (const im of images) if (await statOf(path.join(outDir, im.name))) clashes.push(im.name);
  if (clashes.length > 0) {
    const shown = clashes.slice(0, 10).join(', ') + (clashes.length > 10 ? ` and ${clashes.length - 10} more` : '');
    throw new Gan3dError(
      `${outDir} already has output folders for ${clashes.length} of the ${images.length} inputs (${shown}). ` +
        'Pass --force to replace them, or choose another output folder with -o.',
      'OUTPUT_EXISTS',
    );
  }
}

function checkCount(name: string, v: number, min: number, max: number): number {
  if (!(Number.isInteger(v) && v >= min && v <= max)) throw new Gan3dError(`${name} must be a whole number in ${min}..${max}, got ${v}.`, 'BAD_ARGUMENT');
  return v;
}

/** Model outputs of one batch, on the host. */
interface BatchArrays {
  images: Float32Array;
  canonDepth: Float32Array;
  canonAlbedo: Float32Array;
  canonImage: Float32Array;
  normals: Float32Array;
  recon: Float32Array;
  mask: Float32Array;
  viewDepth: Float32Array;
  light: Float32Array;
  view: Float32Array;
}

/**
 * Runs the model on one batch and copies the outputs to the host. (Typed arrays are read outside tf.tidy: tidy walks
 * whatever its callback returns element by element, which costs seconds for a large typed array.)
 */
function forward(loaded: LoadedPhotoGeoModel, images: Float32Array, n: number): BatchArrays {
  const s = loaded.config.imageSize;
  const r = tf.tidy(() => {
    const x = tf.tensor4d(images, [n, s, s, 3]);
    const o = loaded.model.reconstruct(x, { flip: false, confidence: false });
    const { canonDepth, canonAlbedo, canonImage, normals, recon, mask, viewDepth, light, view } = o;
    return { canonDepth, canonAlbedo, canonImage, normals, recon, mask, viewDepth, light, view };
  });
  try {
    const host = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return {
      images,
      canonDepth: host(r.canonDepth),
      canonAlbedo: host(r.canonAlbedo),
      canonImage: host(r.canonImage),
      normals: host(r.normals),
      recon: host(r.recon),
      mask: host(r.mask),
      viewDepth: host(r.viewDepth),
      light: host(r.light),
      view: host(r.view),
    };
  } finally {
    tf.dispose(Object.values(r));
  }
}

/** The values of the tensor `fn` builds (under tf.tidy), disposed after reading. */
function hostValues(fn: () => tf.Tensor): Float32Array {
  const t = tf.tidy(fn);
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

/** Canonical normals (x right, y down, z away from the camera) → the usual normal-map colours (x right, y up, z toward the viewer). */
function normalsToRgb(normals: Float32Array): Uint8Array {
  const out = new Uint8Array(normals.length);
  const byte = (v: number) => Math.round((Math.min(1, Math.max(-1, v)) * 0.5 + 0.5) * 255);
  for (let k = 0; k < normals.length; k += 3) {
    out[k] = byte(-normals[k]);
    out[k + 1] = byte(normals[k + 1]);
    out[k + 2] = byte(normals[k + 2]);
  }
  return out;
}

/** The diffuse term max(0, n·l) of canonical normals under a unit light direction, as grey bytes (1 = white). */
function diffuseToGrey(normals: Float32Array, direction: readonly number[]): Uint8Array {
  const out = new Uint8Array(normals.length / 3);
  const [x, y, z] = direction;
  for (let p = 0; p < out.length; p++) {
    const d = normals[3 * p] * x + normals[3 * p + 1] * y + normals[3 * p + 2] * z;
    out[p] = Math.round(Math.min(1, Math.max(0, Number.isFinite(d) ? d : 0)) * 255);
  }
  return out;
}

interface ExportContext {
  loaded: LoadedPhotoGeoModel;
  outDir: string;
  crop: CropMode;
  force: boolean;
  gif: boolean;
  mesh: boolean;
  gifSize: number;
  gifFrames: number;
}

type Encoded = Uint8Array | string;

/**
 * Writes one image's folder (under a temp name, then renamed into place) and returns its summary.
 *
 * Everything that computes (colour maps, the mesh, the GIF frames through the renderer) runs synchronously before
 * the first await; the encoders (PNG, GLB, GIF: sharp, on libuv's thread pool) then run while the caller already
 * computes the next image. Timings: the synchronous work of each export exactly, and `encode`, the wall time from
 * launching the encoders to the folder being in place.
 */
function exportImage(ctx: ExportContext, item: InputImage, a: BatchArrays, k: number, shared: { decodeMs: number; forwardMs: number }): Promise<ReconstructedImage> {
  const tStart = now();
  const { loaded } = ctx;
  const c = loaded.config;
  const s = c.imageSize;
  const p = s * s;
  const slice = (arr: Float32Array, ch: number) => arr.subarray(k * p * ch, (k + 1) * p * ch);
  const input = slice(a.images, 3);
  const canonDepth = slice(a.canonDepth, 1);
  const canonAlbedo = slice(a.canonAlbedo, 3);
  const canonImage = slice(a.canonImage, 3);
  const mask = slice(a.mask, 1);
  const viewDepth = slice(a.viewDepth, 1);
  const [ambient, diffuse, lx, ly] = a.light.subarray(4 * k, 4 * k + 4);
  const [rx, ry, rz, tx, ty, tz] = a.view.subarray(6 * k, 6 * k + 6);
  const norm = Math.hypot(lx, ly, 1);
  const light: LightSummary = { ambient, diffuse, lx, ly, direction: [lx / norm, ly / norm, 1 / norm] };
  const deg = (r: number) => (r * 180) / Math.PI;
  const view: ViewSummary = { rotationDeg: { x: deg(rx), y: deg(ry), z: deg(rz) }, translation: { x: tx, y: ty, z: tz } };

  const timings: Record<string, number> = { decode: shared.decodeMs, forward: shared.forwardMs };
  // File name → its bytes, in the order they are listed; encoders fill in promises.
  const outputs: [string, Promise<Encoded>][] = [];
  const timed = (label: string, fn: () => void) => {
    const t0 = now();
    fn();
    timings[label] = round(now() - t0);
  };
  const range = { minDepth: c.minDepth, maxDepth: c.maxDepth };
  let clamped = 0;
  let colorRange = { near: 0, far: 0 };
  let meshInfo: Record<string, unknown> | null = null;
  let launched = 0;
  try {
    timed('maps', () => {
      const png = (data: Uint8Array, ch: 1 | 3) => encodePng8(data, s, s, ch);
      const colored = colorizeDepth(viewDepth, { mask });
      colorRange = { near: colored.near, far: colored.far };
      outputs.push(
        ['input.png', png(signedToUint8(input, `${item.file} input`), 3)],
        ['reconstruction.png', png(signedToUint8(slice(a.recon, 3), `${item.file} reconstruction`), 3)],
        ['depth_color.png', png(colored.rgb, 3)],
        ['normal.png', png(normalsToRgb(slice(a.normals, 3)), 3)],
        ['albedo.png', png(signedToUint8(canonAlbedo, `${item.file} albedo`), 3)],
        ['shading.png', png(diffuseToGrey(slice(a.normals, 3), light.direction), 1)],
      );
    });
    timed('depth', () => {
      for (const d of viewDepth) if (d < range.minDepth || d > range.maxDepth) clamped++;
      const v = encodeDepth16(viewDepth, range, { clamp: true, label: `${item.file} depth` });
      outputs.push(['depth.png', encodePng16Grey({ data: v, width: s, height: s })]);
    });
    if (ctx.mesh) {
      timed('mesh', () => {
        const mesh = buildDepthMesh(
          { data: canonDepth, width: s, height: s },
          { camera: { size: s, fovDeg: c.fovDeg }, texture: { data: canonImage, width: s, height: s, channels: 3 }, label: `${item.file} mesh` },
        );
        const paths = objCompanionPaths('mesh.obj', true);
        const text = encodeObj(mesh, paths.mtl, paths.texture);
        outputs.push(
          ['mesh.glb', encodeGlb(mesh, { name: item.name, metadata: { model: loaded.id, input: item.file } })],
          [paths.obj, Promise.resolve(text.obj)],
          [paths.mtl, Promise.resolve(text.mtl)],
          [paths.texture!, encodePng8(mesh.texture!.data, s, s, 3)],
        );
        meshInfo = {
          files: ['mesh.glb', paths.obj, paths.mtl, paths.texture],
          source: 'canonical depth',
          texture: 'shaded canonical image (albedo × shading)',
          vertices: mesh.vertexCount,
          faces: mesh.faceCount,
          frame: 'GLB: metres, the rotation centre (depth 1) at the origin, y up, facing +z; OBJ: the same ×100',
        };
      });
    }
    if (ctx.gif) {
      const options = { frames: ctx.gifFrames, size: ctx.gifSize };
      // Frames leave as bytes: a quarter of the float32 memory while they wait for the encoder.
      const frameStack = (t: () => tf.Tensor4D) => ({ data: signedToUint8(hostValues(t), 'GIF frames'), width: ctx.gifSize, height: ctx.gifSize, count: ctx.gifFrames });
      timed('rotateGif', () => {
        const frames = frameStack(() => renderYawSweep(tf.tensor4d(canonDepth, [1, s, s, 1]), tf.tensor4d(canonImage, [1, s, s, 3]), loaded.model.camera, options));
        outputs.push(['rotate.gif', encodeGif(frames)]);
      });
      timed('relightGif', () => {
        const frames = frameStack(() =>
          renderRelight(
            tf.tensor4d(canonDepth, [1, s, s, 1]),
            tf.tensor4d(canonAlbedo, [1, s, s, 3]),
            tf.tensor2d([[ambient, diffuse, lx, ly]]),
            tf.tensor2d([[rx, ry, rz, tx, ty, tz]]),
            loaded.model.camera,
            options,
          ),
        );
        outputs.push(['relight.gif', encodeGif(frames)]);
      });
    }
    launched = now();
  } catch (e) {
    // Encoders already started must not reject unhandled.
    for (const [, promise] of outputs) promise.catch(() => undefined);
    return Promise.reject(e);
  }
  const files = [...outputs.map(([name]) => name), 'meta.json'];
  const finalDir = path.join(ctx.outDir, item.name);
  const tmpDir = path.join(ctx.outDir, `.${item.name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const finish = async (): Promise<ReconstructedImage> => {
    const encoded = await Promise.all(outputs.map(([, promise]) => promise));
    await fs.mkdir(ctx.outDir, { recursive: true });
    await fs.mkdir(tmpDir);
    try {
      await Promise.all(outputs.map(([name], i) => fs.writeFile(path.join(tmpDir, name), encoded[i])));
      timings.encode = round(now() - launched);
      timings.total = round(shared.decodeMs + shared.forwardMs + (now() - tStart));
      const meta = {
        input: item.file,
        name: item.name,
        source: { width: item.width, height: item.height, format: item.format },
        crop: {
          mode: ctx.crop,
          size: s,
          description:
            ctx.crop === 'center'
              ? `centred square of side min(width, height), resized to ${s}×${s} (lanczos3)`
              : `whole image resized to ${s}×${s} (lanczos3), stretched if not square`,
        },
        model: { id: loaded.id, source: loaded.meta.source, path: loaded.meta.path, step: loaded.meta.training.step ?? null },
        light,
        view,
        depth: {
          file: 'depth.png',
          frame: 'input view',
          encoding: 'd = maxDepth − (v / 65535)·(maxDepth − minDepth), white = near (SynFace convention)',
          minDepth: range.minDepth,
          maxDepth: range.maxDepth,
          clampedPixels: clamped,
        },
        depthColor: { file: 'depth_color.png', colormap: 'turbo, near = red, far = blue', near: colorRange.near, far: colorRange.far },
        maps: {
          'input.png': `the ${s}×${s} crop the model saw`,
          'reconstruction.png': 'the shaded canonical image rendered into the input view (black where nothing is seen)',
          'normal.png': 'canonical frame; RGB = (x right, y up, z toward the viewer) / 2 + 0.5',
          'albedo.png': 'canonical frame',
          'shading.png': 'canonical frame; the diffuse term max(0, n·l) under the predicted light direction, 1 = white (the model shades with ambient + diffuse·this)',
        },
        mesh: meshInfo,
        animations: ctx.gif
          ? {
              'rotate.gif': { frames: ctx.gifFrames, size: ctx.gifSize, yawDeg: [-60, 60], of: 'canonical depth and shaded canonical image' },
              'relight.gif': { frames: ctx.gifFrames, size: ctx.gifSize, light: 'ambient and diffuse as predicted, (lx, ly) on the unit circle (45° off axis)', view: 'input view' },
            }
          : null,
        timingsMs: timings,
        timingsNote:
          'decode and forward: this image\'s share of its batch; maps, depth, mesh, rotateGif, relightGif: computing them (renders ' +
          'included); encode: encoding and writing every file (PNG, GLB, GIF encoders run in parallel with the next image)',
        files,
        gan3d: gan3dVersion(),
        createdAt: new Date().toISOString(),
      };
      await fs.writeFile(path.join(tmpDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
      await moveIntoPlace(tmpDir, finalDir, ctx.force);
    } catch (e) {
      await fs.rm(tmpDir, { recursive: true, force: true });
      throw e;
    }
    return { input: item.file, name: item.name, dir: finalDir, files, light, view, timings };
  };
  return finish();
}

async function moveIntoPlace(tmpDir: string, finalDir: string, force: boolean): Promise<void> {
  if (await statOf(finalDir)) {
    if (!force) throw new Gan3dError(`Output folder ${finalDir} appeared while writing; pass --force to replace it.`, 'OUTPUT_EXISTS');
    const aside = `${tmpDir}.old`;
    await fs.rename(finalDir, aside);
    await fs.rename(tmpDir, finalDir);
    await fs.rm(aside, { recursive: true, force: true });
  } else {
    await fs.rename(tmpDir, finalDir);
  }
}

/**
 * Reconstructs every input image with the photogeo model and writes its folder under `outDir` (see the file
 * header for the contents). All inputs are checked, and clashes with existing folders found, before any output is
 * written. Returns a summary per image and overall timings.
 */
export async function reconstructImages(options: ReconstructImagesOptions): Promise<ReconstructResult> {
  const t0 = now();
  const batch = checkCount('batch', options.batch ?? 16, 1, 4096);
  const gifSize = checkCount('gifSize', options.gifSize ?? 128, 16, 1024);
  const gifFrames = checkCount('gifFrames', options.gifFrames ?? 24, 1, 1000);
  const crop = options.crop ?? 'center';
  if (crop !== 'center' && crop !== 'none') throw new Gan3dError(`crop must be 'center' or 'none', got "${String(crop)}".`, 'BAD_ARGUMENT');
  const force = options.force ?? false;
  const items = await resolveInputs(options.inputs);
  await checkClashes(options.outDir, items, force);
  const checkMs = now() - t0;

  const tLoad = now();
  const owned = typeof options.model !== 'object';
  const loaded = typeof options.model === 'object' ? options.model : await loadPhotoGeoModel(options.model ?? DEFAULT_MODEL_DIR);
  const loadModelMs = now() - tLoad;
  const ctx: ExportContext = { loaded, outDir: options.outDir, crop, force, gif: options.gif ?? true, mesh: options.mesh ?? true, gifSize, gifFrames };
  const s = loaded.config.imageSize;
  const images: ReconstructedImage[] = [];
  options.onStart?.(items.length);
  let decodeMs = 0;
  let forwardMs = 0;
  // One image's encoders run while the next image computes: at most two images in flight, finished in order.
  const inFlight: Promise<ReconstructedImage>[] = [];
  const settleOldest = async () => {
    const summary = await inFlight[0];
    inFlight.shift();
    images.push(summary);
    options.onProgress?.(images.length, items.length, summary);
  };
  try {
    for (let start = 0; start < items.length; start += batch) {
      const chunk = items.slice(start, start + batch);
      const td = now();
      const decoded = await Promise.all(chunk.map((it) => readImage(it.file, { crop, size: s })));
      const pixels = new Float32Array(chunk.length * s * s * 3);
      decoded.forEach((im, k) => pixels.set(im.data, k * s * s * 3));
      const batchDecode = now() - td;
      const tf0 = now();
      const arrays = forward(loaded, pixels, chunk.length);
      const batchForward = now() - tf0;
      decodeMs += batchDecode;
      forwardMs += batchForward;
      const shared = { decodeMs: round(batchDecode / chunk.length), forwardMs: round(batchForward / chunk.length) };
      for (let k = 0; k < chunk.length; k++) {
        const promise = exportImage(ctx, chunk[k], arrays, k, shared);
        promise.catch(() => undefined); // awaited in order below; this only keeps an early failure from counting as unhandled
        inFlight.push(promise);
        if (inFlight.length > 1) await settleOldest();
      }
    }
    while (inFlight.length > 0) await settleOldest();
  } finally {
    // On an error, let the images still being written finish (or clean up) before returning.
    await Promise.allSettled(inFlight);
    if (owned) loaded.model.dispose();
  }
  const totalMs = now() - t0;
  // Exports overlap with decoding and the forward passes; what is left of the wall time is theirs.
  const exportMs = Math.max(0, totalMs - checkMs - loadModelMs - decodeMs - forwardMs);
  return {
    images,
    model: { id: loaded.id, source: loaded.meta.source, path: loaded.meta.path },
    timings: {
      totalMs: round(totalMs),
      checkInputsMs: round(checkMs),
      loadModelMs: round(loadModelMs),
      decodeMs: round(decodeMs),
      forwardMs: round(forwardMs),
      exportMs: round(exportMs),
      imagesPerSecond: round(images.length / (totalMs / 1000)),
    },
  };
}
