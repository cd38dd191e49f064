// Wavefront OBJ + MTL + PNG texture, following B.7 (GAN2Shape / Unsup3d demo) conventions:
// - positions in the export frame with scale 100: (100·x, −100·y, 100·(1 − z)), see export-frame.ts;
// - normals (nx, −ny, −nz) of our camera-facing normals, which equals B.7's "B.5 normals with x negated";
// - UVs with v flipped (OBJ's origin is the bottom-left of the texture): vt = (u, 1 − v).
// Unlike B.7 we write two triangles per pixel quad (B.2), not four fanned around an extra centre vertex, so the
// vertices are exactly the back-projected pixels.
import * as path from 'node:path';
import { writeFilesAtomic, type OutputFile, type WriteOptions } from './atomic-write.js';
import { OBJ_FRAME, resolveFrame, toExportNormals, toExportPositions, type ExportFrame } from './export-frame.js';
import type { DepthMesh } from '../geometry/depth-mesh.js';
import { encodePng8 } from './png.js';

export interface ObjOptions {
  /** Export frame; defaults to {@link OBJ_FRAME} (scale 100, zOrigin 1). */
  frame?: Partial<ExportFrame>;
  /** Digits after the decimal point for coordinates (default 6). */
  digits?: number;
}

export interface ObjText {
  obj: string;
  mtl: string;
}

/** The files an OBJ export writes next to each other. */
export interface ObjPaths {
  obj: string;
  mtl: string;
  /** Only when the mesh has a texture. */
  texture?: string;
}

/** Where `writeObj(file)` puts its companions: foo.obj → foo.mtl and foo_texture.png. */
export function objCompanionPaths(objFile: string, hasTexture: boolean): ObjPaths {
  const base = objFile.replace(/\.obj$/i, '');
  return { obj: objFile, mtl: `${base}.mtl`, texture: hasTexture ? `${base}_texture.png` : undefined };
}

/** OBJ and MTL text; `mtlName`/`textureName` are the file names the two refer to. */
export function encodeObj(mesh: DepthMesh, mtlName: string, textureName: string | undefined, options: ObjOptions = {}): ObjText {
  const frame = resolveFrame(options.frame, OBJ_FRAME);
  const digits = options.digits ?? 6;
  const p = toExportPositions(mesh.positions, frame);
  const n = toExportNormals(mesh.normals);
  const uv = mesh.uvs;
  const lines: string[] = [
    `# gan3d depth mesh: ${mesh.vertexCount} vertices, ${mesh.faceCount} triangles`,
    `# camera: ${mesh.gridSize}x${mesh.gridSize} px, fov ${mesh.camera.fovDeg} deg`,
    `# frame: x' = s*x, y' = -s*y, z' = s*(${frame.zOrigin} - z), s = ${frame.scale} (camera x right, y down, z forward)`,
    `mtllib ${mtlName}`,
    'o depth_mesh',
  ];
  for (let v = 0; v < mesh.vertexCount; v++) {
    lines.push(`v ${p[3 * v].toFixed(digits)} ${p[3 * v + 1].toFixed(digits)} ${p[3 * v + 2].toFixed(digits)}`);
  }
  for (let v = 0; v < mesh.vertexCount; v++) {
    lines.push(`vt ${uv[2 * v].toFixed(digits)} ${(1 - uv[2 * v + 1]).toFixed(digits)}`);
  }
  for (let v = 0; v < mesh.vertexCount; v++) {
    lines.push(`vn ${n[3 * v].toFixed(digits)} ${n[3 * v + 1].toFixed(digits)} ${n[3 * v + 2].toFixed(digits)}`);
  }
  lines.push('usemtl surface', 's off');
  const f = mesh.indices;
  for (let t = 0; t < f.length; t += 3) {
    const a = f[t] + 1;
    const b = f[t + 1] + 1;
    const c = f[t + 2] + 1;
    lines.push(`f ${a}/${a}/${a} ${b}/${b}/${b} ${c}/${c}/${c}`);
  }
  const mtl = ['# gan3d depth mesh material', 'newmtl surface', 'Ka 1 1 1', 'Kd 1 1 1', 'Ks 0 0 0', 'd 1', 'illum 1'];
  if (textureName) mtl.push(`map_Kd ${textureName}`);
  return { obj: lines.join('\n') + '\n', mtl: mtl.join('\n') + '\n' };
}

/**
 * Writes foo.obj, foo.mtl and (with a texture) foo_texture.png, all or nothing; refuses to overwrite any of them
 * unless `force`. Returns the paths written.
 */
export async function writeObj(file: string, mesh: DepthMesh, options: ObjOptions & WriteOptions = {}): Promise<ObjPaths> {
  const paths = objCompanionPaths(file, mesh.texture !== undefined);
  const textureName = paths.texture ? path.basename(paths.texture) : undefined;
  const text = encodeObj(mesh, path.basename(paths.mtl), textureName, options);
  const files: OutputFile[] = [
    { path: paths.obj, data: text.obj },
    { path: paths.mtl, data: text.mtl },
  ];
  if (mesh.texture && paths.texture) {
    const { data, width, height } = mesh.texture;
    files.push({ path: paths.texture, data: await encodePng8(data, width, height, 3) });
  }
  await writeFilesAtomic(files, options);
  return paths;
}
