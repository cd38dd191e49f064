// The canonical (frontal) face of SynFace: depth and albedo maps built from parameters, pixel by pixel.
//
// The depth is a height field on the Unsup3d camera (camera.ts): d = rimDepth - relief, where the relief is the
// largest of three smooth surfaces, each a sum of analytic bumps:
//   - the face: a skull "ellipsoid" (a superellipse outline, a flattened front) plus Gaussian features (forehead,
//     brow ridge, eye sockets and eyeballs, nose ridge / tip / nostrils, cheekbones, maxilla, lips, chin);
//   - the hair: a shell a little larger than the skull over the top, falling as a curtain behind the face;
//   - the neck: a half cylinder below the jaw.
// Pixels no surface covers are background, at SYNFACE_DEPTH_RANGE.maxDepth (1.1).
// Coordinates: x = (j - c) / c and y = (i - c) / c with c = (S - 1) / 2, so the image spans [-1, 1], y points down,
// and every length in ShapeParams is in these units; reliefs are in depth units (at depth 1 the image half-width
// is tan(5°) = 0.0875 depth units, so a relief of 0.0875 is as deep as half the image is wide).
// Left-right symmetry: every term is a function of |x| and of the parameters of the side the pixel is on (paired
// features also add their mirror twin from the other side), so with asymmetry 0 column j and column S-1-j get the
// same bits.
import { SYNFACE_DEPTH_RANGE } from '../../io/depth-png.js';
import { ValueNoise } from './noise.js';
import type { SynfaceParams } from './params.js';

/** Depth of pixels that see no face: the far end of the synface depth encoding. */
export const BACKGROUND_DEPTH = SYNFACE_DEPTH_RANGE.maxDepth;

/** Where the chin (the bottom of the skull ellipse) sits with the mouth closed. */
const CHIN_Y = 0.8;

/** Per asymmetry offset: how far amount = 1 and a 1-sigma offset moves that feature of the right side. */
export const ASYMMETRY_SCALES = Object.freeze({
  eyeY: 0.03,
  eyeX: 0.025,
  eyeSize: 0.15,
  browY: 0.04,
  noseX: 0.03,
  mouthTilt: 0.08,
  cheek: 0.5,
  hairline: 0.12,
});

export interface CanonicalFace {
  size: number;
  /** Canonical depth [S * S]: the face in [~0.93, ~1.05], background exactly BACKGROUND_DEPTH. */
  depth: Float32Array;
  /** The same surface with the background at the rim depth instead: smooth at the silhouette, for shading. */
  shadeDepth: Float32Array;
  /** Canonical albedo [S * S * 3] (RGB, row-major) in [-1, 1]; defined everywhere (hair colour around the head). */
  albedo: Float32Array;
}

// Reused across faces (a module is single-threaded; each worker has its own).
const SKIN_NOISE = new ValueNoise(0);
const HAIR_NOISE = new ValueNoise(1);

interface Side {
  eyeX: number;
  eyeY: number;
  eyeScale: number;
  browY: number;
  cheek: number;
  hairline: number;
}

function sides(p: SynfaceParams): [Side, Side] {
  const s = p.shape;
  const base: Side = { eyeX: s.eyeSpacing, eyeY: s.eyeY, eyeScale: s.eyeSize, browY: 0, cheek: s.cheekbones, hairline: p.albedo.hairline };
  const a = p.asymmetry.amount;
  const o = p.asymmetry.offsets;
  const k = ASYMMETRY_SCALES;
  if (a === 0) return [base, base];
  const right: Side = {
    eyeX: base.eyeX + a * k.eyeX * o[1],
    eyeY: base.eyeY + a * k.eyeY * o[0],
    eyeScale: base.eyeScale * (1 + a * k.eyeSize * o[2]),
    browY: a * k.browY * o[3],
    cheek: Math.max(0, base.cheek * (1 + a * k.cheek * o[6])),
    hairline: base.hairline + a * k.hairline * o[7],
  };
  return [base, right];
}

