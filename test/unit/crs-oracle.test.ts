/**
 * Chip footprints against PROJ: for each CRS, a raster is georeferenced (GeoKeys with an EPSG code, or a
 * user-defined projection given only as GeoKeys), three of its chips (first, middle, clipped last) get
 * footprints from media/georef.ts (proj4js with definitions from media/crs.ts), and every chip corner's map
 * coordinates go to PROJ (pyproj, test/python/crs_oracle.py in the analyst venv infra/install.sh builds) for
 * the oracle WGS 84 position. PROJ picks its own operation (datum shift included: the best one whose grid is
 * available, as pyproj does without network grids); corners must agree within 1e-7 degrees. The user-defined
 * CRSs are stated to PROJ as PROJ strings written here from the projection's definition, independently of the
 * GeoKeys mapping under test.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import proj4 from 'proj4';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  footprint,
  georefFromGeoTiff,
  georefFromWorldFile,
  pixelToMap,
  type Georeference,
  type PixelWindow,
} from '../../media/georef';

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(ROOT, '.lookout', 'analyst-venv', 'bin', 'python');
const ORACLE = path.join(ROOT, 'test', 'python', 'crs_oracle.py');
const TOL_DEG = 1e-7;

type OracleCrs = number | string | { epsg: number; linear_unit: string };
interface Case {
  id: string;
  family: string;
  /** GeoKeys as geotiff.js parses them. */
  keys: Record<string, unknown>;
  /** The same CRS as PROJ is told it. */
  oracle: OracleCrs;
  /** Raster centre (lon, lat) and pixel size in CRS units. */
  centre: [number, number];
  px: number;
  /** An operation PROJ must have chosen (where our definition names the datum shift it uses). */
  operation?: RegExp;
}

const epsg = (
  id: string,
  family: string,
  code: number,
  centre: [number, number],
  px = 30,
  operation?: RegExp,
): Case => ({
  id,
  family,
  keys: {
    GTModelTypeGeoKey: code === 4326 ? 2 : 1,
    GTRasterTypeGeoKey: 1,
    ...(code === 4326 ? { GeographicTypeGeoKey: code } : { ProjectedCSTypeGeoKey: code }),
  },
  oracle: code,
  centre,
  px,
  operation,
});
const USFT = 1200 / 3937;
const userDefined = (
  id: string,
  family: string,
  keys: Record<string, unknown>,
  oracle: string,
  centre: [number, number],
  px = 30,
): Case => ({
  id,
  family,
  keys: {
    GTModelTypeGeoKey: 1,
    GTRasterTypeGeoKey: 1,
    ProjectedCSTypeGeoKey: 32767,
    ProjectionGeoKey: 32767,
    GeogAngularUnitsGeoKey: 9102,
    ...keys,
  },
  oracle,
  centre,
  px,
});

