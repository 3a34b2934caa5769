/**
 * Georeference of a raster and footprints of its chips in WGS 84.
 *
 * A raster's georeference is an affine map from pixel-corner coordinates (col, row; (0, 0) is the top-left
 * corner of the top-left pixel) to map coordinates in the raster's CRS, plus that CRS. Footprints are
 * reprojected with proj4 (proj4js, a kept library). The CRS's proj4 definition comes from media/crs.ts: any
 * EPSG code from the full registry (npm epsg-index, read lazily per code) and user-defined projections built
 * from the GeoKeys. The commonest codes (WGS 84, Web Mercator, UTM on WGS 84 / GRS80 datums) are answered
 * here without a registry read. A CRS that cannot be expressed gives status 'unsupported-crs': the raster is
 * still tiled, its rows keep their pixel windows and say why they have no footprint.
 */
import proj4 from 'proj4';
import { UnsupportedCrsError } from '../core/errors';
import { resolveEpsg, userDefinedGeographic, userDefinedProjected, withLinearUnit, type CrsResolution } from './crs';

/** x = a·col + b·row + c, y = d·col + e·row + f, with (col, row) at pixel corners. */
export type Affine = readonly [a: number, b: number, c: number, d: number, e: number, f: number];

export type GeorefStatus =
  /** Transform and CRS known: footprints in WGS 84. */
  | 'ok'
  /** No georeference at all (plain image without world file, TIFF without geo tags). */
  | 'missing'
  /** Georeference tags present but unusable (zero or non-finite scale, degenerate matrix, lon/lat out of range). */
  | 'invalid'
  /** Transform known, CRS absent: map coordinates exist but cannot be placed on the globe. */
  | 'no-crs'
  /** Transform known, CRS that cannot be expressed (unknown code, projection or datum shift proj4js lacks): see reason. */
  | 'unsupported-crs';

export interface Georeference {
  status: GeorefStatus;
  /** Pixel corner -> map coordinates; present unless status is 'missing' or 'invalid'. */
  transform?: Affine;
  /** EPSG code of the CRS, when the file names one (user-defined UTM is mapped to its EPSG code where possible). */
  epsg?: number;
  /** proj4 definition used for footprints (status 'ok' only). */
  proj4?: string;
  /** Human-readable CRS description (GeoTIFF citation, .prj name). */
  crsName?: string;
  /** Why the status is not 'ok'. */
  reason?: string;
  /** A caveat on an 'ok' footprint (e.g. a datum shift by a Helmert fallback instead of a grid). */
  note?: string;
  /** Where the georeference came from. */
  source: 'geotiff' | 'world-file' | 'none';
}

export interface Footprint {
  /** Closed ring of [lon, lat] in WGS 84, counter-clockwise, first point repeated last. */
  ring: Array<[number, number]>;
  /** WKT POLYGON of the ring (lon lat order), for BigQuery's ST_GEOGFROMTEXT. */
  wkt: string;
  minLon: number;
  minLat: number;
  maxLon: number;
  maxLat: number;
}

/** A footprint was asked of a raster without a usable georeference ('missing', 'invalid', 'no-crs'). */
export class NoFootprintError extends Error {
  constructor(
    readonly status: GeorefStatus,
    message: string,
  ) {
    super(message);
    this.name = 'NoFootprintError';
  }
}

export interface PixelWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

const TOWGS84_ZERO = '+towgs84=0,0,0,0,0,0,0';

function utm(zone: number, south: boolean, datum: 'WGS84' | 'GRS80'): string {
  const d = datum === 'WGS84' ? '+datum=WGS84' : `+ellps=GRS80 ${TOWGS84_ZERO}`;
  return `+proj=utm +zone=${zone}${south ? ' +south' : ''} ${d} +units=m +no_defs`;
}

/**
 * proj4 definition of an EPSG code from the built-in families, or null.
 * Exported so the list is testable and visible in one place.
 */
