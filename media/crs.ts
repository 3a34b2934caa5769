/**
 * Coordinate reference systems of rasters as proj4 definitions: any EPSG code, and user-defined projections
 * built from a GeoTIFF's GeoKeys.
 *
 * Registry: the npm package `epsg-index` (ISC; 8,112 EPSG CRSs, one JSON file per code with the proj4
 * string that PROJ itself exports for it, rebuilt from the current EPSG registry by its maintainer). Chosen
 * over `proj4js-definitions` (a 0.1.0 snapshot) and `geotiff-geokeys-to-proj4` (its README asks for a
 * maintainer, its EPSG data dates from 2024-04 and its 1.5 MB bundle loads whole at require time), and over a
 * PROJ binding (none ships for Node without a native build). One small JSON file is read per code, the first
 * time the code is asked for, and cached with its parsed converter: the raster pipeline pays one file read per
 * CRS per process, nothing per chip.
 *
 * User-defined projections (ProjectedCSTypeGeoKey 32767): the GeoTIFF 1.1 coordinate-transformation codes
 * (ProjCoordTransGeoKey: Transverse Mercator, LCC 1SP/2SP, Albers, polar/oblique stereographic, Hotine oblique
 * Mercator, Lambert azimuthal equal-area, Mercator, Cassini, equirectangular, …) are a small fixed table; each
 * is mapped here to its proj4 projection with the parameters read as GDAL reads them (gt_wkt_srs.cpp),
 * linear parameters in ProjLinearUnitsGeoKey, angles in GeogAngularUnitsGeoKey. The datum comes from
 * GeographicTypeGeoKey (an EPSG geographic CRS, looked up in the registry), else GeogGeodeticDatumGeoKey,
 * else the ellipsoid (GeogEllipsoidGeoKey or the semi-axis / inverse-flattening keys) with GeogTOWGS84GeoKey.
 *
 * Datum shifts to WGS 84: epsg-index copies each Helmert transformation's parameters as EPSG publishes them,
 * without turning coordinate-frame rotations into the position-vector convention of +towgs84, and picks other
 * transformations than PROJ (measured against pyproj: Amersfoort 250 m, BD72 90 m off). So the shift is taken
 * from media/datum-shifts.json, generated from PROJ by infra/tools/datum_shifts.py: for each registry CRS the
 * operation PROJ itself chooses to WGS 84 without grid files (as pyproj does offline), as +towgs84. proj4js
 * (`proj4`) does the transforms; it cannot apply grid files (NAD27's NADCON, OSGB36's OSTN15, …) and none ship
 * here, so where PROJ's best operation needs a grid, both use the best Helmert instead, and the row's
 * georef_note names it and its accuracy. A shift PROJ does in a way proj4js cannot express (a grid-only datum,
 * a time-dependent Helmert) gives no footprint and a note saying why (chips keep their pixel windows).
 */
import fs from 'node:fs';
import path from 'node:path';
import proj4 from 'proj4';

/** What a CRS resolves to: a proj4 definition, or the reason there is none. */
export interface CrsResolution {
  epsg?: number;
  /** proj4 definition (absent when the CRS cannot be expressed). */
  proj4?: string;
  name?: string;
  /** Why there is no definition. */
  reason?: string;
  /** A caveat that still allows a footprint (e.g. a datum shift done by a Helmert fallback instead of a grid). */
  note?: string;
}

interface EpsgEntry {
  code: string;
  kind: string;
  name: string;
  wkt?: string;
  proj4?: string | null;
}

let registryDir: string | null | undefined;
function epsgIndexDir(): string | null {
  if (registryDir === undefined) {
    try {
      registryDir = path.join(path.dirname(require.resolve('epsg-index/package.json')), 's');
    } catch {
      registryDir = null;
    }
  }
  return registryDir;
}

