/**
 * STAC Items as rasters: one Item with one Cloud-Optimized GeoTIFF per band (Sentinel-2, Landsat Collection 2,
 * BigEarthNet patches wrapped in Items) is read as a single multi-band raster on the grid of its finest band.
 *
 * - Parsing: the Item is first brought to STAC 1.1 by @radiantearth/stac-migrate (the STAC community's own
 *   migration code, also behind stac-js and STAC Browser): 0.x and 1.0 Items with `eo:bands` come out with the
 *   1.1 `bands` array and `eo:common_name`, so the reader below knows one shape only. The fields Lookout uses
 *   (type, stac_version, properties.datetime / start_datetime, platform, collection, bbox, the tile keys, assets
 *   with href and bands) are then checked by the small typed validator here: stac-js (the other kept JS library)
 *   is an ES module with UI-oriented classes and turf dependencies, and validates no more than this does.
 * - Band roles: `eo:common_name` (blue, green, red, nir, nir08, swir16, swir22, ...), else the Sentinel-2 band
 *   name (B02 -> blue ... B12 -> swir22), else the asset key (Earth Search's `blue`, `nir`, ...). An asset
 *   without a spectral identity (SCL, AOT, a 3-band `visual`, thumbnails) is not a band.
 * - Grid: the finest band's pixel grid (10 m for Sentinel-2); coarser bands (20 m, 60 m) are resampled to it by
 *   nearest neighbour — each output pixel takes the band pixel under its centre, which for the 2x and 6x ratios
 *   of Sentinel-2 repeats every coarse pixel over the fine pixels it covers, inventing no values. Each band is
 *   read by range requests for the window under the chip only (media/raster.ts, one RangeSource per asset).
 * - Bad input: an asset that is missing, unreadable, in another CRS, not covering the grid, or an Item bbox that
 *   misses the bands' footprint is a BadInputError naming the asset and the reason.
 */
import path from 'node:path';
import Migrate from '@radiantearth/stac-migrate';
import { BadInputError } from '../core/errors';
import { footprint as footprintOf, type Affine, type PixelWindow } from './georef';
import {
  DEFAULT_RASTER_LIMITS,
  makeRaster,
  type BandArray,
  type Raster,
  type RasterDtype,
  type ReadStats,
  type WindowData,
} from './raster';

/** One band of an Item: the asset it lives in and what it measures. */
export interface StacBand {
  /** Asset key in the Item (`B04`, `red`, ...). */
  key: string;
  href: string;
  /** Band name (`B04`; the asset key when the Item gives none). */
  name: string;
  /** STAC common name (`red`, `nir08`, `swir16`, ...) or null. */
  commonName: string | null;
}

export interface StacItemInfo {
  id: string;
  collection: string | null;
  /** properties.datetime (or start_datetime), as ISO 8601 UTC with milliseconds: sorts as time. */
  datetime: string;
  platform: string | null;
  /** Tile key of the acquisition's footprint: `MGRS:33UUP`, `WRS2:044/034`, a `grid:code`; null when none. */
  place: string | null;
  /** [west, south, east, north] in WGS 84, when the Item has one. */
  bbox: [number, number, number, number] | null;
  bands: StacBand[];
}

/** A raster made of an Item's band assets, with what the Item says. */
export interface StacRaster extends Raster {
  stac: StacItemInfo & {
    /** Per band: the role name Lookout's spectral indices use (blue, green, red, nir, swir1, swir2) or the common/band name. */
    roleNames: string[];
    /** Per band: the sensor's band name (B02 ...), for s2cloudless. */
    sensorNames: string[];
    /** Asset key of the band whose grid the raster uses, and that grid's pixel size. */
    gridBand: string;
  };
}

export function isStacRaster(r: Raster): r is StacRaster {
  return (r as Partial<StacRaster>).stac !== undefined;
}