export function builtinCrs(epsg: number): { proj4: string; name: string } | null {
  if (epsg === 4326) return { proj4: '+proj=longlat +datum=WGS84 +no_defs', name: 'WGS 84' };
  if (epsg === 4269 || epsg === 4258 || epsg === 4674) {
    const name = epsg === 4269 ? 'NAD83' : epsg === 4258 ? 'ETRS89' : 'SIRGAS 2000';
    return { proj4: `+proj=longlat +ellps=GRS80 ${TOWGS84_ZERO} +no_defs`, name };
  }
  if (epsg === 3857 || epsg === 900913) {
    return {
      proj4:
        '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs',
      name: 'WGS 84 / Pseudo-Mercator',
    };
  }
  if (epsg >= 32601 && epsg <= 32660)
    return { proj4: utm(epsg - 32600, false, 'WGS84'), name: `WGS 84 / UTM zone ${epsg - 32600}N` };
  if (epsg >= 32701 && epsg <= 32760)
    return { proj4: utm(epsg - 32700, true, 'WGS84'), name: `WGS 84 / UTM zone ${epsg - 32700}S` };
  if (epsg >= 26901 && epsg <= 26923)
    return { proj4: utm(epsg - 26900, false, 'GRS80'), name: `NAD83 / UTM zone ${epsg - 26900}N` };
  if (epsg >= 25828 && epsg <= 25838)
    return { proj4: utm(epsg - 25800, false, 'GRS80'), name: `ETRS89 / UTM zone ${epsg - 25800}N` };
  if (epsg >= 31965 && epsg <= 31976)
    return { proj4: utm(epsg - 31965 + 11, false, 'GRS80'), name: `SIRGAS 2000 / UTM zone ${epsg - 31965 + 11}N` };
  if (epsg >= 31977 && epsg <= 31985)
    return { proj4: utm(epsg - 31977 + 17, true, 'GRS80'), name: `SIRGAS 2000 / UTM zone ${epsg - 31977 + 17}S` };
  return null;
}

/**
 * The CRS of an EPSG code: the built-in families without a registry read, else the EPSG registry
 * (media/crs.ts, cached per code).
 */
export function epsgCrs(epsg: number): CrsResolution {
  const c = builtinCrs(epsg);
  if (c) return { epsg, proj4: c.proj4, name: c.name };
  return resolveEpsg(epsg);
}

/** The proj4 definition of an EPSG code, or UnsupportedCrsError saying why there is none. */
export function crsDefinition(epsg: number): string {
  const c = epsgCrs(epsg);
  if (!c.proj4)
    throw new UnsupportedCrsError(
      `EPSG:${epsg}`,
      `${c.reason ?? `EPSG:${epsg} has no proj4 definition`}; chips keep pixel windows without footprints`,
    );
  return c.proj4;
}

// ------------------------------------------------------------------------------------------------
// GeoTIFF

/** The GeoTIFF tags that carry a georeference, as geotiff.js returns them. */
export interface GeoTiffGeoTags {
  ModelTiepoint?: ArrayLike<number>;
  ModelPixelScale?: ArrayLike<number>;
  ModelTransformation?: ArrayLike<number>;
  /** geotiff.js's parsed GeoKeyDirectory (key name -> value). */
  geoKeys?: Record<string, unknown> | null;
}

const USER_DEFINED = 32767;

/** A CRS lookup: proj4 set when supported; `named` false when the file names no CRS at all. */
export interface CrsLookup extends CrsResolution {
  named?: boolean;
}

function finite(...xs: number[]): boolean {
  return xs.every((x) => Number.isFinite(x));
}

/**
 * CRS from GeoKeys: an EPSG projected or geographic CRS from the registry (with the file's linear unit when it
 * overrides the registry's, as GDAL reads it), or a user-defined one built from the keys; {reason} when the keys
 * name no usable CRS.
 */
