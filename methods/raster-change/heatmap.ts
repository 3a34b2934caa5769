/**
 * Heatmap of chip scores over a downsampled view of the raster itself, as a PNG (sharp encodes it).
 *
 * The view is built from chips as they are read (PreviewBuilder.add: a box filter into a grid of at most
 * maxSide pixels a side), so it costs no second pass over a 2-gigapixel raster; a worker that sees only
 * some blocks adds those, and the previews of several workers merge (PreviewBuilder.merge) because they
 * keep sums and counts, not averages. Scores are drawn with a perceptually ordered colour ramp (inferno)
 * over the greyscale view; chips without a score (failed, or outside the area) stay uncoloured.
 */
import sharp from 'sharp';
import type { PixelWindow } from '../../media/georef';

export interface PreviewImage {
  width: number;
  height: number;
  channels: 1 | 3;
  /** Interleaved 8-bit pixels. */
  data: Uint8Array;
}

/** Preview cells of a window: position and size in preview pixels, sums (interleaved channels) and counts. */
export interface PreviewRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  sum: number[];
  count: number[];
}

/** Accumulates a downsampled view of a raster from chips; see the module comment. */
export class PreviewBuilder {
  readonly width: number;
  readonly height: number;
  /** Raster pixels per preview pixel. */
  readonly scale: number;
  private readonly sum: Float64Array;
  private readonly count: Uint32Array;

  constructor(
    readonly rasterWidth: number,
    readonly rasterHeight: number,
    readonly channels: 1 | 3,
    maxSide = 1024,
  ) {
    this.scale = Math.max(1, Math.max(rasterWidth, rasterHeight) / maxSide);
    this.width = Math.max(1, Math.round(rasterWidth / this.scale));
    this.height = Math.max(1, Math.round(rasterHeight / this.scale));
    this.sum = new Float64Array(this.width * this.height * channels);
    this.count = new Uint32Array(this.width * this.height);
  }

  /**
   * Adds the pixels of a window: `bands` are the 1 or 3 arrays (width x height) to show, in any numeric
   * type; nodata / non-finite pixels are skipped. Pixels are sampled on a grid of about one per preview
   * pixel (a box filter would cost a pass over every pixel for a picture).
   */
  add(window: PixelWindow, bands: ArrayLike<number>[], nodata: number | null = null): void {
    if (bands.length !== this.channels)
      throw new RangeError(`preview has ${this.channels} channels, got ${bands.length} bands`);
    const step = Math.max(1, Math.floor(this.scale / 2));
    for (let y = 0; y < window.height; y += step) {
      const py = Math.min(this.height - 1, Math.floor((window.y + y) / this.scale));
      for (let x = 0; x < window.width; x += step) {
        const i = y * window.width + x;
        let ok = true;
        for (const b of bands) if (!Number.isFinite(b[i]) || b[i] === nodata) ok = false;
        if (!ok) continue;
        const p = py * this.width + Math.min(this.width - 1, Math.floor((window.x + x) / this.scale));
        for (let c = 0; c < this.channels; c++) this.sum[p * this.channels + c] += bands[c][i];
        this.count[p]++;
      }
    }
  }

  /**
   * The cells a raster window covers, as sums and counts: what one worker's block contributes, small
   * enough to store beside the block's results and add into the whole raster's preview later (addRegion).
   */
  region(window: PixelWindow): PreviewRegion {
    const px0 = Math.min(this.width - 1, Math.floor(window.x / this.scale));
    const py0 = Math.min(this.height - 1, Math.floor(window.y / this.scale));
    const px1 = Math.min(this.width, Math.max(px0 + 1, Math.ceil((window.x + window.width) / this.scale)));
    const py1 = Math.min(this.height, Math.max(py0 + 1, Math.ceil((window.y + window.height) / this.scale)));
    const w = px1 - px0;
    const h = py1 - py0;
    const sum: number[] = new Array(w * h * this.channels);
    const count: number[] = new Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = (py0 + y) * this.width + px0 + x;
        count[y * w + x] = this.count[p];
        for (let c = 0; c < this.channels; c++) sum[(y * w + x) * this.channels + c] = this.sum[p * this.channels + c];
      }
    }
    return { x: px0, y: py0, width: w, height: h, sum, count };
  }

  /** Adds a region taken from a builder of the same raster and maxSide. */
  addRegion(r: PreviewRegion): void {
    for (let y = 0; y < r.height; y++) {
      for (let x = 0; x < r.width; x++) {
        const px = r.x + x;
        const py = r.y + y;
        if (px >= this.width || py >= this.height) continue;
        const p = py * this.width + px;
        this.count[p] += r.count[y * r.width + x];
        for (let c = 0; c < this.channels; c++)
          this.sum[p * this.channels + c] += r.sum[(y * r.width + x) * this.channels + c];
      }
    }
  }

  /** Adds another builder's samples (same raster, same maxSide). */
  merge(other: PreviewBuilder): void {
    if (other.width !== this.width || other.height !== this.height || other.channels !== this.channels)
      throw new RangeError('previews of different shapes');
    for (let i = 0; i < this.sum.length; i++) this.sum[i] += other.sum[i];
    for (let i = 0; i < this.count.length; i++) this.count[i] += other.count[i];
  }

  /** 8-bit image, each channel stretched between its 2nd and 98th percentile; empty cells black. */
  toImage(): PreviewImage {
    const n = this.width * this.height;
    const data = new Uint8Array(n * this.channels);
    for (let c = 0; c < this.channels; c++) {
      const vals: number[] = [];
      for (let p = 0; p < n; p++) if (this.count[p] > 0) vals.push(this.sum[p * this.channels + c] / this.count[p]);
      if (vals.length === 0) continue;
      vals.sort((a, b) => a - b);
      const lo = vals[Math.floor(0.02 * (vals.length - 1))];
      const hi = vals[Math.ceil(0.98 * (vals.length - 1))];
      const span = hi - lo || 1;
      for (let p = 0; p < n; p++) {
        if (this.count[p] === 0) continue;
        const v = (this.sum[p * this.channels + c] / this.count[p] - lo) / span;
        data[p * this.channels + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
      }
    }
    return { width: this.width, height: this.height, channels: this.channels, data };
  }
}

