/** `lookout report`: runs infra/sql/*.sql for a run (and a comparison run), prints tables, writes an HTML chart. */
import fs from 'node:fs';
import path from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import { query } from '../io/query';
import { runLatestSql, tableRef, viewName } from '../io/results';

export const SQL_DIR = path.join(__dirname, '..', 'infra', 'sql');

/** Reads a report query and points it at this deployment's view (the files say `lookout.analyses_latest`). */
export function loadSql(cfg: LookoutConfig, name: string): string {
  const sql = fs.readFileSync(path.join(SQL_DIR, `${name}.sql`), 'utf8');
  return sql
    .replace(/`lookout\.analyses_latest`/g, `\`${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${viewName(cfg)}\``)
    .replace(/`lookout\.analyses`/g, tableRef(cfg));
}

type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === 'object' && v && 'value' in v) return String((v as { value: unknown }).value);
  return String(v);
}

export function formatTable(rows: Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]);
  const body = rows.map((r) => cols.map((c) => cell(r[c])));
  const w = cols.map((c, i) => Math.min(48, Math.max(c.length, ...body.map((b) => b[i].length))));
  const line = (cells: string[]) =>
    cells.map((c, i) => (c.length > w[i] ? c.slice(0, w[i] - 1) + '…' : c.padStart(w[i]))).join('  ');
  return [line(cols), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

export interface Report {
  run: string;
  vs?: string;
  sections: Array<{ title: string; rows: Row[] }>;
  latencies: number[];
  /** Analyses finished per second (ok and failed; throughput.sql). */
  timeline: Array<{ second: number; finished: number; failed: number }>;
}

export async function buildReport(bq: BigQuery, cfg: LookoutConfig, run: string, vs?: string): Promise<Report> {
  const params = { run, vs: vs ?? run };
  const sections: Report['sections'] = [];
  for (const [title, file] of [
    ['Summary (ms)', 'summary'],
    ['Stages: queue wait and run time (ms)', 'stages'],
    ['Queue wait per pool (ms)', 'queue_wait_by_pool'],
    ['Errors by class', 'errors'],
  ] as const) {
    sections.push({ title, rows: await query(bq, loadSql(cfg, file), params) });
  }
  if (vs)
    sections.push({ title: `Comparison: ${run} vs ${vs}`, rows: await query(bq, loadSql(cfg, 'compare'), params) });
  const timeline = (
    await query<{ second: number; finished: number; failed: number }>(bq, loadSql(cfg, 'throughput'), params)
  ).map((r) => ({ second: Number(r.second), finished: Number(r.finished), failed: Number(r.failed) }));
  // Completed analyses only: a failed one has no end-to-end time (and rows written before that rule had one).
  const lat = await query<{ e: number }>(
    bq,
    `SELECT end_to_end_ms AS e FROM (${runLatestSql(cfg)}) WHERE status = 'ok' AND end_to_end_ms IS NOT NULL`,
    { run },
  );
  return { run, vs, sections, latencies: lat.map((r) => Number(r.e)).sort((a, b) => a - b), timeline };
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** A self-contained HTML page: latency histogram and throughput timeline as inline SVG, plus the tables. */
export function reportHtml(r: Report): string {
  const W = 640;
  const H = 220;
  const pad = 36;
  const bars = (values: number[], labels: string[], color: string, title: string, xLabel: string) => {
    const max = Math.max(1, ...values);
    const bw = (W - 2 * pad) / Math.max(1, values.length);
    const rects = values
      .map(
        (v, i) =>
          `<rect x="${(pad + i * bw).toFixed(1)}" y="${(H - pad - ((H - 2 * pad) * v) / max).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${(((H - 2 * pad) * v) / max).toFixed(1)}" fill="${color}"><title>${esc(labels[i])}: ${v}</title></rect>`,
      )
      .join('');
    const ticks = [0, Math.floor(values.length / 2), values.length - 1]
      .filter((i, k, a) => i >= 0 && a.indexOf(i) === k)
      .map(
        (i) =>
          `<text x="${(pad + i * bw).toFixed(1)}" y="${H - pad + 14}" font-size="10">${esc(labels[i] ?? '')}</text>`,
      )
      .join('');
    return `<h3>${esc(title)}</h3><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" style="background:#fafafa;border:1px solid #ddd"><text x="4" y="14" font-size="10">max ${max}</text>${rects}${ticks}<text x="${W / 2}" y="${H - 4}" font-size="11" text-anchor="middle">${esc(xLabel)}</text></svg>`;
  };
  const lat = r.latencies;
  let hist = '';
  if (lat.length) {
    const lo = lat[0];
    const hi = lat[lat.length - 1];
    const nb = 30;
    const step = Math.max(1e-9, (hi - lo) / nb);
    const counts = new Array<number>(nb).fill(0);
    for (const v of lat) counts[Math.min(nb - 1, Math.floor((v - lo) / step))]++;
    hist = bars(
      counts,
      counts.map((_, i) => `${Math.round(lo + i * step)} ms`),
      '#3b7dd8',
      `End-to-end latency distribution (${lat.length} analyses)`,
      'end-to-end ms (object created → last stage completed)',
    );
  }
  const secs = r.timeline.length ? r.timeline[r.timeline.length - 1].second + 1 : 0;
  const per = new Array<number>(Math.max(0, secs)).fill(0);
  for (const t of r.timeline) if (t.second >= 0) per[t.second] = t.finished;
  const failed = r.timeline.reduce((n, t) => n + t.failed, 0);
  const tl = per.length
    ? bars(
        per,
        per.map((_, i) => `${i} s`),
        '#2a9d55',
        `Throughput: analyses finished per second (${failed} of them failed)`,
        'seconds since the first object was created',
      )
    : '';
  const tables = r.sections.map((s) => `<h3>${esc(s.title)}</h3><pre>${esc(formatTable(s.rows))}</pre>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Lookout report ${esc(r.run)}</title><style>body{font-family:sans-serif;margin:2em;max-width:1000px}pre{background:#f4f4f4;padding:.6em;overflow:auto}</style></head><body><h1>Lookout load-test report: ${esc(r.run)}${r.vs ? ` vs ${esc(r.vs)}` : ''}</h1>${hist}${tl}${tables}</body></html>`;
}
