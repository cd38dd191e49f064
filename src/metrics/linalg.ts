// Small dense float64 linear algebra for the FID: symmetric eigendecomposition by cyclic Jacobi rotations, the
// square root of a positive semi-definite matrix, products. Matrices are row-major Float64Arrays of side n. Jacobi is
// slow in theory (O(n³) per sweep) but exact to rounding and unconditionally stable; at n = 128 a decomposition
// takes a few tens of milliseconds.
import { Gan3dError } from '../engine/errors.js';

export interface SymmetricEigen {
  /** Eigenvalues, in no particular order. */
  values: Float64Array;
  /** Eigenvectors as the columns of a row-major n×n matrix: A = V diag(values) Vᵀ. */
  vectors: Float64Array;
}

function checkSquare(a: ArrayLike<number>, n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) throw new Gan3dError(`${what}: expected a ${n}×${n} matrix, got ${a.length} values.`, 'BAD_SHAPE');
}

/** Eigendecomposition of the symmetric matrix `a` (its upper and lower triangles are averaged first). */
export function symmetricEigen(a: ArrayLike<number>, n: number, maxSweeps = 100): SymmetricEigen {
  checkSquare(a, n, 'symmetricEigen');
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += m[i] * m[i];
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] * m[p * n + q];
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // Rotation angle φ with cot 2φ = θ zeroes a_pq; t = tan φ, the smaller root (Numerical Recipes §11.1).
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J: columns p, q, then rows p, q; V ← V J.
        for (let k = 0; k < n; k++) {
          const kp = m[k * n + p];
          const kq = m[k * n + q];
          m[k * n + p] = c * kp - s * kq;
          m[k * n + q] = s * kp + c * kq;
        }
        for (let k = 0; k < n; k++) {
          const pk = m[p * n + k];
          const qk = m[q * n + k];
          m[p * n + k] = c * pk - s * qk;
          m[q * n + k] = s * pk + c * qk;
        }
        m[p * n + q] = 0;
        m[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const kp = v[k * n + p];
          const kq = v[k * n + q];
          v[k * n + p] = c * kp - s * kq;
          v[k * n + q] = s * kp + c * kq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i];
  return { values, vectors: v };
}

/** C = A B for row-major n×n matrices. */
export function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  return c;
}

/** V diag(f(λ)) Vᵀ. */
function spectralMap(e: SymmetricEigen, n: number, f: (x: number) => number): Float64Array {
  const fv = Array.from(e.values, f);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += e.vectors[i * n + k] * fv[k] * e.vectors[j * n + k];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** The symmetric square root of a positive semi-definite matrix; eigenvalues below 0 (rounding) count as 0. */
export function sqrtPsd(a: ArrayLike<number>, n: number): Float64Array {
  return spectralMap(symmetricEigen(a, n), n, (x) => Math.sqrt(Math.max(x, 0)));
}

/**
 * tr √(A B) for positive semi-definite A and B, computed as tr √(√A B √A): the matrix under the root is symmetric
 * PSD and has the eigenvalues of A B, so no complex square root (scipy's sqrtm route) is needed.
 */
export function traceSqrtProduct(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  checkSquare(b, n, 'traceSqrtProduct');
  const ra = sqrtPsd(a, n);
  const m = matMul(matMul(ra, Float64Array.from(b), n), ra, n);
  const { values } = symmetricEigen(m, n);
  let t = 0;
  for (const x of values) t += Math.sqrt(Math.max(x, 0));
  return t;
}