export function crsFromGeoKeys(keys: Record<string, unknown>): CrsLookup {
  const num = (k: string) => (typeof keys[k] === 'number' ? (keys[k] as number) : undefined);
  const str = (k: string) => (typeof keys[k] === 'string' ? (keys[k] as string) : undefined);
  const model = num('GTModelTypeGeoKey');
  const projected = num('ProjectedCSTypeGeoKey');
  const geographic = num('GeographicTypeGeoKey');
  const citation = str('GTCitationGeoKey') ?? str('GeogCitationGeoKey');
  const named = (c: CrsResolution, fallbackName?: string): CrsLookup => ({
    ...c,
    name: c.name ?? citation ?? fallbackName,
  });
  if (model === 1 || (model === undefined && projected !== undefined)) {
    if (projected !== undefined && projected !== USER_DEFINED) {
      const c = epsgCrs(projected);
      if (!c.proj4) return named(c);
      const u = withLinearUnit(c.proj4, keys);
      if ('reason' in u) return { epsg: projected, name: c.name, reason: `EPSG:${projected} with ${u.reason}` };
      if (!u.changed) return named(c);
      const unit = num('ProjLinearUnitsGeoKey');
      const note = `coordinates in linear unit EPSG:${unit} (ProjLinearUnitsGeoKey) instead of the registry's, read as GDAL does`;
      return { ...named(c), proj4: u.proj4, note: c.note ? `${c.note}; ${note}` : note };
    }
    // User-defined projected CRS. UTM by ProjectionGeoKey (16001-16060 north, 16101-16160 south) is common
    // enough (GDAL writes it for "unknown datum" UTM) to map to its parameters directly.
    const projection = num('ProjectionGeoKey');
    const zoneN =
      projection !== undefined && projection >= 16001 && projection <= 16060 ? projection - 16000 : undefined;
    const zoneS =
      projection !== undefined && projection >= 16101 && projection <= 16160 ? projection - 16100 : undefined;
    const zone = zoneN ?? zoneS;
    if (zone !== undefined && num('ProjCoordTransGeoKey') === undefined) {
      const ellipsoid = ellipsoidOf(keys);
      if (ellipsoid) {
        const epsg = ellipsoid === 'WGS84' ? (zoneN ? 32600 : 32700) + zone : undefined;
        return {
          epsg,
          proj4: utm(zone, zoneS !== undefined, ellipsoid),
          name: citation ?? `UTM zone ${zone}${zoneS ? 'S' : 'N'}`,
        };
      }
      const c = userDefinedProjected({
        ...keys,
        ProjCoordTransGeoKey: 1,
        ProjNatOriginLatGeoKey: 0,
        ProjNatOriginLongGeoKey: zone * 6 - 183,
        ProjScaleAtNatOriginGeoKey: 0.9996,
        ProjFalseEastingGeoKey: 500000 / linearMetres(keys),
        ProjFalseNorthingGeoKey: zoneS ? 10000000 / linearMetres(keys) : 0,
      });
      return named(c, `UTM zone ${zone}${zoneS ? 'S' : 'N'}`);
    }
    if (projection !== undefined && projection !== USER_DEFINED && num('ProjCoordTransGeoKey') === undefined) {
      return {
        name: citation,
        reason: `user-defined projected CRS${citation ? ` "${citation}"` : ''} names the EPSG conversion ${projection} (ProjectionGeoKey) without its parameters, which the registry used here does not hold`,
      };
    }
    const c = userDefinedProjected(keys);
    if (!c.proj4)
      return { name: citation, reason: `user-defined projected CRS${citation ? ` "${citation}"` : ''}: ${c.reason}` };
    return named(c, 'user-defined projected CRS');
  }
  if (model === 2 || (model === undefined && geographic !== undefined)) {
    const angular = num('GeogAngularUnitsGeoKey');
    if (angular !== undefined && angular !== 9102 && angular !== 9122)
      return {
        reason: `geographic CRS in angular units ${angular} (only degrees, 9102, are supported)`,
        name: citation,
      };
    if (geographic !== undefined && geographic !== USER_DEFINED) return named(epsgCrs(geographic));
    const ellipsoid = ellipsoidOf(keys);
    if (ellipsoid === 'WGS84' && keys.GeogTOWGS84GeoKey === undefined)
      return { epsg: 4326, proj4: crsDefinition(4326), name: citation ?? 'WGS 84' };
    const c = userDefinedGeographic(keys);
    if (!c.proj4) return { name: citation, reason: `user-defined geographic CRS: ${c.reason}` };
    return named(c);
  }
  if (model === 3) return { name: citation, reason: 'geocentric model type (GTModelTypeGeoKey 3) is not supported' };
  return { name: citation, reason: 'GeoKeys name no coordinate reference system', named: false };
}

