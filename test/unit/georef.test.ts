import { describe, expect, it } from 'vitest';
import { UnsupportedCrsError } from '../../core/errors';
import { epsgEntry, resolveEpsg } from '../../media/crs';
import {
  builtinCrs,
  crsDefinition,
  crsFromGeoKeys,
  epsgCrs,
  epsgFromPrj,
  footprint,
  georefFromGeoTiff,
  georefFromWorldFile,
  NoFootprintError,
  parseWorldFile,
  pixelToMap,
  worldFileCandidates,
  type Georeference,
} from '../../media/georef';

const R = 6378137;

function utmGeo(epsg: number, originX: number, originY: number, px: number): Georeference {
  return georefFromGeoTiff({
    ModelTiepoint: [0, 0, 0, originX, originY, 0],
    ModelPixelScale: [px, px, 0],
    geoKeys: { GTModelTypeGeoKey: 1, GTRasterTypeGeoKey: 1, ProjectedCSTypeGeoKey: epsg },
  });
}

describe('CRS definitions', () => {
  it('answers the common families without a registry read, any other EPSG code from the registry', () => {
    expect(builtinCrs(4326)?.proj4).toContain('longlat');
    expect(builtinCrs(3857)?.proj4).toContain('+proj=merc');
    expect(builtinCrs(32633)?.proj4).toBe('+proj=utm +zone=33 +datum=WGS84 +units=m +no_defs');
    expect(builtinCrs(32760)?.proj4).toContain('+zone=60 +south');
    expect(builtinCrs(31985)?.name).toBe('SIRGAS 2000 / UTM zone 25S');
    expect(builtinCrs(26917)?.name).toBe('NAD83 / UTM zone 17N');
    expect(builtinCrs(3035)).toBeNull();
    // From the registry (epsg-index), the datum shift PROJ chooses (media/datum-shifts.json).
    expect(crsDefinition(3035)).toContain('+proj=laea');
    expect(epsgCrs(2154)).toMatchObject({ epsg: 2154, name: 'RGF93 v1 / Lambert-93' });
    const bng = epsgCrs(27700);
    expect(bng.proj4).toContain('+towgs84=446.448,-125.157,542.06,0.15,0.247,0.842,-20.489');
    expect(bng.note).toMatch(/OSGB36 to WGS 84 \(6\).*grid/);
    // Resolved once per code and cached (the pipeline asks per raster, footprints per chip reuse the converter).
    expect(resolveEpsg(2154)).toBe(resolveEpsg(2154));
    expect(epsgEntry(2154)).toBe(epsgEntry(2154));
  });

  it('refuses by name what cannot be expressed: unknown codes, non-CRS entries, projections proj4js lacks', () => {
    try {
      crsDefinition(99999);
      expect.unreachable('EPSG:99999 is no CRS');
    } catch (err) {
      expect((err as UnsupportedCrsError).errorClass).toBe('UnsupportedCrs');
      expect((err as UnsupportedCrsError).crs).toBe('EPSG:99999');
      expect((err as UnsupportedCrsError).retryable).toBe(false);
      expect((err as Error).message).toMatch(/not in the EPSG registry/);
    }
    expect(epsgCrs(5703).reason).toMatch(/VERTCRS|not a projected or geographic/); // NAVD88 height
    expect(epsgCrs(6269).reason).toMatch(/proj4js cannot express it/); // a Colombian urban grid (+proj=col_urban)
  });

  it('maps user-defined UTM (ProjectionGeoKey 16125 on GRS80, as GDAL writes it); Albers needs its parameters', () => {
    const utm25s = crsFromGeoKeys({
      GTModelTypeGeoKey: 1,
      ProjectedCSTypeGeoKey: 32767,
      ProjectionGeoKey: 16125,
      GeographicTypeGeoKey: 32767,
      GeogSemiMajorAxisGeoKey: 6378137,
      GeogInvFlatteningGeoKey: 298.257222101,
    });
    expect(utm25s.proj4).toContain('+zone=25 +south +ellps=GRS80');
    const albers = crsFromGeoKeys({
      GTModelTypeGeoKey: 1,
      ProjectedCSTypeGeoKey: 32767,
      ProjectionGeoKey: 32767,
      ProjCoordTransGeoKey: 11,
      GTCitationGeoKey: 'Albers Conical Equal Area',
    });
    expect(albers.proj4).toBeUndefined();
    expect(albers.reason).toMatch(/Albers without both standard parallels/);
    const unknownCt = crsFromGeoKeys({
      GTModelTypeGeoKey: 1,
      ProjectedCSTypeGeoKey: 32767,
      GeographicTypeGeoKey: 4326,
      ProjCoordTransGeoKey: 27,
    });
    expect(unknownCt.reason).toMatch(/ProjCoordTransGeoKey 27 \(south-oriented Transverse Mercator\)/);
    // A linear unit other than the registry's (ERDAS wrote State Plane this way): read as GDAL does.
    const ft = crsFromGeoKeys({ GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32633, ProjLinearUnitsGeoKey: 9002 });
    expect(ft.proj4).toMatch(/\+units=ft/);
    expect(ft.note).toMatch(/linear unit EPSG:9002/);
    expect(
      crsFromGeoKeys({ GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32633, ProjLinearUnitsGeoKey: 9014 }).reason,
    ).toMatch(/linear unit EPSG:9014 is not supported/);
  });
});

