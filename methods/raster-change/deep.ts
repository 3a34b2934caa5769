/**
 * Deep-feature change: an ImageNet backbone (MobileNetV2 from the model repository, run by
 * runtime/embedder.ts) embeds the same chip window of two co-registered acquisitions; the change score is
 * the cosine distance between the two feature vectors. Novelty in an archive uses the same features against
 * a bank of normal chips (novelty.ts).
 *
 * Backbones see 8-bit-like RGB: a chip's red, green and blue bands are stretched to [0, 1] with a
 * per-band linear stretch (fixed, or the 2nd-98th percentiles of the acquisition, which also absorbs most of
 * a gain difference between two acquisitions), resized bilinearly to the model's input size, and normalised
 * with the model's mean / std.
 */
import type { OnnxEmbedder } from '../../runtime/embedder';
import type { ModelManifest } from '../../runtime/manifest';
import type { ChipPixels } from './spectral';
import { timeSync } from '../../runtime/steps';

/** A feature extractor over RGB chips; the ONNX embedder is one, a user's own backbone another. */
export interface FeatureExtractor {
  readonly name: string;
  /** Side of the square model input. */
  readonly inputSize: number;
  /** Features of one chip given as planar RGB in [0, 1] (3 x inputSize x inputSize). */
  embed(rgb01: Float32Array): Promise<Float32Array>;
}

/** Per-band linear stretch to [0, 1]: (v - min) / (max - min), clamped. */
export interface Stretch {
  min: [number, number, number];
  max: [number, number, number];
}

/**
 * A stretch from the 2nd and 98th percentiles of sample values of each of the three bands (e.g. a few
 * chips or a preview of the acquisition), ignoring nodata and non-finite values.
 */
export function percentileStretch(
  samples: [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>],
  nodata: number | null = null,
  lo = 0.02,
  hi = 0.98,
): Stretch {
  const q = (arr: ArrayLike<number>): [number, number] => {
    const v: number[] = [];
    for (let i = 0; i < arr.length; i++) if (Number.isFinite(arr[i]) && arr[i] !== nodata) v.push(arr[i]);
    if (v.length === 0) return [0, 1];
    v.sort((a, b) => a - b);
    const a = v[Math.floor(lo * (v.length - 1))];
    const b = v[Math.ceil(hi * (v.length - 1))];
    return b > a ? [a, b] : [a, a + 1];
  };
  const [r, g, b] = samples.map(q);
  return { min: [r[0], g[0], b[0]], max: [r[1], g[1], b[1]] };
}

/**
 * Planar RGB in [0, 1] at size x size from a chip's bands [r, g, b] (bilinear, pixel-centre aligned like
 * OpenCV's resize). Nodata pixels become 0.
 */
export function chipToRgb01(
  chip: ChipPixels,
  rgb: [number, number, number],
  stretch: Stretch,
  size: number,
): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) stretchBand01(chip, rgb[c], stretch.min[c], stretch.max[c], size, out, c * size * size);
  return out;
}

/** One band of a chip stretched linearly to [0, 1] (nodata and non-finite: 0), resized bilinearly to size x size
 * (pixel-centre aligned like OpenCV's resize), added with `weight` into out[offset …]. */
export function stretchBand01(
  chip: ChipPixels,
  band: number,
  lo: number,
  hi: number,
  size: number,
  out: Float32Array,
  offset: number,
  weight = 1,
): void {
  const { width: w, height: h } = chip;
  const src = chip.bands[band];
  const nd = chip.nodata;
  const span = hi - lo || 1;
  // Each source pixel is stretched once (w x h), not four times per output pixel (size² x 4): the same values,
  // in float64 as before, so the result is bit for bit what the per-output-pixel form gave.
  const v01 = new Float64Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const v = src[i];
    if (!Number.isFinite(v) || (nd !== null && nd !== undefined && v === nd)) continue;
    const t = (v - lo) / span;
    v01[i] = t < 0 ? 0 : t > 1 ? 1 : t;
  }
  const sx = w / size;
  const sy = h / size;
  // Column taps and weights are the same for every row: computed once per call.
  const cx0 = new Int32Array(size);
  const cx1 = new Int32Array(size);
  const cwx = new Float64Array(size);
  for (let x = 0; x < size; x++) {
    const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
    cx0[x] = Math.floor(fx);
    cx1[x] = Math.min(w - 1, cx0[x] + 1);
    cwx[x] = fx - cx0[x];
  }
  for (let y = 0; y < size; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const wy = fy - y0;
    const r0 = y0 * w;
    const r1 = y1 * w;
    const o = offset + y * size;
    for (let x = 0; x < size; x++) {
      const wx = cwx[x];
      const top = v01[r0 + cx0[x]] * (1 - wx) + v01[r0 + cx1[x]] * wx;
      const bot = v01[r1 + cx0[x]] * (1 - wx) + v01[r1 + cx1[x]] * wx;
      out[o + x] += weight * (top * (1 - wy) + bot * wy);
    }
  }
}

/** Cosine distance 1 - cos(a, b) in [0, 2]; 0 for identical directions. */
export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`feature lengths differ: ${a.length} vs ${b.length}`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa === 0 || bb === 0) return aa === bb ? 0 : 1;
  return 1 - ab / Math.sqrt(aa * bb);
}

/**
 * A FeatureExtractor over an OnnxEmbedder with 3-channel input (e.g. models/mobilenetv2): applies the
 * manifest's preprocessing mean / std (ImageNet by default) to the [0, 1] RGB input.
 */
export function onnxFeatureExtractor(embedder: OnnxEmbedder): FeatureExtractor {
  if (embedder.channels !== 3)
    throw new Error(`${embedder.name}: a change backbone needs 3 input channels, the model has ${embedder.channels}`);
  const pre: ModelManifest['preprocessing'] = embedder.manifest.preprocessing;
  const mean = pre?.mean?.length === 3 ? pre.mean : [0.485, 0.456, 0.406];
  const std = pre?.std?.length === 3 ? pre.std : [0.229, 0.224, 0.225];
  const s = embedder.inputSize;
  return {
    name: `${embedder.name}/${embedder.version}`,
    inputSize: s,
    embed: async (rgb01) => {
      if (rgb01.length !== 3 * s * s) throw new RangeError(`expected 3 x ${s} x ${s} values, got ${rgb01.length}`);
      const x = timeSync('preprocess', () => {
        const t = new Float32Array(rgb01.length);
        for (let c = 0; c < 3; c++)
          for (let i = c * s * s; i < (c + 1) * s * s; i++) t[i] = (rgb01[i] - mean[c]) / std[c];
        return t;
      });
      return (await embedder.embed(x)).output;
    },
  };
}
