/**
 * The map page's selection: the chips of one raster that an area of interest (AOI) touches, as a GeoJSON
 * FeatureCollection (the page's count, highlight and download are this one answer).
 *
 * The predicate is the README's raster SQL, in two steps:
 *  1. SQL on the results view with the README's emulator query predicate on the AOI's bounds,
 *     `raster.east >= @west AND raster.west <= @east AND raster.north >= @south AND raster.south <= @north`
 *     (the parameters as strings, CAST to FLOAT64: see boundsParams)
 *     (bigquery-emulator has no GEOGRAPHY; the same SQL runs on BigQuery);
 *  2. the README's BigQuery GIS predicate `ST_INTERSECTS(footprint, aoi)` on the rows step 1 returned: the
 *     chip's footprint polygon (footprint_wkt) and the AOI polygon share at least one point (touching counts),
 *     decided by @turf/boolean-intersects (a maintained implementation of the OGC "intersects" relation; a
 *     hand-written polygon clipper is where the edge cases hide). Step 1 only removes rows step 2 would
 *     reject (a polygon's points lie inside its bounds), so the answer is exactly step 2 over all chips.
 *
 * Edges are straight lines in longitude/latitude, as the page draws them (a Leaflet rectangle is a box of
 * parallels and meridians) and as the bounds query reads them. BigQuery's GEOGRAPHY reads WKT edges as
 * geodesics unless told otherwise; `bigQueryGisSql` writes the same selection for the BigQuery console with
 * `planar => TRUE`, which makes BigQuery read both polygons' edges as these straight lines.
 *
 * Rows without a footprint (no or broken georeference) are never selected: an AOI in degrees says nothing
 * about a pixel grid. AOIs that cross the antimeridian are refused (split them in two).
 */
import { booleanIntersects } from '@turf/boolean-intersects';
import type { BigQuery } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import { LookoutError } from '../core/errors';
import type { RasterRowFields } from '../core/types';
import { latestView, query } from '../io/query';
import {
  featureCollectionFromRows,
  ringFromWkt,
  type GeoJsonFeatureCollection,
} from '../methods/raster-change/geojson';
import { PreviewBuilder } from '../methods/raster-change/heatmap';
import { bandNames, rolesOf } from '../methods/raster-change/method';
import { bufferRangeSource, openRaster } from '../media/raster';

/** A polygon AOI in WGS 84: one exterior ring of [lon, lat] positions, closed. */
export interface Aoi {
  type: 'Polygon';
  coordinates: Array<Array<[number, number]>>;
}

/** More vertices than anyone draws by hand; keeps the request (a URL parameter) and the test bounded. */
export const MAX_AOI_VERTICES = 500;

export class BadAoiError extends LookoutError {
  constructor(message: string) {
    super('BadAoi', `area of interest: ${message}`, { retryable: false });
  }
}

/** Parses and checks an AOI (a GeoJSON Polygon geometry, or a Feature holding one, as JSON text). */
export function parseAoi(text: string | undefined): Aoi {
  let v: unknown;
  try {
    v = JSON.parse(text ?? '');
  } catch {
    throw new BadAoiError('send it as a GeoJSON Polygon geometry (JSON) in ?aoi=');
  }
  const g = (
    v && typeof v === 'object' && (v as { type?: string }).type === 'Feature'
      ? (v as { geometry?: unknown }).geometry
      : v
  ) as { type?: unknown; coordinates?: unknown } | null;
  if (!g || g.type !== 'Polygon' || !Array.isArray(g.coordinates) || g.coordinates.length === 0)
    throw new BadAoiError('a GeoJSON Polygon is needed');
  const rings = g.coordinates as unknown[];
  const out: Array<Array<[number, number]>> = [];
  let n = 0;
  for (const r of rings) {
    if (!Array.isArray(r) || r.length < 4)
      throw new BadAoiError('each ring needs at least 4 positions (a closed triangle)');
    const ring = r.map((p: unknown) => {
      if (!Array.isArray(p) || p.length < 2 || !p.slice(0, 2).every((x) => typeof x === 'number' && Number.isFinite(x)))
        throw new BadAoiError(`position ${JSON.stringify(p)} is not [lon, lat]`);
      const [lon, lat] = p as [number, number];
      if (lon < -180 || lon > 180 || lat < -90 || lat > 90)
        throw new BadAoiError(
          `position [${lon}, ${lat}] is off the globe (longitude -180..180: split an area that crosses the antimeridian)`,
        );
      return [lon, lat] as [number, number];
    });
    const [a, z] = [ring[0], ring[ring.length - 1]];
    if (a[0] !== z[0] || a[1] !== z[1]) throw new BadAoiError('a ring must end where it starts');
    n += ring.length;
    out.push(ring);
  }
  if (n > MAX_AOI_VERTICES) throw new BadAoiError(`${n} vertices; at most ${MAX_AOI_VERTICES}`);
  const b = aoiBounds({ type: 'Polygon', coordinates: out });
  if (b.east - b.west > 180)
    throw new BadAoiError('wider than 180° of longitude (an area across the antimeridian: split it in two)');
  return { type: 'Polygon', coordinates: out };
}

