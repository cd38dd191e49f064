import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NodeIO } from '@gltf-transform/core';
import validator from 'gltf-validator';
import sharp from 'sharp';
import { reconstructCommand } from '../../src/cli/reconstruct.js';
import { initBackend } from '../../src/engine/backend.js';
import { Gan3dError } from '../../src/engine/errors.js';
import { readDepthPng } from '../../src/io/depth-png.js';
import { readImage } from '../../src/io/image.js';
import { gan3dVersion } from '../../src/io/version.js';
import { loadPhotoGeoBundle, savePhotoGeoBundle, type LoadedPhotoGeoModel } from '../../src/pipelines/model-bundle.js';
import { PhotoGeoModel, type PhotoGeoOverrides } from '../../src/models/photogeo/index.js';
import { listInputFiles, outputNames, reconstructImages, type ReconstructResult } from '../../src/pipelines/reconstruct.js';
import { parseObj } from '../io/helpers.js';

const TINY: PhotoGeoOverrides = {
  depthNet: { nf: 8, zdim: 16 },
  albedoNet: { nf: 8, zdim: 16 },
  confNet: { nf: 8, zdim: 8 },
  lightNet: { nf: 8 },
  viewNet: { nf: 8 },
};
const S = 64;
const ALL_FILES = [
  'albedo.png',
  'depth.png',
  'depth_color.png',
  'input.png',
  'mesh.glb',
  'mesh.mtl',
  'mesh.obj',
  'mesh_texture.png',
  'meta.json',
  'normal.png',
  'reconstruction.png',
  'relight.gif',
  'rotate.gif',
  'shading.png',
];

let root = '';
let bundleDir = '';
let loaded: LoadedPhotoGeoModel;
let first: ReconstructResult;
const out = () => path.join(root, 'out');

/** A smooth colourful test picture (a face-like blob on a gradient) of any size. */
async function writePicture(file: string, width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<void> {
  const px = Buffer.alloc(width * height * 3);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      const r = Math.hypot((i - height / 2) / height, (j - width / 2) / width);
      const o = 3 * (i * width + j);
      px[o] = Math.round(255 * Math.max(0, 1 - 2 * r));
      px[o + 1] = Math.round((255 * j) / width);
      px[o + 2] = Math.round((255 * i) / height);
    }
  }
  await sharp(px, { raw: { width, height, channels: 3 } }).toFormat(format).toFile(file);
}

before(async () => {
  await initBackend('wasm');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-recon-'));
  const model = new PhotoGeoModel(5, TINY);
  bundleDir = path.join(root, 'model');
  await savePhotoGeoBundle(bundleDir, model, { id: 'tiny-recon' });
  model.dispose();
  loaded = await loadPhotoGeoBundle(bundleDir);
  await fs.mkdir(path.join(root, 'in'));
  await fs.mkdir(path.join(root, 'more'));
  await writePicture(path.join(root, 'in', 'face.png'), 96, 80);
  await writePicture(path.join(root, 'in', 'cat.jpg'), 70, 110, 'jpeg');
  await fs.writeFile(path.join(root, 'in', 'notes.txt'), 'not picked up from a folder');
  await writePicture(path.join(root, 'more', 'face.png'), 50, 50);
  const tensors = tf.memory().numTensors;
  first = await reconstructImages({ inputs: [path.join(root, 'in'), path.join(root, 'more', 'face.png')], outDir: out(), model: loaded, batch: 2 });
  assert.equal(tf.memory().numTensors, tensors, 'reconstructImages leaks tensors');
});