const S2_COMMON: Record<string, string> = {
  B01: 'coastal',
  B02: 'blue',
  B03: 'green',
  B04: 'red',
  B05: 'rededge071',
  B06: 'rededge075',
  B07: 'rededge078',
  B08: 'nir',
  B8A: 'nir08',
  B09: 'nir09',
  B10: 'cirrus',
  B11: 'swir16',
  B12: 'swir22',
};
const COMMON = new Set([
  'coastal',
  'blue',
  'green',
  'red',
  'yellow',
  'pan',
  'rededge',
  'rededge071',
  'rededge075',
  'rededge078',
  'nir',
  'nir08',
  'nir09',
  'cirrus',
  'swir16',
  'swir22',
  'lwir',
  'lwir11',
  'lwir12',
]);
/** Earth Search's Sentinel-2 asset keys that are not common names. */
const KEY_COMMON: Record<string, string> = { rededge1: 'rededge071', rededge2: 'rededge075', rededge3: 'rededge078' };
/** Common name -> the role names of methods/raster-change/spectral.ts. */
const ROLE_OF: Record<string, string> = {
  blue: 'blue',
  green: 'green',
  red: 'red',
  nir: 'nir',
  swir16: 'swir1',
  swir22: 'swir2',
};

/** Most bands one Item may give (media/raster.ts's DEFAULT_RASTER_LIMITS.maxBands: a hyperspectral cube is refused, not half-read). */
const MAX_BANDS = DEFAULT_RASTER_LIMITS.maxBands;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/** Parses and checks an Item (any STAC version; migrated to 1.1 first). `where` names it in messages. */
export function parseStacItem(text: string | Buffer, where: string): StacItemInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(text.toString());
  } catch (err) {
    throw new BadInputError(
      'NotStacItem',
      `${where}: not JSON (${(err as Error).message.slice(0, 120)}), so not a STAC Item`,
      err,
    );
  }
  if (!isObj(raw))
    throw new BadInputError(
      'NotStacItem',
      `${where}: JSON ${Array.isArray(raw) ? 'array' : typeof raw}, not a STAC Item`,
    );
  const type = raw.type;
  if (type === 'FeatureCollection')
    throw new BadInputError(
      'NotStacItem',
      `${where}: a STAC ItemCollection (${Array.isArray(raw.features) ? raw.features.length : 0} features), not one Item: run lookout backfill gs://BUCKET/${where.replace(/^gs:\/\/[^/]+\//, '')} to analyse each`,
    );
  if (type === 'Catalog' || type === 'Collection')
    throw new BadInputError(
      'NotStacItem',
      `${where}: a STAC ${type}, not an Item: run lookout backfill on it to analyse its items`,
    );
  if (type !== 'Feature')
    throw new BadInputError(
      'NotStacItem',
      `${where}: "type" is ${JSON.stringify(type ?? null)}, a STAC Item is a GeoJSON "Feature"`,
    );
  if (!str(raw.stac_version))
    throw new BadInputError('NotStacItem', `${where}: a GeoJSON Feature without "stac_version", not a STAC Item`);
  if (!isObj(raw.assets) || Object.keys(raw.assets).length === 0)
    throw new BadInputError('StacAssetMissing', `${where}: the Item has no assets`);
  if (!isObj(raw.properties)) throw new BadInputError('BadStacItem', `${where}: the Item has no "properties" object`);
  let item: Json;
  try {
    item = Migrate.item(structuredClone(raw)) as Json;
  } catch (err) {
    throw new BadInputError(
      'BadStacItem',
      `${where}: STAC ${String(raw.stac_version)} could not be migrated to 1.1: ${(err as Error).message}`,
      err,
    );
  }
  const props = item.properties as Json;
  const id = str(item.id);
  if (!id) throw new BadInputError('BadStacItem', `${where}: the Item has no "id"`);
  const dt = str(props.datetime) ?? str(props.start_datetime);
  if (!dt)
    throw new BadInputError(
      'BadStacItem',
      `${where}: properties.datetime is ${JSON.stringify(props.datetime ?? null)} and there is no start_datetime: the acquisition has no time`,
    );
  const t = Date.parse(dt);
  if (!Number.isFinite(t))
    throw new BadInputError(
      'BadStacItem',
      `${where}: properties.datetime ${JSON.stringify(dt.slice(0, 40))} is not an RFC 3339 time`,
    );
  let bbox: StacItemInfo['bbox'] = null;
  if (item.bbox !== undefined) {
    const b = item.bbox;
    if (
      !Array.isArray(b) ||
      !(b.length === 4 || b.length === 6) ||
      !b.every((v) => typeof v === 'number' && Number.isFinite(v))
    )
      throw new BadInputError('BadStacItem', `${where}: bbox ${JSON.stringify(b).slice(0, 80)} is not 4 or 6 numbers`);
    const n = b as number[];
    bbox = n.length === 4 ? [n[0], n[1], n[2], n[3]] : [n[0], n[1], n[3], n[4]];
  }
  const bands: StacBand[] = [];
  for (const [key, a] of Object.entries(item.assets as Json)) {
    if (!isObj(a)) throw new BadInputError('BadStacItem', `${where}: asset "${key}" is not an object`);
    const roles = Array.isArray(a.roles) ? a.roles.filter((r): r is string => typeof r === 'string') : [];
    if (roles.some((r) => ['thumbnail', 'overview', 'visual', 'metadata'].includes(r))) continue;
    const type = str(a.type);
    const href = str(a.href);
    if (type && !/^image\/tiff\b|^image\/vnd\.stac\.geotiff/i.test(type)) continue;
    if (!type && href && !/\.tiff?(\?|$)/i.test(href)) continue;
    const inner = Array.isArray(a.bands) ? a.bands.filter(isObj) : [];
    if (inner.length > 1) continue; // a multi-band asset (true-colour composite): its bands are read from their own assets
    const b0 = inner[0] ?? {};
    const name = str(b0.name) ?? key;
    // eo v2 (STAC 1.1) names it eo:common_name; an Item migrated without its eo extension listed keeps common_name.
    const given = str(a['eo:common_name']) ?? str(b0['eo:common_name']) ?? str(a.common_name) ?? str(b0.common_name);
    const commonName =
      given ??
      (COMMON.has(key.toLowerCase()) ? key.toLowerCase() : null) ??
      KEY_COMMON[key.toLowerCase()] ??
      S2_COMMON[name.toUpperCase()] ??
      S2_COMMON[key.toUpperCase()] ??
      null;
    if (!commonName) continue;
    if (!href) throw new BadInputError('BadStacItem', `${where}: band asset "${key}" has no href`);
    bands.push({ key, href, name, commonName });
  }
  if (bands.length > MAX_BANDS)
    throw new BadInputError(
      'BadBandCount',
      `${where}: ${bands.length} band assets (${bands.map((b) => b.key).join(', ')}), over the limit of ${MAX_BANDS}`,
    );
  if (bands.length === 0)
    throw new BadInputError(
      'StacAssetMissing',
      `${where}: no band asset (a GeoTIFF asset with eo:common_name, a Sentinel-2 band name or a common-name key) among ${Object.keys(item.assets as Json).join(', ')}`,
    );
  return {
    id,
    collection: str(item.collection),
    datetime: new Date(t).toISOString(),
    platform: str(props.platform) ?? str(props.constellation),
    place: placeOf(props),
    bbox,
    bands,
  };
}