function linearMetres(keys: Record<string, unknown>): number {
  const u = keys.ProjLinearUnitsGeoKey;
  return u === 9002
    ? 0.3048
    : u === 9003
      ? 1200 / 3937
      : u === USER_DEFINED && typeof keys.ProjLinearUnitSizeGeoKey === 'number'
        ? keys.ProjLinearUnitSizeGeoKey
        : 1;
}

function ellipsoidOf(keys: Record<string, unknown>): 'WGS84' | 'GRS80' | null {
  if (keys.GeogTOWGS84GeoKey !== undefined) return null;
  const geographic = keys.GeographicTypeGeoKey;
  if (geographic === 4326) return 'WGS84';
  if (geographic === 4269 || geographic === 4258 || geographic === 4674) return 'GRS80';
  if (geographic !== undefined && geographic !== USER_DEFINED) return null;
  const a = keys.GeogSemiMajorAxisGeoKey;
  const invf = keys.GeogInvFlatteningGeoKey;
  const ell = keys.GeogEllipsoidGeoKey;
  if (ell === 7030) return 'WGS84';
  if (ell === 7019) return 'GRS80';
  if (a === 6378137 && typeof invf === 'number') {
    if (Math.abs(invf - 298.257223563) < 1e-6) return 'WGS84';
    if (Math.abs(invf - 298.257222101) < 1e-6) return 'GRS80';
  }
  return null;
}

/**
 * Georeference from GeoTIFF tags. PixelIsPoint rasters (GTRasterTypeGeoKey 2) tie pixel centres, so the
 * transform is shifted by half a pixel to corners, as GDAL does.
 */
export function georefFromGeoTiff(tags: GeoTiffGeoTags): Georeference {
  const keys = tags.geoKeys ?? {};
  let t: Affine | undefined;
  const m = tags.ModelTransformation;
  const tie = tags.ModelTiepoint;
  const scale = tags.ModelPixelScale;
  if (m && m.length >= 16) {
    t = [m[0], m[1], m[3], m[4], m[5], m[7]];
  } else if (tie && tie.length >= 6 && scale && scale.length >= 2) {
    if (tie.length > 6)
      return {
        status: 'invalid',
        source: 'geotiff',
        reason: `${tie.length / 6} tie points without a pixel scale-compatible grid (GCP rasters are not supported)`,
      };
    const [i, j, , X, Y] = Array.from(tie);
    const [sx, sy] = [scale[0], scale[1]];
    if (!finite(i, j, X, Y, sx, sy) || sx === 0 || sy === 0)
      return {
        status: 'invalid',
        source: 'geotiff',
        reason: `unusable tie point / pixel scale (${Array.from(tie).join(',')} / ${Array.from(scale).join(',')})`,
      };
    t = [sx, 0, X - i * sx, 0, -sy, Y + j * sy];
  } else if (tie || scale || m) {
    return {
      status: 'invalid',
      source: 'geotiff',
      reason: 'incomplete georeference: a tie point without a pixel scale, or a short ModelTransformation',
    };
  } else {
    return {
      status: 'missing',
      source: 'geotiff',
      reason: 'no ModelTiepoint/ModelPixelScale or ModelTransformation tag',
    };
  }
  if (keys.GTRasterTypeGeoKey === 2) t = shift(t, -0.5, -0.5);
  return withCrs(t, crsFromGeoKeys(keys), 'geotiff');
}

/** The same map with pixel coordinates offset by (dx, dy): T'(c, r) = T(c + dx, r + dy). */
function shift(t: Affine, dx: number, dy: number): Affine {
  const [a, b, c, d, e, f] = t;
  return [a, b, c + a * dx + b * dy, d, e, f + d * dx + e * dy];
}