export function aoiBounds(aoi: Aoi): { west: number; south: number; east: number; north: number } {
  const pts = aoi.coordinates[0];
  return {
    west: Math.min(...pts.map((p) => p[0])),
    south: Math.min(...pts.map((p) => p[1])),
    east: Math.max(...pts.map((p) => p[0])),
    north: Math.max(...pts.map((p) => p[1])),
  };
}

/** WKT of the AOI (for the BigQuery GIS query and the collection's description). */
export function aoiWkt(aoi: Aoi): string {
  return `POLYGON(${aoi.coordinates.map((r) => `(${r.map(([lon, lat]) => `${lon} ${lat}`).join(', ')})`).join(', ')})`;
}

/** Step 2: ST_INTERSECTS(footprint, aoi) with straight edges in lon/lat. False for a chip without a footprint. */
export function footprintIntersects(footprintWkt: string | null | undefined, aoi: Aoi): boolean {
  const ring = ringFromWkt(footprintWkt);
  if (!ring) return false;
  return booleanIntersects({ type: 'Polygon', coordinates: [ring] }, aoi);
}

/** Step 1's SQL: the README's emulator predicate on the AOI's bounds, for one raster's chips. */
export function boundsSql(cfg: LookoutConfig): string {
  return `SELECT workflow_id, name, generation, status, error_class, score, raster FROM ${latestView(cfg)}
WHERE raster IS NOT NULL AND raster.kind = 'chip' AND bucket = @bucket AND name = @name AND generation = @generation
  AND raster.east >= CAST(@west AS FLOAT64) AND raster.west <= CAST(@east AS FLOAT64)
  AND raster.north >= CAST(@south AS FLOAT64) AND raster.south <= CAST(@north AS FLOAT64)
ORDER BY raster.chip_row, raster.chip_col`;
}

/**
 * The bounds as query parameters. As strings, CAST in the SQL: the Node client sends a FLOAT64 parameter's
 * value as a JSON number, which bigquery-emulator refuses ("cannot unmarshal number into Go struct field
 * QueryParameterValue.Value of type string"); a string parameter is what the REST API documents anyway.
 */
export function boundsParams(aoi: Aoi): Record<'west' | 'south' | 'east' | 'north', string> {
  const b = aoiBounds(aoi);
  return { west: String(b.west), south: String(b.south), east: String(b.east), north: String(b.north) };
}

/** The same selection for the BigQuery console (GEOGRAPHY with straight lon/lat edges); not run by Lookout. */
export function bigQueryGisSql(
  cfg: LookoutConfig,
  aoi: Aoi,
  r: { bucket: string; name: string; generation: string },
): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `SELECT name, raster.chip_col, raster.chip_row, raster.change_score, ST_GEOGFROMTEXT(raster.footprint_wkt, planar => TRUE) AS footprint
FROM ${latestView(cfg)}
WHERE bucket = ${q(r.bucket)} AND name = ${q(r.name)} AND generation = ${q(r.generation)} AND raster.kind = 'chip' AND raster.footprint_wkt IS NOT NULL
  AND ST_INTERSECTS(ST_GEOGFROMTEXT(raster.footprint_wkt, planar => TRUE), ST_GEOGFROMTEXT(${q(aoiWkt(aoi))}, planar => TRUE))
ORDER BY raster.chip_row, raster.chip_col;`;
}