const entries = new Map<number, EpsgEntry | null>();
/** The registry's entry of an EPSG code (one file read the first time; cached, misses too). */
export function epsgEntry(code: number): EpsgEntry | null {
  if (!Number.isInteger(code) || code <= 0) return null;
  if (entries.has(code)) return entries.get(code) ?? null;
  const dir = epsgIndexDir();
  let e: EpsgEntry | null = null;
  if (dir) {
    try {
      e = JSON.parse(fs.readFileSync(path.join(dir, `${code}.json`), 'utf8')) as EpsgEntry;
    } catch {
      e = null;
    }
  }
  entries.set(code, e);
  return e;
}

/** [towgs84 ("" none, null inexpressible), PROJ's operation, accuracy in m (-1 unknown), 1 when PROJ's best needs a missing grid]. */
type Shift = [string | null, string, number, 0 | 1];
interface ShiftTable {
  proj: string;
  g: Record<string, Shift>;
  p: Record<string, Shift>;
}
let shiftTable: ShiftTable | null = null;
function shifts(): ShiftTable {
  // One 100 kB JSON parse the first time a CRS with a datum shift is resolved.
  if (!shiftTable)
    shiftTable = JSON.parse(fs.readFileSync(path.join(__dirname, 'datum-shifts.json'), 'utf8')) as ShiftTable;
  return shiftTable;
}

/** The geographic CRS code a projected CRS's WKT names (GEOGCS[..., AUTHORITY["EPSG","4171"]], PROJECTION...). */
function baseGeographic(wkt: string | undefined): string | undefined {
  return wkt ? /GEOGCS\[.*?AUTHORITY\["EPSG","(\d+)"\]\],\s*PROJECTION/.exec(wkt)?.[1] : undefined;
}

const DATUM_ELLIPSOIDS: Record<string, string> = { NAD27: 'clrk66', NAD83: 'GRS80' };

/**
 * The registry definition with PROJ's datum shift (media/datum-shifts.json) in place of the registry's, plus a
 * note when PROJ's best operation needs a grid; or why there is no usable shift.
 */
function withProjShift(code: number, def: string, wkt?: string): { proj4?: string; note?: string; reason?: string } {
  const hasShift = /\s\+(towgs84|nadgrids)=/.test(def) || /\s\+datum=(?!WGS84\b)/.test(def);
  if (!hasShift) return { proj4: def };
  const t = shifts();
  const base = baseGeographic(wkt);
  const sh = t.p[String(code)] ?? t.g[String(code)] ?? (base ? t.g[base] : undefined);
  if (!sh)
    return { reason: `no datum shift to WGS 84 is known for it (not in media/datum-shifts.json, PROJ ${t.proj})` };
  const [towgs84, op, accuracy, gridMissing] = sh;
  if (towgs84 === null && op.startsWith('PROJ:')) {
    // A code PROJ does not know (an ESRI code the registry copy files under EPSG, a deprecated one): the
    // registry's own shift, unless that needs a grid.
    if (/\s\+nadgrids=(?!@)/.test(def) || /\s\+datum=NAD27\b/.test(def))
      return {
        reason: `its datum shift to WGS 84 needs a grid file, which proj4js cannot apply, and PROJ does not know the code`,
      };
    return {
      proj4: def,
      note: 'datum shift to WGS 84 as the registry copy gives it (PROJ does not know this code, so it is not checked against PROJ)',
    };
  }
  if (towgs84 === null)
    return { reason: `PROJ's datum shift to WGS 84 (${op}) needs a grid or a method proj4js cannot apply` };
  let d = def;
  const datum = /\s\+datum=(\S+)/.exec(d);
  if (datum) {
    const ellps = DATUM_ELLIPSOIDS[datum[1]];
    if (!ellps) return { reason: `datum ${datum[1]} has no ellipsoid mapping here` };
    d = d.replace(datum[0], ` +ellps=${ellps}`);
  }
  d = d.replace(/\s\+(towgs84|nadgrids)=\S+/g, '');
  d = towgs84 ? d.replace(/\s\+units=|\s\+no_defs|$/, (m) => ` +towgs84=${towgs84}${m}`) : d;
  const acc = accuracy >= 0 ? `, accuracy about ${accuracy} m` : '';
  return {
    proj4: d,
    ...(gridMissing
      ? {
          note: `datum shift to WGS 84 by ${op}${acc}: PROJ's best transformation needs a grid file, which is not applied (as PROJ does without it)`,
        }
      : {}),
  };
}

