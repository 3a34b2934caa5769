/** Reading result rows back from BigQuery (always through the de-duplicating view). */
import type { BigQuery } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import { runLatestSql, tableRef, viewName } from './results';

interface Field {
  name: string;
  type: string;
  mode?: string;
  fields?: Field[];
}

/** TIMESTAMP cells come as float seconds, int64 micros or (bigquery-emulator, nested) RFC 3339 text. */
export function timestampCell(v: string): string {
  if (/^-?\d+(\.\d*)?([eE][+-]?\d+)?$/.test(v)) {
    const n = Number(v);
    const ms = /[.eE]/.test(v) || Math.abs(n) < 1e12 ? n * 1000 : Math.abs(n) >= 1e15 ? n / 1000 : n;
    return new Date(ms).toISOString();
  }
  const t = Date.parse(v);
  return Number.isFinite(t) ? new Date(t).toISOString() : v;
}

function cell(f: Field, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (f.mode === 'REPEATED') return (v as Array<{ v: unknown }>).map((x) => cell({ ...f, mode: 'NULLABLE' }, x.v));
  switch (f.type) {
    case 'RECORD':
    case 'STRUCT': {
      const cells = (v as { f: Array<{ v: unknown }> }).f;
      return Object.fromEntries((f.fields ?? []).map((sub, i) => [sub.name, cell(sub, cells[i]?.v)]));
    }
    case 'INTEGER':
    case 'INT64':
    case 'FLOAT':
    case 'FLOAT64':
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return Number(v);
    case 'BOOLEAN':
    case 'BOOL':
      return v === true || v === 'true';
    case 'TIMESTAMP':
      return timestampCell(String(v));
    default:
      return v;
  }
}

/** Converts the API's f/v rows with their schema into plain objects (timestamps as ISO 8601 strings). */
export function parseRows(
  schema: { fields?: Field[] } | undefined,
  rows: Array<{ f: Array<{ v: unknown }> }> | undefined,
): Record<string, unknown>[] {
  const fields = schema?.fields ?? [];
  return (rows ?? []).map((r) => Object.fromEntries(fields.map((f, i) => [f.name, cell(f, r.f[i]?.v)])));
}

/**
 * Runs a query and returns plain rows (timestamps as ISO 8601 text). The client's own row parsing is
 * skipped, so that this reads the bare bigquery-emulator too (its nested TIMESTAMPs are RFC 3339 text the
 * client cannot parse); the embedded stack's endpoint (infra/bigquery-api) fixes that for every client.
 */
export async function query<T = Record<string, unknown>>(
  bq: BigQuery,
  sql: string,
  params?: Record<string, unknown>,
): Promise<T[]> {
  const [job] = await bq.createQueryJob({ query: sql, params, useLegacySql: false });
  const out: Record<string, unknown>[] = [];
  let pageToken: string | undefined;
  do {
    const getResults = job.getQueryResults.bind(job) as unknown as (o: object) => Promise<unknown>;
    const res = (await getResults({ skipParsing: true, autoPaginate: false, pageToken, maxResults: 10_000 })) as [
      Array<{ f: Array<{ v: unknown }> }>,
      { pageToken?: string } | null,
      { schema?: { fields?: Field[] }; pageToken?: string },
    ];
    out.push(...parseRows(res[2]?.schema, res[0]));
    pageToken = res[2]?.pageToken ?? res[1]?.pageToken ?? undefined;
  } while (pageToken);
  return out as T[];
}

export function latestView(cfg: LookoutConfig): string {
  return tableRef(cfg, viewName(cfg));
}

export interface RowSummary {
  name: string;
  generation: string;
  status: string;
  label: string | null;
  score: number | null;
  n_objects: number;
  classes: string | null;
  error_class: string | null;
  error_message: string | null;
  inference_ms: number | null;
  end_to_end_ms: number | null;
  pool: string | null;
}

/** Rows that are one analysis each: a raster's chip rows are parts of its analysis (its summary row counts). */
export const NOT_A_CHIP = "(raster IS NULL OR raster.kind != 'chip')";