function withCrs(t: Affine, crs: CrsLookup, source: Georeference['source']): Georeference {
  const [a, b, , d, e] = t;
  if (!t.every((v) => Number.isFinite(v)) || Math.abs(a * e - b * d) < 1e-300) {
    return { status: 'invalid', source, reason: `degenerate pixel-to-map transform [${t.join(', ')}]` };
  }
  const base = { transform: t, epsg: crs.epsg, crsName: crs.name, source };
  if (crs.proj4) return { ...base, status: 'ok', proj4: crs.proj4, ...(crs.note ? { note: crs.note } : {}) };
  if (crs.named === false) return { ...base, status: 'no-crs', reason: crs.reason ?? 'no CRS' };
  return { ...base, status: 'unsupported-crs', reason: crs.reason };
}

// ------------------------------------------------------------------------------------------------
// World files (.jgw / .pgw / .tfw / .wld) and .prj

/** Sidecar names a plain image's world file may have, most specific first (e.g. scene.jpg -> scene.jgw, scene.jpgw, scene.wld). */
export function worldFileCandidates(objectName: string): string[] {
  const m = /^(.*)\.([^./]+)$/.exec(objectName);
  if (!m) return [`${objectName}.wld`];
  const [, stem, ext] = m;
  const short = ext.length >= 3 ? `${ext[0]}${ext[ext.length - 1]}w` : `${ext}w`;
  return [...new Set([`${stem}.${short}`, `${stem}.${ext}w`, `${stem}.wld`])];
}

/**
 * Parses a world file: six lines A, D, B, E, C, F where x = A·col + B·row + C maps pixel *centres*
 * (col, row integer indices); shifted here to corners. Throws on anything that is not six finite numbers.
 */
export function parseWorldFile(text: string): Affine {
  const nums = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (nums.length < 6) throw new Error(`a world file has 6 lines, this one ${nums.length}`);
  const v = nums.slice(0, 6).map(Number);
  if (!v.every((x) => Number.isFinite(x)))
    throw new Error(`world file lines are not numbers: ${nums.slice(0, 6).join(' | ')}`);
  const [A, D, B, E, C, F] = v;
  return shift([A, B, C, D, E, F], -0.5, -0.5);
}

/** EPSG code named by a .prj (OGC or ESRI WKT): the outermost AUTHORITY, else a recognised UTM / WGS 84 name. */
export function epsgFromPrj(wkt: string): number | undefined {
  const auth = [...wkt.matchAll(/AUTHORITY\s*\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]/gi)];
  if (auth.length > 0) return Number(auth[auth.length - 1][1]);
  const idm = [...wkt.matchAll(/ID\s*\[\s*"EPSG"\s*,\s*(\d+)\s*\]/gi)];
  if (idm.length > 0) return Number(idm[idm.length - 1][1]);
  const head = /^\s*(PROJCS|GEOGCS|PROJCRS|GEOGCRS)\s*\[\s*"([^"]+)"/i.exec(wkt);
  if (!head) return undefined;
  const name = head[2].replace(/_/g, ' ');
  const u = /WGS\s*(19)?84\s*\/?\s*UTM\s*zone\s*(\d{1,2})\s*([NS])/i.exec(name);
  if (u) return (u[3].toUpperCase() === 'N' ? 32600 : 32700) + Number(u[2]);
  if (/^(GCS\s*)?WGS\s*(19)?84$/i.test(name.trim())) return 4326;
  if (/Pseudo.?Mercator|Web.?Mercator/i.test(name)) return 3857;
  return undefined;
}

/**
 * A .prj without an EPSG code (ESRI writes State Plane as PROJCS["NAD_1983_StatePlane_…"] without AUTHORITY):
 * proj4js reads the WKT itself. Accepted when its datum shift is stated (TOWGS84) or needs none (a WGS 84 /
 * GRS80 ellipsoid: NAD83, ETRS89, GDA, … are WGS 84 within about a metre, as PROJ's null transformations say);
 * any other datum named without TOWGS84 has no known shift here, and gets a reason instead of a guess.
 */