/** The tile key of an Item: MGRS tile (s2:mgrs_tile or the mgrs extension), Landsat WRS-2 path/row, or grid:code. */
export function placeOf(props: Json): string | null {
  const mgrs =
    str(props['s2:mgrs_tile']) ??
    (props['mgrs:utm_zone'] !== undefined
      ? `${String(props['mgrs:utm_zone'])}${str(props['mgrs:latitude_band']) ?? ''}${str(props['mgrs:grid_square']) ?? ''}`
      : null);
  if (mgrs) return `MGRS:${mgrs.replace(/^T/i, '').toUpperCase()}`;
  const path_ = props['landsat:wrs_path'];
  const row = props['landsat:wrs_row'];
  if (path_ !== undefined && row !== undefined)
    return `WRS2:${String(path_).padStart(3, '0')}/${String(row).padStart(3, '0')}`;
  return str(props['grid:code']);
}

/**
 * Where an asset's href points, as a bucket object: relative to the Item's own object, gs://, or a
 * storage.googleapis.com URL. Anything else (another HTTP server, s3://) is StacAssetUnreadable: workers read
 * objects of the configured store only.
 */
export function resolveAssetHref(
  href: string,
  item: { bucket: string; name: string },
  key: string,
): { bucket: string; name: string } {
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(href);
  if (gs) return { bucket: gs[1], name: gs[2] };
  const https =
    /^https?:\/\/storage\.googleapis\.com\/([^/]+)\/([^?#]+)/.exec(href) ??
    /^https?:\/\/([^/.]+)\.storage\.googleapis\.com\/([^?#]+)/.exec(href);
  if (https) return { bucket: https[1], name: decodeURIComponent(https[2]) };
  if (/^[a-z][a-z0-9+.-]*:/i.test(href))
    throw new BadInputError(
      'StacAssetUnreadable',
      `asset "${key}": href ${href.slice(0, 120)} is not in a bucket Lookout reads (gs://, a storage.googleapis.com URL, or a path relative to the Item)`,
    );
  const rel = href.split(/[?#]/)[0];
  const joined = rel.startsWith('/')
    ? rel.slice(1)
    : path.posix.normalize(path.posix.join(path.posix.dirname(item.name), rel));
  if (joined.startsWith('../') || joined === '..')
    throw new BadInputError(
      'StacAssetUnreadable',
      `asset "${key}": relative href ${href.slice(0, 120)} climbs out of the bucket`,
    );
  return { bucket: item.bucket, name: joined };
}

const det = (t: Affine) => t[0] * t[4] - t[1] * t[3];

/** Map coordinates -> pixel-corner coordinates of a transform. */
function toPixel(t: Affine, x: number, y: number): [number, number] {
  const d = det(t);
  const dx = x - t[2];
  const dy = y - t[5];
  return [(t[4] * dx - t[1] * dy) / d, (-t[3] * dx + t[0] * dy) / d];
}

const pixelArea = (t: Affine) => Math.abs(det(t));

/**
 * Opens an Item's bands as one raster. `open` reads one band asset (range reads; its errors are classified
 * here: a BadInputError becomes StacAssetUnreadable / StacAssetMissing naming the asset, anything else — a
 * storage fault — passes through for the retry policy).
 */
export async function openStacRaster(
  item: StacItemInfo,
  open: (band: StacBand) => Promise<Raster>,
  where: string,
): Promise<StacRaster> {
  const opened = await Promise.allSettled(item.bands.map((b) => open(b)));
  const rasters: Raster[] = [];
  const closeAll = async () => {
    await Promise.all(opened.map((o) => (o.status === 'fulfilled' ? o.value.close().catch(() => {}) : undefined)));
  };
  for (const [i, o] of opened.entries()) {
    if (o.status === 'fulfilled') {
      rasters.push(o.value);
      continue;
    }
    await closeAll();
    const err = o.reason as unknown;
    const b = item.bands[i];
    if (err instanceof BadInputError) {
      const cls =
        err.errorClass === 'ObjectNotFound' || err.errorClass === 'StacAssetMissing'
          ? 'StacAssetMissing'
          : err.errorClass.startsWith('Stac')
            ? err.errorClass
            : 'StacAssetUnreadable';
      throw new BadInputError(cls as 'StacAssetMissing', `${where}: asset "${b.key}" (${b.href}): ${err.message}`, err);
    }
    throw err;
  }
  try {
    return combine(item, rasters, where);
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function combine(item: StacItemInfo, rasters: Raster[], where: string): StacRaster {
  const bands = item.bands;
  const mismatch = (i: number, why: string) =>
    new BadInputError('StacAssetMismatch', `${where}: asset "${bands[i].key}" ${why}`);
  // The finest band's grid (smallest pixel area); without georeference all bands must share one size.
  let ref = 0;
  for (let i = 1; i < rasters.length; i++) {
    const t = rasters[i].georef.transform;
    const tr = rasters[ref].georef.transform;
    if (t && tr && pixelArea(t) < pixelArea(tr) * (1 - 1e-9)) ref = i;
  }
  const R = rasters[ref];
  const T = R.georef.transform;
  const maps: Array<Affine | null> = [];
  for (const [i, r] of rasters.entries()) {
    const t = r.georef.transform;
    if (!T || !t) {
      if (T || t)
        throw mismatch(i, `is ${t ? '' : 'not '}georeferenced while asset "${bands[ref].key}" is${T ? '' : ' not'}`);
      if (r.width !== R.width || r.height !== R.height)
        throw mismatch(
          i,
          `is ${r.width} x ${r.height} without a georeference, asset "${bands[ref].key}" ${R.width} x ${R.height}: bands cannot be aligned`,
        );
      maps.push(null);
      continue;
    }
    if (r.georef.epsg !== R.georef.epsg || r.georef.proj4 !== R.georef.proj4) {
      throw mismatch(
        i,
        `is in ${r.georef.epsg ? `EPSG:${r.georef.epsg}` : (r.georef.crsName ?? 'an unnamed CRS')}, asset "${bands[ref].key}" in ${R.georef.epsg ? `EPSG:${R.georef.epsg}` : (R.georef.crsName ?? 'an unnamed CRS')}: the bands of one Item must share a CRS`,
      );
    }
    // Pixel-corner map from the grid to this band: (c, r) -> (m0·c + m1·r + m2, m3·c + m4·r + m5).
    const o = toPixel(t, T[2], T[5]);
    const cx = toPixel(t, T[2] + T[0], T[5] + T[3]);
    const cy = toPixel(t, T[2] + T[1], T[5] + T[4]);
    const m: Affine = [cx[0] - o[0], cy[0] - o[0], o[0], cx[1] - o[1], cy[1] - o[1], o[1]];
    // The band must cover the grid (to half of its own pixel): corners of the grid in the band's pixels.
    const corners = [
      [0, 0],
      [R.width, 0],
      [0, R.height],
      [R.width, R.height],
    ].map(([c, rr]) => [m[0] * c + m[1] * rr + m[2], m[3] * c + m[4] * rr + m[5]]);
    const xs = corners.map((p) => p[0]);
    const ys = corners.map((p) => p[1]);
    if (
      Math.min(...xs) < -0.5 ||
      Math.min(...ys) < -0.5 ||
      Math.max(...xs) > r.width + 0.5 ||
      Math.max(...ys) > r.height + 0.5
    ) {
      throw mismatch(
        i,
        `covers another footprint than asset "${bands[ref].key}": the grid's corners fall at band pixels (${Math.min(...xs).toFixed(1)}, ${Math.min(...ys).toFixed(1)})..(${Math.max(...xs).toFixed(1)}, ${Math.max(...ys).toFixed(1)}) of its ${r.width} x ${r.height}`,
      );
    }
    maps.push(m);
  }
  // The Item's bbox must meet the bands' footprint (a wrong href or a wrong bbox would pair the wrong places).
  if (item.bbox && R.georef.status === 'ok') {
    let fp: ReturnType<typeof footprintOf> | null = null;
    try {
      fp = footprintOf(R.georef, { x: 0, y: 0, width: R.width, height: R.height });
    } catch {
      fp = null;
    }
    if (fp) {
      const [w, s, e, n] = item.bbox;
      const tol = 0.01;
      if (fp.maxLon < w - tol || fp.minLon > e + tol || fp.maxLat < s - tol || fp.minLat > n + tol) {
        throw new BadInputError(
          'StacAssetMismatch',
          `${where}: the Item's bbox [${item.bbox.join(', ')}] does not meet the footprint of its bands [${[fp.minLon, fp.minLat, fp.maxLon, fp.maxLat].map((v) => v.toFixed(5)).join(', ')}] (asset "${bands[ref].key}")`,
        );
      }
    }
  }
  const dtypes = new Set(rasters.map((r) => r.dtype));
  const dtype: RasterDtype = dtypes.size === 1 ? R.dtype : 'float32';
  const identity = maps.map(
    (m, i) =>
      m === null ||
      (rasters[i].width === R.width &&
        rasters[i].height === R.height &&
        Math.abs(m[0] - 1) < 1e-9 &&
        Math.abs(m[4] - 1) < 1e-9 &&
        Math.abs(m[1]) < 1e-9 &&
        Math.abs(m[3]) < 1e-9 &&
        Math.abs(m[2]) < 1e-6 &&
        Math.abs(m[5]) < 1e-6),
  );

  const readBand = async (i: number, w: PixelWindow): Promise<BandArray> => {
    const r = rasters[i];
    const m = maps[i];
    let out: BandArray;
    if (identity[i] || !m) {
      out = (await r.readWindow(w, [0])).bands[0];
    } else {
      // The band's window under the grid window, then nearest neighbour at each grid pixel's centre.
      const cs = [
        [w.x, w.y],
        [w.x + w.width, w.y],
        [w.x, w.y + w.height],
        [w.x + w.width, w.y + w.height],
      ].map(([c, rr]) => [m[0] * c + m[1] * rr + m[2], m[3] * c + m[4] * rr + m[5]]);
      const x0 = Math.max(0, Math.min(r.width - 1, Math.floor(Math.min(...cs.map((p) => p[0])))));
      const y0 = Math.max(0, Math.min(r.height - 1, Math.floor(Math.min(...cs.map((p) => p[1])))));
      const x1 = Math.max(x0 + 1, Math.min(r.width, Math.ceil(Math.max(...cs.map((p) => p[0])))));
      const y1 = Math.max(y0 + 1, Math.min(r.height, Math.ceil(Math.max(...cs.map((p) => p[1])))));
      const src = await r.readWindow({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, [0]);
      const s = src.bands[0];
      const sw = x1 - x0;
      const sh = y1 - y0;
      out = new (s.constructor as new (n: number) => BandArray)(w.width * w.height);
      for (let rr = 0; rr < w.height; rr++) {
        const gy = w.y + rr + 0.5;
        for (let c = 0; c < w.width; c++) {
          const gx = w.x + c + 0.5;
          const bx = Math.min(sw - 1, Math.max(0, Math.floor(m[0] * gx + m[1] * gy + m[2]) - x0));
          const by = Math.min(sh - 1, Math.max(0, Math.floor(m[3] * gx + m[4] * gy + m[5]) - y0));
          out[rr * w.width + c] = s[by * sw + bx];
        }
      }
    }
    return dtype === r.dtype ? out : Float32Array.from(out as ArrayLike<number>);
  };

  const readWindow = async (w: PixelWindow, sel?: number[]): Promise<WindowData> => {
    const ok =
      [w.x, w.y, w.width, w.height].every((v) => Number.isInteger(v)) &&
      w.x >= 0 &&
      w.y >= 0 &&
      w.width > 0 &&
      w.height > 0 &&
      w.x + w.width <= R.width &&
      w.y + w.height <= R.height;
    if (!ok)
      throw new RangeError(
        `${where}: window ${w.x},${w.y} ${w.width}x${w.height} is not inside the ${R.width} x ${R.height} raster`,
      );
    const idx = sel && sel.length > 0 ? sel : bands.map((_, i) => i);
    for (const b of idx)
      if (!(Number.isInteger(b) && b >= 0 && b < bands.length))
        throw new RangeError(`${where}: band ${b} outside 0..${bands.length - 1}`);
    const arrays = await Promise.all(idx.map((b) => readBand(b, w)));
    return {
      window: { x: w.x, y: w.y, width: w.width, height: w.height },
      width: w.width,
      height: w.height,
      bands: arrays,
      bandIndices: idx,
      dtype,
      nodata: R.nodata,
    };
  };

  const stats: ReadStats = {
    get requests() {
      return rasters.reduce((s, r) => s + r.stats().requests, 0);
    },
    get bytesRead() {
      return rasters.reduce((s, r) => s + r.stats().bytesRead, 0);
    },
  };
  const raster = makeRaster(
    {
      format: 'geotiff',
      width: R.width,
      height: R.height,
      bandCount: bands.length,
      dtype,
      nodata: R.nodata,
      georef: R.georef,
      layout: R.layout,
    },
    readWindow,
    stats,
    async () => {
      await Promise.all(rasters.map((r) => r.close().catch(() => {})));
    },
  );
  // Role names: the common names the spectral indices know; Landsat's nir08 is its NIR when no `nir` band exists.
  const hasNir = bands.some((b) => b.commonName === 'nir');
  const roleNames = bands.map(
    (b) => ROLE_OF[b.commonName ?? ''] ?? (b.commonName === 'nir08' && !hasNir ? 'nir' : (b.commonName ?? b.name)),
  );
  return Object.assign(raster, {
    stac: { ...item, roleNames, sensorNames: bands.map((b) => b.name), gridBand: bands[ref].key },
  });
}
