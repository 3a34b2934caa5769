/**
 * A user's chip classifier (a model of the repository with task "chip-classifier", runtime/classifier.ts) in
 * the raster pipeline: which bands a pixel head takes, its input tensor from a chip, and the per-raster
 * summary. Pure functions; method.ts wires them.
 */
import type { RasterClassifierPlan } from '../../core/types';
import type { ChipClassifierSpec } from '../../runtime/manifest';
import type { BandRoles } from './spectral';
import type { ChipPixels } from './spectral';
import { stretchBand01 } from './deep';

const ROLE_NAMES = ['blue', 'green', 'red', 'nir', 'swir1', 'swir2'] as const;

/**
 * Band index of each input channel a pixel head names: "gray" (-1: the mean of the stretched red, green and
 * blue), a spectral role (red, nir, swir1...) or a band name of the raster (case-insensitive). `missing`
 * lists the channels this raster cannot give.
 */
export function classifierChannels(
  spec: Pick<ChipClassifierSpec, 'bands'>,
  names: readonly string[],
  roles: BandRoles,
  rgb: [number, number, number] | null,
): { channels: number[] | null; missing: string[] } {
  const upper = names.map((n) => n.trim().toUpperCase());
  const channels: number[] = [];
  const missing: string[] = [];
  for (const b of spec.bands ?? []) {
    const key = b.trim().toLowerCase();
    if (key === 'gray' || key === 'grey') {
      if (rgb) channels.push(-1);
      else missing.push(b);
      continue;
    }
    const role = (ROLE_NAMES as readonly string[]).includes(key) ? roles[key as keyof BandRoles] : undefined;
    const idx = role ?? upper.indexOf(b.trim().toUpperCase());
    if (idx === undefined || idx < 0) missing.push(b);
    else channels.push(idx);
  }
  return missing.length ? { channels: null, missing } : { channels, missing };
}

/**
 * A pixel head's input for one chip: planar [C, size, size] in [0, 1], channel c from band channels[c]
 * with its stretch (gray: the mean of the stretched red, green and blue with the raster's RGB stretch).
 */
export function chipToChannels01(
  chip: ChipPixels,
  cls: Pick<RasterClassifierPlan, 'channels' | 'stretch'>,
  size: number,
  rgb: [number, number, number] | null,
  rgbStretch: { min: number[]; max: number[] } | null,
): Float32Array {
  const channels = cls.channels ?? [];
  const out = new Float32Array(channels.length * size * size);
  channels.forEach((band, c) => {
    const off = c * size * size;
    if (band === -1) {
      if (!rgb || !rgbStretch) throw new Error('gray channel needs the raster RGB bands and their stretch');
      for (let k = 0; k < 3; k++)
        stretchBand01(chip, rgb[k], rgbStretch.min[k], rgbStretch.max[k], size, out, off, 1 / 3);
    } else {
      stretchBand01(chip, band, cls.stretch?.min[c] ?? 0, cls.stretch?.max[c] ?? 1, size, out, off);
    }
  });
  return out;
}

/** The summary row's classifier fields from the chips' scores. */
export function classifierSummary(
  model: { model: string; version: number },
  spec: Pick<ChipClassifierSpec, 'threshold' | 'labels'>,
  scores: ReadonlyArray<number | null>,
): { model: string; version: number; maxScore: number | null; positives: number; label: string } {
  let max: number | null = null;
  let positives = 0;
  for (const s of scores) {
    if (s === null || !Number.isFinite(s)) continue;
    if (max === null || s > max) max = s;
    if (s >= spec.threshold) positives++;
  }
  return { model: model.model, version: model.version, maxScore: max, positives, label: spec.labels[1] };
}

/** Float32 vectors to float16 little-endian bytes, base64 (inputs of a head that runs on another pool). */
export function packFloat16(vectors: Float32Array[], dim: number): string {
  const buf = Buffer.alloc(vectors.length * dim * 2);
  vectors.forEach((v, i) => {
    if (v.length !== dim) throw new RangeError(`vector of ${v.length} values, expected ${dim}`);
    for (let j = 0; j < dim; j++) buf.writeUInt16LE(toHalf(v[j]), (i * dim + j) * 2);
  });
  return buf.toString('base64');
}

export function unpackFloat16(b64: string, dim: number): Float32Array[] {
  const buf = Buffer.from(b64, 'base64');
  const n = buf.length / 2 / dim;
  if (!Number.isInteger(n)) throw new RangeError(`${buf.length} bytes are not whole float16 vectors of ${dim}`);
  return Array.from({ length: n }, (_, i) => {
    const v = new Float32Array(dim);
    for (let j = 0; j < dim; j++) v[j] = fromHalf(buf.readUInt16LE((i * dim + j) * 2));
    return v;
  });
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 of a float32, rounded to nearest even; overflow to infinity, underflow to subnormals / zero. */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  if ((half & 0x7c00) === 0x7c00) e = 0x1f;
  return sign | (e === 0x1f ? 0x7c00 : half);
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
