/**
 * GeoJSON (RFC 7946) FeatureCollection of chips with their scores: one Polygon feature per chip in WGS 84,
 * lon/lat order, counter-clockwise exterior ring, with its pixel window and scores as properties. A chip
 * without a footprint (no or unsupported georeference) is kept with "geometry": null, as RFC 7946 allows, so
 * the collection still lists every chip and says why it has no place.
 */
import type { ChipWindow, ChipPlacement } from '../../media/raster';

export interface ChipFeatureInput {
  window: ChipWindow;
  placement: ChipPlacement;
  /** Scores and other per-chip values (numbers, strings, booleans or null). */
  properties?: Record<string, number | string | boolean | null>;
}

export interface GeoJsonFeature {
  type: 'Feature';
  id: number;
  bbox?: [number, number, number, number];
  geometry: { type: 'Polygon'; coordinates: Array<Array<[number, number]>> } | null;
  properties: Record<string, number | string | boolean | null>;
}

export interface GeoJsonFeatureCollection {
  type: 'FeatureCollection';
  bbox?: [number, number, number, number];
  features: GeoJsonFeature[];
  /** Foreign member (RFC 7946 section 6.1): what the collection describes. */
  lookout?: Record<string, unknown>;
}

export function chipFeatureCollection(
  chips: readonly ChipFeatureInput[],
  meta?: Record<string, unknown>,
): GeoJsonFeatureCollection {
  let bbox: [number, number, number, number] | undefined;
  const features = chips.map((c): GeoJsonFeature => {
    const f = c.placement.footprint;
    const props: GeoJsonFeature['properties'] = {
      chip: c.window.index,
      col: c.window.col,
      row: c.window.row,
      x: c.window.x,
      y: c.window.y,
      width: c.window.width,
      height: c.window.height,
      clipped: c.window.clipped,
      georef: c.placement.georefStatus,
      ...(c.placement.reason ? { georef_reason: c.placement.reason } : {}),
      ...c.properties,
    };
    if (!f) return { type: 'Feature', id: c.window.index, geometry: null, properties: props };
    const b: [number, number, number, number] = [f.minLon, f.minLat, f.maxLon, f.maxLat];
    bbox = bbox
      ? [Math.min(bbox[0], b[0]), Math.min(bbox[1], b[1]), Math.max(bbox[2], b[2]), Math.max(bbox[3], b[3])]
      : b;
    return {
      type: 'Feature',
      id: c.window.index,
      bbox: b,
      geometry: { type: 'Polygon', coordinates: [f.ring.map(([lon, lat]) => [lon, lat])] },
      properties: props,
    };
  });
  return { type: 'FeatureCollection', ...(bbox ? { bbox } : {}), features, ...(meta ? { lookout: meta } : {}) };
}

/** Ring of a WKT POLYGON's exterior ("POLYGON((lon lat, ...))"), or null for anything else. */
export function ringFromWkt(wkt: string | null | undefined): Array<[number, number]> | null {
  const m = /^\s*POLYGON\s*\(\(\s*([^()]+?)\s*\)/i.exec(wkt ?? '');
  if (!m) return null;
  const pts = m[1].split(',').map((p) => p.trim().split(/\s+/).map(Number) as [number, number]);
  return pts.length >= 4 && pts.every((p) => p.length === 2 && p.every(Number.isFinite)) ? pts : null;
}

/** What a chip row of the results table holds (the `raster` record plus the row's identity). */
export interface ChipRowLike {
  name: string;
  generation: string;
  status: string;
  error_class?: string | null;
  score?: number | null;
  raster: Record<string, unknown> & { chip_col: number | null; chip_row: number | null; footprint_wkt: string | null };
}

/**
 * A FeatureCollection from chip rows read back from BigQuery (`lookout export --geojson`): one feature per
 * chip, geometry from footprint_wkt (null when the raster had no usable georeference: the pixel window is
 * in the properties), every `raster` field as a property.
 */
export function featureCollectionFromRows(
  rows: readonly ChipRowLike[],
  meta?: Record<string, unknown>,
): GeoJsonFeatureCollection {
  let bbox: [number, number, number, number] | undefined;
  const features = rows.map((r, i): GeoJsonFeature => {
    const ring = ringFromWkt(r.raster.footprint_wkt);
    const props: GeoJsonFeature['properties'] = {
      raster: r.name,
      generation: r.generation,
      status: r.status,
      error_class: r.error_class ?? null,
      score: r.score ?? null,
    };
    for (const [k, v] of Object.entries(r.raster))
      if (k !== 'footprint_wkt' && (v === null || ['number', 'string', 'boolean'].includes(typeof v)))
        props[k] = v as number | string | boolean | null;
    if (!ring) return { type: 'Feature', id: i, geometry: null, properties: props };
    const b: [number, number, number, number] = [
      Math.min(...ring.map((p) => p[0])),
      Math.min(...ring.map((p) => p[1])),
      Math.max(...ring.map((p) => p[0])),
      Math.max(...ring.map((p) => p[1])),
    ];
    bbox = bbox
      ? [Math.min(bbox[0], b[0]), Math.min(bbox[1], b[1]), Math.max(bbox[2], b[2]), Math.max(bbox[3], b[3])]
      : b;
    return { type: 'Feature', id: i, bbox: b, geometry: { type: 'Polygon', coordinates: [ring] }, properties: props };
  });
  return { type: 'FeatureCollection', ...(bbox ? { bbox } : {}), features, ...(meta ? { lookout: meta } : {}) };
}
