/**
 * The summary row of a raster: its `raster` record from the plan (size, CRS, the whole footprint) and what
 * finishing made (aggregate scores, chip counts, heatmap and GeoJSON URIs). Pure, so it is unit-tested.
 * Aggregates: mean cloud fraction and mean index deltas over the chips that have them; the largest change
 * and novelty scores (the chip to look at first); a chip classifier's largest score and its positive chips.
 */
import type { RasterFinishResult, RasterPlan, RasterRowFields } from '../core/types';

const round = (v: number | null | undefined, d = 6): number | null =>
  v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d;

export function rasterSummaryRecord(
  plan: RasterPlan,
  out: RasterFinishResult & { summary: Record<string, number | null> },
  totals: { ok: number; failed: number },
): RasterRowFields {
  const fp = plan.footprint;
  return {
    kind: 'summary',
    chip_col: null,
    chip_row: null,
    x: 0,
    y: 0,
    width: plan.width,
    height: plan.height,
    edge: false,
    raster_width: plan.width,
    raster_height: plan.height,
    crs: plan.crs,
    georef: plan.georef,
    georef_note: plan.georefNote,
    footprint_wkt: fp?.wkt ?? null,
    west: round(fp?.west, 9),
    south: round(fp?.south, 9),
    east: round(fp?.east, 9),
    north: round(fp?.north, 9),
    cloud_fraction: round(out.summary.cloud_fraction),
    change_score: round(out.summary.change_score),
    novelty_score: round(out.summary.novelty_score),
    ndvi_delta: round(out.summary.ndvi_delta),
    nbr_delta: round(out.summary.nbr_delta),
    ndwi_delta: round(out.summary.ndwi_delta),
    before_name: plan.before?.name ?? null,
    chip_size: plan.chipSize,
    chip_overlap: plan.overlap,
    bands: plan.bands,
    chips: Math.max(out.chips, totals.ok + totals.failed),
    chips_failed: Math.max(out.chipsFailed, totals.failed),
    heatmap_uri: out.heatmapUri,
    geojson_uri: out.geojsonUri,
    classifier_model: out.classifier?.model ?? null,
    classifier_version: out.classifier?.version ?? null,
    classifier_score: round(out.classifier?.maxScore),
    classifier_label: out.classifier?.label ?? null,
    classifier_positives: out.classifier?.positives ?? null,
    backbone: plan.rgb ? (plan.backbone?.name ?? null) : null,
    acquired_at: plan.acquisition?.datetime ?? null,
    platform: plan.acquisition?.platform ?? null,
    place: plan.acquisition?.place ?? null,
    collection: plan.acquisition?.collection ?? null,
    stac_item: plan.acquisition?.item ?? null,
  };
}
