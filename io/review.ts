/**
 * The reads of the review UI (`lookout ui`) that no command has: the list of runs, alerts, a video's frame
 * scores, the newest frame of each live stream, satellite chips, one analysis. All through the
 * de-duplicating view (latestView), so each analysis is seen once, with its newest row. A run's report
 * itself is loadtest/report.ts (infra/sql, the same as `lookout report`); the retry selection is
 * io/query.ts failedAnalyses (the same as `lookout retry`).
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import { latestView, query } from './query';
import { runLatestSql } from './results';
import type { RasterRowFields } from '../core/types';

/** Integers go inline (validated): the emulator rejects numeric query parameters. */
const lim = (n: number, max = 10_000) => Math.min(max, Math.max(1, Math.floor(Number(n) || 1)));

export interface RunListing {
  run_tag: string;
  pipelines: string;
  analyses: number;
  ok: number;
  failed: number;
  first_created_at: string | null;
  last_recorded_at: string | null;
  wall_s: number | null;
  e2e_p50: number | null;
  e2e_p95: number | null;
}

/**
 * Every run (run_tag) with its counts, wall time and end-to-end percentiles, newest first. Wall time and the
 * percentiles follow summary.sql's rules (a failed analysis ends at recorded_at and has no latency; a
 * percentile is the value at rank round(p * (n - 1)) of the sorted values), over the view instead of one run.
 */
export async function listRuns(bq: BigQuery, cfg: LookoutConfig, limit = 200): Promise<RunListing[]> {
  const pct = (p: number) => `e2e[SAFE_OFFSET(CAST(ROUND(${p} * (ARRAY_LENGTH(e2e) - 1)) AS INT64))]`;
  return query<RunListing>(
    bq,
    `SELECT run_tag, pipelines, analyses, ok, failed, first_created_at, last_recorded_at, wall_s, ${pct(0.5)} AS e2e_p50, ${pct(0.95)} AS e2e_p95 FROM (
       SELECT run_tag, STRING_AGG(DISTINCT pipeline, ', ') AS pipelines, COUNT(*) AS analyses,
         COUNTIF(status = 'ok') AS ok, COUNTIF(status = 'failed') AS failed,
         MIN(object_created_at) AS first_created_at, MAX(recorded_at) AS last_recorded_at,
         TIMESTAMP_DIFF(MAX(IF(status = 'ok', completed_at, recorded_at)), MIN(object_created_at), MILLISECOND) / 1000 AS wall_s,
         ARRAY_AGG(IF(status = 'ok', end_to_end_ms, NULL) IGNORE NULLS ORDER BY end_to_end_ms) AS e2e
       FROM ${latestView(cfg)} WHERE run_tag IS NOT NULL
       GROUP BY run_tag
     ) ORDER BY last_recorded_at DESC LIMIT ${lim(limit)}`,
  );
}

/** Failures by error class per run (the runs list's column; errors.sql gives the same per run and stage). */
export async function failuresByRun(
  bq: BigQuery,
  cfg: LookoutConfig,
): Promise<Array<{ run_tag: string; error_class: string; n: number }>> {
  return query(
    bq,
    `SELECT run_tag, error_class, COUNT(*) AS n FROM ${latestView(cfg)} WHERE status = 'failed' AND run_tag IS NOT NULL GROUP BY run_tag, error_class ORDER BY run_tag, n DESC`,
  );
}

export interface AlertRow {
  analysis_id: string;
  workflow_id: string;
  pipeline: string;
  run_tag: string | null;
  bucket: string;
  name: string;
  generation: string;
  label: string | null;
  score: number | null;
  details: string | null;
  objects: Array<{
    label: string;
    score: number;
    x: number;
    y: number;
    w: number;
    h: number;
    anomaly_score: number | null;
  }>;
  width: number | null;
  height: number | null;
  recorded_at: string;
}

const ALERT_COLS =
  'analysis_id, workflow_id, pipeline, run_tag, bucket, name, generation, label, score, details, objects, width, height, recorded_at';

/**
 * Alert episodes (label 'alert': one row per episode, what cctv-attributes writes beside its frame rows),
 * newest first. Frame rows flagged 'abnormal' stay in the table for SQL; an operator reviews episodes.
 */
export async function listAlerts(bq: BigQuery, cfg: LookoutConfig, limit = 500): Promise<AlertRow[]> {
  return query<AlertRow>(
    bq,
    `SELECT ${ALERT_COLS} FROM ${latestView(cfg)} WHERE status = 'ok' AND label = 'alert' ORDER BY recorded_at DESC, score DESC LIMIT ${lim(limit, 5000)}`,
  );
}