describe('georeference from GeoTIFF tags', () => {
  it('tie point + pixel scale, ModelTransformation, PixelIsPoint', () => {
    const g = utmGeo(32633, 404400, 5342400, 10);
    expect(g.status).toBe('ok');
    expect(pixelToMap(g.transform!, 0, 0)).toEqual([404400, 5342400]);
    expect(pixelToMap(g.transform!, 120, 120)).toEqual([405600, 5341200]);
    // geomatrix.tif of GDAL's test suite: rotated ModelTransformation, PixelIsPoint; GDAL reports
    // geotransform (1841001.75, 1.5, -5, 1144003.25, -5, -1.5).
    const m = georefFromGeoTiff({
      ModelTransformation: [1.5, -5, 0, 1841000, -5, -1.5, 0, 1144000, 0, 0, 0, 0, 0, 0, 0, 1],
      geoKeys: { GTModelTypeGeoKey: 1, GTRasterTypeGeoKey: 2, ProjectedCSTypeGeoKey: 32611 },
    });
    expect(m.status).toBe('ok');
    expect(m.transform).toEqual([1.5, -5, 1841001.75, -5, -1.5, 1144003.25]);
  });

  it('flags missing, broken and unplaceable georeferences instead of failing', () => {
    expect(georefFromGeoTiff({}).status).toBe('missing');
    expect(georefFromGeoTiff({ ModelTiepoint: [0, 0, 0, 1, 2, 0] }).status).toBe('invalid');
    expect(
      georefFromGeoTiff({
        ModelTiepoint: [0, 0, 0, 1, 2, 0],
        ModelPixelScale: [0, 10, 0],
        geoKeys: { ProjectedCSTypeGeoKey: 32633 },
      }).status,
    ).toBe('invalid');
    expect(georefFromGeoTiff({ ModelTiepoint: [0, 0, 0, NaN, 2, 0], ModelPixelScale: [10, 10, 0] }).status).toBe(
      'invalid',
    );
    expect(georefFromGeoTiff({ ModelTiepoint: [0, 0, 0, 1, 2, 0], ModelPixelScale: [10, 10, 0] }).status).toBe(
      'no-crs',
    );
    const albers = georefFromGeoTiff({
      ModelTiepoint: [0, 0, 0, 3092415, 59415, 0],
      ModelPixelScale: [3000, 3000, 0],
      geoKeys: {
        GTModelTypeGeoKey: 1,
        ProjectedCSTypeGeoKey: 32767,
        ProjectionGeoKey: 32767,
        ProjCoordTransGeoKey: 11,
      },
    });
    expect(albers.status).toBe('unsupported-crs');
    expect(() => footprint(albers, { x: 0, y: 0, width: 10, height: 10 })).toThrow(UnsupportedCrsError);
    expect(() => footprint(georefFromGeoTiff({}), { x: 0, y: 0, width: 10, height: 10 })).toThrow(NoFootprintError);
    // A transform that puts pixels off the globe (a "UTM" northing of 10^8 m) is reported, not returned.
    expect(() => footprint(utmGeo(32633, 500000, 1e8, 10), { x: 0, y: 0, width: 10, height: 10 })).toThrow(
      NoFootprintError,
    );
  });
});

