/** Reading result rows back from BigQuery (always through the de-duplicating view). */
import type { BigQuery } from '@google-cloud/bigquery';
import type { LookoutConfig } from './config';
import { tableRef, viewName } from './results';

export async function query<T = Record<string, unknown>>(bq: BigQuery, sql: string, params?: Record<string, unknown>): Promise<T[]> {
  const [rows] = await bq.query({ query: sql, params, useLegacySql: false });
  return rows as T[];
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

export async function rowsForRun(bq: BigQuery, cfg: LookoutConfig, runTag: string): Promise<RowSummary[]> {
  return query<RowSummary>(
    bq,
    `SELECT name, generation, status, label, score, ARRAY_LENGTH(objects) AS n_objects,
       (SELECT STRING_AGG(CONCAT(l, ' x', CAST(c AS STRING)), ', ') FROM (SELECT o.label AS l, COUNT(*) AS c FROM UNNEST(objects) o GROUP BY o.label ORDER BY c DESC, l)) AS classes,
       error_class, error_message, inference_ms, end_to_end_ms, pool
     FROM ${latestView(cfg)} WHERE run_tag = @run ORDER BY name`,
    { run: runTag },
  );
}

export async function countForRun(bq: BigQuery, cfg: LookoutConfig, runTag: string): Promise<number> {
  const [r] = await query<{ n: number }>(bq, `SELECT COUNT(*) AS n FROM ${latestView(cfg)} WHERE run_tag = @run`, { run: runTag });
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
  const fmt = (cells: string[]) => cells.map((c, i) => (c.length > w[i] ? c.slice(0, w[i] - 1) + '…' : c.padEnd(w[i]))).join('  ');
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(fmt)].join('\n');
}