/** The [first, last] frames of alert episode rows by workflow id (rows that are not episodes are left out). */
export async function alertSpans(
  bq: BigQuery,
  cfg: LookoutConfig,
  workflowIds: string[],
): Promise<Map<string, [number, number]>> {
  const out = new Map<string, [number, number]>();
  if (workflowIds.length === 0) return out;
  const rows = await query<{ workflow_id: string; details: string | null }>(
    bq,
    `SELECT workflow_id, details FROM ${latestView(cfg)} WHERE workflow_id IN UNNEST(@ids) AND label = 'alert'`,
    { ids: workflowIds },
  );
  for (const r of rows) {
    const d = parseDetails(r.details);
    if (typeof d.start_frame === 'number' && typeof d.end_frame === 'number')
      out.set(r.workflow_id, [d.start_frame, d.end_frame]);
  }
  return out;
}

/** An alert as the review page shows it: the row, what its details say, the newest verdict. */
export interface AlertView extends AlertRow {
  scene: string | null;
  /** The live stream's name, else the video's folder and file name. */
  camera: string;
  reasons: string[];
  /** Attributes behind the reasons (speed, direction, …), for filtering. */
  attributes: string[];
  verdict: string | null;
}

export interface AlertFilter {
  scene?: string;
  camera?: string;
  /** An attribute (speed, appearance, …) or words the reasons contain (case-insensitive). */
  reason?: string;
  /** confirmed, dismissed, or none (not reviewed). */
  verdict?: string;
}