export function crsFromPrjWkt(wkt: string): CrsLookup {
  const name = /^\s*(?:PROJCS|GEOGCS|PROJCRS|GEOGCRS)\s*\[\s*"([^"]+)"/i.exec(wkt)?.[1] ?? wkt.slice(0, 80);
  let p: { a?: number; es?: number; datum?: { datum_type?: number; datum_params?: number[] } };
  try {
    p = proj4.Proj(wkt) as unknown as typeof p;
    proj4(wkt, 'EPSG:4326').forward([0, 0]);
  } catch (err) {
    return {
      name,
      reason: `the .prj names no EPSG code and proj4js cannot read its WKT (${(err as Error).message ?? String(err)})`,
    };
  }
  const explicitShift = /TOWGS84\s*\[/i.test(wkt);
  const wgs84Like =
    p.a !== undefined && Math.abs(p.a - 6378137) < 1e-3 && p.es !== undefined && Math.abs(p.es - 0.00669438) < 1e-8;
  const noShift = !p.datum?.datum_params || p.datum.datum_params.every((v, i) => (i === 6 ? v === 1 : v === 0));
  if (explicitShift || (wgs84Like && noShift)) {
    return {
      proj4: wkt,
      name,
      note: `CRS read from the .prj's WKT (no EPSG code)${explicitShift ? ' with its TOWGS84 datum shift' : ', on a WGS 84 / GRS80 ellipsoid without a datum shift'}`,
    };
  }
  const datum = /DATUM\s*\[\s*"([^"]+)"/i.exec(wkt)?.[1] ?? 'its datum';
  return {
    name,
    reason: `the .prj names no EPSG code, and ${datum} without TOWGS84 has no known shift to WGS 84 (give the code in metadata lookout-epsg)`,
  };
}

/** Georeference of a plain image from its world file text and, optionally, a .prj text or an EPSG code given by the caller. */
export function georefFromWorldFile(worldFile: string, opts: { prj?: string; epsg?: number } = {}): Georeference {
  let t: Affine;
  try {
    t = parseWorldFile(worldFile);
  } catch (err) {
    return { status: 'invalid', source: 'world-file', reason: (err as Error).message };
  }
  const epsg = opts.epsg ?? (opts.prj !== undefined ? epsgFromPrj(opts.prj) : undefined);
  if (epsg === undefined) {
    if (opts.prj !== undefined) return withCrs(t, crsFromPrjWkt(opts.prj), 'world-file');
    return withCrs(t, { reason: 'world file without a .prj or a CRS given by the caller', named: false }, 'world-file');
  }
  return withCrs(t, epsgCrs(epsg), 'world-file');
}

// ------------------------------------------------------------------------------------------------
// Footprints

export function pixelToMap(t: Affine, col: number, row: number): [number, number] {
  return [t[0] * col + t[1] * row + t[2], t[3] * col + t[4] * row + t[5]];
}

// One converter per proj4 definition: building one parses the definition.
const converters = new Map<string, proj4.Converter>();
function toWgs84(def: string): proj4.Converter {
  let c = converters.get(def);
  if (!c) {
    c = proj4(def, 'EPSG:4326');
    converters.set(def, c);
  }
  return c;
}

export interface FootprintOptions {
  /**
   * Densify each edge with a vertex every this many pixels, so a large chip's reprojected outline follows
   * the curvature of the projection (default 256: a 128-pixel chip has corners only).
   */
  densifyEveryPx?: number;
}

/**
 * Footprint in WGS 84 of a pixel window of a raster whose georeference status is 'ok'. Throws
 * UnsupportedCrsError for 'unsupported-crs', NoFootprintError for the other statuses (callers record the
 * reason and keep the pixel window), and NoFootprintError('invalid') when the reprojection leaves the globe
 * (a wrong CRS or transform).
 */
