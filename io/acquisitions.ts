/**
 * The archive's acquisitions, read back from its own result rows (the de-duplicating _latest view): a raster's
 * summary row records when it was acquired, its tile key, collection and footprint (docs/stac.md). Pairing by
 * place and time asks here for the acquisitions just before and just after one, and whether a pair's change rows
 * exist already.
 *
 * "Same place": the same collection (NULL matches NULL), the same tile key when both rows have one, and footprint
 * bounding boxes that share at least `pairOverlap` of the smaller box (config LOOKOUT_RASTER_PAIR_OVERLAP). The
 * bounding boxes are compared in SQL first (intersecting) and the share is computed here. Order in time is
 * (acquired_at, name): two acquisitions at one instant are still ordered, the same way by every reader.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import type { AcquisitionIndex, AcquisitionRecord } from '../core/types';
import { latestView, query } from './query';

export interface AcquisitionRow {
  bucket: string;
  name: string;
  generation: string;
  acquired_at: string;
  place: string | null;
  collection: string | null;
  run_tag: string | null;
  west: number;
  south: number;
  east: number;
  north: number;
}

type Box = { west: number; south: number; east: number; north: number };

/** Area of the intersection of two lon/lat boxes over the smaller box's area (0 when they do not meet). */
export function overlapShare(a: Box, b: Box): number {
  const w = Math.min(a.east, b.east) - Math.max(a.west, b.west);
  const h = Math.min(a.north, b.north) - Math.max(a.south, b.south);
  if (!(w > 0 && h > 0)) return 0;
  const area = (x: Box) => Math.max(0, x.east - x.west) * Math.max(0, x.north - x.south);
  const small = Math.min(area(a), area(b));
  return small > 0 ? (w * h) / small : 0;
}

/** Rows of one acquisition per object name (the newest generation), as records. */
function distinct(rows: AcquisitionRow[]): AcquisitionRecord[] {
  const byName = new Map<string, AcquisitionRow>();
  for (const r of rows) {
    const k = `${r.bucket}/${r.name}`;
    const cur = byName.get(k);
    if (!cur || BigInt(r.generation) > BigInt(cur.generation)) byName.set(k, r);
  }
  return [...byName.values()].map((r) => ({
    bucket: r.bucket,
    name: r.name,
    generation: String(r.generation),
    datetime: r.acquired_at,
    place: r.place,
    collection: r.collection,
    runTag: r.run_tag,
  }));
}

/**
 * Of summary rows already narrowed to one collection and tile key, the acquisitions just before and just after `a`
 * in (time, name) order among those whose footprint box shares at least `share` of the smaller box with a's.
 */
export function pickNeighbours(
  rows: AcquisitionRow[],
  a: { bucket: string; name: string; datetime: string; footprint: Box },
  share: number,
): { previous: AcquisitionRecord | null; next: AcquisitionRecord | null } {
  const key = (r: { datetime: string; name: string }) => `${r.datetime}\u0000${r.name}`;
  const me = key(a);
  const near = distinct(
    rows.filter((r) => !(r.bucket === a.bucket && r.name === a.name) && overlapShare(r, a.footprint) >= share),
  );
  const earlier = near.filter((r) => key(r) < me).sort((x, y) => (key(x) < key(y) ? 1 : -1));
  const later = near.filter((r) => key(r) > me).sort((x, y) => (key(x) < key(y) ? -1 : 1));
  return { previous: earlier[0] ?? null, next: later[0] ?? null };
}

export function bigqueryAcquisitions(bq: BigQuery, cfg: LookoutConfig): AcquisitionIndex {
  const view = latestView(cfg);
  const select = `SELECT bucket, name, generation, raster.acquired_at AS acquired_at, raster.place AS place, raster.collection AS collection, run_tag,
  raster.west AS west, raster.south AS south, raster.east AS east, raster.north AS north
FROM ${view}
WHERE status = 'ok' AND raster.kind = 'summary' AND raster.acquired_at IS NOT NULL AND raster.west IS NOT NULL
  AND NOT (bucket = @bucket AND name = @name)
  AND IFNULL(raster.collection, '') = @collection
  AND (@place = '' OR raster.place IS NULL OR raster.place = @place)
  AND raster.east >= CAST(@west AS FLOAT64) AND raster.west <= CAST(@east AS FLOAT64) AND raster.north >= CAST(@south AS FLOAT64) AND raster.south <= CAST(@north AS FLOAT64)`;
  return {
    async neighbours(a) {
      // Coordinates travel as text and are cast in SQL: bigquery-emulator refuses numeric query parameter values.
      const params = {
        bucket: a.bucket,
        name: a.name,
        collection: a.collection ?? '',
        place: a.place ?? '',
        west: String(a.footprint.west),
        south: String(a.footprint.south),
        east: String(a.footprint.east),
        north: String(a.footprint.north),
        t: a.datetime,
      };
      const [before, after] = await Promise.all([
        query<AcquisitionRow>(
          bq,
          `${select}\n  AND (raster.acquired_at < @t OR (raster.acquired_at = @t AND name < @name))\nORDER BY acquired_at DESC, name DESC\nLIMIT 200`,
          params,
        ),
        query<AcquisitionRow>(
          bq,
          `${select}\n  AND (raster.acquired_at > @t OR (raster.acquired_at = @t AND name > @name))\nORDER BY acquired_at, name\nLIMIT 200`,
          params,
        ),
      ]);
      return pickNeighbours([...before, ...after], a, cfg.raster.pairOverlap);
    },
    async paired(after, beforeName) {
      const rows = await query<{ n: number }>(
        bq,
        `SELECT COUNT(*) AS n FROM ${view} WHERE raster.kind = 'summary' AND bucket = @bucket AND name = @name AND generation = @generation AND raster.before_name = @before`,
        { bucket: after.bucket, name: after.name, generation: after.generation, before: beforeName },
      );
      return Number(rows[0]?.n ?? 0) > 0;
    },
  };
}

/**
 * The current consecutive pairs of the archive (docs/stac.md): per acquisition, the summary row whose before image is
 * its previous acquisition of the same collection and tile key. Pairs that were consecutive only until a late
 * arrival came between them keep their rows but are not listed. `where` narrows the acquisitions (e.g. a run).
 */
export function consecutivePairsSql(cfg: LookoutConfig, where = 'TRUE'): string {
  const view = latestView(cfg);
  return `WITH acq AS (
  SELECT DISTINCT bucket, name, raster.acquired_at AS t, raster.place AS place, raster.collection AS collection
  FROM ${view} WHERE raster.kind = 'summary' AND status = 'ok' AND raster.acquired_at IS NOT NULL AND ${where}),
prev AS (
  SELECT bucket, name, t, place, collection, LAG(name) OVER (PARTITION BY collection, place ORDER BY t, name) AS previous FROM acq)
SELECT s.name AS name, s.raster.before_name AS before_name, s.raster.change_score AS change_score, s.raster.ndvi_delta AS ndvi_delta, s.raster.heatmap_uri AS heatmap_uri
FROM ${view} s JOIN prev p ON s.bucket = p.bucket AND s.name = p.name
WHERE s.raster.kind = 'summary' AND s.raster.before_name = p.previous
ORDER BY p.place, p.t`;
}