function parseDetails(s: string | null): Record<string, unknown> {
  try {
    const v = JSON.parse(s ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The view of an alert row; `verdict` from the feedback table. */
export function alertView(a: AlertRow, verdict: string | null): AlertView {
  const d = parseDetails(a.details);
  const reasons = typeof d.reasons === 'string' ? d.reasons.split(' | ').filter(Boolean) : [];
  const attributes = typeof d.attributes === 'string' ? d.attributes.split(',').filter(Boolean) : [];
  const camera = typeof d.stream === 'string' ? d.stream : a.name;
  return { ...a, scene: typeof d.scene === 'string' ? d.scene : null, camera, reasons, attributes, verdict };
}

/** The alerts that pass every given filter. */
export function filterAlerts(alerts: ReadonlyArray<AlertView>, f: AlertFilter): AlertView[] {
  const want = (v: string | undefined) => (v && v.trim() ? v.trim().toLowerCase() : undefined);
  const scene = want(f.scene);
  const camera = want(f.camera);
  const reason = want(f.reason);
  const verdict = want(f.verdict);
  return alerts.filter(
    (a) =>
      (!scene || (a.scene ?? '').toLowerCase() === scene) &&
      (!camera || a.camera.toLowerCase() === camera) &&
      (!reason ||
        a.attributes.some((x) => x.toLowerCase() === reason) ||
        a.reasons.some((r) => r.toLowerCase().includes(reason))) &&
      (!verdict || (verdict === 'none' ? a.verdict === null : (a.verdict ?? '').toLowerCase() === verdict)),
  );
}

/** Frame rows of one video (or camera segment) under one pipeline: the alert timeline. */
export async function videoFrames(
  bq: BigQuery,
  cfg: LookoutConfig,
  v: { pipeline: string; bucket: string; name: string; generation: string },
): Promise<Array<{ workflow_id: string; label: string | null; score: number | null; details: string | null }>> {
  return query(
    bq,
    `SELECT workflow_id, label, score, details FROM ${latestView(cfg)}
     WHERE pipeline = @pipeline AND bucket = @bucket AND name = @name AND generation = @generation AND status = 'ok' LIMIT 100000`,
    v,
  );
}

/** One analysis's row, by workflow id (the newest). */
export async function analysisRow(
  bq: BigQuery,
  cfg: LookoutConfig,
  workflowId: string,
): Promise<Record<string, unknown> | undefined> {
  const [r] = await query(bq, `SELECT * FROM ${latestView(cfg)} WHERE workflow_id = @wf`, { wf: workflowId });
  return r;
}

/** Rows of a run (upload page): a short listing, newest first. */
export async function runRows(bq: BigQuery, cfg: LookoutConfig, run: string, limit = 500): Promise<AlertRow[]> {
  return query<AlertRow & { status: string; error_class: string | null }>(
    bq,
    `SELECT ${ALERT_COLS}, status, error_class, error_message FROM ${latestView(cfg)} WHERE run_tag = @run ORDER BY recorded_at DESC LIMIT ${lim(limit)}`,
    { run },
  );
}

export interface FailedRow {
  analysis_id: string;
  workflow_id: string;
  run_id: string;
  pipeline: string;
  run_tag: string | null;
  bucket: string;
  name: string;
  error_class: string | null;
  error_message: string | null;
  failed_stage: string | null;
  attempts: number | null;
  recorded_at: string;
}

/** Failed analyses with their error, newest first (the Failures page; retry selects through failedAnalyses). */
export async function listFailures(bq: BigQuery, cfg: LookoutConfig, limit = 200): Promise<FailedRow[]> {
  return query<FailedRow>(
    bq,
    `SELECT analysis_id, workflow_id, run_id, pipeline, run_tag, bucket, name, error_class, error_message, failed_stage, attempts, recorded_at
     FROM ${latestView(cfg)} WHERE status = 'failed' ORDER BY recorded_at DESC LIMIT ${lim(limit)}`,
  );
}

/**
 * The newest analysed frame of each live stream (rows whose details carry `stream`, written for segments
 * that `lookout stream` recorded). The JSON is read in TypeScript: the details column is free-form text.
 */
export async function liveFrames(
  bq: BigQuery,
  cfg: LookoutConfig,
  limit = 2000,
): Promise<Array<AlertRow & { stream: string; captured_at: string | null; frame: number | null }>> {
  const rows = await query<AlertRow>(
    bq,
    `SELECT ${ALERT_COLS} FROM ${latestView(cfg)} WHERE status = 'ok' AND details LIKE '%"stream"%' ORDER BY recorded_at DESC LIMIT ${lim(limit)}`,
  );
  const newest = new Map<string, AlertRow & { stream: string; captured_at: string | null; frame: number | null }>();
  for (const r of rows) {
    let d: { stream?: unknown; captured_at?: unknown; frame?: unknown };
    try {
      d = JSON.parse(r.details ?? '{}') as typeof d;
    } catch {
      continue;
    }
    if (typeof d.stream !== 'string') continue;
    const captured = typeof d.captured_at === 'string' ? d.captured_at : null;
    const cur = newest.get(d.stream);
    if (!cur || (captured ?? '') > (cur.captured_at ?? ''))
      newest.set(d.stream, {
        ...r,
        stream: d.stream,
        captured_at: captured,
        frame: typeof d.frame === 'number' ? d.frame : null,
      });
  }
  return [...newest.values()].sort((a, b) => a.stream.localeCompare(b.stream));
}

/** The `raster` RECORD as read back from BigQuery (core/types RasterRowFields; any field may come back NULL). */
export type RasterCell = { [K in keyof RasterRowFields]: RasterRowFields[K] | null };

export interface RasterRow {
  workflow_id: string;
  pipeline: string;
  bucket: string;
  name: string;
  generation: string;
  label: string | null;
  score: number | null;
  run_tag: string | null;
  raster: RasterCell;
}

/** The rasters that have chip rows: one entry per raster object (bucket, name, generation). */
export async function listRasters(
  bq: BigQuery,
  cfg: LookoutConfig,
): Promise<
  Array<{
    bucket: string;
    name: string;
    generation: string;
    chips: number;
    raster_width: number | null;
    raster_height: number | null;
  }>
> {
  return query(
    bq,
    `SELECT bucket, name, generation, COUNT(*) AS chips, MAX(raster.raster_width) AS raster_width, MAX(raster.raster_height) AS raster_height
     FROM ${latestView(cfg)} WHERE raster IS NOT NULL AND raster.kind = 'chip'
     GROUP BY bucket, name, generation ORDER BY name`,
  );
}

/** Chip and summary rows of one raster. */
export async function rasterRows(
  bq: BigQuery,
  cfg: LookoutConfig,
  r: { bucket: string; name: string; generation: string },
): Promise<RasterRow[]> {
  return query<RasterRow>(
    bq,
    `SELECT workflow_id, pipeline, bucket, name, generation, label, score, run_tag, raster FROM ${latestView(cfg)}
     WHERE raster IS NOT NULL AND bucket = @bucket AND name = @name AND generation = @generation LIMIT 100000`,
    r,
  );
}

/**
 * Each completed analysis's time in every hop of a run, in ms: object created -> event published -> dispatched
 * -> workflow started -> last stage completed (the row's own offsets, all measured from object creation), for
 * the run page's per-hop histograms. Completed analyses only, as in summary.sql: a failed row has no totals.
 */
export async function runHops(
  bq: BigQuery,
  cfg: LookoutConfig,
  run: string,
): Promise<
  Array<{
    publish: number | null;
    dispatch: number | null;
    start: number | null;
    stages: number | null;
    end_to_end: number | null;
  }>
> {
  return query(
    bq,
    `SELECT published_offset_ms AS publish, dispatched_offset_ms - published_offset_ms AS dispatch,
       workflow_started_offset_ms - dispatched_offset_ms AS start, end_to_end_ms - workflow_started_offset_ms AS stages, end_to_end_ms AS end_to_end
     FROM (${runLatestSql(cfg)}) WHERE status = 'ok' AND end_to_end_ms IS NOT NULL LIMIT 100000`,
    { run },
  );
}
