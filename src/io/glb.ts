// Binary glTF export of a depth mesh: positions, unit normals, TEXCOORD_0 and a material with the texture
// embedded as PNG. Coordinates follow src/io/export-frame.ts (unscaled by default: glTF units are metres).
import { Document, NodeIO, TextureInfo } from '@gltf-transform/core';
import { writeFileAtomic, type WriteOptions } from './atomic-write.js';
import { METRIC_FRAME, resolveFrame, toExportNormals, toExportPositions, type ExportFrame } from './export-frame.js';
import type { DepthMesh } from '../geometry/depth-mesh.js';
import { encodePng8 } from './png.js';

export interface GlbOptions {
  /** Export frame; defaults to {@link METRIC_FRAME} (scale 1, zOrigin 1). */
  frame?: Partial<ExportFrame>;
  /** Name of the node and mesh. */
  name?: string;
  /** Extra metadata stored in the scene's extras under `gan3d` (config, seed…), next to the camera and frame. */
  metadata?: Record<string, unknown>;
}

/** Encodes a depth mesh as GLB bytes. */
export async function encodeGlb(mesh: DepthMesh, options: GlbOptions = {}): Promise<Uint8Array> {
  const frame = resolveFrame(options.frame, METRIC_FRAME);
  const name = options.name ?? 'depth-mesh';
  const doc = new Document();
  doc.getRoot().getAsset().generator = 'gan3d';
  const buffer = doc.createBuffer();

  const position = doc.createAccessor('position').setType('VEC3').setArray(toExportPositions(mesh.positions, frame)).setBuffer(buffer);
  const normal = doc.createAccessor('normal').setType('VEC3').setArray(toExportNormals(mesh.normals)).setBuffer(buffer);
  const texcoord = doc.createAccessor('texcoord').setType('VEC2').setArray(mesh.uvs.slice()).setBuffer(buffer);
  // 16-bit indices when they fit halve the index buffer; glTF allows both.
  const indexArray = mesh.vertexCount <= 65535 ? Uint16Array.from(mesh.indices) : mesh.indices.slice();
  const indices = doc.createAccessor('indices').setType('SCALAR').setArray(indexArray).setBuffer(buffer);

  // Matte and two-sided: a depth surface is an open shell that viewers may see from behind.
  const material = doc.createMaterial('surface').setMetallicFactor(0).setRoughnessFactor(1).setDoubleSided(true);
  if (mesh.texture) {
    const { data, width, height } = mesh.texture;
    const png = await encodePng8(data, width, height, 3);
    const texture = doc.createTexture('albedo').setImage(png).setMimeType('image/png');
    material.setBaseColorTexture(texture);
    material
      .getBaseColorTextureInfo()!
      .setWrapS(TextureInfo.WrapMode.CLAMP_TO_EDGE)
      .setWrapT(TextureInfo.WrapMode.CLAMP_TO_EDGE)
      .setMagFilter(TextureInfo.MagFilter.LINEAR);
  }

  const primitive = doc
    .createPrimitive()
    .setAttribute('POSITION', position)
    .setAttribute('NORMAL', normal)
    .setAttribute('TEXCOORD_0', texcoord)
    .setIndices(indices)
    .setMaterial(material);
  const node = doc.createNode(name).setMesh(doc.createMesh(name).addPrimitive(primitive));
  const scene = doc.createScene('scene').addChild(node);
  scene.setExtras({ gan3d: { camera: mesh.camera, gridSize: mesh.gridSize, frame, ...options.metadata } });
  doc.getRoot().setDefaultScene(scene);
  return new NodeIO().writeBinary(doc);
}

/** Writes a depth mesh as a .glb file (atomic; refuses to overwrite unless `force`). */
export async function writeGlb(file: string, mesh: DepthMesh, options: GlbOptions & WriteOptions = {}): Promise<void> {
  await writeFileAtomic(file, await encodeGlb(mesh, options), options);
}