describe('footprints in WGS 84', () => {
  it('UTM: a chip astride the central meridian on the equator is symmetric about it', () => {
    const g = utmGeo(32633, 500000 - 640, 640, 10); // 128 px of 10 m around (500000, 0)
    const f = footprint(g, { x: 0, y: 0, width: 128, height: 128 });
    expect((f.minLon + f.maxLon) / 2).toBeCloseTo(15, 9);
    expect((f.minLat + f.maxLat) / 2).toBeCloseTo(0, 9);
    // 1280 m at the equator is ~0.0115 degrees.
    expect(f.maxLon - f.minLon).toBeGreaterThan(0.0114);
    expect(f.maxLon - f.minLon).toBeLessThan(0.0116);
    expect(f.ring).toHaveLength(5);
    expect(f.ring[0]).toEqual(f.ring[4]);
    expect(f.wkt.startsWith('POLYGON((')).toBe(true);
    // Counter-clockwise (positive shoelace area).
    let s = 0;
    for (let i = 0; i < 4; i++) s += f.ring[i][0] * f.ring[i + 1][1] - f.ring[i + 1][0] * f.ring[i][1];
    expect(s).toBeGreaterThan(0);
  });

  it('Web Mercator: closed-form inverse', () => {
    const g = georefFromGeoTiff({
      ModelTiepoint: [0, 0, 0, 1e6, 5e6, 0],
      ModelPixelScale: [1000, 1000, 0],
      geoKeys: { GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 3857 },
    });
    const f = footprint(g, { x: 0, y: 0, width: 100, height: 100 });
    const lat = (y: number) => (Math.atan(Math.sinh(y / R)) * 180) / Math.PI;
    expect(f.minLon).toBeCloseTo((1e6 / R) * (180 / Math.PI), 9);
    expect(f.maxLon).toBeCloseTo((1.1e6 / R) * (180 / Math.PI), 9);
    expect(f.maxLat).toBeCloseTo(lat(5e6), 9);
    expect(f.minLat).toBeCloseTo(lat(4.9e6), 9);
  });

  it('densifies the edges of large chips so the outline follows the projection', () => {
    const g = utmGeo(32633, 200000, 7000000, 10); // far from the central meridian, where edges curve
    const big = footprint(g, { x: 0, y: 0, width: 4096, height: 4096 });
    expect(big.ring).toHaveLength(4 * 16 + 1);
    const corners = footprint(g, { x: 0, y: 0, width: 4096, height: 4096 }, { densifyEveryPx: 1e9 });
    expect(corners.ring).toHaveLength(5);
    // Straight map edges are curves in lon/lat: some densified vertex lies off the corner-only outline.
    const c = corners.ring;
    const offOutline = (p: [number, number]) =>
      Math.min(
        ...[0, 1, 2, 3].map((i) => {
          const [ax, ay] = c[i];
          const [bx, by] = c[i + 1];
          const t = Math.max(
            0,
            Math.min(1, ((p[0] - ax) * (bx - ax) + (p[1] - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)),
          );
          return Math.hypot(p[0] - (ax + t * (bx - ax)), p[1] - (ay + t * (by - ay)));
        }),
      );
    const worst = Math.max(...big.ring.map(offOutline));
    expect(worst).toBeGreaterThan(1e-6);
    expect(worst).toBeLessThan(1e-2);
  });
});

describe('world files and .prj', () => {
  it('parses the six lines and shifts pixel centres to corners', () => {
    expect(parseWorldFile('10\n0\n0\n-10\n404405\n5342395\n')).toEqual([10, 0, 404400, 0, -10, 5342400]);
    expect(() => parseWorldFile('10\n0\n0\n-10\n')).toThrow(/6 lines/);
    expect(() => parseWorldFile('a\nb\nc\nd\ne\nf')).toThrow(/not numbers/);
    expect(worldFileCandidates('archive/scene.jpg')).toEqual([
      'archive/scene.jgw',
      'archive/scene.jpgw',
      'archive/scene.wld',
    ]);
    expect(worldFileCandidates('x.png')).toEqual(['x.pgw', 'x.pngw', 'x.wld']);
  });

  it('takes the CRS from a .prj or the caller, else flags no-crs', () => {
    const ogc =
      'PROJCS["WGS 84 / UTM zone 33N",GEOGCS["WGS 84",DATUM["WGS_1984",AUTHORITY["EPSG","6326"]],AUTHORITY["EPSG","4326"]],UNIT["metre",1],AUTHORITY["EPSG","32633"]]';
    expect(epsgFromPrj(ogc)).toBe(32633);
    expect(epsgFromPrj('PROJCS["WGS_1984_UTM_Zone_17N",GEOGCS["GCS_WGS_1984"]]')).toBe(32617);
    expect(epsgFromPrj('GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984"]]')).toBe(4326);
    expect(epsgFromPrj('PROJCS["NAD_1983_Albers"]')).toBeUndefined();
    const wld = '10\n0\n0\n-10\n404405\n5342395\n';
    expect(georefFromWorldFile(wld, { prj: ogc }).status).toBe('ok');
    expect(georefFromWorldFile(wld, { epsg: 32633 }).epsg).toBe(32633);
    expect(georefFromWorldFile(wld).status).toBe('no-crs');
    expect(georefFromWorldFile(wld, { epsg: 2154 }).status).toBe('ok');
    expect(georefFromWorldFile(wld, { epsg: 99999 }).status).toBe('unsupported-crs');
    expect(georefFromWorldFile('garbage').status).toBe('invalid');
  });
});