function smoothstep(e0: number, e1: number, v: number): number {
  const t = Math.min(1, Math.max(0, (v - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** exp(-(dx^2 / sx^2 + dy^2 / sy^2) / 2). */
function gauss(dx: number, dy: number, sx: number, sy: number): number {
  const q = (dx * dx) / (sx * sx) + (dy * dy) / (sy * sy);
  // Beyond 6 sigma the bump is below 1e-7 of its height: skip the exp (most pixels are far from most bumps).
  return q > 36 ? 0 : Math.exp(-0.5 * q);
}

/** 1 inside the band |v| < half, 0 outside, with a soft edge `e` wide. */
function band(v: number, half: number, e: number): number {
  return smoothstep(half + e, half - e, Math.abs(v));
}

function mix(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}

/** Relief of the eye region of one eye (socket, eyeball, brow ridge); dx is the outward offset from the eye centre. */
function eyeRelief(dx: number, dy: number, side: Side, p: SynfaceParams): number {
  const s = p.shape;
  const socket = -0.011 * s.eyeSocket * gauss(dx, dy + 0.01, 0.11, 0.075);
  const ball = 0.006 * gauss(dx, dy, 0.065 * side.eyeScale, 0.04 * side.eyeScale);
  const brow = 0.006 * s.browRidge * gauss(dx - 0.01, dy + 0.12 - 0.5 * side.browY, 0.14, 0.045);
  const cheek = 0.008 * (side.cheek + 0.5 * p.expression.smile) * gauss(dx - 0.08, dy - 0.2 + 0.04 * p.expression.smile, 0.13, 0.09);
  return socket + ball + brow + cheek;
}

/**
 * Builds the canonical depth and albedo of a face at `size` x `size`. Pure: the same parameters give the same bits.
 * `out` buffers, when given, are filled instead of allocating.
 */
export function canonicalFace(p: SynfaceParams, size: number, out?: Omit<CanonicalFace, 'size'>): CanonicalFace {
  const px = size * size;
  const depth = out?.depth ?? new Float32Array(px);
  const shadeDepth = out?.shadeDepth ?? new Float32Array(px);
  const albedo = out?.albedo ?? new Float32Array(px * 3);
  const c = (size - 1) / 2;
  const e = 1 / c; // one pixel in normalised units: the width of soft edges

  const s = p.shape;
  const expr = p.expression;
  const al = p.albedo;
  const [left, right] = sides(p);
  const a = s.headWidth;
  const b = s.headHeight;
  const H = s.headDepth;
  const rimDepth = s.faceDepth + H;
  const y0 = CHIN_Y - b;
  const open = expr.mouthOpen;
  // Opening the mouth lowers the jaw: the lower half of the outline stretches.
  const lowerStretch = 1 + (0.06 * open) / b;
  const noseX = p.asymmetry.amount * ASYMMETRY_SCALES.noseX * p.asymmetry.offsets[4];
  const tilt = p.asymmetry.amount * ASYMMETRY_SCALES.mouthTilt * p.asymmetry.offsets[5];
  const eyeY = s.eyeY;
  const tipY = eyeY + s.noseLength;
  const mouthY = tipY + s.mouthGap;
  const mw = s.mouthWidth * (1 + 0.15 * expr.smile);
  const hv = s.hairVolume;
  const hairTop = H + 0.5 * hv * 0.0875;
  const hairBottom = y0 + 0.15 + al.hairLength * (1 - y0 - 0.15);
  const neckH = 0.5 * H;
  const earY = (eyeY + tipY) / 2;
  const skinNoise = SKIN_NOISE.reseed(al.textureSeed | 0);
  const hairNoise = HAIR_NOISE.reseed((al.textureSeed ^ 0x5bd1e995) | 0);
  const [sr, sg, sb] = al.skin;

  for (let i = 0; i < size; i++) {
    const y = (i - c) / c;
    for (let j = 0; j < size; j++) {
      const x = (j - c) / c;
      const ax = Math.abs(x);
      const near = x < 0 ? left : right;
      const far = x < 0 ? right : left;

      // --- skull outline and front ---
      const u = (y - y0) / b;
      const qx = ax / a;
      const ul = u / lowerStretch;
      // Outside the bounding box q >= 1 anyway: skip the powers.
      // Both halves share the x term, so the outline is smooth (C1) where they meet at u = 0.
      const q = qx >= 1 || u <= -1 || ul >= 1 ? 2 : qx * qx + (u < 0 ? Math.pow(-u, 2.4) : Math.pow(ul, s.jaw));
      const skull = q < 1 ? H * Math.pow(1 - q, 0.45) : 0;
      let face = 0;
      let inside = 0;
      if (q < 1) {
        inside = smoothstep(1, 0.75, q); // keeps features off the rim
        const dy = y - near.eyeY;
        let f = eyeRelief(ax - near.eyeX, dy, near, p) + eyeRelief(-(ax + far.eyeX), y - far.eyeY, far, p);
        f += 0.004 * s.forehead * gauss(x, y - (eyeY - 0.42), 0.32, 0.2);
        f += 0.003 * s.browRidge * gauss(x, y - (eyeY - 0.08), 0.07, 0.06); // glabella
        // Nose: a ridge from the bridge to the tip, widening and rising, then a tip and two nostril wings.
        const nx = x - noseX;
        const t = (y - eyeY) / s.noseLength;
        let ridge: number;
        if (t < 0) ridge = 0.3 * gauss(nx, y - eyeY, 0.04, 0.06);
        else if (t <= 1) ridge = (0.3 + 0.7 * t * t) * gauss(nx, 0, 0.04 + 0.03 * t, 1);
        else ridge = gauss(nx, y - tipY, 0.07, 0.035);
        f += s.noseHeight * (0.85 * ridge + 0.2 * gauss(nx, y - tipY + 0.02, 0.05, 0.04));
        const anx = Math.abs(nx);
        f += 0.35 * s.noseHeight * gauss(anx - s.noseWidth * 0.8, y - tipY - 0.01, 0.04, 0.035);
        // The maxilla between nose and mouth, the lips, the crease or gap between them, the chin.
        f += 0.004 * gauss(x, y - (tipY + mouthY) / 2, 0.2, 0.08);
        const mx = x - noseX;
        const tm = mx / mw;
        const lift = expr.smile * 0.07 * tm * tm - tilt * mx;
        const upper = mouthY - 0.016 - 0.03 * open - lift;
        const lower = mouthY + 0.03 + 0.07 * open - 0.6 * lift;
        const win = tm * tm < 1 ? Math.sqrt(1 - tm * tm) : 0;
        if (win > 0) {
          const lf = s.lipFullness;
          f += win * 0.006 * lf * gauss(0, y - upper, 1, 0.022);
          f += win * 0.007 * lf * gauss(0, y - lower, 1, 0.028);
          f -= win * (0.003 + 0.008 * open) * gauss(0, y - (upper + lower) / 2, 1, 0.008 + 0.03 * open);
        }
        f -= 0.003 * gauss(x, y - (lower + 0.065), 0.12, 0.025);
        f += 0.007 * s.chin * gauss(x, y - (CHIN_Y - 0.12 + 0.06 * open), 0.14, 0.08);
        if (al.beard > 0) f += 0.003 * al.beard * smoothstep(tipY + 0.04, tipY + 0.12, y);
        face = skull + inside * f;
      }

      // --- hair: a shell over the top, a flatter curtain behind the face below ---
      const belowTop = smoothstep(y0 - 0.1, y0 + 0.25, y);
      const hy = y < y0 ? (y0 - y) / (b + hv) : y > hairBottom ? (y - hairBottom) / 0.12 : 0;
      const qh = (ax / (a + hv)) ** 2 + hy * hy;
      const shell = qh < 1 ? mix(hairTop, 0.35 * H, belowTop) * Math.sqrt(1 - qh) : 0;
      // Inside the skull, hair only above the hairline and at the temples.
      const hairlineY = near.hairline + 0.3 * qx * qx;
      const sideBottom = mix(eyeY + 0.05, hairBottom, 0.8 * al.hairLength);
      const topMask = smoothstep(hairlineY + e, hairlineY - e, y);
      // The side hair's inner edge slants outwards going down, so the hair frames the face.
      const sideEdge = a * mix(al.hairSides, 1, smoothstep(eyeY - 0.3, sideBottom, y));
      const sideMask = smoothstep(sideEdge - e, sideEdge + e, ax) * smoothstep(sideBottom + e, sideBottom - e, y);
      const inSkull = q < 1 ? 1 : 0;
      const hairMask = Math.max(topMask, sideMask, 1 - inSkull);
      const hair = shell * hairMask;

      // --- neck ---
      const nq = ax / s.neckWidth;
      const neck = nq < 1 && y > y0 ? neckH * Math.sqrt(1 - nq * nq) * smoothstep(y0, y0 + 0.2, y) : 0;

      // --- ears: beside the skull, nearly edge-on, between eye and nose-tip height ---
      const ex = (ax - a * 0.98) / 0.085;
      const ey = (y - earY) / 0.15;
      const eq = ex * ex + ey * ey;
      const ear = eq < 1 ? 0.18 * H * Math.sqrt(1 - eq) : 0;

      const relief = Math.max(face, hair, neck, ear);
      const k = i * size + j;
      shadeDepth[k] = rimDepth - relief;
      depth[k] = relief > 0 ? rimDepth - relief : BACKGROUND_DEPTH;

      // --- albedo ---
      const grain = 0.06 * (skinNoise.at(ax * 9, y * 9) - 0.5);
      let r = sr * (1 + grain);
      let g = sg * (1 + grain);
      let bl = sb * (1 + grain);
      const earWins = ear > face && ear >= hair && ear >= neck;
      const neckWins = !earWins && neck > face && neck >= hair;
      if (earWins) {
        // Darker towards the inside of the ear.
        const inner = 1 - 0.25 * Math.max(0, 1 - eq);
        r *= 0.92 * inner;
        g *= 0.86 * inner;
        bl *= 0.86 * inner;
      } else if (neckWins) {
        r *= 0.9;
        g *= 0.88;
        bl *= 0.88;
      } else if (q < 1) {
        const dy = y - near.eyeY;
        const dx = ax - near.eyeX;
        // Blush over the cheeks, a little darker around the eyes.
        const blush = 0.12 * gauss(dx - 0.06, dy - 0.22, 0.1, 0.08);
        r = r * (1 + 0.3 * blush);
        g = g * (1 - 0.4 * blush);
        bl = bl * (1 - 0.3 * blush);
        const shadowEye = 1 - 0.06 * gauss(dx, dy, 0.12, 0.07);
        r *= shadowEye;
        g *= shadowEye;
        bl *= shadowEye;
        // Eye: almond-shaped opening (white), iris, pupil, lash line above.
        const ew = 0.095 * near.eyeScale;
        const eh = 0.04 * near.eyeScale;
        const te = dx / ew;
        if (te > -1.2 && te < 1.2) {
          const w = Math.max(0, 1 - te * te);
          const top = -eh * Math.pow(w, 0.7);
          const bot = 0.55 * eh * Math.pow(w, 0.9);
          const open01 = smoothstep(top - 0.5 * e, top + 0.5 * e, dy) * smoothstep(bot + 0.5 * e, bot - 0.5 * e, dy);
          if (open01 > 0) {
            const ri = 0.95 * eh; // the lids cut the iris, as in a relaxed open eye
            const rr = Math.sqrt(dx * dx + (dy - 0.1 * eh) * (dy - 0.1 * eh));
            const iris = smoothstep(ri + 0.5 * e, ri - 0.5 * e, rr);
            const pupil = smoothstep(0.45 * ri + 0.4 * e, 0.45 * ri - 0.4 * e, rr);
            const [ir, ig, ib] = al.eye;
            const er = mix(mix(0.8, ir, iris), 0.03, pupil);
            const eg = mix(mix(0.78, ig, iris), 0.03, pupil);
            const eb = mix(mix(0.76, ib, iris), 0.03, pupil);
            r = mix(r, er, open01);
            g = mix(g, eg, open01);
            bl = mix(bl, eb, open01);
          }
          const lash = band(dy - (top - 0.008), 0.009, 0.5 * e) * smoothstep(1.15, 0.9, Math.abs(te)) * (1 - open01);
          r = mix(r, 0.08, 0.85 * lash);
          g = mix(g, 0.06, 0.85 * lash);
          bl = mix(bl, 0.06, 0.85 * lash);
        }
        // Brow: an arc above the eye, raised or lowered (inner end first) by the expression.
        const tb = (dx - 0.015) / 0.15;
        if (tb > -1.2 && tb < 1.2) {
          const raise = expr.browRaise;
          const yb = -0.12 - 0.045 * raise + near.browY - 0.025 * (1 - tb * tb) + (raise < 0 ? 0.03 * -raise * (1 - tb) * 0.5 : 0);
          const th = 0.022 * al.browThickness * (1 - 0.45 * Math.max(0, tb));
          const brow = band(dy - yb, th, 0.6 * e) * band(tb, 1, 0.1);
          r = mix(r, al.hair[0] * 0.75, 0.9 * brow);
          g = mix(g, al.hair[1] * 0.75, 0.9 * brow);
          bl = mix(bl, al.hair[2] * 0.75, 0.9 * brow);
        }
        // Nostrils.
        if (Math.abs(y - tipY - 0.03) < 0.08) {
          const nostril = 0.5 * gauss(Math.abs(x - noseX) - 0.45 * s.noseWidth, y - tipY - 0.03, 0.022, 0.011);
          r *= 1 - 0.6 * nostril;
          g *= 1 - 0.65 * nostril;
          bl *= 1 - 0.65 * nostril;
        }
        // Lips and mouth, inside their bounding box.
        const mx = x - noseX;
        const tm = mx / mw;
        let lips = 0;
        let mouth = 0;
        if (tm > -1.05 && tm < 1.05 && Math.abs(y - mouthY) < 0.2) {
          const lift = expr.smile * 0.07 * tm * tm - tilt * mx;
          const upper = mouthY - 0.016 - 0.03 * open - lift;
          const lower = mouthY + 0.03 + 0.07 * open - 0.6 * lift;
          const lipW = smoothstep(1.05, 0.92, Math.abs(tm));
          const thick = 0.5 + 0.5 * s.lipFullness;
          lips = Math.max(band(y - upper, 0.018 * thick, 0.7 * e), band(y - lower, 0.026 * thick, 0.7 * e)) * lipW;
          const gapTop = upper + 0.012 * thick;
          const gapBot = lower - 0.016 * thick;
          mouth = gapBot > gapTop ? smoothstep(gapTop - 0.5 * e, gapTop + 0.5 * e, y) * smoothstep(gapBot + 0.5 * e, gapBot - 0.5 * e, y) * lipW : 0;
          const seam = band(y - (upper + lower) / 2 + 0.004, 0.004, 0.6 * e) * lipW;
          const [lr, lg, lb] = al.lip;
          r = mix(r, lr, lips);
          g = mix(g, lg, lips);
          bl = mix(bl, lb, lips);
          if (mouth > 0) {
            // Upper teeth just under the upper lip, dark inside below them.
            const teeth = smoothstep(gapTop + 0.03 + 0.5 * e, gapTop + 0.03 - 0.5 * e, y) * smoothstep(0.7, 0.45, Math.abs(tm)) * smoothstep(0.2, 0.4, open);
            r = mix(r, mix(0.16, 0.78, teeth), mouth);
            g = mix(g, mix(0.05, 0.75, teeth), mouth);
            bl = mix(bl, mix(0.05, 0.7, teeth), mouth);
          }
          r = mix(r, lr * 0.45, 0.8 * seam);
          g = mix(g, lg * 0.4, 0.8 * seam);
          bl = mix(bl, lb * 0.4, 0.8 * seam);
        }
        // Beard and moustache: hair colour below the nose, around (not on) the lips.
        if (al.beard > 0) {
          // Bare cheeks above a line from the mouth corner up to the ear; moustache and chin below it.
          const cheekLine = mouthY + (earY - mouthY) * Math.min(1, Math.max(0, (ax - 1.1 * mw) / (a - 1.1 * mw)));
          const top = ax < 1.1 * mw ? tipY + 0.05 : cheekLine;
          const region = smoothstep(top - e, top + 1.5 * e, y) * smoothstep(1, 0.8, q) * (1 - lips) * (1 - mouth);
          const density = al.beard * region * (0.75 + 0.25 * hairNoise.at(ax * 40, y * 40));
          r = mix(r, al.hair[0], density);
          g = mix(g, al.hair[1], density);
          bl = mix(bl, al.hair[2], density);
        }
      }
      // Hair on top of whatever is below it; strands are streaks of noise along y.
      const hairW = earWins || neckWins ? 0 : q < 1 ? hairMask * (shell > 0 ? 1 : 0) : 1;
      if (hairW > 0) {
        // Plain colour off the head (only its edge is ever sampled), strands on it.
        const streak = relief > 0 ? 1 + 0.25 * (hairNoise.fractal(ax * 14, y * 2.5) - 0.5) : 1;
        r = mix(r, al.hair[0] * streak, hairW);
        g = mix(g, al.hair[1] * streak, hairW);
        bl = mix(bl, al.hair[2] * streak, hairW);
      }
      const o = 3 * k;
      albedo[o] = 2 * Math.min(1, Math.max(0, r)) - 1;
      albedo[o + 1] = 2 * Math.min(1, Math.max(0, g)) - 1;
      albedo[o + 2] = 2 * Math.min(1, Math.max(0, bl)) - 1;
    }
  }
  return { size, depth, shadeDepth, albedo };
}