const CASES: Case[] = [
  // State Plane (NAD83): Lambert conformal conic and transverse Mercator zones, metres and US survey feet.
  epsg('2229 NAD83 / California zone 5 (ftUS)', 'lcc', 2229, [-118.2, 34.05], 100),
  epsg('2263 NAD83 / New York Long Island (ftUS)', 'lcc', 2263, [-73.9, 40.7], 100),
  epsg('26985 NAD83 / Maryland', 'lcc', 26985, [-76.6, 39.3]),
  epsg('3082 NAD83 / Texas Centric Lambert Conformal', 'lcc', 3082, [-99, 31], 250),
  epsg('2236 NAD83 / Florida East (ftUS)', 'tmerc', 2236, [-81.4, 28.5], 100),
  epsg('26966 NAD83 / Georgia East', 'tmerc', 26966, [-82.2, 32.5]),
  epsg('3435 NAD83 / Illinois East (ftUS)', 'tmerc', 3435, [-88, 41.8], 100),
  // NAD27 State Plane: PROJ without the NADCON grid falls back to NAD27 to WGS 84 (4); so does crs.ts.
  epsg('26771 NAD27 / Illinois East (ftUS)', 'tmerc', 26771, [-88, 41.8], 100, /NAD27 to WGS 84 \(4\)/),
  // National grids.
  epsg('27700 OSGB36 / British National Grid', 'tmerc', 27700, [-1.5, 52.5], 30, /OSGB36 to WGS 84 \(6\)/),
  epsg('2154 RGF93 v1 / Lambert-93', 'lcc', 2154, [2.35, 48.85]),
  epsg('2193 NZGD2000 / New Zealand Transverse Mercator 2000', 'tmerc', 2193, [174.8, -41.3]),
  epsg('2180 ETRS89 / Poland CS92', 'tmerc', 2180, [19, 52]),
  epsg('28992 Amersfoort / RD New', 'sterea', 28992, [5.4, 52.1]),
  epsg('2056 CH1903+ / LV95', 'somerc', 2056, [7.45, 46.95]),
  epsg('31370 BD72 / Belgian Lambert 72', 'lcc', 31370, [4.4, 50.8]),
  // PROJ shifts LUREF by a Molodensky-Badekas transformation: media/datum-shifts.json holds its exact Helmert equivalent.
  epsg('2169 LUREF / Luxembourg TM', 'tmerc', 2169, [6.1, 49.6], 30, /LUREF to WGS 84 \(4\)/),
  epsg('2100 GGRS87 / Greek Grid', 'tmerc', 2100, [23.7, 38]),
  // Equal-area, polar and oblique projections.
  epsg('5070 NAD83 / Conus Albers', 'aea', 5070, [-96, 38], 250),
  epsg('3577 GDA94 / Australian Albers', 'aea', 3577, [134, -25], 250),
  epsg('3035 ETRS89-extended / LAEA Europe', 'laea', 3035, [10, 52], 100),
  epsg('6931 WGS 84 / NSIDC EASE-Grid 2.0 North', 'laea', 6931, [0, 70], 1000),
  epsg('3031 WGS 84 / Antarctic Polar Stereographic', 'stere', 3031, [45, -75], 250),
  epsg('3413 WGS 84 / NSIDC Sea Ice Polar Stereographic North', 'stere', 3413, [-45, 75], 250),
  epsg('3995 WGS 84 / Arctic Polar Stereographic', 'stere', 3995, [20, 80], 250),
  epsg('26931 NAD83 / Alaska zone 1', 'omerc', 26931, [-133.6, 57]),
  epsg('6933 WGS 84 / NSIDC EASE-Grid 2.0 Global', 'cea', 6933, [30, 30], 1000),
  epsg('8857 WGS 84 / Equal Earth Greenwich', 'eqearth', 8857, [20, 20], 1000),
  epsg('3395 WGS 84 / World Mercator', 'merc', 3395, [30, 10]),
  epsg('3857 WGS 84 / Pseudo-Mercator', 'merc', 3857, [-0.1, 51.5]),
  // UTM-based.
  epsg('7855 GDA2020 / MGA zone 55', 'utm', 7855, [145, -37.8]),
  epsg('32633 WGS 84 / UTM zone 33N', 'utm', 32633, [15, 48]),
  epsg('4326 WGS 84', 'longlat', 4326, [10, 45], 0.0003),

  // User-defined projections without an EPSG code, given only as GeoKeys.
  userDefined(
    'user-defined LCC 2SP on NAD83, US survey feet',
    'lcc',
    {
      GeographicTypeGeoKey: 4269,
      ProjCoordTransGeoKey: 8,
      ProjLinearUnitsGeoKey: 9003,
      ProjStdParallel1GeoKey: 33,
      ProjStdParallel2GeoKey: 45,
      ProjFalseOriginLatGeoKey: 39,
      ProjFalseOriginLongGeoKey: -96,
      ProjFalseOriginEastingGeoKey: 1_000_000 / USFT,
      ProjFalseOriginNorthingGeoKey: 0,
    },
    '+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +x_0=1000000 +y_0=0 +datum=NAD83 +units=us-ft +no_defs +type=crs',
    [-90, 41],
    100,
  ),
  userDefined(
    'user-defined LCC 1SP on a WGS 84 ellipsoid given by its axes',
    'lcc',
    {
      GeographicTypeGeoKey: 32767,
      GeogGeodeticDatumGeoKey: 32767,
      GeogEllipsoidGeoKey: 32767,
      GeogSemiMajorAxisGeoKey: 6378137,
      GeogInvFlatteningGeoKey: 298.257223563,
      GeogTOWGS84GeoKey: [0, 0, 0],
      ProjCoordTransGeoKey: 9,
      ProjLinearUnitsGeoKey: 9001,
      ProjNatOriginLatGeoKey: 26,
      ProjNatOriginLongGeoKey: 90,
      ProjScaleAtNatOriginGeoKey: 0.99878641,
      ProjFalseEastingGeoKey: 2743185.69,
      ProjFalseNorthingGeoKey: 914395.23,
    },
    '+proj=lcc +lat_1=26 +lat_0=26 +lon_0=90 +k_0=0.99878641 +x_0=2743185.69 +y_0=914395.23 +datum=WGS84 +units=m +no_defs +type=crs',
    [88, 24],
  ),
  userDefined(
    'user-defined Albers (NLCD, as r-cran-stars lc.tif carries it)',
    'aea',
    {
      GeographicTypeGeoKey: 4269,
      GeogSemiMajorAxisGeoKey: 6378137,
      GeogInvFlatteningGeoKey: 298.257222101,
      ProjCoordTransGeoKey: 11,
      ProjLinearUnitsGeoKey: 9001,
      ProjStdParallel1GeoKey: 29.5,
      ProjStdParallel2GeoKey: 45.5,
      ProjNatOriginLongGeoKey: -96,
      ProjNatOriginLatGeoKey: 23,
      ProjFalseEastingGeoKey: 0,
      ProjFalseNorthingGeoKey: 0,
    },
    '+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 +datum=NAD83 +units=m +no_defs +type=crs',
    [-72, 42],
  ),
  userDefined(
    'user-defined transverse Mercator on GRS80 with GeogTOWGS84GeoKey',
    'tmerc',
    {
      GeographicTypeGeoKey: 32767,
      GeogEllipsoidGeoKey: 7019,
      GeogTOWGS84GeoKey: [0, 0, 0, 0, 0, 0, 0],
      ProjCoordTransGeoKey: 1,
      ProjLinearUnitsGeoKey: 9001,
      ProjNatOriginLatGeoKey: 0,
      ProjNatOriginLongGeoKey: 12,
      ProjScaleAtNatOriginGeoKey: 0.9996,
      ProjFalseEastingGeoKey: 500000,
      ProjFalseNorthingGeoKey: 0,
    },
    '+proj=tmerc +lat_0=0 +lon_0=12 +k=0.9996 +x_0=500000 +y_0=0 +ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs +type=crs',
    [13, 55],
  ),
  userDefined(
    'user-defined polar stereographic (variant B, south) on WGS 84',
    'stere',
    {
      GeographicTypeGeoKey: 4326,
      ProjCoordTransGeoKey: 15,
      ProjLinearUnitsGeoKey: 9001,
      ProjNatOriginLatGeoKey: -71,
      ProjStraightVertPoleLongGeoKey: 0,
      ProjFalseEastingGeoKey: 0,
      ProjFalseNorthingGeoKey: 0,
    },
    '+proj=stere +lat_0=-90 +lat_ts=-71 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs +type=crs',
    [-60, -78],
    250,
  ),
  userDefined(
    'user-defined oblique stereographic (terra meuse.tif keys)',
    'sterea',
    {
      GeographicTypeGeoKey: 4326,
      GeogSemiMajorAxisGeoKey: 6378137,
      GeogInvFlatteningGeoKey: 298.257223563,
      ProjCoordTransGeoKey: 16,
      ProjLinearUnitsGeoKey: 9001,
      ProjNatOriginLongGeoKey: 5.38763888888889,
      ProjNatOriginLatGeoKey: 52.1561605555556,
      ProjFalseEastingGeoKey: 155000,
      ProjFalseNorthingGeoKey: 463000,
      ProjScaleAtNatOriginGeoKey: 0.9999079,
    },
    '+proj=sterea +lat_0=52.1561605555556 +lon_0=5.38763888888889 +k=0.9999079 +x_0=155000 +y_0=463000 +datum=WGS84 +units=m +no_defs +type=crs',
    [5.75, 50.97],
    10,
  ),
  userDefined(
    'user-defined Lambert azimuthal equal-area on WGS 84',
    'laea',
    {
      GeographicTypeGeoKey: 4326,
      ProjCoordTransGeoKey: 10,
      ProjLinearUnitsGeoKey: 9001,
      ProjCenterLatGeoKey: 45,
      ProjCenterLongGeoKey: -100,
      ProjFalseEastingGeoKey: 0,
      ProjFalseNorthingGeoKey: 0,
    },
    '+proj=laea +lat_0=45 +lon_0=-100 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs +type=crs',
    [-95, 40],
    100,
  ),
  userDefined(
    'user-defined Hotine oblique Mercator (variant A) on NAD83',
    'omerc',
    {
      GeographicTypeGeoKey: 4269,
      ProjCoordTransGeoKey: 3,
      ProjLinearUnitsGeoKey: 9001,
      ProjCenterLatGeoKey: 57,
      ProjCenterLongGeoKey: -133.666666666667,
      ProjAzimuthAngleGeoKey: 323.130102361111,
      ProjRectifiedGridAngleGeoKey: 323.130102361111,
      ProjScaleAtCenterGeoKey: 0.9999,
      ProjFalseEastingGeoKey: 5000000,
      ProjFalseNorthingGeoKey: -5000000,
    },
    '+proj=omerc +no_uoff +lat_0=57 +lonc=-133.666666666667 +alpha=323.130102361111 +gamma=323.130102361111 +k=0.9999 +x_0=5000000 +y_0=-5000000 +datum=NAD83 +units=m +no_defs +type=crs',
    [-134.5, 57.5],
  ),
];

