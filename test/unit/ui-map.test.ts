/** The map page's selection (ui/map.ts): AOI checks, the README's bounds predicate and ST_INTERSECTS on footprints. */
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import {
  aoiBounds,
  aoiWkt,
  BadAoiError,
  bigQueryGisSql,
  boundsParams,
  boundsSql,
  footprintIntersects,
  parseAoi,
  rasterPreviewPng,
  selectionOf,
  type Aoi,
  type ChipRow,
} from '../../ui/map';
import { blocksFromBands, writeTiffBuffer } from '../../media/tiff-writer';
import { loadConfig } from '../../config';
import type { RasterRowFields } from '../../core/types';

const box = (w: number, s: number, e: number, n: number): Aoi => ({
  type: 'Polygon',
  coordinates: [
    [
      [w, s],
      [e, s],
      [e, n],
      [w, n],
      [w, s],
    ],
  ],
});
const wkt = (ring: Array<[number, number]>) => `POLYGON((${ring.map((p) => p.join(' ')).join(', ')}))`;
// A footprint rotated by 45°: a diamond around (10, 10) whose bounds are 9..11 both ways.
const DIAMOND = wkt([
  [10, 9],
  [11, 10],
  [10, 11],
  [9, 10],
  [10, 9],
]);

function chip(id: string, footprint: string | null): ChipRow {
  const ring = footprint
    ? footprint
        .replace(/^POLYGON\(\(|\)\)$/g, '')
        .split(', ')
        .map((p) => p.split(' ').map(Number))
    : [];
  const b = ring.length
    ? {
        west: Math.min(...ring.map((p) => p[0])),
        east: Math.max(...ring.map((p) => p[0])),
        south: Math.min(...ring.map((p) => p[1])),
        north: Math.max(...ring.map((p) => p[1])),
      }
    : { west: null, east: null, south: null, north: null };
  return {
    workflow_id: id,
    name: 'a.tif',
    generation: '1',
    status: 'ok',
    error_class: null,
    score: 0.5,
    raster: {
      kind: 'chip',
      chip_col: 0,
      chip_row: 0,
      footprint_wkt: footprint,
      change_score: 0.5,
      ...b,
    } as unknown as RasterRowFields,
  };
}

describe('area of interest', () => {
  it('takes a GeoJSON Polygon or a Feature holding one', () => {
    expect(parseAoi(JSON.stringify(box(1, 2, 3, 4)))).toEqual(box(1, 2, 3, 4));
    expect(parseAoi(JSON.stringify({ type: 'Feature', properties: {}, geometry: box(1, 2, 3, 4) }))).toEqual(
      box(1, 2, 3, 4),
    );
    expect(aoiBounds(box(1, 2, 3, 4))).toEqual({ west: 1, south: 2, east: 3, north: 4 });
    expect(aoiWkt(box(1, 2, 3, 4))).toBe('POLYGON((1 2, 3 2, 3 4, 1 4, 1 2))');
  });

  it('refuses what is not a closed polygon on the globe, with the reason', () => {
    const bad: Array<[string | undefined, RegExp]> = [
      [undefined, /GeoJSON Polygon geometry/],
      ['{', /GeoJSON Polygon geometry/],
      [JSON.stringify({ type: 'Point', coordinates: [1, 2] }), /Polygon is needed/],
      [
        JSON.stringify({
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [1, 0],
              [0, 0],
            ],
          ],
        }),
        /at least 4 positions/,
      ],
      [
        JSON.stringify({
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [1, 0],
              [1, 1],
              [0, 1],
            ],
          ],
        }),
        /end where it starts/,
      ],
      [
        JSON.stringify({
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [1, 0],
              ['x', 1],
              [0, 0],
            ],
          ],
        }),
        /not \[lon, lat\]/,
      ],
      [JSON.stringify(box(170, 0, 190, 1)), /off the globe/],
      [JSON.stringify(box(-170, 0, 170, 1)), /antimeridian/],
      [
        JSON.stringify({
          type: 'Polygon',
          coordinates: [[...Array.from({ length: 600 }, (_, i) => [i / 1000, Math.sin(i)]), [0, 0]]],
        }),
        /at most 500/,
      ],
    ];
    for (const [text, re] of bad) {
      expect(() => parseAoi(text), String(text).slice(0, 40)).toThrow(BadAoiError);
      expect(() => parseAoi(text)).toThrow(re);
    }
  });
});

