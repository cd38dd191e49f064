// The grid mesh of a depth map: one vertex per pixel (row-major, vertex i * S + j), two triangles per pixel quad.
// Triangle order follows Unsup3d: (i,j), (i+1,j), (i,j+1) and (i,j+1), (i+1,j), (i+1,j+1).

const facesBySize = new Map<number, Int32Array>();

/** Number of triangles of the S x S grid mesh: 2 (S - 1)^2. */
export function gridFaceCount(size: number): number {
  return 2 * (size - 1) ** 2;
}

/** Vertex indices of the S x S grid mesh, [2 (S-1)^2 * 3]. Cached and shared: treat it as read-only. */
export function gridFaces(size: number): Int32Array {
  let faces = facesBySize.get(size);
  if (faces === undefined) {
    faces = new Int32Array(gridFaceCount(size) * 3);
    let o = 0;
    for (let i = 0; i < size - 1; i++) {
      for (let j = 0; j < size - 1; j++) {
        const v = i * size + j; // (i, j)
        const below = v + size; // (i + 1, j)
        faces.set([v, below, v + 1, v + 1, below, below + 1], o);
        o += 6;
      }
    }
    facesBySize.set(size, faces);
  }
  return faces;
}
