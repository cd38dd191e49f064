import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { NodeIO } from '@gltf-transform/core';
import validator from 'gltf-validator';
import sharp from 'sharp';
import { Gan3dError } from '../../src/engine/errors.js';
import { backProject } from '../../src/geometry/depth-grid.js';
import { buildDepthMesh, type DepthMesh } from '../../src/geometry/depth-mesh.js';
import { fromExportPosition, METRIC_FRAME, OBJ_FRAME, type ExportFrame } from '../../src/io/export-frame.js';
import { encodeGlb } from '../../src/io/glb.js';
import { writeMesh } from '../../src/io/mesh-export.js';
import { exportDepthMesh } from '../../src/pipelines/export-mesh.js';
import { parseObj, parsePly, sphereDepth, tempDir, type ParsedMesh } from './helpers.js';

const tmp = await tempDir();
after(() => tmp.cleanup());
const file = (name: string) => path.join(tmp.dir, name);

const S = 64;
const RADIUS = 0.06;
const sphere = sphereDepth(S, RADIUS, 1, 1.1);
const texture = { data: new Uint8Array(S * S * 3).map((_, k) => (k * 7) % 256), width: S, height: S };
const masked = buildDepthMesh(sphere, { mask: sphere.mask, texture });
const full = buildDepthMesh(sphere, { texture });
const exact = backProject(sphere.data, { size: S });

/** Every parsed vertex, mapped back to the camera frame, equals the back-projection of its pixel within tol. */
function assertBackProjection(parsed: { positions: number[][] }, mesh: DepthMesh, frame: ExportFrame, tol = 1e-5) {
  assert.equal(parsed.positions.length, mesh.vertexCount);
  let worst = 0;
  parsed.positions.forEach(([x, y, z], v) => {
    const p = fromExportPosition(x, y, z, frame);
    const pixel = mesh.pixelOfVertex[v];
    for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(p[c] - exact[3 * pixel + c]));
  });
  assert.ok(worst < tol, `max deviation from back-projection ${worst}`);
}

/** In the export frame the sphere's centre (0,0,1) lands on the origin, so every vertex lies at radius scale·r. */
function assertRadius(positions: ArrayLike<number> | number[][], scale: number) {
  const flat = Array.isArray(positions) ? (positions as number[][]).flat() : Array.from(positions);
  let worst = 0;
  for (let k = 0; k < flat.length; k += 3) worst = Math.max(worst, Math.abs(Math.hypot(flat[k], flat[k + 1], flat[k + 2]) / scale - RADIUS));
  assert.ok(worst < 1e-6, `radius off by ${worst}`);
}

function assertFaces(parsed: ParsedMesh, mesh: DepthMesh) {
  assert.equal(parsed.faces.length, mesh.faceCount);
  parsed.faces.forEach((f, t) => assert.deepEqual(f, Array.from(mesh.indices.subarray(3 * t, 3 * t + 3))));
}

test('GLB passes the Khronos validator with zero errors, textured, with NORMAL and TEXCOORD_0', async (t) => {
  for (const [name, mesh] of [
    ['masked', masked],
    ['full', full],
    ['untextured', buildDepthMesh(sphere)],
    ['large (32-bit indices)', buildDepthMesh({ data: new Float32Array(300 * 300).fill(1), width: 300, height: 300 })],
  ] as const) {
    const bytes = await encodeGlb(mesh, { metadata: { seed: 1 } });
    const report = await validator.validateBytes(bytes);
    const errors = report.issues.messages.filter((m) => m.severity === 0);
    assert.equal(report.issues.numErrors, 0, JSON.stringify(errors.slice(0, 5)));
    t.diagnostic(`${name}: ${report.issues.numErrors} errors, ${report.issues.numWarnings} warnings, ${report.issues.numInfos} infos`);
  }
  const doc = await new NodeIO().readBinary(await encodeGlb(masked));
  const prim = doc.getRoot().listMeshes()[0].listPrimitives()[0];
  assert.deepEqual(prim.listSemantics().sort(), ['NORMAL', 'POSITION', 'TEXCOORD_0']);
  const tex = prim.getMaterial()!.getBaseColorTexture()!;
  assert.equal(tex.getMimeType(), 'image/png');
  const { data, info } = await sharp(tex.getImage()!).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [S, S, 3]);
  assert.deepEqual(new Uint8Array(data), texture.data);
  assert.deepEqual(doc.getRoot().getDefaultScene()!.getExtras(), {
    gan3d: { camera: { size: S, fovDeg: 10 }, gridSize: S, frame: { scale: 1, zOrigin: 1 } },
  });
});

