// A z-buffer rasterizer for depth, in plain JavaScript, and the differentiable view depth built on it.
//
// Triangles (in the camera frame of camera.ts) are projected and tested at the integer pixel centres, the same
// points the sampling grid of render.ts uses. Both orientations are drawn and the nearest surface wins. Each covered
// pixel records its winning triangle and the perspective-correct barycentrics of the surface point it sees.
//
// Gradients: the depth a pixel sees is where its ray r = K^-1 [j, i, 1] meets the plane of its winning triangle.
// With visibility held fixed, moving vertex k by dP moves that point's depth by b_k (n . dP) / (n . r), where b_k is
// its barycentric weight and n the triangle's normal: exact for the function "depth of this triangle's plane",
// and covering x, y and z of every vertex.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';
import { type CameraConfig, EMPTY_DEPTH, NEAR_PLANE, depthClampRange, intrinsics } from './camera.js';
import { gridFaces } from './mesh.js';

/** Screen-space slack of the inside test (in barycentric units), so pixels on shared edges and vertices always hit. */
const INSIDE_SLACK = 1e-5;

/**
 * Where a surface is seen within this cosine of grazing (about 87 degrees), the depth gradient is capped as if it
 * were this steep: the true gradient grows like 1 / cos and would blow up on silhouettes.
 */
const MIN_GRADIENT_COSINE = 0.05;

export interface Raster {
  batch: number;
  size: number;
  /** Depth per pixel [N * S * S], EMPTY_DEPTH where no triangle covers the pixel centre. */
  depth: Float32Array;
  /** Winning triangle per pixel [N * S * S], -1 where empty. */
  faceId: Int32Array;
  /** Perspective-correct barycentrics of the seen point in the winning triangle [N * S * S * 3]. */
  bary: Float32Array;
}

/**
 * Rasterizes `batch` meshes that share `faces` (vertex index triples) and whose camera-frame vertices are
 * `vertices` [batch * V * 3], into S x S depth maps of camera `cam`.
 */
export function rasterize(vertices: Float32Array, batch: number, faces: Int32Array, cam: CameraConfig): Raster {
  const s = cam.size;
  const { f, c } = intrinsics(cam);
  const pixels = s * s;
  const nv = vertices.length / (3 * batch);
  const nf = faces.length / 3;
  if (!Number.isInteger(nv) || !Number.isInteger(nf)) {
    throw new Gan3dError(`rasterize: ${vertices.length} vertex values do not split into ${batch} meshes of xyz triples.`, 'BAD_SHAPE');
  }
  const depth = new Float32Array(batch * pixels).fill(EMPTY_DEPTH);
  const faceId = new Int32Array(batch * pixels).fill(-1);
  const bary = new Float32Array(batch * pixels * 3);
  const pu = new Float64Array(nv);
  const pv = new Float64Array(nv);
  const pz = new Float64Array(nv);
  const zbuf = new Float64Array(pixels);

  for (let b = 0; b < batch; b++) {
    const vbase = b * nv * 3;
    for (let k = 0; k < nv; k++) {
      const z = vertices[vbase + 3 * k + 2];
      pz[k] = z;
      pu[k] = (f * vertices[vbase + 3 * k]) / z + c;
      pv[k] = (f * vertices[vbase + 3 * k + 1]) / z + c;
    }
    zbuf.fill(Infinity);
    const pbase = b * pixels;
    for (let t = 0; t < nf; t++) {
      const i0 = faces[3 * t];
      const i1 = faces[3 * t + 1];
      const i2 = faces[3 * t + 2];
      const z0 = pz[i0];
      const z1 = pz[i1];
      const z2 = pz[i2];
      // Negated so that NaN depths count as too near.
      if (!(z0 > NEAR_PLANE && z1 > NEAR_PLANE && z2 > NEAR_PLANE)) continue;
      const u0 = pu[i0];
      const u1 = pu[i1];
      const u2 = pu[i2];
      const v0 = pv[i0];
      const v1 = pv[i1];
      const v2 = pv[i2];
      const area = (u1 - u0) * (v2 - v0) - (u2 - u0) * (v1 - v0);
      if (!(Math.abs(area) > 1e-12)) continue;
      const jmin = Math.max(0, Math.ceil(Math.min(u0, u1, u2) - 1e-4));
      const jmax = Math.min(s - 1, Math.floor(Math.max(u0, u1, u2) + 1e-4));
      const imin = Math.max(0, Math.ceil(Math.min(v0, v1, v2) - 1e-4));
      const imax = Math.min(s - 1, Math.floor(Math.max(v0, v1, v2) + 1e-4));
      if (jmin > jmax || imin > imax) continue;
      const inv = 1 / area;
      for (let i = imin; i <= imax; i++) {
        for (let j = jmin; j <= jmax; j++) {
          // Screen-space barycentrics: signed sub-areas opposite each vertex over the whole (either orientation).
          const w0 = ((u1 - j) * (v2 - i) - (u2 - j) * (v1 - i)) * inv;
          const w1 = ((u2 - j) * (v0 - i) - (u0 - j) * (v2 - i)) * inv;
          const w2 = 1 - w0 - w1;
          if (w0 < -INSIDE_SLACK || w1 < -INSIDE_SLACK || w2 < -INSIDE_SLACK) continue;
          // Perspective correction: 1/z is affine in screen space; b_k = (w_k / z_k) z are the 3-D barycentrics.
          const q0 = w0 / z0;
          const q1 = w1 / z1;
          const q2 = w2 / z2;
          const z = 1 / (q0 + q1 + q2);
          const p = i * s + j;
          if (!(z < zbuf[p])) continue;
          zbuf[p] = z;
          const o = pbase + p;
          depth[o] = z;
          faceId[o] = t;
          bary[3 * o] = q0 * z;
          bary[3 * o + 1] = q1 * z;
          bary[3 * o + 2] = q2 * z;
        }
      }
    }
  }
  return { batch, size: s, depth, faceId, bary };
}

