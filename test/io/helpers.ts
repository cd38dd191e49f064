// Shared test fixtures: temp folders, analytic depth maps, and tiny OBJ/PLY readers written for the tests.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { intrinsics } from '../../src/geometry/camera.js';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gan3d-io-'));
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

/**
 * Depth of a sphere of radius r centred at (0, 0, zc) seen by the B.1 camera: the near intersection of the ray
 * t·((j−c)/f, (i−c)/f, 1) with the sphere (its z is t). Rays that miss get `background`; `mask` marks hits.
 */
export function sphereDepth(size: number, radius: number, zc = 1, background = 1.1, fovDeg = 10) {
  const { f: focal, c: center } = intrinsics({ size, fovDeg });
  const data = new Float32Array(size * size);
  const mask = new Uint8Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const rx = (j - center) / focal;
      const ry = (i - center) / focal;
      const rr = rx * rx + ry * ry + 1;
      const b = zc; // r · C with C = (0, 0, zc)
      const disc = b * b - rr * (zc * zc - radius * radius);
      const k = i * size + j;
      if (disc > 0) {
        data[k] = (b - Math.sqrt(disc)) / rr;
        mask[k] = 1;
      } else {
        data[k] = background;
      }
    }
  }
  return { data, width: size, height: size, mask };
}

export interface ParsedMesh {
  positions: number[][];
  normals: number[][];
  uvs: number[][];
  colors: number[][];
  faces: number[][];
  comments: string[];
}

/** Reads `v`, `vt`, `vn` and triangular `f a/a/a …` lines of an OBJ (1-based indices → 0-based). */
export function parseObj(text: string): ParsedMesh & { mtllib?: string } {
  const out: ParsedMesh & { mtllib?: string } = { positions: [], normals: [], uvs: [], colors: [], faces: [], comments: [] };
  for (const line of text.split('\n')) {
    const [tag, ...rest] = line.trim().split(/\s+/);
    if (tag === 'v') out.positions.push(rest.map(Number));
    else if (tag === 'vt') out.uvs.push(rest.map(Number));
    else if (tag === 'vn') out.normals.push(rest.map(Number));
    else if (tag === 'f') {
      const corners = rest.map((c) => c.split('/').map((x) => Number(x) - 1));
      for (const c of corners) if (new Set(c).size !== 1) throw new Error(`face corner ${c} mixes indices`);
      out.faces.push(corners.map((c) => c[0]));
    } else if (tag === 'mtllib') out.mtllib = rest.join(' ');
    else if (tag === '#') out.comments.push(rest.join(' '));
  }
  return out;
}

/** Reads an ASCII or binary-little-endian PLY with float x,y,z,nx,ny,nz, optional uchar rgb, and uchar/uint faces. */
export function parsePly(bytes: Uint8Array): ParsedMesh {
  const marker = new TextEncoder().encode('end_header\n');
  let end = -1;
  for (let k = 0; k + marker.length <= bytes.length && end < 0; k++) {
    if (marker.every((b, m) => bytes[k + m] === b)) end = k + marker.length;
  }
  if (end < 0) throw new Error('no end_header');
  const header = new TextDecoder().decode(bytes.subarray(0, end)).split('\n');
  if (header[0] !== 'ply') throw new Error('not a ply');
  const format = header[1].split(' ')[1];
  const vertexCount = Number(header.find((l) => l.startsWith('element vertex'))!.split(' ')[2]);
  const faceCount = Number(header.find((l) => l.startsWith('element face'))!.split(' ')[2]);
  const props = header.filter((l) => l.startsWith('property ') && !l.includes('list')).map((l) => l.split(' '));
  const out: ParsedMesh = { positions: [], normals: [], uvs: [], colors: [], faces: [], comments: header.filter((l) => l.startsWith('comment')) };
  const take = (values: number[]) => {
    const get = (name: string) => values[props.findIndex((p) => p[2] === name)];
    out.positions.push([get('x'), get('y'), get('z')]);
    out.normals.push([get('nx'), get('ny'), get('nz')]);
    if (props.some((p) => p[2] === 'red')) out.colors.push([get('red'), get('green'), get('blue')]);
  };
  if (format === 'ascii') {
    const lines = new TextDecoder().decode(bytes.subarray(end)).trim().split('\n');
    for (let v = 0; v < vertexCount; v++) take(lines[v].split(' ').map(Number));
    for (let f = 0; f < faceCount; f++) {
      const [n, ...idx] = lines[vertexCount + f].split(' ').map(Number);
      if (n !== idx.length) throw new Error('bad face');
      out.faces.push(idx);
    }
    return out;
  }
  if (format !== 'binary_little_endian') throw new Error(`unexpected format ${format}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = end;
  for (let v = 0; v < vertexCount; v++) {
    const values: number[] = [];
    for (const p of props) {
      if (p[1] === 'float') {
        values.push(view.getFloat32(o, true));
        o += 4;
      } else if (p[1] === 'uchar') {
        values.push(view.getUint8(o));
        o += 1;
      } else throw new Error(`type ${p[1]}`);
    }
    take(values);
  }
  for (let f = 0; f < faceCount; f++) {
    const n = view.getUint8(o++);
    const idx: number[] = [];
    for (let c = 0; c < n; c++, o += 4) idx.push(view.getUint32(o, true));
    out.faces.push(idx);
  }
  if (o !== bytes.length) throw new Error(`${bytes.length - o} trailing bytes`);
  return out;
}