const W = 1000;
const H = 900;
const CHIP = 128;
/** First chip, a middle one and the clipped last one (bottom-right). */
const CHIPS: PixelWindow[] = [
  { x: 0, y: 0, width: CHIP, height: CHIP },
  { x: 4 * CHIP, y: 3 * CHIP, width: CHIP, height: CHIP },
  { x: 7 * CHIP, y: 7 * CHIP, width: W - 7 * CHIP, height: H - 7 * CHIP },
];

interface Prepared {
  c: Case;
  geo: Georeference;
  /** Map coordinates of each chip corner and the footprint's vertices. */
  corners: Array<[number, number]>;
  ring: Array<[number, number]>;
}

function prepare(c: Case): Prepared {
  // Place the raster: its centre's map coordinates from the definition under test (placement only; what is
  // compared is pixel corner -> WGS 84, for the same map coordinates on both sides).
  const probe = georefFromGeoTiff({ ModelTiepoint: [0, 0, 0, 0, 0, 0], ModelPixelScale: [1, 1, 0], geoKeys: c.keys });
  if (!probe.proj4) throw new Error(`${c.id}: no definition (${probe.status}: ${probe.reason})`);
  const [cx, cy] = proj4('EPSG:4326', probe.proj4).forward(c.centre);
  const x0 = cx - (W / 2) * c.px;
  const y0 = cy + (H / 2) * c.px;
  const geo = georefFromGeoTiff({
    ModelTiepoint: [0, 0, 0, x0, y0, 0],
    ModelPixelScale: [c.px, c.px, 0],
    geoKeys: c.keys,
  });
  const corners: Array<[number, number]> = [];
  const ring: Array<[number, number]> = [];
  for (const w of CHIPS) {
    for (const [col, row] of [
      [w.x, w.y],
      [w.x + w.width, w.y],
      [w.x + w.width, w.y + w.height],
      [w.x, w.y + w.height],
    ])
      corners.push(pixelToMap(geo.transform!, col, row));
    // densify past the chip size: the ring is the chip's 4 corners
    const fp = footprint(geo, w, { densifyEveryPx: 4096 });
    ring.push(...fp.ring.slice(0, 4));
  }
  return { c, geo, corners, ring };
}