export function footprint(geo: Georeference, w: PixelWindow, opts: FootprintOptions = {}): Footprint {
  if (geo.status === 'unsupported-crs') {
    throw new UnsupportedCrsError(
      geo.epsg !== undefined ? `EPSG:${geo.epsg}` : (geo.crsName ?? 'unknown'),
      `no footprint: ${geo.reason ?? 'CRS without a proj4 definition'}`,
    );
  }
  if (geo.status !== 'ok' || !geo.transform || !geo.proj4)
    throw new NoFootprintError(
      geo.status,
      `no footprint: georeference is ${geo.status}${geo.reason ? ` (${geo.reason})` : ''}`,
    );
  const step = Math.max(1, opts.densifyEveryPx ?? 256);
  const nx = Math.max(1, Math.ceil(w.width / step));
  const ny = Math.max(1, Math.ceil(w.height / step));
  // Pixel-space ring: top edge left->right, right edge down, bottom edge right->left, left edge up. With
  // rows growing southwards this is clockwise on the map when the raster is north-up; reversed below.
  const px: Array<[number, number]> = [];
  for (let i = 0; i < nx; i++) px.push([w.x + (w.width * i) / nx, w.y]);
  for (let i = 0; i < ny; i++) px.push([w.x + w.width, w.y + (w.height * i) / ny]);
  for (let i = 0; i < nx; i++) px.push([w.x + w.width - (w.width * i) / nx, w.y + w.height]);
  for (let i = 0; i < ny; i++) px.push([w.x, w.y + w.height - (w.height * i) / ny]);
  const conv = toWgs84(geo.proj4);
  const ring: Array<[number, number]> = px.map(([c, r]) => {
    const [x, y] = pixelToMap(geo.transform as Affine, c, r);
    // proj4 wraps some out-of-domain inputs silently (a UTM northing of 10^8 m comes back as a latitude
    // near 0): a point counts only if it maps back to where it came from.
    let lon = NaN;
    let lat = NaN;
    let back: number[] = [NaN, NaN];
    try {
      [lon, lat] = conv.forward([x, y]);
      back = conv.inverse([lon, lat]);
    } catch {
      // non-finite output: reported below
    }
    const tol = 1e-6 * Math.max(1, Math.abs(x), Math.abs(y));
    if (
      !Number.isFinite(lon) ||
      !Number.isFinite(lat) ||
      Math.abs(lat) > 90 + 1e-9 ||
      !(Math.abs(back[0] - x) <= tol && Math.abs(back[1] - y) <= tol)
    ) {
      throw new NoFootprintError(
        'invalid',
        `pixel (${c}, ${r}) -> map (${x}, ${y}) in ${geo.crsName ?? `EPSG:${geo.epsg}`} is not a place on the globe: wrong CRS or transform`,
      );
    }
    return [normaliseLon(lon), lat];
  });
  if (signedArea(ring) < 0) ring.reverse();
  ring.push([ring[0][0], ring[0][1]]);
  let minLon = Infinity;
  let minLat = Infinity;
  let maxLon = -Infinity;
  let maxLat = -Infinity;
  for (const [lon, lat] of ring) {
    minLon = Math.min(minLon, lon);
    maxLon = Math.max(maxLon, lon);
    minLat = Math.min(minLat, lat);
    maxLat = Math.max(maxLat, lat);
  }
  const wkt = `POLYGON((${ring.map(([lon, lat]) => `${fmt(lon)} ${fmt(lat)}`).join(', ')}))`;
  return { ring, wkt, minLon, minLat, maxLon, maxLat };
}

function normaliseLon(lon: number): number {
  let l = lon;
  while (l > 180) l -= 360;
  while (l < -180) l += 360;
  return l;
}

/** Shoelace area in degrees² (sign gives orientation: positive = counter-clockwise). */
function signedArea(ring: Array<[number, number]>): number {
  let s = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x1, y1] = ring[i];
    const [x2, y2] = ring[(i + 1) % ring.length];
    s += x1 * y2 - x2 * y1;
  }
  return s / 2;
}

/** 9 decimals of a degree is ~0.1 mm: more digits only bloat the rows. */
function fmt(v: number): string {
  return String(Math.round(v * 1e9) / 1e9);
}

/** Ground size of a pixel in map units (for a summary row): lengths of the transform's column and row vectors. */
export function pixelSize(t: Affine): { x: number; y: number } {
  return { x: Math.hypot(t[0], t[3]), y: Math.hypot(t[1], t[4]) };
}