export interface ChipRow {
  workflow_id: string;
  name: string;
  generation: string;
  status: string;
  error_class: string | null;
  score: number | null;
  raster: RasterRowFields;
}

export interface Selection extends GeoJsonFeatureCollection {
  lookout: {
    raster: string;
    aoi: Aoi;
    predicate: string;
    /** Rows the bounds SQL returned (step 1) and chips whose footprint intersects the AOI (step 2). */
    bounds_rows: number;
    selected: number;
    bigquery_gis_sql: string;
  };
}

/** Steps 1 and 2 over already-read rows (exported for the unit tests; selectChips runs step 1 in SQL). */
export function selectionOf(
  rows: readonly ChipRow[],
  aoi: Aoi,
  meta: Omit<Selection['lookout'], 'aoi' | 'bounds_rows' | 'selected' | 'predicate'>,
): Selection {
  const picked = rows.filter((r) => footprintIntersects(r.raster.footprint_wkt, aoi));
  const fc = featureCollectionFromRows(
    picked.map((r) => ({ ...r, raster: r.raster as unknown as Record<string, unknown> & RasterRowFields })),
    {},
  );
  for (const [i, f] of fc.features.entries()) f.properties.workflow_id = picked[i].workflow_id;
  return {
    ...fc,
    lookout: {
      ...meta,
      aoi,
      predicate: 'ST_INTERSECTS(footprint, aoi), edges straight in lon/lat; chips without a footprint are not selected',
      bounds_rows: rows.length,
      selected: picked.length,
    },
  };
}

/** The chips of one raster that the AOI touches (README predicate: bounds in SQL, then ST_INTERSECTS). */
export async function selectChips(
  bq: BigQuery,
  cfg: LookoutConfig,
  r: { bucket: string; name: string; generation: string },
  aoi: Aoi,
): Promise<Selection> {
  const rows = await query<ChipRow>(bq, boundsSql(cfg), { ...r, ...boundsParams(aoi) });
  return selectionOf(rows, aoi, {
    raster: `gs://${r.bucket}/${r.name}#${r.generation}`,
    bigquery_gis_sql: bigQueryGisSql(cfg, aoi, r),
  });
}

/**
 * The raster as a browser image, for TIFFs (GeoTIFF/COG of any sample type and band count, which a browser
 * and sharp's colour handling do not show: a 4-band uint16 scene comes out as grey with NIR as alpha). The
 * bands the pipeline would call red, green and blue (object metadata `lookout-bands`, else its guess from the
 * band count: methods/raster-change bandNames / rolesOf), else the first band as grey; read window by window
 * through media/raster.ts (bounded memory) into the pipeline's PreviewBuilder (each band stretched between its
 * 2nd and 98th percentile; nodata transparent would need alpha, it is black as in the heatmap).
 */
export async function rasterPreviewPng(
  buf: Buffer,
  name: string,
  metadata: Record<string, string> | undefined,
  maxSide = 2048,
): Promise<Buffer> {
  const r = await openRaster(bufferRangeSource(buf, name));
  try {
    let rgb: number[] = [0];
    try {
      const roles = rolesOf(bandNames(r.bandCount, metadata).names);
      if (roles.red !== undefined && roles.green !== undefined && roles.blue !== undefined)
        rgb = [roles.red, roles.green, roles.blue];
    } catch {
      // Metadata that names the wrong number of bands: the pipeline fails such a raster; show band 1.
    }
    const preview = new PreviewBuilder(r.width, r.height, rgb.length === 3 ? 3 : 1, maxSide);
    for (const w of r.chipGrid(1024).windows()) {
      const d = await r.readWindow(w, rgb);
      preview.add(w, d.bands, d.nodata);
    }
    const img = preview.toImage();
    const sharp = (await import('sharp')).default;
    return await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
      raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 },
    })
      .png()
      .toBuffer();
  } finally {
    await r.close();
  }
}