const prepared = CASES.map(prepare);
let oracle: {
  proj: string;
  pyproj: string;
  cases: Array<{ id: string; wgs84: Array<[number | null, number | null]>; operations: string[] }>;
};

describe('chip footprints agree with PROJ (pyproj) within 1e-7 degrees', () => {
  beforeAll(() => {
    if (!fs.existsSync(PYTHON))
      throw new Error(`${PYTHON} missing: run bash infra/install.sh (it builds the analyst venv with pyproj)`);
    const input = JSON.stringify({ cases: prepared.map((p) => ({ id: p.c.id, crs: p.c.oracle, points: p.corners })) });
    const r = spawnSync(PYTHON, [ORACLE], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`crs_oracle.py failed (${r.status}): ${r.stderr}`);
    oracle = JSON.parse(r.stdout) as typeof oracle;
  });

  it('covers at least 25 CRSs of at least 8 projection families, user-defined ones included', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
    expect(new Set(CASES.map((c) => c.family)).size).toBeGreaterThanOrEqual(8);
    expect(CASES.some((c) => c.family === 'lcc' && c.keys.ProjectedCSTypeGeoKey === 32767)).toBe(true);
    expect(oracle.proj).toMatch(/^\d+\.\d+/);
  });

  it.each(prepared.map((p, i) => [p.c.id, i] as const))('%s', (_id, i) => {
    const p = prepared[i];
    const o = oracle.cases[i];
    expect(o.id).toBe(p.c.id);
    expect(p.geo.status).toBe('ok');
    // Each footprint vertex is a chip corner (in some order): match it with the nearest oracle corner of its chip.
    let worst = 0;
    for (let k = 0; k < CHIPS.length; k++) {
      const want = o.wgs84.slice(4 * k, 4 * k + 4);
      const got = p.ring.slice(4 * k, 4 * k + 4);
      const used = new Set<number>();
      for (const [lon, lat] of got) {
        let best = -1;
        let bestD = Infinity;
        want.forEach(([wl, wa], j) => {
          if (wl === null || wa === null || used.has(j)) return;
          const d = Math.max(Math.abs(((lon - wl + 540) % 360) - 180), Math.abs(lat - wa));
          if (d < bestD) {
            bestD = d;
            best = j;
          }
        });
        expect(best, `${p.c.id}: no oracle corner left for (${lon}, ${lat})`).toBeGreaterThanOrEqual(0);
        used.add(best);
        worst = Math.max(worst, bestD);
      }
    }
    expect(
      worst,
      `${p.c.id}: worst corner ${worst.toExponential(2)} deg from PROJ (${o.operations.join(' | ')})`,
    ).toBeLessThanOrEqual(TOL_DEG);
    if (p.c.operation) expect(o.operations.join(' | ')).toMatch(p.c.operation);
  });
});

