// One entry point for writing a mesh (built by geometry/depth-mesh.ts): the output's extension picks the format.
import { Gan3dError } from '../engine/errors.js';
import type { DepthMesh } from '../geometry/depth-mesh.js';
import type { WriteOptions } from './atomic-write.js';
import type { ExportFrame } from './export-frame.js';
import { writeGlb } from './glb.js';
import { writeObj } from './obj.js';
import { writePly } from './ply.js';

export const MESH_FORMATS = ['glb', 'obj', 'ply'] as const;
export type MeshFormat = (typeof MESH_FORMATS)[number];

export interface MeshExportOptions extends WriteOptions {
  /** Overrides the format's default frame (OBJ: scale 100; GLB, PLY: scale 1). */
  frame?: Partial<ExportFrame>;
  /** PLY encoding (default binary). */
  plyFormat?: 'binary' | 'ascii';
  /** Stored in the GLB's scene extras. */
  metadata?: Record<string, unknown>;
}

/** The mesh format named by a file's extension (.glb, .obj, .ply), or a Gan3dError listing the choices. */
export function meshFormatOf(file: string): MeshFormat {
  const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
  if ((MESH_FORMATS as readonly string[]).includes(ext)) return ext as MeshFormat;
  throw new Gan3dError(`Cannot tell the mesh format of ${file}: use a .glb, .obj or .ply extension.`, 'IO_BAD_ARGUMENT');
}

/** Writes a mesh in the format its extension names; returns every path written (OBJ writes three). */
export async function writeMesh(file: string, mesh: DepthMesh, options: MeshExportOptions = {}): Promise<string[]> {
  switch (meshFormatOf(file)) {
    case 'glb':
      await writeGlb(file, mesh, options);
      return [file];
    case 'ply':
      await writePly(file, mesh, { ...options, format: options.plyFormat });
      return [file];
    case 'obj': {
      const paths = await writeObj(file, mesh, options);
      return [paths.obj, paths.mtl, ...(paths.texture ? [paths.texture] : [])];
    }
  }
}