const parsed = new Map<string, string | null>();
/** null when proj4js accepts the definition and round-trips a point; else why not. */
function proj4Refusal(def: string): string | null {
  if (parsed.has(def)) return parsed.get(def) ?? null;
  let why: string | null = null;
  try {
    proj4(def, 'EPSG:4326');
  } catch (err) {
    why = `proj4js cannot express it (${(err as Error).message ?? String(err)})`;
  }
  parsed.set(def, why);
  return why;
}

const resolved = new Map<number, CrsResolution>();
/** proj4 definition of any EPSG CRS the registry has (cached per code). */
export function resolveEpsg(code: number): CrsResolution {
  const hit = resolved.get(code);
  if (hit) return hit;
  const r = resolveEpsgUncached(code);
  resolved.set(code, r);
  return r;
}

function resolveEpsgUncached(code: number): CrsResolution {
  const e = epsgEntry(code);
  if (!e) return { epsg: code, reason: `EPSG:${code} is not in the EPSG registry (epsg-index)` };
  if (e.kind !== 'CRS-PROJCRS' && e.kind !== 'CRS-GEOGCRS' && e.kind !== 'CRS-GEOG3DCRS') {
    return {
      epsg: code,
      name: e.name,
      reason: `EPSG:${code} (${e.name}) is a ${e.kind.replace(/^CRS-/, '')}, not a projected or geographic CRS`,
    };
  }
  if (!e.proj4)
    return {
      epsg: code,
      name: e.name,
      reason: `EPSG:${code} (${e.name}) has no proj4 form (PROJ cannot export it to a proj4 string)`,
    };
  const def = e.proj4.replace(/\s*\+type=crs\b/, '').trim();
  const g = withProjShift(code, def, e.wkt);
  if (!g.proj4) return { epsg: code, name: e.name, reason: `EPSG:${code} (${e.name}): ${g.reason}` };
  const refusal = proj4Refusal(g.proj4);
  if (refusal) return { epsg: code, name: e.name, reason: `EPSG:${code} (${e.name}): ${refusal}` };
  return { epsg: code, name: e.name, proj4: g.proj4, ...(g.note ? { note: g.note } : {}) };
}

// ------------------------------------------------------------------------------------------------
// User-defined CRSs from GeoKeys

type Keys = Record<string, unknown>;
const num = (k: Keys, name: string): number | undefined =>
  typeof k[name] === 'number' && Number.isFinite(k[name]) ? (k[name] as number) : undefined;
const USER_DEFINED = 32767;

/** Linear units (EPSG unit codes GeoTIFF uses) in metres. */
const LINEAR_UNITS: Record<number, { metres: number; proj4: string }> = {
  9001: { metres: 1, proj4: '+units=m' },
  9002: { metres: 0.3048, proj4: '+units=ft' },
  9003: { metres: 1200 / 3937, proj4: '+units=us-ft' },
  9036: { metres: 1000, proj4: '+units=km' },
};

/** Angular units in degrees. */
const ANGULAR_UNITS: Record<number, number> = { 9101: 180 / Math.PI, 9102: 1, 9105: 0.9, 9122: 1 };

/** EPSG ellipsoid codes -> proj4 ellipsoid names (the ones GeoTIFFs carry in practice; others use the axis keys). */
const ELLIPSOIDS: Record<number, string> = {
  7001: 'airy',
  7002: 'mod_airy',
  7003: 'aust_SA',
  7004: 'bessel',
  7008: 'clrk66',
  7012: 'clrk80',
  7015: 'evrst30',
  7019: 'GRS80',
  7022: 'intl',
  7024: 'krass',
  7030: 'WGS84',
  7043: 'WGS72',
};