// ------------------------------------------------------------------------------------------------
// World files with a .prj that names no EPSG code (ESRI's WKT): proj4js reads the WKT; PROJ reads the same text.

const CA5_ESRI =
  'PROJCS["NAD_1983_StatePlane_California_V_FIPS_0405_Feet",GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",6561666.666666666],PARAMETER["False_Northing",1640416.666666667],PARAMETER["Central_Meridian",-118.0],PARAMETER["Standard_Parallel_1",34.03333333333333],PARAMETER["Standard_Parallel_2",35.46666666666667],PARAMETER["Latitude_Of_Origin",33.5],UNIT["Foot_US",0.3048006096012192]]';
const RD_TOWGS84 =
  'PROJCS["Amersfoort / RD New",GEOGCS["Amersfoort",DATUM["Amersfoort",SPHEROID["Bessel 1841",6377397.155,299.1528128],TOWGS84[565.4171,50.3319,465.5524,-0.398957388243134,0.343987817378283,-1.87740163998045,4.0725]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Oblique_Stereographic"],PARAMETER["latitude_of_origin",52.1561605555556],PARAMETER["central_meridian",5.38763888888889],PARAMETER["scale_factor",0.9999079],PARAMETER["false_easting",155000],PARAMETER["false_northing",463000],UNIT["metre",1]]';
