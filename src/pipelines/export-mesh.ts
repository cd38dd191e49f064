// Depth map to mesh file in one step: geometry builds the mesh, io writes it.
import { buildDepthMesh, type BuildMeshOptions } from '../geometry/depth-mesh.js';
import type { DepthMap } from '../geometry/depth-grid.js';
import { meshFormatOf, writeMesh, type MeshExportOptions } from '../io/mesh-export.js';

/**
 * Builds the mesh of a depth map and writes it in the format its extension names, so errors (NaN/Inf/non-positive
 * depth, a mask that leaves nothing) name the output file. Returns every path written (OBJ writes three).
 */
export async function exportDepthMesh(
  file: string,
  depth: DepthMap,
  options: MeshExportOptions & Omit<BuildMeshOptions, 'label'> = {},
): Promise<string[]> {
  const format = meshFormatOf(file);
  const mesh = buildDepthMesh(depth, { ...options, label: `Cannot write ${format.toUpperCase()} ${file}` });
  return writeMesh(file, mesh, options);
}
