/**
 * GeoJSON (RFC 7946) FeatureCollection of chips with their scores: one Polygon feature per chip in WGS 84,
 * lon/lat order, counter-clockwise exterior ring, with its pixel window and scores as properties. A chip
 * without a footprint (no or unsupported georeference) is kept with "geometry": null, as RFC 7946 allows, so
 * the collection still lists every chip and says why it has no place.
 */
import fs from 'node:fs/promises';
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

export function chipFeatureCollection(chips: readonly ChipFeatureInput[], meta?: Record<string, unknown>): GeoJsonFeatureCollection {
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
    bbox = bbox ? [Math.min(bbox[0], b[0]), Math.min(bbox[1], b[1]), Math.max(bbox[2], b[2]), Math.max(bbox[3], b[3])] : b;
    return { type: 'Feature', id: c.window.index, bbox: b, geometry: { type: 'Polygon', coordinates: [f.ring.map(([lon, lat]) => [lon, lat])] }, properties: props };
  });
  return { type: 'FeatureCollection', ...(bbox ? { bbox } : {}), features, ...(meta ? { lookout: meta } : {}) };
}

export async function writeGeoJson(file: string, fc: GeoJsonFeatureCollection): Promise<void> {
  await fs.writeFile(file, JSON.stringify(fc) + '\n');
}