const BNG_ESRI =
  'PROJCS["British_National_Grid",GEOGCS["GCS_OSGB_1936",DATUM["D_OSGB_1936",SPHEROID["Airy_1830",6377563.396,299.3249646]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",400000.0],PARAMETER["False_Northing",-100000.0],PARAMETER["Central_Meridian",-2.0],PARAMETER["Scale_Factor",0.9996012717],PARAMETER["Latitude_Of_Origin",49.0],UNIT["Meter",1.0]]';

describe('world files with a .prj without an EPSG code agree with PROJ reading the same WKT', () => {
  const cases = [
    { id: 'ESRI State Plane California V (US feet, NAD83)', prj: CA5_ESRI, origin: [6_400_000, 1_900_000], px: 2 },
    { id: 'WKT1 RD New with TOWGS84', prj: RD_TOWGS84, origin: [150_000, 460_000], px: 0.5 },
  ];
  const prepared2 = cases.map((c) => {
    const world = `${c.px}\n0\n0\n${-c.px}\n${c.origin[0] + c.px / 2}\n${c.origin[1] - c.px / 2}\n`;
    const geo = georefFromWorldFile(world, { prj: c.prj });
    const corners: Array<[number, number]> = [];
    const ring: Array<[number, number]> = [];
    if (geo.status === 'ok') {
      for (const w of CHIPS) {
        for (const [col, row] of [
          [w.x, w.y],
          [w.x + w.width, w.y],
          [w.x + w.width, w.y + w.height],
          [w.x, w.y + w.height],
        ])
          corners.push(pixelToMap(geo.transform!, col, row));
        ring.push(...footprint(geo, w, { densifyEveryPx: 4096 }).ring.slice(0, 4));
      }
    }
    return { c, geo, corners, ring };
  });
  let out: typeof oracle;
  beforeAll(() => {
    const input = JSON.stringify({ cases: prepared2.map((p) => ({ id: p.c.id, crs: p.c.prj, points: p.corners })) });
    const r = spawnSync(PYTHON, [ORACLE], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`crs_oracle.py failed (${r.status}): ${r.stderr}`);
    out = JSON.parse(r.stdout) as typeof oracle;
  });

  it.each(prepared2.map((p, i) => [p.c.id, i] as const))('%s', (_id, i) => {
    const p = prepared2[i];
    expect(p.geo.status).toBe('ok');
    expect(p.geo.note).toMatch(/read from the \.prj's WKT/);
    let worst = 0;
    for (let k = 0; k < p.ring.length; k++) {
      const chip = Math.floor(k / 4);
      const want = out.cases[i].wgs84.slice(4 * chip, 4 * chip + 4);
      const [lon, lat] = p.ring[k];
      worst = Math.max(
        worst,
        Math.min(
          ...want.map(([wl, wa]) => Math.max(Math.abs(lon - (wl ?? Infinity)), Math.abs(lat - (wa ?? Infinity)))),
        ),
      );
    }
    expect(p.ring).toHaveLength(12);
    expect(worst, `${p.c.id}: worst corner ${worst.toExponential(2)} deg from PROJ`).toBeLessThanOrEqual(TOL_DEG);
  });

  it('a datum named without TOWGS84 and off WGS 84 (ESRI British National Grid) gets a reason, not a guess', () => {
    const geo = georefFromWorldFile('10\n0\n0\n-10\n400005\n299995\n', { prj: BNG_ESRI });
    expect(geo.status).toBe('unsupported-crs');
    expect(geo.reason).toMatch(/D_OSGB_1936 without TOWGS84 has no known shift to WGS 84/);
  });
});