export async function rowsForRun(bq: BigQuery, cfg: LookoutConfig, runTag: string): Promise<RowSummary[]> {
  return query<RowSummary>(
    bq,
    `SELECT name, generation, status, label, score, ARRAY_LENGTH(objects) AS n_objects,
       (SELECT STRING_AGG(CONCAT(l, ' x', CAST(c AS STRING)), ', ') FROM (SELECT o.label AS l, COUNT(*) AS c FROM UNNEST(objects) o GROUP BY o.label ORDER BY c DESC, l)) AS classes,
       error_class, error_message, inference_ms, end_to_end_ms, pool
     FROM (${runLatestSql(cfg)}) WHERE ${NOT_A_CHIP} ORDER BY name`,
    { run: runTag },
  );
}

/**
 * Analyses of a run that have a row: distinct workflow ids of the run on the table (the same
 * answer as the view, and the cheapest query for it: this is polled while a run is in flight).
 */
export async function countForRun(bq: BigQuery, cfg: LookoutConfig, runTag: string): Promise<number> {
  const [r] = await query<{ n: number }>(
    bq,
    `SELECT COUNT(DISTINCT workflow_id) AS n FROM ${tableRef(cfg)} WHERE run_tag = @run AND ${NOT_A_CHIP}`,
    { run: runTag },
  );
  return Number(r?.n ?? 0);
}

export function formatRows(rows: RowSummary[]): string {
  const head = ['object', 'status', 'label', 'score', 'objects', 'classes / error', 'infer ms', 'e2e ms'];
  const body = rows.map((r) => [
    r.name,
    r.status,
    r.label ?? '',
    r.score === null ? '' : Number(r.score).toFixed(3),
    String(r.n_objects ?? 0),
    r.status === 'ok' ? (r.classes ?? '') : `${r.error_class}: ${(r.error_message ?? '').slice(0, 60)}`,
    r.inference_ms === null ? '' : Number(r.inference_ms).toFixed(1),
    r.end_to_end_ms === null ? '' : Number(r.end_to_end_ms).toFixed(0),
  ]);
  const w = head.map((h, i) => Math.min(70, Math.max(h.length, ...body.map((b) => b[i].length))));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (c.length > w[i] ? c.slice(0, w[i] - 1) + '…' : c.padEnd(w[i]))).join('  ');
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(fmt)].join('\n');
}

/** A failed analysis as `lookout retry` selects it: what dispatch/retry.ts needs to start it again. */
export interface FailedAnalysis extends RetryRow {
  error_class: string;
}

/** What a retry needs of a row (dispatch/retry.ts): the analysis and the object version it read. */
export interface RetryRow {
  workflow_id: string;
  pipeline: string;
  bucket: string;
  name: string;
  generation: string;
  run_tag: string | null;
}

/**
 * Failed analyses in the de-duplicating view, oldest first: the selection of `lookout retry` (and of the
 * review UI's retry button, which passes a workflow id). Every filter is optional.
 */
export async function failedAnalyses(
  bq: BigQuery,
  cfg: LookoutConfig,
  filter: { run?: string; errorClass?: string; workflowId?: string },
  limit: number,
): Promise<FailedAnalysis[]> {
  const where = [`status = 'failed'`];
  const params: Record<string, unknown> = {};
  const filters: Array<[string | undefined, string, string]> = [
    [filter.run, 'run_tag', 'run'],
    [filter.errorClass, 'error_class', 'ec'],
    [filter.workflowId, 'workflow_id', 'wf'],
  ];
  for (const [value, col, param] of filters) {
    if (value === undefined) continue;
    where.push(`${col} = @${param}`);
    params[param] = value;
  }
  // Integers inline (validated): the emulator rejects numeric query parameters.
  const n = Math.max(1, Math.floor(Number(limit)));
  return query<FailedAnalysis>(
    bq,
    `SELECT workflow_id, pipeline, bucket, name, generation, run_tag, error_class FROM ${latestView(cfg)} WHERE ${where.join(' AND ')} ORDER BY recorded_at LIMIT ${n}`,
    params,
  );
}