/** Linear unit of a projected CRS's GeoKeys: metres per unit and the proj4 units term. */
export function linearUnit(keys: Keys): { metres: number; proj4: string } | { reason: string } {
  const code = num(keys, 'ProjLinearUnitsGeoKey') ?? 9001;
  if (code === USER_DEFINED) {
    const size = num(keys, 'ProjLinearUnitSizeGeoKey');
    if (size === undefined || size <= 0) return { reason: 'user-defined linear unit without ProjLinearUnitSizeGeoKey' };
    return { metres: size, proj4: `+to_meter=${size}` };
  }
  return (
    LINEAR_UNITS[code] ?? {
      reason: `linear unit EPSG:${code} is not supported (metre, foot, US survey foot, kilometre are)`,
    }
  );
}

/** The datum / ellipsoid part of a proj4 definition from the geographic GeoKeys, or why there is none. */
export function datumFromGeoKeys(keys: Keys): { terms: string; name: string; note?: string } | { reason: string } {
  const towgs = keys.GeogTOWGS84GeoKey;
  const towgs84 =
    Array.isArray(towgs) || ArrayBuffer.isView(towgs) ? Array.from(towgs as ArrayLike<number>) : undefined;
  const geographic = num(keys, 'GeographicTypeGeoKey');
  const datumCode = num(keys, 'GeogGeodeticDatumGeoKey');
  const pm = num(keys, 'GeogPrimeMeridianGeoKey');
  if (pm !== undefined && pm !== 8901)
    return { reason: `prime meridian EPSG:${pm} other than Greenwich is not supported in user-defined CRSs` };
  // EPSG numbers a datum 6xxx and its geographic CRS 4xxx (6326 WGS 84 <-> 4326): GDAL relies on the same pairing.
  const geogCode =
    geographic !== undefined && geographic !== USER_DEFINED
      ? geographic
      : datumCode !== undefined && datumCode >= 6001 && datumCode <= 6999
        ? datumCode - 2000
        : undefined;
  if (geogCode !== undefined) {
    const r = resolveEpsg(geogCode);
    if (!r.proj4) return { reason: `geographic CRS of the GeoKeys: ${r.reason}` };
    const terms = r.proj4.split(/\s+/).filter((t) => /^\+(datum|ellps|a|b|rf|f|towgs84|nadgrids|pm)=/.test(t));
    if (towgs84 && !terms.some((t) => t.startsWith('+towgs84=') || t.startsWith('+datum=')))
      terms.push(`+towgs84=${towgs84.join(',')}`);
    return { terms: terms.join(' '), name: r.name ?? `EPSG:${geogCode}`, ...(r.note ? { note: r.note } : {}) };
  }
  const ellCode = num(keys, 'GeogEllipsoidGeoKey');
  let ell: string | undefined;
  if (ellCode !== undefined && ellCode !== USER_DEFINED) {
    if (!ELLIPSOIDS[ellCode])
      return {
        reason: `ellipsoid EPSG:${ellCode} is not in the table of ellipsoids (give GeogSemiMajorAxisGeoKey and GeogInvFlatteningGeoKey)`,
      };
    ell = `+ellps=${ELLIPSOIDS[ellCode]}`;
  } else {
    const a = num(keys, 'GeogSemiMajorAxisGeoKey');
    const b = num(keys, 'GeogSemiMinorAxisGeoKey');
    const rf = num(keys, 'GeogInvFlatteningGeoKey');
    if (a === undefined || a <= 0)
      return { reason: 'user-defined geographic CRS without a datum, an ellipsoid code or a semi-major axis' };
    ell =
      rf !== undefined && rf > 0
        ? `+a=${a} +rf=${rf}`
        : b !== undefined && b > 0
          ? `+a=${a} +b=${b}`
          : `+a=${a} +b=${a}`;
  }
  const shift = towgs84 ? ` +towgs84=${towgs84.join(',')}` : '';
  return {
    terms: `${ell}${shift}`,
    name: ell,
    ...(towgs84
      ? {}
      : {
          note: 'user-defined datum without GeogTOWGS84GeoKey: its latitudes and longitudes are taken as WGS 84 (no datum shift), as PROJ does',
        }),
  };
}

