import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gan3dError } from '../../src/engine/errors.js';
import { cameraConfig, intrinsics } from '../../src/geometry/camera.js';
import { backProject } from '../../src/geometry/depth-grid.js';
import { buildDepthMesh } from '../../src/geometry/depth-mesh.js';
import { METRIC_FRAME, toExportPositions } from '../../src/io/export-frame.js';
import { sphereDepth } from '../io/helpers.js';

test('B.1 intrinsics: f ≈ 360.05 at 64 px and 725.8 at 128 px, c = (S−1)/2', () => {
  assert.ok(Math.abs(intrinsics(cameraConfig(64)).f - 360.05) < 0.01);
  assert.ok(Math.abs(intrinsics(cameraConfig(128)).f - 725.8) < 0.1);
  assert.equal(intrinsics(cameraConfig(64)).c, 31.5);
});

test('full mesh: S² vertices, 2(S−1)² faces in B.2 order, positions = back-projection, pixel-centre UVs', () => {
  const S = 64;
  const depth = sphereDepth(S, 0.06);
  const mesh = buildDepthMesh(depth);
  assert.equal(mesh.vertexCount, S * S);
  assert.equal(mesh.faceCount, 7938);
  const exact = backProject(depth.data, { size: S });
  exact.forEach((x, k) => assert.ok(Math.abs(mesh.positions[k] - x) < 1e-7));
  assert.deepEqual(Array.from(mesh.indices.slice(0, 6)), [0, S, 1, 1, S, S + 1]);
  assert.deepEqual([mesh.uvs[0], mesh.uvs[1]], [0.5 / S, 0.5 / S]);
  const last = 2 * (S * S - 1);
  assert.ok(Math.abs(mesh.uvs[last] - (S - 0.5) / S) < 1e-7 && Math.abs(mesh.uvs[last + 1] - (S - 0.5) / S) < 1e-7);
});

test('normals are unit, face the camera, and triangles wind counter-clockwise toward the viewer after export', () => {
  const S = 16;
  const plane = { data: new Float32Array(S * S).fill(1), width: S, height: S };
  const mesh = buildDepthMesh(plane);
  for (let v = 0; v < mesh.vertexCount; v++) {
    assert.deepEqual([mesh.normals[3 * v], mesh.normals[3 * v + 1], mesh.normals[3 * v + 2]].map((x) => x + 0), [0, 0, -1]);
  }
  // The geometric normal (b−a)×(c−a) in the export frame must point to +z', where the viewer is.
  const p = toExportPositions(mesh.positions, METRIC_FRAME);
  for (let t = 0; t < mesh.indices.length; t += 3) {
    const [a, b, c] = [0, 1, 2].map((m) => Array.from(p.subarray(3 * mesh.indices[t + m], 3 * mesh.indices[t + m] + 3)));
    const u = [b[0] - a[0], b[1] - a[1]];
    const w = [c[0] - a[0], c[1] - a[1]];
    assert.ok(u[0] * w[1] - u[1] * w[0] > 0, `triangle ${t / 3} faces away`);
  }
  // On a sphere, interior normals point from the centre toward the camera side: n ≈ (P − C)/r.
  const sphere = sphereDepth(64, 0.06);
  const sm = buildDepthMesh(sphere, { mask: sphere.mask });
  let worst = 0;
  for (let v = 0; v < sm.vertexCount; v++) {
    const P = [sm.positions[3 * v], sm.positions[3 * v + 1], sm.positions[3 * v + 2] - 1].map((x) => x / 0.06);
    const n = [sm.normals[3 * v], sm.normals[3 * v + 1], sm.normals[3 * v + 2]];
    assert.ok(Math.abs(Math.hypot(...n) - 1) < 1e-6);
    const i = Math.floor(sm.pixelOfVertex[v] / 64);
    const j = sm.pixelOfVertex[v] % 64;
    const inside = sphere.mask.slice((i - 1) * 64 + j - 1, (i - 1) * 64 + j + 2).every(Boolean) &&
      sphere.mask.slice((i + 1) * 64 + j - 1, (i + 1) * 64 + j + 2).every(Boolean);
    if (inside && P[2] < -0.5) worst = Math.max(worst, Math.acos(Math.min(1, P[0] * n[0] + P[1] * n[1] + P[2] * n[2])));
  }
  assert.ok(worst < (5 * Math.PI) / 180, `normals deviate from the analytic sphere by up to ${(worst * 180) / Math.PI}°`);
});

test('a mask drops every face with a vertex outside it, and unused vertices with them', () => {
  const S = 6;
  const depth = { data: new Float32Array(S * S).fill(1), width: S, height: S };
  const mask = new Uint8Array(S * S);
  for (let i = 1; i <= 3; i++) for (let j = 1; j <= 4; j++) mask[i * S + j] = 1; // 3×4 pixel block
  const mesh = buildDepthMesh(depth, { mask });
  assert.equal(mesh.vertexCount, 12);
  assert.equal(mesh.faceCount, 2 * 2 * 3);
  for (const v of mesh.indices) assert.equal(mask[mesh.pixelOfVertex[v]], 1);
  assert.throws(() => buildDepthMesh(depth, { mask: new Uint8Array(S * S) }), /mask leaves no triangles/);
});

test('texture: bytes and [-1,1] floats give the same per-vertex colours; grey is replicated', () => {
  const S = 4;
  const depth = { data: new Float32Array(S * S).fill(1), width: S, height: S };
  const bytes = new Uint8Array(S * S * 3).map((_, k) => (k * 17) % 256);
  const floats = Float32Array.from(bytes, (b) => b / 127.5 - 1);
  const a = buildDepthMesh(depth, { texture: { data: bytes, width: S, height: S } });
  const b = buildDepthMesh(depth, { texture: { data: floats, width: S, height: S } });
  assert.deepEqual(a.colors, bytes);
  assert.deepEqual(b.colors, bytes);
  const grey = buildDepthMesh(depth, { texture: { data: new Uint8Array(S * S).fill(7), width: S, height: S } });
  assert.ok(grey.colors!.every((c) => c === 7));
  const big = new Uint8Array(2 * S * 2 * S * 3).map((_, k) => Math.floor(k / (3 * 2 * S)) * 10); // row-coded, 2× size
  const c = buildDepthMesh(depth, { texture: { data: big, width: 2 * S, height: 2 * S } });
  for (let v = 0; v < c.vertexCount; v++) assert.equal(c.colors![3 * v], (2 * Math.floor(v / S) + 1) * 10, 'samples the same image location');
});

test('NaN, Inf, non-positive depth and shape mismatches are refused with the position', () => {
  const S = 4;
  const bad = new Float32Array(S * S).fill(1);
  bad[6] = Number.NaN;
  bad[9] = Infinity;
  assert.throws(
    () => buildDepthMesh({ data: bad, width: S, height: S }, { label: 'Cannot write x.glb' }),
    (e: unknown) => e instanceof Gan3dError && e.code === 'IO_BAD_DEPTH' && /x\.glb.*2 value\(s\).*row 1, column 2/.test(e.message),
  );
  assert.throws(() => buildDepthMesh({ data: new Float32Array(12).fill(1), width: 4, height: 3 }), /square/);
  assert.throws(() => buildDepthMesh({ data: new Float32Array(16).fill(-1), width: 4, height: 4 }), /not positive/);
});