/** d(depth)/d(vertices) contracted with the upstream gradient dDepth [N * S * S], visibility held fixed. */
function depthVertexGradient(
  vertices: Float32Array,
  faces: Int32Array,
  raster: Raster,
  dDepth: ArrayLike<number>,
  cam: CameraConfig,
): Float32Array {
  const { f, c } = intrinsics(cam);
  const s = raster.size;
  const pixels = s * s;
  const nv = vertices.length / (3 * raster.batch);
  const grad = new Float32Array(vertices.length);
  const corner = new Int32Array(3);
  for (let b = 0; b < raster.batch; b++) {
    const vbase = b * nv * 3;
    for (let p = 0; p < pixels; p++) {
      const o = b * pixels + p;
      const t = raster.faceId[o];
      const g = dDepth[o];
      if (t < 0 || g === 0) continue;
      for (let k = 0; k < 3; k++) corner[k] = vbase + 3 * faces[3 * t + k];
      const a = corner[0];
      const b1 = corner[1];
      const b2 = corner[2];
      const e1x = vertices[b1] - vertices[a];
      const e1y = vertices[b1 + 1] - vertices[a + 1];
      const e1z = vertices[b1 + 2] - vertices[a + 2];
      const e2x = vertices[b2] - vertices[a];
      const e2y = vertices[b2 + 1] - vertices[a + 1];
      const e2z = vertices[b2 + 2] - vertices[a + 2];
      const nx = e1y * e2z - e1z * e2y;
      const ny = e1z * e2x - e1x * e2z;
      const nz = e1x * e2y - e1y * e2x;
      const rx = ((p % s) - c) / f;
      const ry = (Math.floor(p / s) - c) / f;
      let nr = nx * rx + ny * ry + nz;
      const floor = MIN_GRADIENT_COSINE * Math.sqrt((nx * nx + ny * ny + nz * nz) * (rx * rx + ry * ry + 1));
      if (!(floor > 0)) continue;
      if (Math.abs(nr) < floor) nr = nr < 0 ? -floor : floor;
      const scale = g / nr;
      for (let k = 0; k < 3; k++) {
        const w = raster.bary[3 * o + k] * scale;
        const v = corner[k];
        grad[v] += w * nx;
        grad[v + 1] += w * ny;
        grad[v + 2] += w * nz;
      }
    }
  }
  return grad;
}

export interface RenderedDepth {
  /** Depth seen by each pixel [N, S, S, 1], clamped to depthClampRange (empty pixels end at the far clamp). */
  viewDepth: tf.Tensor4D;
  /** 1 where a surface nearer than the far clamp is seen, else 0 [N, S, S, 1]; carries no gradient. */
  mask: tf.Tensor4D;
  raster: Raster;
}

/**
 * Renders the depth of meshes whose camera-frame vertices are `points` [N, V, 3] (by default the S x S grid mesh,
 * V = S^2). The depth is differentiable with respect to `points` (see the header).
 */
export function renderDepth(points: tf.Tensor3D, cam: CameraConfig, faces: Int32Array = gridFaces(cam.size)): RenderedDepth {
  if (points.rank !== 3 || points.shape[2] !== 3) {
    throw new Gan3dError(`renderDepth: points must have shape [N, V, 3], got [${points.shape}].`, 'BAD_SHAPE');
  }
  const [n] = points.shape;
  const shape: [number, number, number, number] = [n, cam.size, cam.size, 1];
  let raster: Raster | undefined;
  const rasterized = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const p = args[0] as tf.Tensor;
    const vertices = p.dataSync() as Float32Array;
    const r = rasterize(vertices, n, faces, cam);
    raster = r;
    return {
      value: tf.tensor4d(r.depth, shape),
      gradFunc: (dy: tf.Tensor) => tf.tensor3d(depthVertexGradient(vertices, faces, r, dy.dataSync(), cam), p.shape as [number, number, number]),
    };
  });
  const { lo, hi } = depthClampRange(cam);
  const viewDepth = tf.tidy(() => tf.clipByValue(rasterized(points) as tf.Tensor4D, lo, hi));
  const seen = raster!.depth.map((d) => (d < hi ? 1 : 0));
  return { viewDepth, mask: tf.tensor4d(seen, shape), raster: raster! };
}