/** proj4 projection terms of a GeoTIFF coordinate transformation (ProjCoordTransGeoKey), or why there are none. */
function projectionTerms(keys: Keys, unitMetres: number, deg: number): string | { reason: string } {
  const ct = num(keys, 'ProjCoordTransGeoKey');
  if (ct === undefined) return { reason: 'user-defined projection without ProjCoordTransGeoKey' };
  const a = (name: string): number | undefined => {
    const v = num(keys, name);
    return v === undefined ? undefined : v * deg;
  };
  const l = (name: string): number | undefined => {
    const v = num(keys, name);
    return v === undefined ? undefined : v * unitMetres;
  };
  const first = <T>(...xs: Array<T | undefined>): T | undefined => xs.find((x) => x !== undefined);
  const lat0 = first(a('ProjNatOriginLatGeoKey'), a('ProjFalseOriginLatGeoKey'), a('ProjCenterLatGeoKey')) ?? 0;
  const lon0 = first(a('ProjNatOriginLongGeoKey'), a('ProjFalseOriginLongGeoKey'), a('ProjCenterLongGeoKey')) ?? 0;
  const fe = first(l('ProjFalseEastingGeoKey'), l('ProjFalseOriginEastingGeoKey'), l('ProjCenterEastingGeoKey')) ?? 0;
  const fn =
    first(l('ProjFalseNorthingGeoKey'), l('ProjFalseOriginNorthingGeoKey'), l('ProjCenterNorthingGeoKey')) ?? 0;
  const k0 = first(num(keys, 'ProjScaleAtNatOriginGeoKey'), num(keys, 'ProjScaleAtCenterGeoKey')) ?? 1;
  const sp1 = a('ProjStdParallel1GeoKey');
  const sp2 = a('ProjStdParallel2GeoKey');
  const xy = `+x_0=${fe} +y_0=${fn}`;
  const centerLat = first(a('ProjCenterLatGeoKey'), a('ProjNatOriginLatGeoKey')) ?? 0;
  const centerLon = first(a('ProjCenterLongGeoKey'), a('ProjNatOriginLongGeoKey')) ?? 0;
  switch (ct) {
    case 1: // TransverseMercator
      return `+proj=tmerc +lat_0=${lat0} +lon_0=${lon0} +k=${k0} ${xy}`;
    case 3: {
      // ObliqueMercator (Hotine, variant A: false easting/northing at the natural origin)
      const alpha = a('ProjAzimuthAngleGeoKey');
      if (alpha === undefined) return { reason: 'Hotine oblique Mercator without ProjAzimuthAngleGeoKey' };
      const gamma = a('ProjRectifiedGridAngleGeoKey') ?? alpha;
      const k = num(keys, 'ProjScaleAtCenterGeoKey') ?? k0;
      return `+proj=omerc +no_uoff +lat_0=${centerLat} +lonc=${centerLon} +alpha=${alpha} +gamma=${gamma} +k=${k} ${xy}`;
    }
    case 7: // Mercator (1SP with a scale, 2SP with a standard parallel)
      return sp1 !== undefined
        ? `+proj=merc +lat_ts=${sp1} +lon_0=${lon0} ${xy}`
        : `+proj=merc +lon_0=${lon0} +k=${k0} ${xy}`;
    case 8: {
      // LambertConfConic_2SP: the false origin
      const la = first(a('ProjFalseOriginLatGeoKey'), a('ProjNatOriginLatGeoKey')) ?? 0;
      const lo = first(a('ProjFalseOriginLongGeoKey'), a('ProjNatOriginLongGeoKey')) ?? 0;
      const e = first(l('ProjFalseOriginEastingGeoKey'), l('ProjFalseEastingGeoKey')) ?? 0;
      const n = first(l('ProjFalseOriginNorthingGeoKey'), l('ProjFalseNorthingGeoKey')) ?? 0;
      if (sp1 === undefined || sp2 === undefined) return { reason: 'LCC 2SP without both standard parallels' };
      return `+proj=lcc +lat_0=${la} +lon_0=${lo} +lat_1=${sp1} +lat_2=${sp2} +x_0=${e} +y_0=${n}`;
    }
    case 9: // LambertConfConic_1SP (Helmert): the natural origin is the standard parallel
      return `+proj=lcc +lat_1=${lat0} +lat_0=${lat0} +lon_0=${lon0} +k_0=${k0} ${xy}`;
    case 10: // LambertAzimEqualArea
      return `+proj=laea +lat_0=${centerLat} +lon_0=${centerLon} ${xy}`;
    case 11: {
      // AlbersEqualArea
      if (sp1 === undefined || sp2 === undefined) return { reason: 'Albers without both standard parallels' };
      return `+proj=aea +lat_0=${lat0} +lon_0=${lon0} +lat_1=${sp1} +lat_2=${sp2} ${xy}`;
    }
    case 12: // AzimuthalEquidistant
      return `+proj=aeqd +lat_0=${centerLat} +lon_0=${centerLon} ${xy}`;
    case 13: // EquidistantConic
      if (sp1 === undefined || sp2 === undefined)
        return { reason: 'equidistant conic without both standard parallels' };
      return `+proj=eqdc +lat_0=${centerLat} +lon_0=${centerLon} +lat_1=${sp1} +lat_2=${sp2} ${xy}`;
    case 14: // Stereographic
      return `+proj=stere +lat_0=${centerLat} +lon_0=${centerLon} +k=${k0} ${xy}`;
    case 15: {
      // PolarStereographic: ProjNatOriginLatGeoKey is the latitude of true scale (variant B), or the pole
      // itself with a scale factor (variant A); the pole's side follows its sign.
      const lat =
        num(keys, 'ProjNatOriginLatGeoKey') !== undefined
          ? (num(keys, 'ProjNatOriginLatGeoKey') as number) * deg
          : undefined;
      const lon = first(a('ProjStraightVertPoleLongGeoKey'), a('ProjNatOriginLongGeoKey')) ?? 0;
      if (lat === undefined || lat === 0)
        return { reason: 'polar stereographic without a latitude of origin / true scale' };
      const pole = lat > 0 ? 90 : -90;
      if (
        Math.abs(lat) === 90 ||
        (num(keys, 'ProjScaleAtNatOriginGeoKey') !== undefined && num(keys, 'ProjScaleAtNatOriginGeoKey') !== 1)
      ) {
        return `+proj=stere +lat_0=${pole} +lon_0=${lon} +k=${k0} ${xy}`;
      }
      return `+proj=stere +lat_0=${pole} +lat_ts=${lat} +lon_0=${lon} ${xy}`;
    }
    case 16: // ObliqueStereographic (double stereographic)
      return `+proj=sterea +lat_0=${lat0} +lon_0=${lon0} +k=${k0} ${xy}`;
    case 17: // Equirectangular
      return `+proj=eqc +lat_ts=${sp1 ?? a('ProjCenterLatGeoKey') ?? 0} +lat_0=${a('ProjNatOriginLatGeoKey') ?? 0} +lon_0=${centerLon} ${xy}`;
    case 18: // CassiniSoldner
      return `+proj=cass +lat_0=${lat0} +lon_0=${lon0} ${xy}`;
    case 19: // Gnomonic
      return `+proj=gnom +lat_0=${centerLat} +lon_0=${centerLon} ${xy}`;
    case 20: // MillerCylindrical
      return `+proj=mill +lon_0=${centerLon} ${xy}`;
    case 21: // Orthographic
      return `+proj=ortho +lat_0=${centerLat} +lon_0=${centerLon} ${xy}`;
    case 22: // Polyconic
      return `+proj=poly +lat_0=${lat0} +lon_0=${lon0} ${xy}`;
    case 23: // Robinson
      return `+proj=robin +lon_0=${centerLon} ${xy}`;
    case 24: // Sinusoidal
      return `+proj=sinu +lon_0=${centerLon} ${xy}`;
    case 25: // VanDerGrinten
      return `+proj=vandg +lon_0=${centerLon} ${xy}`;
    case 26: // NewZealandMapGrid
      return `+proj=nzmg +lat_0=${lat0} +lon_0=${lon0} ${xy}`;
    case 28: // CylindricalEqualArea (GDAL's code)
      return `+proj=cea +lat_ts=${sp1 ?? 0} +lon_0=${lon0} ${xy}`;
    default:
      return {
        reason: `coordinate transformation ProjCoordTransGeoKey ${ct} (${CT_NAMES[ct] ?? 'unknown'}) has no proj4 form here`,
      };
  }
}

