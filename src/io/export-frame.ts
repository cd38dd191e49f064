// The frame meshes are written in, shared by every exporter (B.7's convention, generalised by a scale):
//
//   x' = s·x,   y' = −s·y,   z' = s·(zOrigin − z)        normals: (nx, −ny, −nz)
//
// This is a half-turn about the x axis (a proper rotation, so handedness and winding are kept) plus a shift:
// the camera-frame y (down) becomes y' up, and the object, which the camera sees along +z, faces +z' toward a
// viewer placed on +z' — the default of glTF viewers, Blender's front view and MeshLab. With zOrigin = 1 (B.3's
// rotation centre) the object sits around the origin. B.7 writes OBJs with s = 100; B.7's "normals with x
// negated" are exactly these normals, since our mesh normals already face the camera (−n of B.5).
export interface ExportFrame {
  /** Multiplies every coordinate. */
  scale: number;
  /** Camera-frame depth that lands on z' = 0. */
  zOrigin: number;
}

/** B.7's OBJ convention: scaled by 100 (a 64-px face at depth 1 is about 17 units wide). */
export const OBJ_FRAME: Readonly<ExportFrame> = Object.freeze({ scale: 100, zOrigin: 1 });
/** GLB and PLY: unscaled, glTF's metres (a face at depth 1 is about 17 cm wide). */
export const METRIC_FRAME: Readonly<ExportFrame> = Object.freeze({ scale: 1, zOrigin: 1 });

export function resolveFrame(frame: Partial<ExportFrame> | undefined, defaults: Readonly<ExportFrame>): ExportFrame {
  return { scale: frame?.scale ?? defaults.scale, zOrigin: frame?.zOrigin ?? defaults.zOrigin };
}

/** Camera-frame positions (xyz triples) → export frame. */
export function toExportPositions(positions: Float32Array, frame: ExportFrame): Float32Array {
  const out = new Float32Array(positions.length);
  for (let k = 0; k < positions.length; k += 3) {
    out[k] = frame.scale * positions[k];
    out[k + 1] = -frame.scale * positions[k + 1];
    out[k + 2] = frame.scale * (frame.zOrigin - positions[k + 2]);
  }
  return out;
}

/** Camera-frame normals → export frame (same rotation, no scale or shift). */
export function toExportNormals(normals: Float32Array): Float32Array {
  const out = new Float32Array(normals.length);
  for (let k = 0; k < normals.length; k += 3) {
    out[k] = normals[k];
    out[k + 1] = -normals[k + 1];
    out[k + 2] = -normals[k + 2];
  }
  return out;
}

/** Inverse of {@link toExportPositions} for one point: export frame → camera frame. */
export function fromExportPosition(x: number, y: number, z: number, frame: ExportFrame): [number, number, number] {
  return [x / frame.scale, -y / frame.scale, frame.zOrigin - z / frame.scale];
}
