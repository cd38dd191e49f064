// One mesh from a depth map, built once and handed to every exporter (io/glb.ts, obj.ts, ply.ts).
//
// Vertices are the back-projected pixel grid in the camera frame: x right, y down, z forward (depth). Faces are two
// per pixel quad, (i,j),(i+1,j),(i,j+1) and (i,j+1),(i+1,j),(i+1,j+1): seen from the camera they wind clockwise in the
// image (y down), which becomes counter-clockwise (front-facing) once an exporter flips y to point up. Normals are
// depthNormals' unit normals, negated so that they face the camera like the front faces.
import { Gan3dError } from '../engine/errors.js';
import { toRgbTexture, type RgbTexture, type TextureInput } from '../io/texture.js';
import type { CameraConfig } from './camera.js';
import { backProject, checkDepthMap, depthNormals, gridCamera, type DepthMap, type GridCamera } from './depth-grid.js';

export interface DepthMesh {
  /** xyz per vertex in the camera frame (exact back-projection, stored as float32). */
  positions: Float32Array;
  /** Unit normals per vertex, facing the camera (−depthNormals; the 1-pixel border gets (0,0,−1)). */
  normals: Float32Array;
  /**
   * Texture coordinates per vertex at pixel centres: u = (j + 0.5)/W, v = (i + 0.5)/H, v pointing down the image
   * (glTF's convention). Vertex (i,j) thus samples exactly texel (i,j) of a texture of the depth map's size, and
   * the same image location of a texture of any other size.
   */
  uvs: Float32Array;
  /** RGB per vertex, sampled from the texture (nearest texel), when a texture is given. */
  colors?: Uint8Array;
  /** Three vertex indices per triangle. */
  indices: Uint32Array;
  /** The pixel (i·W + j) each vertex came from. */
  pixelOfVertex: Uint32Array;
  texture?: RgbTexture;
  camera: Pick<CameraConfig, 'size' | 'fovDeg'>;
  /** Size of the depth grid the mesh was built from. */
  gridSize: number;
  vertexCount: number;
  faceCount: number;
}

export interface BuildMeshOptions {
  /** Camera of the depth map; defaults to { size: depth.width, fovDeg: 10 }. */
  camera?: GridCamera;
  /** Per-pixel mask (values > 0.5 keep): a face is dropped if any of its three vertices is outside the mask. */
  mask?: ArrayLike<number>;
  /** Texture for UV mapping and per-vertex colours. */
  texture?: TextureInput;
  /** Names the output in error messages. */
  label?: string;
}

/** Pixel indices of the 2(S−1)² grid triangles, before masking. */
function gridTriangles(S: number): Uint32Array {
  const tris = new Uint32Array(6 * (S - 1) * (S - 1));
  let t = 0;
  for (let i = 0; i < S - 1; i++) {
    for (let j = 0; j < S - 1; j++) {
      const a = i * S + j; // (i, j)
      const b = a + S; // (i+1, j)
      const c = a + 1; // (i, j+1)
      const d = b + 1; // (i+1, j+1)
      tris.set([a, b, c, c, b, d], t);
      t += 6;
    }
  }
  return tris;
}

/** Builds the textured, optionally masked mesh of a depth map. Unused vertices are dropped. */
export function buildDepthMesh(depth: DepthMap, options: BuildMeshOptions = {}): DepthMesh {
  const label = options.label ?? 'mesh';
  const camera = gridCamera({ size: options.camera?.size ?? depth.width, fovDeg: options.camera?.fovDeg });
  checkDepthMap(depth, camera, label);
  const S = camera.size;
  const { mask } = options;
  if (mask && mask.length !== S * S) {
    throw new Gan3dError(`${label}: mask has ${mask.length} values, the depth map ${S}×${S}.`, 'IO_BAD_SHAPE');
  }

  let triangles = gridTriangles(S);
  if (mask) {
    const kept: number[] = [];
    for (let t = 0; t < triangles.length; t += 3) {
      if (mask[triangles[t]] > 0.5 && mask[triangles[t + 1]] > 0.5 && mask[triangles[t + 2]] > 0.5) {
        kept.push(triangles[t], triangles[t + 1], triangles[t + 2]);
      }
    }
    if (kept.length === 0) throw new Gan3dError(`${label}: the mask leaves no triangles to export.`, 'IO_EMPTY_MESH');
    triangles = Uint32Array.from(kept);
  }

  // Number the vertices that some triangle uses, in pixel order.
  const vertexOfPixel = new Int32Array(S * S).fill(-1);
  for (const p of triangles) vertexOfPixel[p] = 0;
  const pixels: number[] = [];
  for (let p = 0; p < S * S; p++) if (vertexOfPixel[p] === 0) vertexOfPixel[p] = pixels.push(p) - 1;
  const pixelOfVertex = Uint32Array.from(pixels);
  const indices = triangles.map((p) => vertexOfPixel[p]);

  const points = backProject(depth.data, camera);
  const gridN = depthNormals(depth.data, camera, 'unit');
  const V = pixelOfVertex.length;
  const positions = new Float32Array(3 * V);
  const normals = new Float32Array(3 * V);
  const uvs = new Float32Array(2 * V);
  for (let v = 0; v < V; v++) {
    const p = pixelOfVertex[v];
    for (let c = 0; c < 3; c++) {
      positions[3 * v + c] = points[3 * p + c];
      normals[3 * v + c] = -gridN[3 * p + c];
    }
    uvs[2 * v] = ((p % S) + 0.5) / S;
    uvs[2 * v + 1] = (Math.floor(p / S) + 0.5) / S;
  }

  const texture = options.texture ? toRgbTexture(options.texture, `${label} texture`) : undefined;
  const colors = texture ? sampleColors(texture, uvs) : undefined;
  return {
    positions,
    normals,
    uvs,
    colors,
    indices,
    pixelOfVertex,
    texture,
    camera,
    gridSize: S,
    vertexCount: V,
    faceCount: indices.length / 3,
  };
}

/** Nearest-texel colour at each vertex's UV. */
function sampleColors(texture: RgbTexture, uvs: Float32Array): Uint8Array {
  const V = uvs.length / 2;
  const colors = new Uint8Array(3 * V);
  for (let v = 0; v < V; v++) {
    const x = Math.min(texture.width - 1, Math.floor(uvs[2 * v] * texture.width));
    const y = Math.min(texture.height - 1, Math.floor(uvs[2 * v + 1] * texture.height));
    const t = 3 * (y * texture.width + x);
    colors.set(texture.data.subarray(t, t + 3), 3 * v);
  }
  return colors;
}