const CT_NAMES: Record<number, string> = {
  2: 'Transverse Mercator (modified Alaska)',
  4: 'Laborde oblique Mercator',
  5: 'Rosenmund oblique Mercator',
  6: 'spherical oblique Mercator',
  27: 'south-oriented Transverse Mercator',
};

/**
 * proj4 definition of a user-defined projected CRS (ProjectedCSTypeGeoKey 32767) from its GeoKeys: the
 * coordinate transformation, its parameters, linear units and datum.
 */
export function userDefinedProjected(keys: Keys): CrsResolution {
  const unit = linearUnit(keys);
  if ('reason' in unit) return { reason: unit.reason };
  const angular = num(keys, 'GeogAngularUnitsGeoKey') ?? 9102;
  const deg = ANGULAR_UNITS[angular];
  if (deg === undefined) return { reason: `angular unit EPSG:${angular} is not supported (degree, radian, grad are)` };
  const proj = projectionTerms(keys, unit.metres, deg);
  if (typeof proj !== 'string') return { reason: proj.reason };
  const datum = datumFromGeoKeys(keys);
  if ('reason' in datum) return { reason: datum.reason };
  const def = `${proj} ${datum.terms} ${unit.proj4} +no_defs`;
  const refusal = proj4Refusal(def);
  if (refusal) return { reason: refusal };
  return { proj4: def, ...(datum.note ? { note: datum.note } : {}) };
}

