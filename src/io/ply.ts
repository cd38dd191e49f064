// Stanford PLY export: per-vertex position, unit normal and (with a texture) RGB colour, triangles as index lists.
// Binary little-endian by default (compact, exact float32); ASCII on request. Coordinates follow export-frame.ts
// (unscaled by default).
import { writeFileAtomic, type WriteOptions } from './atomic-write.js';
import { METRIC_FRAME, resolveFrame, toExportNormals, toExportPositions, type ExportFrame } from './export-frame.js';
import type { DepthMesh } from '../geometry/depth-mesh.js';

export interface PlyOptions {
  format?: 'binary' | 'ascii';
  /** Export frame; defaults to {@link METRIC_FRAME} (scale 1, zOrigin 1). */
  frame?: Partial<ExportFrame>;
}

function header(mesh: DepthMesh, format: 'binary' | 'ascii', frame: ExportFrame): string {
  const lines = [
    'ply',
    format === 'binary' ? 'format binary_little_endian 1.0' : 'format ascii 1.0',
    `comment gan3d depth mesh: camera ${mesh.gridSize}x${mesh.gridSize} px, fov ${mesh.camera.fovDeg} deg`,
    `comment frame: x' = s*x, y' = -s*y, z' = s*(${frame.zOrigin} - z), s = ${frame.scale}`,
    `element vertex ${mesh.vertexCount}`,
    'property float x',
    'property float y',
    'property float z',
    'property float nx',
    'property float ny',
    'property float nz',
  ];
  if (mesh.colors) lines.push('property uchar red', 'property uchar green', 'property uchar blue');
  lines.push(`element face ${mesh.faceCount}`, 'property list uchar uint vertex_indices', 'end_header');
  return lines.join('\n') + '\n';
}

/** Encodes a depth mesh as PLY bytes. */
export function encodePly(mesh: DepthMesh, options: PlyOptions = {}): Uint8Array {
  const format = options.format ?? 'binary';
  const frame = resolveFrame(options.frame, METRIC_FRAME);
  const p = toExportPositions(mesh.positions, frame);
  const n = toExportNormals(mesh.normals);
  const { colors, indices } = mesh;
  const head = new TextEncoder().encode(header(mesh, format, frame));

  if (format === 'ascii') {
    const lines: string[] = [];
    for (let v = 0; v < mesh.vertexCount; v++) {
      const fields = [p[3 * v], p[3 * v + 1], p[3 * v + 2], n[3 * v], n[3 * v + 1], n[3 * v + 2]].map((x) => x.toPrecision(9));
      if (colors) fields.push(String(colors[3 * v]), String(colors[3 * v + 1]), String(colors[3 * v + 2]));
      lines.push(fields.join(' '));
    }
    for (let t = 0; t < indices.length; t += 3) lines.push(`3 ${indices[t]} ${indices[t + 1]} ${indices[t + 2]}`);
    const body = new TextEncoder().encode(lines.join('\n') + '\n');
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return out;
  }

  const vertexBytes = 24 + (colors ? 3 : 0);
  const out = new Uint8Array(head.length + mesh.vertexCount * vertexBytes + mesh.faceCount * 13);
  out.set(head);
  const view = new DataView(out.buffer);
  let o = head.length;
  for (let v = 0; v < mesh.vertexCount; v++) {
    for (let c = 0; c < 3; c++, o += 4) view.setFloat32(o, p[3 * v + c], true);
    for (let c = 0; c < 3; c++, o += 4) view.setFloat32(o, n[3 * v + c], true);
    if (colors) for (let c = 0; c < 3; c++) out[o++] = colors[3 * v + c];
  }
  for (let t = 0; t < indices.length; t += 3) {
    out[o++] = 3;
    for (let c = 0; c < 3; c++, o += 4) view.setUint32(o, indices[t + c], true);
  }
  return out;
}

/** Writes a depth mesh as a .ply file (atomic; refuses to overwrite unless `force`). */
export async function writePly(file: string, mesh: DepthMesh, options: PlyOptions & WriteOptions = {}): Promise<void> {
  await writeFileAtomic(file, encodePly(mesh, options), options);
}