describe('the README predicate: bounds in SQL, then ST_INTERSECTS(footprint, aoi)', () => {
  it("a box over the diamond's bounding-box corner passes the bounds test but does not touch the diamond", () => {
    const corner = box(9, 9, 9.4, 9.4);
    const b = aoiBounds(corner);
    const r = chip('d', DIAMOND).raster;
    // Step 1 (the README's emulator SQL on the AOI's bounds) keeps it ...
    expect(r.east! >= b.west && r.west! <= b.east && r.north! >= b.south && r.south! <= b.north).toBe(true);
    // ... step 2 (the polygons themselves) does not.
    expect(footprintIntersects(DIAMOND, corner)).toBe(false);
    expect(footprintIntersects(DIAMOND, box(9, 9, 9.6, 9.6))).toBe(true);
  });

  it('inside, containing and touching count; no footprint never does', () => {
    expect(footprintIntersects(DIAMOND, box(9.9, 9.9, 10.1, 10.1))).toBe(true); // AOI inside the chip
    expect(footprintIntersects(DIAMOND, box(0, 0, 20, 20))).toBe(true); // chip inside the AOI
    expect(footprintIntersects(DIAMOND, box(11, 9, 12, 11))).toBe(true); // shares the vertex (11, 10)
    expect(footprintIntersects(DIAMOND, box(11.001, 9, 12, 11))).toBe(false);
    expect(footprintIntersects(null, box(0, 0, 20, 20))).toBe(false);
    expect(footprintIntersects('POINT(1 2)', box(0, 0, 20, 20))).toBe(false);
  });

  it('a polygon AOI: a triangle that misses the chip though its bounds cover it', () => {
    const tri: Aoi = {
      type: 'Polygon',
      coordinates: [
        [
          [8, 8],
          [9.4, 8],
          [8, 12],
          [8, 8],
        ],
      ],
    };
    expect(footprintIntersects(DIAMOND, tri)).toBe(false);
  });

  it('selectionOf: the FeatureCollection of the selected chips with their properties and counts', () => {
    const rows = [
      chip('d', DIAMOND),
      chip(
        'far',
        wkt([
          [20, 20],
          [21, 20],
          [21, 21],
          [20, 21],
          [20, 20],
        ]),
      ),
      chip('none', null),
    ];
    const aoi = box(9.5, 9.5, 10.5, 10.5);
    const fc = selectionOf(rows, aoi, { raster: 'gs://b/a.tif#1', bigquery_gis_sql: 'x' });
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features).toHaveLength(1);
    expect(fc.features[0].geometry?.type).toBe('Polygon');
    expect(fc.features[0].properties).toMatchObject({
      workflow_id: 'd',
      raster: 'a.tif',
      change_score: 0.5,
      status: 'ok',
    });
    expect(fc.bbox).toEqual([9, 9, 11, 11]);
    expect(fc.lookout).toMatchObject({ raster: 'gs://b/a.tif#1', aoi, bounds_rows: 3, selected: 1 });
  });

  it("the SQL: the README's bounds predicate on one raster; the BigQuery query reads edges as straight lines", () => {
    const cfg = loadConfig({});
    expect(
      boundsSql(cfg)
        .replace(/CAST\((@\w+) AS FLOAT64\)/g, '$1')
        .replace(/\s+/g, ' '),
    ).toContain('raster.east >= @west AND raster.west <= @east AND raster.north >= @south AND raster.south <= @north');
    expect(boundsParams(box(1.5, 2, 3, 4))).toEqual({ west: '1.5', south: '2', east: '3', north: '4' });
    const gis = bigQueryGisSql(cfg, box(1, 2, 3, 4), { bucket: 'b', name: "it's.tif", generation: '7' });
    expect(gis).toContain(
      "ST_INTERSECTS(ST_GEOGFROMTEXT(raster.footprint_wkt, planar => TRUE), ST_GEOGFROMTEXT('POLYGON((1 2, 3 2, 3 4, 1 4, 1 2))', planar => TRUE))",
    );
    expect(gis).toContain("name = 'it\\'s.tif'");
  });
});

describe('the raster as a browser image (rasterPreviewPng)', () => {
  it('shows a 4-band uint16 GeoTIFF as RGB from its red, green and blue bands, stretched, without NIR as alpha', async () => {
    const [w, h] = [64, 32];
    // Left half red-ish, right half blue-ish; NIR constant and low (as alpha it would hide everything).
    const bands = [0, 1, 2, 3].map((b) =>
      Array.from({ length: w * h }, (_, i) => {
        const left = i % w < w / 2;
        return b === 0
          ? (left ? 3000 : 500) + (i % 7)
          : b === 1
            ? 800 + (i % 5)
            : b === 2
              ? (left ? 500 : 3000) + (i % 3)
              : 100;
      }),
    );
    const tif = writeTiffBuffer({
      width: w,
      height: h,
      bands: 4,
      type: 'uint16',
      tileSize: 16,
      compression: 'deflate',
      block: blocksFromBands(bands, w, h, 'uint16'),
    });
    const png = await rasterPreviewPng(tif, 'x.tif', undefined);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([w, h, 3]);
    const px = (x: number, y: number) => [0, 1, 2].map((c) => data[(y * w + x) * 3 + c]);
    const [l, r] = [px(5, 10), px(w - 5, 10)];
    expect(l[0]).toBeGreaterThan(200);
    expect(l[2]).toBeLessThan(50);
    expect(r[0]).toBeLessThan(50);
    expect(r[2]).toBeGreaterThan(200);
  });
});
