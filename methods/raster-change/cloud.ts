/**
 * Cloud fraction per chip with s2cloudless (Sentinel Hub's LightGBM pixel classifier over ten Sentinel-2
 * L1C top-of-atmosphere reflectances), converted to ONNX offline into models/s2cloudless/. The model takes
 * [N, 10] reflectances in [0, 1] in the order B01, B02, B04, B05, B08, B8A, B09, B10, B11, B12 and returns
 * a cloud probability per pixel; s2cloudless's default threshold is 0.4.
 *
 * Only where the raster has all ten bands: Sentinel-2 L2A products (BigEarthNet among them) drop B10
 * (cirrus), so they get no cloud fraction rather than one computed from a substituted band.
 */
import * as ort from 'onnxruntime-node';
import type { Pool } from '../../config';
import { TransientError } from '../../core/errors';
import { createSession, type LoadedSession } from '../../runtime/session';
import type { ChipPixels } from './spectral';
import { timeBlocking } from '../../runtime/steps';

export const S2CLOUDLESS_BANDS = ['B01', 'B02', 'B04', 'B05', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'] as const;

/** Per-pixel cloud probabilities for n pixels of 10 features each (row-major n x 10). */
export interface CloudModel {
  readonly name: string;
  probabilities(features: Float32Array, n: number): Promise<Float32Array>;
}

/**
 * Indices of the ten s2cloudless bands among a raster's band names (Sentinel-2 names such as "B8A"), or
 * null with the missing ones.
 */
export function s2cloudlessBandIndices(names: readonly string[]): { indices: number[] | null; missing: string[] } {
  const upper = names.map((n) => n.trim().toUpperCase());
  const indices = S2CLOUDLESS_BANDS.map((b) => upper.indexOf(b));
  const missing = S2CLOUDLESS_BANDS.filter((_, i) => indices[i] < 0);
  return { indices: missing.length === 0 ? indices : null, missing: [...missing] };
}

export interface CloudOptions {
  /** Digital number -> reflectance (default 1 / 10000, Sentinel-2 L1C). */
  scale?: number;
  /** Probability at or above which a pixel is cloud (default 0.4, s2cloudless's default). */
  threshold?: number;
  /** Classify every stride-th pixel along each axis (default 2: a quarter of the pixels). */
  stride?: number;
}

export interface ChipCloud {
  /** Share of classified pixels at or above the threshold. */
  fraction: number;
  meanProbability: number;
  pixels: number;
}

/** Cloud fraction of one chip; `bandIndices` from s2cloudlessBandIndices. Null when no pixel is valid. */
export async function chipCloudFraction(
  chip: ChipPixels,
  bandIndices: readonly number[],
  model: CloudModel,
  opts: CloudOptions = {},
): Promise<ChipCloud | null> {
  if (bandIndices.length !== 10) throw new RangeError(`s2cloudless needs 10 bands, got ${bandIndices.length}`);
  const scale = opts.scale ?? 1e-4;
  const threshold = opts.threshold ?? 0.4;
  const stride = Math.max(1, Math.floor(opts.stride ?? 2));
  const nd = chip.nodata;
  const rows: number[] = [];
  for (let y = 0; y < chip.height; y += stride) {
    for (let x = 0; x < chip.width; x += stride) {
      const i = y * chip.width + x;
      let ok = true;
      for (const b of bandIndices) {
        const v = chip.bands[b][i];
        if (!Number.isFinite(v) || (nd !== null && nd !== undefined && v === nd)) ok = false;
      }
      if (ok) rows.push(i);
    }
  }
  if (rows.length === 0) return null;
  const feats = new Float32Array(rows.length * 10);
  rows.forEach((i, r) => bandIndices.forEach((b, k) => (feats[r * 10 + k] = chip.bands[b][i] * scale)));
  const p = await model.probabilities(feats, rows.length);
  let cloud = 0;
  let sum = 0;
  for (let i = 0; i < p.length; i++) {
    sum += p[i];
    if (p[i] >= threshold) cloud++;
  }
  return { fraction: cloud / p.length, meanProbability: sum / p.length, pixels: p.length };
}

/**
 * The ONNX s2cloudless model. onnxmltools' LightGBM converter names its outputs label and probabilities;
 * the probabilities come as [N, 2] (class 1 = cloud) or, after canonicalisation, [N] / [N, 1]: all three
 * are read.
 */
export class OnnxCloudModel implements CloudModel {
  private constructor(
    readonly name: string,
    private readonly loaded: LoadedSession,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async load(
    modelPath: string,
    opts: { pool: Pool; threads?: number; inputName?: string; outputName?: string; name?: string },
  ): Promise<OnnxCloudModel> {
    const loaded = await createSession(modelPath, { pool: opts.pool, threads: opts.threads });
    const input = opts.inputName ?? loaded.session.inputNames[0];
    const outs = loaded.session.outputNames;
    const output = opts.outputName ?? outs.find((o) => /prob/i.test(o)) ?? outs[outs.length - 1];
    return new OnnxCloudModel(opts.name ?? 's2cloudless', loaded, input, output);
  }

  async probabilities(features: Float32Array, n: number): Promise<Float32Array> {
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await timeBlocking('inference', () =>
        this.loaded.session.run({ [this.inputName]: new ort.Tensor('float32', features, [n, 10]) }, [this.outputName]),
      );
    } catch (err) {
      throw new TransientError(
        'InferenceError',
        `onnxruntime run failed for ${this.name}: ${(err as Error).message}`,
        err,
      );
    }
    const t = out[this.outputName] as ort.Tensor;
    const data = t.data as Float32Array;
    const cols = t.dims.length === 2 ? t.dims[1] : 1;
    if (cols === 1) return Float32Array.from(data);
    const p = new Float32Array(n);
    for (let i = 0; i < n; i++) p[i] = data[i * cols + (cols - 1)];
    return p;
  }

  async close(): Promise<void> {
    await this.loaded.session.release();
  }
}