// Inferno, 9 stops (matplotlib's values): dark purple -> red -> yellow.
const INFERNO: Array<[number, number, number]> = [
  [0, 0, 4],
  [31, 12, 72],
  [85, 15, 109],
  [136, 34, 106],
  [186, 54, 85],
  [227, 89, 51],
  [249, 140, 10],
  [249, 201, 50],
  [252, 255, 164],
];

/** Inferno colour of t in [0, 1]. */
export function inferno(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [INFERNO[i], INFERNO[i + 1]];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f)) as [number, number, number];
}

export interface HeatmapOptions {
  /** Score mapped to the ends of the colour ramp (default: min and max of the finite scores). */
  range?: [number, number];
  /** Opacity of the colour over the view (default 0.6). */
  alpha?: number;
  /** Output size when there is no preview (longest side, default 1024). */
  maxSide?: number;
}

export interface HeatmapChip {
  window: PixelWindow;
  score: number | null;
}

/**
 * PNG of chip scores over the preview (or a black background when there is none). Where chips overlap the
 * highest score wins. Returns the PNG and the score range used.
 */
export async function renderHeatmap(
  rasterWidth: number,
  rasterHeight: number,
  chips: readonly HeatmapChip[],
  preview: PreviewImage | null,
  opts: HeatmapOptions = {},
): Promise<{ png: Buffer; range: [number, number]; width: number; height: number }> {
  const scale = preview
    ? rasterWidth / preview.width
    : Math.max(1, Math.max(rasterWidth, rasterHeight) / (opts.maxSide ?? 1024));
  const width = preview?.width ?? Math.max(1, Math.round(rasterWidth / scale));
  const height = preview?.height ?? Math.max(1, Math.round(rasterHeight / scale));
  const finite = chips.map((c) => c.score).filter((s): s is number => s !== null && Number.isFinite(s));
  const range: [number, number] =
    opts.range ?? (finite.length > 0 ? [Math.min(...finite), Math.max(...finite)] : [0, 1]);
  const span = range[1] - range[0] || 1;
  const alpha = opts.alpha ?? 0.6;
  const best = new Float32Array(width * height).fill(NaN);
  for (const c of chips) {
    if (c.score === null || !Number.isFinite(c.score)) continue;
    const x0 = Math.floor(c.window.x / scale);
    const y0 = Math.floor(c.window.y / scale);
    const x1 = Math.min(width, Math.max(x0 + 1, Math.ceil((c.window.x + c.window.width) / scale)));
    const y1 = Math.min(height, Math.max(y0 + 1, Math.ceil((c.window.y + c.window.height) / scale)));
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) if (!(best[y * width + x] >= c.score)) best[y * width + x] = c.score;
  }
  const rgb = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    let g = 0;
    if (preview) {
      const d = preview.data;
      g = preview.channels === 1 ? d[p] : Math.round(0.299 * d[p * 3] + 0.587 * d[p * 3 + 1] + 0.114 * d[p * 3 + 2]);
    }
    const s = best[p];
    if (s === s) {
      const [r, gg, b] = inferno((s - range[0]) / span);
      rgb[p * 3] = Math.round(alpha * r + (1 - alpha) * g);
      rgb[p * 3 + 1] = Math.round(alpha * gg + (1 - alpha) * g);
      rgb[p * 3 + 2] = Math.round(alpha * b + (1 - alpha) * g);
    } else {
      rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = g;
    }
  }
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  return { png, range, width, height };
}