after(async () => {
  loaded.model.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

test('inputs: folders give their images sorted, repeated base names get distinct folders', async () => {
  assert.deepEqual(
    first.images.map((im) => [path.relative(root, im.input), im.name]),
    [
      [path.join('in', 'cat.jpg'), 'cat'],
      [path.join('in', 'face.png'), 'face'],
      [path.join('more', 'face.png'), 'face-2'],
    ],
  );
  assert.deepEqual(outputNames(['a/x.png', 'b/x.png', 'c/X.jpg', 'x-2.png']), ['x', 'x-2', 'X-3', 'x-2-2']);
  assert.deepEqual((await fs.readdir(out())).sort(), ['cat', 'face', 'face-2']);
  // The same file twice is reconstructed once.
  assert.deepEqual(await listInputFiles([path.join(root, 'more', 'face.png'), path.join(root, 'more')]), [path.join(root, 'more', 'face.png')]);
});

test('every output exists; depth.png holds the model\'s input-view depth; meta.json says what was done', async () => {
  for (const im of first.images) {
    assert.deepEqual((await fs.readdir(im.dir)).sort(), ALL_FILES, im.name);
    assert.deepEqual([...im.files].sort(), ALL_FILES.filter((f) => f !== 'meta.json').concat('meta.json').sort());
  }
  const im = first.images[1];
  // The same crop and forward pass, recomputed here.
  const input = await readImage(im.input, { crop: 'center', size: S });
  const r = tf.tidy(() => {
    const o = loaded.model.reconstruct(tf.tensor4d(input.data, [1, S, S, 3]), { flip: false });
    return { viewDepth: tf.clipByValue(o.viewDepth, 0.9, 1.1), shading: o.shading, light: o.light, normals: o.normals };
  });
  const normals = r.normals.dataSync();
  const expected = r.viewDepth.dataSync();
  const shadingValues = r.shading.dataSync();
  const [ambient, diffuse] = r.light.dataSync();
  tf.dispose(Object.values(r));
  const depth = await readDepthPng(path.join(im.dir, 'depth.png'), { minDepth: 0.9, maxDepth: 1.1 });
  assert.deepEqual([depth.width, depth.height], [S, S]);
  let worst = 0;
  for (let k = 0; k < depth.data.length; k++) worst = Math.max(worst, Math.abs(depth.data[k] - expected[k]));
  assert.ok(worst <= 0.2 / 65535 / 2 + 1e-6, `depth.png differs from viewDepth by ${worst}`);

  // input.png is exactly the crop the model saw.
  const crop = await sharp(path.join(im.dir, 'input.png')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([crop.info.width, crop.info.height, crop.info.channels], [S, S, 3]);
  const bytes = Uint8Array.from(input.data, (v) => Math.round(v * 127.5 + 127.5));
  assert.deepEqual(new Uint8Array(crop.data), bytes);
  // shading.png is the diffuse term: the model's shading is ambient + diffuse · it.
  const grey = await sharp(path.join(im.dir, 'shading.png')).extractChannel(0).raw().toBuffer();
  assert.ok(diffuse > 0.05, `diffuse ${diffuse}`);
  let worstShade = 0;
  for (let k = 0; k < S * S; k++) worstShade = Math.max(worstShade, Math.abs(grey[k] / 255 - Math.min(1, (shadingValues[k] - ambient) / diffuse)));
  assert.ok(worstShade < 0.6 / 255 + 1e-4, `shading.png off by ${worstShade}`);
  // normal.png: canonical normals as (x right, y up, z toward the viewer) / 2 + 0.5; flat (0, 0, 1) is (128, 128, 255).
  const rgb = await sharp(path.join(im.dir, 'normal.png')).raw().toBuffer();
  const toByte = (v: number) => Math.round((v * 0.5 + 0.5) * 255);
  for (let k = 0; k < S * S; k += 97) {
    assert.deepEqual([rgb[3 * k], rgb[3 * k + 1], rgb[3 * k + 2]], [toByte(-normals[3 * k]), toByte(normals[3 * k + 1]), toByte(normals[3 * k + 2])], `pixel ${k}`);
  }
  assert.deepEqual([...rgb.subarray(0, 3)], [128, 128, 255], 'the border pixel is flat');
  for (const [name, channels] of [['albedo.png', 3], ['normal.png', 3], ['shading.png', 1], ['reconstruction.png', 3], ['depth_color.png', 3]] as const) {
    const m = await sharp(path.join(im.dir, name)).metadata();
    assert.deepEqual([m.width, m.height, m.channels], [S, S, channels], name);
  }

  const meta = JSON.parse(await fs.readFile(path.join(im.dir, 'meta.json'), 'utf8'));
  assert.equal(meta.input, im.input);
  assert.deepEqual(meta.source, { width: 96, height: 80, format: 'png' });
  assert.equal(meta.crop.mode, 'center');
  assert.equal(meta.crop.size, S);
  assert.equal(meta.model.id, 'tiny-recon');
  assert.equal(meta.model.source, 'bundle');
  assert.equal(meta.gan3d, gan3dVersion());
  assert.match(meta.gan3d, /^\d+\.\d+\.\d+/);
  const l = meta.light;
  for (const v of [l.ambient, l.diffuse, l.lx, l.ly]) assert.ok(Number.isFinite(v));
  assert.ok(Math.abs(Math.hypot(...(l.direction as number[])) - 1) < 1e-6);
  assert.ok(Math.abs(l.direction[0] * Math.hypot(l.lx, l.ly, 1) - l.lx) < 1e-6);
  for (const v of Object.values(meta.view.rotationDeg) as number[]) assert.ok(Math.abs(v) <= 60 + 1e-4);
  assert.deepEqual(Object.keys(meta.view.translation), ['x', 'y', 'z']);
  assert.deepEqual(meta.light, JSON.parse(JSON.stringify(im.light)));
  for (const key of ['decode', 'forward', 'maps', 'depth', 'mesh', 'rotateGif', 'relightGif', 'encode', 'total']) {
    assert.ok(typeof meta.timingsMs[key] === 'number' && meta.timingsMs[key] >= 0, key);
  }
  assert.deepEqual(meta.depth.minDepth, 0.9);
  assert.equal(meta.files.length, ALL_FILES.length);
});

test('mesh.glb passes the Khronos validator with 0 errors; mesh.obj has the full textured grid', async () => {
  const dir = first.images[0].dir;
  const glb = new Uint8Array(await fs.readFile(path.join(dir, 'mesh.glb')));
  const report = await validator.validateBytes(glb);
  assert.equal(report.issues.numErrors, 0, JSON.stringify(report.issues.messages.filter((m) => m.severity === 0).slice(0, 5)));
  const doc = await new NodeIO().readBinary(glb);
  const prim = doc.getRoot().listMeshes()[0].listPrimitives()[0];
  assert.equal(prim.getAttribute('POSITION')!.getCount(), S * S);
  assert.ok(prim.getMaterial()!.getBaseColorTexture());
  assert.equal((doc.getRoot().getDefaultScene()!.getExtras() as { gan3d: { model: string } }).gan3d.model, 'tiny-recon');
  const obj = parseObj(await fs.readFile(path.join(dir, 'mesh.obj'), 'utf8'));
  assert.equal(obj.positions.length, S * S);
  assert.equal(obj.faces.length, 2 * (S - 1) * (S - 1));
  assert.equal(obj.mtllib, 'mesh.mtl');
  assert.match(await fs.readFile(path.join(dir, 'mesh.mtl'), 'utf8'), /map_Kd mesh_texture\.png/);
});

test('rotate.gif and relight.gif are looping animations of 24 frames at 128×128', async () => {
  for (const name of ['rotate.gif', 'relight.gif']) {
    const file = path.join(first.images[2].dir, name);
    const m = await sharp(file, { animated: true }).metadata();
    assert.equal(m.format, 'gif', name);
    assert.equal(m.pages, 24, name);
    assert.equal(m.pageHeight, 128, name);
    assert.equal(m.width, 128, name);
    assert.equal(m.loop, 0, name);
    // The frames differ (the view or the light moves).
    const { data } = await sharp(file, { animated: true }).raw().toBuffer({ resolveWithObject: true });
    const frame = 128 * 128 * (data.length / (128 * 128 * 24));
    assert.notDeepEqual(data.subarray(0, frame), data.subarray(12 * frame, 13 * frame), name);
  }
});

test('existing folders are not overwritten without --force; with it they are replaced whole', async () => {
  const marker = path.join(out(), 'face', 'stale.txt');
  await fs.writeFile(marker, 'from an older run');
  const before = (await fs.stat(path.join(out(), 'cat', 'meta.json'))).mtimeMs;
  await assert.rejects(
    reconstructImages({ inputs: [path.join(root, 'in'), path.join(root, 'more', 'face.png')], outDir: out(), model: loaded, gif: false }),
    (e: unknown) => e instanceof Gan3dError && e.code === 'OUTPUT_EXISTS' && /for 3 of the 3 inputs \(cat, face, face-2\).*--force/.test(e.message),
  );
  assert.equal((await fs.stat(path.join(out(), 'cat', 'meta.json'))).mtimeMs, before);
  assert.deepEqual((await fs.readdir(out())).sort(), ['cat', 'face', 'face-2'], 'no temp folders left behind');

  const r = await reconstructImages({ inputs: [path.join(root, 'in', 'face.png')], outDir: out(), model: loaded, force: true, gif: false, mesh: false });
  assert.equal(r.images.length, 1);
  const files = (await fs.readdir(path.join(out(), 'face'))).sort();
  assert.deepEqual(files, ALL_FILES.filter((f) => !f.endsWith('.gif') && !f.startsWith('mesh')));
  assert.deepEqual((await fs.readdir(out())).sort(), ['cat', 'face', 'face-2']);
});

test('the CLI action: --crop none, --no-gif, --no-mesh, and clear errors for bad inputs and a missing model', async () => {
  let printed = '';
  const dest = path.join(root, 'cli-out');
  const r = await reconstructCommand([path.join(root, 'more')], {
    out: dest,
    model: bundleDir,
    crop: 'none',
    gif: false,
    mesh: false,
    quiet: true,
    write: (t) => (printed += t),
  });
  assert.match(printed, /Reconstructed 1 image with model tiny-recon/);
  assert.deepEqual((await fs.readdir(r.images[0].dir)).sort(), ALL_FILES.filter((f) => !f.endsWith('.gif') && !f.startsWith('mesh')));
  const meta = JSON.parse(await fs.readFile(path.join(r.images[0].dir, 'meta.json'), 'utf8'));
  assert.equal(meta.crop.mode, 'none');
  assert.equal(meta.mesh, null);
  assert.equal(meta.animations, null);

  const quietly = { out: path.join(root, 'never'), model: bundleDir, quiet: true, write: () => undefined };
  const fails = async (inputs: string[], code: string, pattern: RegExp, opts = quietly) => {
    await assert.rejects(reconstructCommand(inputs, opts), (e: unknown) => {
      assert.ok(e instanceof Gan3dError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      return true;
    });
  };
  await fails([path.join(root, 'in', 'missing.png')], 'IO_NOT_FOUND', /Input not found: .*missing\.png/);
  await fs.writeFile(path.join(root, 'fake.png'), 'this is text');
  await fails([path.join(root, 'in'), path.join(root, 'fake.png')], 'IO_NOT_AN_IMAGE', /fake\.png is not an image/);
  await fs.writeFile(path.join(root, 'empty.png'), '');
  await fails([path.join(root, 'empty.png')], 'IO_EMPTY_FILE', /empty\.png is empty/);
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).gif().toFile(path.join(root, 'anim.gif'));
  await fails([path.join(root, 'anim.gif')], 'IO_UNSUPPORTED_FORMAT', /anim\.gif is a GIF image; only PNG, JPEG and WebP/);
  await fs.mkdir(path.join(root, 'nothing'));
  await fs.writeFile(path.join(root, 'nothing', 'readme.txt'), 'no images here');
  await fails([path.join(root, 'nothing')], 'NO_DATA', /nothing: the folder has no PNG, JPEG or WebP images/);
  await fails([path.join(root, 'more')], 'MODEL_NOT_FOUND', /No model at .*no-model.*gan3d train photogeo.*gan3d model export/, {
    ...quietly,
    model: path.join(root, 'no-model'),
  });
  await fails([path.join(root, 'more')], 'BAD_ARGUMENT', /--crop must be center or none/, { ...quietly, crop: 'left' } as typeof quietly);
  await assert.rejects(fs.stat(path.join(root, 'never')), 'nothing was written for failed runs');
});

test('an image that fails to decode mid-run stops it with its name; finished folders stay, no temp folders are left', async () => {
  const dir = path.join(root, 'partial-in');
  await fs.mkdir(dir);
  await writePicture(path.join(dir, 'a.png'), 64, 64);
  await writePicture(path.join(dir, 'c.png'), 64, 64);
  const whole = await fs.readFile(path.join(dir, 'a.png'));
  await fs.writeFile(path.join(dir, 'b.png'), whole.subarray(0, Math.floor(whole.length / 2)));
  const dest = path.join(root, 'partial-out');
  await assert.rejects(
    reconstructImages({ inputs: [dir], outDir: dest, model: loaded, batch: 1, gif: false }),
    (e: unknown) => e instanceof Gan3dError && /b\.png is truncated or corrupt/.test(e.message),
  );
  assert.deepEqual(await fs.readdir(dest), ['a']);
});