test('GLB read back: positions are the back-projection and the sphere keeps its radius', async () => {
  await writeMesh(file('sphere.glb'), masked);
  const doc = await new NodeIO().readBinary(await fs.readFile(file('sphere.glb')));
  const prim = doc.getRoot().listMeshes()[0].listPrimitives()[0];
  const pos = prim.getAttribute('POSITION')!.getArray()!;
  const positions: number[][] = [];
  for (let k = 0; k < pos.length; k += 3) positions.push([pos[k], pos[k + 1], pos[k + 2]]);
  assertBackProjection({ positions }, masked, METRIC_FRAME);
  assertRadius(pos, 1);
  assert.equal(prim.getIndices()!.getCount(), 3 * masked.faceCount);
  const normals = prim.getAttribute('NORMAL')!.getArray()!;
  for (let k = 0; k < normals.length; k += 3) assert.ok(Math.abs(Math.hypot(normals[k], normals[k + 1], normals[k + 2]) - 1) < 1e-6);
});

test('OBJ + MTL + texture: counts, B.7 frame (×100, y and z flipped), flipped UVs, radius kept', async () => {
  const written = await writeMesh(file('sphere.obj'), masked);
  assert.deepEqual(written.map((p) => path.basename(p)), ['sphere.obj', 'sphere.mtl', 'sphere_texture.png']);
  const obj = parseObj(await fs.readFile(file('sphere.obj'), 'utf8'));
  assert.equal(obj.mtllib, 'sphere.mtl');
  assertFaces(obj, masked);
  assertBackProjection(obj, masked, OBJ_FRAME);
  assertRadius(obj.positions, 100);
  obj.uvs.forEach(([u, v], k) => {
    assert.ok(Math.abs(u - masked.uvs[2 * k]) < 1e-6 && Math.abs(v - (1 - masked.uvs[2 * k + 1])) < 1e-6);
  });
  // B.7: exported normals are B.5's normals with x negated.
  const b5 = masked.normals.map((n) => -n);
  obj.normals.forEach(([x, y, z], k) => {
    assert.ok(Math.abs(x + b5[3 * k]) < 1e-5 && Math.abs(y - b5[3 * k + 1]) < 1e-5 && Math.abs(z - b5[3 * k + 2]) < 1e-5);
  });
  const mtl = await fs.readFile(file('sphere.mtl'), 'utf8');
  assert.match(mtl, /newmtl surface[\s\S]*map_Kd sphere_texture\.png/);
  const png = await sharp(file('sphere_texture.png')).raw().toBuffer();
  assert.deepEqual(new Uint8Array(png), texture.data);
});

test('PLY binary and ASCII: counts, coordinates, normals and colours read back', async () => {
  for (const plyFormat of ['binary', 'ascii'] as const) {
    const name = file(`sphere-${plyFormat}.ply`);
    await writeMesh(name, masked, { plyFormat });
    const ply = parsePly(new Uint8Array(await fs.readFile(name)));
    assertFaces(ply, masked);
    assertBackProjection(ply, masked, METRIC_FRAME);
    assertRadius(ply.positions, 1);
    ply.colors.forEach((c, v) => assert.deepEqual(c, Array.from(masked.colors!.subarray(3 * v, 3 * v + 3))));
    ply.normals.forEach((n) => assert.ok(Math.abs(Math.hypot(...n) - 1) < 1e-6));
  }
  const full64 = parsePly(new Uint8Array(await fs.readFile((await writeMesh(file('full.ply'), full))[0])));
  assert.equal(full64.positions.length, S * S);
  assert.equal(full64.faces.length, 2 * (S - 1) ** 2);
});

test('exporters refuse NaN depth naming the output, never overwrite without force, leave no partial files', async () => {
  const dir = path.join(tmp.dir, 'guard');
  await fs.mkdir(dir);
  const bad = { ...sphere, data: sphere.data.slice() };
  bad.data[100] = Number.NaN;
  for (const ext of ['glb', 'obj', 'ply']) {
    await assert.rejects(exportDepthMesh(path.join(dir, `bad.${ext}`), bad), (e: unknown) => {
      assert.ok(e instanceof Gan3dError && e.code === 'IO_BAD_DEPTH', String(e));
      assert.ok(e.message.includes(`bad.${ext}`), e.message);
      return true;
    });
  }
  assert.deepEqual(await fs.readdir(dir), []);
  await fs.writeFile(path.join(dir, 'm.mtl'), 'keep me');
  await assert.rejects(exportDepthMesh(path.join(dir, 'm.obj'), sphere, { texture }), /m\.mtl already exists; pass --force/);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['m.mtl']);
  await exportDepthMesh(path.join(dir, 'm.obj'), sphere, { texture, force: true });
  assert.deepEqual((await fs.readdir(dir)).sort(), ['m.mtl', 'm.obj', 'm_texture.png']);
  await assert.rejects(writeMesh(path.join(dir, 'm.stl'), masked), /use a \.glb, \.obj or \.ply extension/);
});