/** A user-defined geographic CRS (GeographicTypeGeoKey 32767) from its datum / ellipsoid keys. */
export function userDefinedGeographic(keys: Keys): CrsResolution {
  const datum = datumFromGeoKeys(keys);
  if ('reason' in datum) return { reason: datum.reason };
  const def = `+proj=longlat ${datum.terms} +no_defs`;
  const refusal = proj4Refusal(def);
  if (refusal) return { reason: refusal };
  return { proj4: def, name: datum.name, ...(datum.note ? { note: datum.note } : {}) };
}

/**
 * An EPSG projected CRS whose GeoTIFF says its coordinates are in other linear units than the registry's
 * (ProjLinearUnitsGeoKey; ERDAS wrote State Plane in feet this way): the registry definition with the file's
 * unit, as GDAL reads it. x_0 / y_0 stay in metres (proj4 keeps false easting/northing in metres).
 */
export function withLinearUnit(def: string, keys: Keys): { proj4: string; changed: boolean } | { reason: string } {
  if (num(keys, 'ProjLinearUnitsGeoKey') === undefined) return { proj4: def, changed: false };
  const unit = linearUnit(keys);
  if ('reason' in unit) return { reason: unit.reason };
  const current = /\+units=(\S+)/.exec(def)?.[1] ?? (/\+to_meter=(\S+)/.exec(def) ? 'to_meter' : 'm');
  const wanted = unit.proj4.replace(/^\+units=/, '');
  if (current === wanted) return { proj4: def, changed: false };
  const stripped = def.replace(/\s*\+(units|to_meter)=\S+/g, '');
  return { proj4: `${stripped} ${unit.proj4}`.replace(/\s+\+no_defs/, '') + ' +no_defs', changed: true };
}
