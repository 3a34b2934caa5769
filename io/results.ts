/**
 * Result rows in BigQuery: exactly one row per analysis in the table itself.
 *
 * Each row carries a deterministic analysis_id (workflow_id/run_id). A first
 * attempt of a record step cannot meet an earlier copy (REJECT_DUPLICATE workflow
 * ids, one record step per analysis), so it inserts at once. A retried attempt
 * (the worker was killed, Temporal lost the completion, BigQuery failed) may
 * follow a write that landed: its row is first looked up by analysis_id and
 * inserted only if absent ("read before retried write"). Temporal starts a retry
 * only after the earlier attempt failed or timed out, so the earlier insert has
 * either landed (and is found) or never will; insertId is still set, so
 * production BigQuery also drops a copy whose first request was still in flight.
 * The embedded stack reloads its row journal into a fresh emulator while the
 * BigQuery front holds inserts back (see insertsHeldFile), so a retry cannot
 * slip in ahead of its own journaled copy. The view <table>_latest still keeps
 * the newest run per workflow_id (a deliberate `lookout retry` is a new run).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BigQuery, TableField } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import { LookoutError, TransientError } from '../core/errors';
import { redact } from '../core/redact';
import type { AnalysisSummary, StageReport } from '../core/types';
import { timeAsync, timeSync } from '../runtime/steps';

export const SCHEMA_PATH = path.join(__dirname, '..', 'infra', 'bigquery', 'analyses.schema.json');

export function loadSchema(): TableField[] {
  return JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf8')) as TableField[];
}

export function viewName(cfg: LookoutConfig): string {
  return `${cfg.bigquery.table}_latest`;
}

/** Fully qualified, backticked table reference for SQL. */
export function tableRef(cfg: LookoutConfig, table = cfg.bigquery.table): string {
  return `\`${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${table}\``;
}

/**
 * The newest row of each analysis among the rows that `where` selects (a SQL condition on the table alias
 * `t`, or none). GROUP BY + ARRAY_AGG(... LIMIT 1) rather than ROW_NUMBER() OVER: the same result, a single
 * aggregation pass on BigQuery, and linear on bigquery-emulator, whose window functions are quadratic
 * (2,000 rows: 120 s with ROW_NUMBER, 1.8 s with ARRAY_AGG).
 */
export function newestPerAnalysisSql(table: string, where?: string): string {
  return `SELECT latest.* FROM (
  SELECT ARRAY_AGG(t ORDER BY t.recorded_at DESC, t.analysis_id DESC LIMIT 1)[OFFSET(0)] AS latest
  FROM ${table} AS t${where ? `\n  WHERE ${where}` : ''}
  GROUP BY t.workflow_id
)`;
}

/** The de-duplicating query behind the _latest view (also usable inline). */
export function latestSql(cfg: LookoutConfig): string {
  return newestPerAnalysisSql(tableRef(cfg));
}

/** One run's rows, newest per analysis: what the _latest view gives for the run, without reading other runs. */
export function runLatestSql(cfg: LookoutConfig, runParam = '@run'): string {
  return newestPerAnalysisSql(tableRef(cfg), `t.run_tag = ${runParam}`);
}

/** The configured dataset, created if missing (a concurrent creator's 409 is fine). */
export async function ensureDataset(bq: BigQuery, cfg: LookoutConfig): Promise<ReturnType<BigQuery['dataset']>> {
  const ds = bq.dataset(cfg.bigquery.dataset);
  const [dsExists] = await ds.exists();
  if (!dsExists) {
    try {
      await ds.create({ location: cfg.bigquery.location });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  return ds;
}

/** Creates dataset, table (partitioned by day, clustered by run and pipeline) and view if missing. Idempotent. */
export async function ensureResultsTable(bq: BigQuery, cfg: LookoutConfig): Promise<void> {
  const ds = await ensureDataset(bq, cfg);
  const table = ds.table(cfg.bigquery.table);
  const [exists] = await table.exists();
  if (!exists) {
    try {
      await table.create({
        schema: { fields: loadSchema() },
        timePartitioning: { type: 'DAY', field: 'recorded_at' },
        clustering: { fields: ['run_tag', 'pipeline'] },
        description: 'Lookout analyses: one row per analysis (read through the _latest view for exactly-once)',
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  if (exists) await addMissingColumns(table);
  const view = ds.table(viewName(cfg));
  const [viewExists] = await view.exists();
  if (!viewExists) {
    try {
      await view.create({ view: { query: latestSql(cfg), useLegacySql: false } });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  } else {
    // A view made by an earlier version (ROW_NUMBER form) is brought up to this one's query.
    const [meta] = await view.getMetadata();
    const q = (meta as { view?: { query?: string } }).view?.query;
    if (q !== undefined && q.trim() !== latestSql(cfg).trim())
      await view.setMetadata({ view: { query: latestSql(cfg), useLegacySql: false } });
  }
}

/**
 * A table made by an earlier version lacks the columns added since (e.g. the `raster` record): they are
 * added, NULLABLE, by a schema update (BigQuery allows appending nullable columns, and new fields inside a
 * RECORD), so rows of this version land in old tables and old rows read NULL there.
 */
export async function addMissingColumns(table: {
  getMetadata(): Promise<unknown>;
  setMetadata(m: object): Promise<unknown>;
}): Promise<string[]> {
  const [meta] = (await table.getMetadata()) as [{ schema?: { fields?: TableField[] } }];
  const merged = mergeFields(meta.schema?.fields ?? [], loadSchema());
  if (merged.added.length === 0) return [];
  // BigQuery's tables.patch appends NULLABLE columns in place (rows already there read NULL). bigquery-emulator
  // answers the patch but keeps its schema, and knows no ALTER TABLE; its tables are created fresh by every
  // `lookout up` (rows come back from the journal), so there an old table does not outlive a session.
  await table.setMetadata({ schema: { fields: merged.fields } });
  return merged.added;
}

/** `have` with every field of `want` it lacks appended (recursively in RECORDs); which were added. */
export function mergeFields(
  have: TableField[],
  want: TableField[],
  prefix = '',
): { fields: TableField[]; added: string[] } {
  const added: string[] = [];
  const fields = have.map((h) => {
    const w = want.find((x) => x.name === h.name);
    if (w && h.type === 'RECORD' && w.type === 'RECORD') {
      const sub = mergeFields(h.fields ?? [], w.fields ?? [], `${prefix}${h.name}.`);
      added.push(...sub.added);
      return { ...h, fields: sub.fields };
    }
    return h;
  });
  for (const w of want) {
    if (have.some((h) => h.name?.toLowerCase() === w.name?.toLowerCase())) continue;
    fields.push({ ...w, mode: w.mode === 'REPEATED' ? 'REPEATED' : 'NULLABLE' });
    added.push(`${prefix}${w.name}`);
  }
  return { fields, added };
}

const iso = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString());
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export type ResultRow = Record<string, unknown> & { analysis_id: string; workflow_id: string };

function stageRow(r: StageReport, origin: number) {
  const off = (t: number) => (Number.isFinite(origin) ? round(t - origin) : null);
  return {
    stage: r.stage,
    pool: r.pool,
    task_queue: r.taskQueue,
    host: r.host,
    attempt: r.attempt,
    scheduled_at: iso(r.scheduledAt),
    started_at: iso(r.startedAt),
    completed_at: iso(r.completedAt),
    scheduled_offset_ms: off(r.scheduledAt),
    started_offset_ms: off(r.startedAt),
    completed_offset_ms: off(r.completedAt),
    queue_ms: round(Math.max(0, r.startedAt - r.scheduledAt)),
    run_ms: round(Math.max(0, r.completedAt - r.startedAt)),
    inference_ms: round(r.inferenceMs),
    batch_size: r.batchSize ?? null,
    execution_provider: r.executionProvider ?? null,
    fell_back: r.fellBack ?? false,
  };
}

/** Builds the row for an analysis summary. Pure: the same summary and time give the same row. */
export function buildRow(s: AnalysisSummary, recordedAt: number): ResultRow {
  return timeSync('rows', () => buildRowNow(s, recordedAt));
}

function buildRowNow(s: AnalysisSummary, recordedAt: number): ResultRow {
  const { input } = s;
  const o = input.object;
  const reports = [s.detect?.report, s.extract?.report, s.score?.report].filter((r): r is StageReport => !!r);
  const last = reports.length ? reports[reports.length - 1].completedAt : undefined;
  const created = Date.parse(o.timeCreated);
  const published = Date.parse(input.trace.publishedAt);
  const machine = s.detect?.machine;
  const objects = s.score?.objects ?? s.detect?.boxes ?? [];
  // Attempts are per stage (each stage is retried on its own): `stages[].attempt` holds each completed stage's,
  // and the row's `attempts` is the most any one stage needed, the failed stage's included, so 1 means every
  // stage succeeded first time. A sum over stages read 3 for a clean three-stage analysis.
  const attempts = Math.max(1, ...reports.map((r) => r.attempt), s.failure ? s.failure.attempts : 0);
  // The analysis's own totals (when it completed, its end-to-end, pipeline and inference time) exist only
  // for an analysis that completed: on a failed row they are NULL, never 0 or a partial sum, so that no
  // percentile over these columns is pulled down by analyses that stopped early. Each stage that did run
  // keeps its own measurements in `stages`; a failure is timed by `recorded_at`.
  const done = !s.failure && last !== undefined;
  return {
    analysis_id: `${s.workflowId}/${s.runId}`,
    workflow_id: s.workflowId,
    run_id: s.runId,
    pipeline: input.pipeline.name,
    run_tag: input.runTag ?? null,
    event_source: input.trace.source,
    bucket: o.bucket,
    name: o.name,
    generation: o.generation,
    size_bytes: o.size,
    content_type: o.contentType ?? null,
    md5_hash: o.md5Hash ?? null,
    crc32c: o.crc32c ?? null,
    width: s.detect?.width ?? null,
    height: s.detect?.height ?? null,
    format: s.detect?.format ?? null,
    models: [
      ...reports
        .filter((r) => r.model)
        .map((r) => ({ stage: r.stage, name: r.model!.name, version: r.model!.version })),
      ...(s.extract?.models ?? [])
        .filter((m) => m.name !== s.extract?.report.model?.name)
        .map((m) => ({ stage: 'extract', name: m.name, version: m.version })),
    ],
    status: s.failure ? 'failed' : 'ok',
    error_class: s.failure?.errorClass ?? null,
    // redact: a failure's text may quote a URL or a library's message; no configured secret enters a row.
    error_message: s.failure ? redact(s.failure.message).slice(0, 2000) : null,
    failed_stage: s.failure?.stage ?? null,
    attempts,
    label: s.score?.label ?? null,
    score: s.score && s.score.score !== null && Number.isFinite(s.score.score) ? round(s.score.score, 6) : null,
    objects: objects.map((b) => ({
      class_id: b.classId,
      label: b.label,
      score: round(b.score, 6),
      x: round(b.x, 2),
      y: round(b.y, 2),
      w: round(b.w, 2),
      h: round(b.h, 2),
      anomaly_score: 'anomalyScore' in b && typeof b.anomalyScore === 'number' ? round(b.anomalyScore, 6) : null,
    })),
    details: s.score?.details ? JSON.stringify(s.score.details) : null,
    object_created_at: iso(created),
    event_published_at: iso(published),
    dispatched_at: iso(Date.parse(input.trace.dispatchedAt)),
    workflow_started_at: iso(s.workflowStartedAt),
    completed_at: done ? iso(last) : null,
    recorded_at: iso(recordedAt),
    published_offset_ms: Number.isFinite(created) && Number.isFinite(published) ? round(published - created) : null,
    dispatched_offset_ms: Number.isFinite(created) ? round(Date.parse(input.trace.dispatchedAt) - created) : null,
    workflow_started_offset_ms: Number.isFinite(created) ? round(s.workflowStartedAt - created) : null,
    stages: reports.map((r) => stageRow(r, created)),
    inference_ms: done ? round(reports.reduce((n, r) => n + r.inferenceMs, 0)) : null,
    pipeline_ms: done && Number.isFinite(published) ? round(last - published) : null,
    end_to_end_ms: done && Number.isFinite(created) ? round(last - created) : null,
    pool: s.detect?.report.pool ?? null,
    host: machine?.host ?? null,
    cores: machine?.cores ?? null,
    memory_total_mb: machine?.memoryTotalMb ?? null,
    memory_free_mb: machine?.memoryFreeMb ?? null,
    platform: machine?.platform ?? null,
    os_release: machine?.osRelease ?? null,
    cpu_model: machine?.cpuModel ?? null,
    node_version: machine?.nodeVersion ?? null,
    onnxruntime_version: machine?.onnxruntimeVersion ?? null,
    execution_provider: s.detect?.report.executionProvider ?? null,
    raster: s.raster ?? null,
  };
}

export interface RowSink {
  insert(rows: ResultRow[]): Promise<void>;
  /**
   * Which of these analysis ids already have a row in the table (asked only for retried writes). `since`: no
   * earlier row can exist (the analyses started then), so the table's day partitions before it are skipped.
   */
  present?(ids: string[], since?: string): Promise<Set<string>>;
}

/** How a row is written: `retried` when an earlier attempt of the same write may have landed. */
export interface WriteOptions {
  retried?: boolean;
}

export function bigquerySink(bq: BigQuery, cfg: LookoutConfig): RowSink {
  const table = bq.dataset(cfg.bigquery.dataset).table(cfg.bigquery.table);
  return {
    async insert(rows) {
      await timeAsync('rows', () =>
        table.insert(
          rows.map((r) => ({ insertId: r.analysis_id, json: r })),
          { raw: true, skipInvalidRows: false, ignoreUnknownValues: false },
        ),
      );
    },
    async present(ids, since) {
      if (ids.length === 0) return new Set();
      // Partition pruning on recorded_at (a day early, for clock skew): on real BigQuery the lookup reads the
      // analysis_id column of the days the retried analyses ran in, not of the whole table.
      const after = since ? ` AND recorded_at >= TIMESTAMP_SUB(TIMESTAMP(@since), INTERVAL 1 DAY)` : '';
      const [rows] = await bq.query({
        query: `SELECT DISTINCT analysis_id FROM ${tableRef(cfg)} WHERE analysis_id IN UNNEST(@ids)${after}`,
        params: since ? { ids, since } : { ids },
        types: since ? { ids: ['STRING'], since: 'STRING' } : { ids: ['STRING'] },
        location: cfg.bigquery.location,
      });
      return new Set((rows as Array<{ analysis_id: string }>).map((r) => r.analysis_id));
    },
  };
}

/**
 * While this file exists the embedded stack's BigQuery front refuses inserts (503, retried by the writers):
 * `lookout up` creates it before it starts a fresh emulator and removes it once the journal is loaded, so a
 * retried write looks for its row only after the journaled copy is back.
 */
export function insertsHeldFile(cfg: LookoutConfig): string {
  return path.join(cfg.home, 'data', 'bigquery', 'importing');
}

/** Where the embedded stack keeps its row journal (bigquery-emulator holds rows in memory only). */
export function rowJournalDir(cfg: LookoutConfig): string {
  return path.join(cfg.home, 'data', 'bigquery', 'journal');
}

/**
 * The embedded stack's durable copy of the rows: each batch is appended to this process's own journal file
 * before it is inserted (write-ahead: a crash between the two can only duplicate a row, which the _latest
 * view absorbs, never lose one). `lookout up` loads the journals into the fresh emulator, so `down` has
 * nothing to export: a SELECT * of 100,000 rows made bigquery-emulator grow past 19 GiB.
 */
export function journalSink(inner: RowSink, dir: string): RowSink {
  const file = path.join(dir, `rows-${process.pid}-${Date.now().toString(36)}.ndjson`);
  let made: Promise<unknown> | undefined;
  return {
    async insert(rows) {
      await (made ??= fs.promises.mkdir(dir, { recursive: true }));
      await fs.promises.appendFile(
        file,
        timeSync('rows', () => rows.map((r) => JSON.stringify(r) + '\n').join('')),
      );
      await inner.insert(rows);
    },
    ...(inner.present ? { present: (ids: string[], since?: string) => inner.present!(ids, since) } : {}),
  };
}

/** BigQuery refused this row (a schema mismatch, a value out of range): writing it again cannot help. */
export class RowRejectedError extends LookoutError {
  constructor(
    readonly analysisId: string,
    message: string,
    cause?: unknown,
  ) {
    super('RowRejected', message, { retryable: false, cause });
  }
}

interface PartialFailure {
  name: 'PartialFailureError';
  errors: Array<{
    row?: { insertId?: string; json?: { analysis_id?: string } } & { analysis_id?: string };
    errors?: Array<{ reason?: string; message?: string }>;
  }>;
}

function isPartialFailure(err: unknown): err is PartialFailure {
  return (
    (err as { name?: string })?.name === 'PartialFailureError' && Array.isArray((err as { errors?: unknown }).errors)
  );
}

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

/** Anything but a refused row: BigQuery away, overloaded, the table missing. Retried until it works. */
function passing(err: unknown): TransientError {
  return new TransientError('RowWriteFailed', `writing result rows: ${(err as Error)?.message ?? String(err)}`, err);
}

/**
 * A minimal failed row standing in for one BigQuery refused: identity, the REQUIRED columns, and why.
 * Only columns every version of the table has, so that it lands where the full row did not.
 */
export function rejectedRowStandIn(row: ResultRow, reason: string, recordedAt: number): ResultRow {
  const keep = [
    'analysis_id',
    'workflow_id',
    'run_id',
    'pipeline',
    'run_tag',
    'event_source',
    'bucket',
    'name',
    'generation',
    'size_bytes',
    'content_type',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const k of keep) if (row[k] !== undefined) out[k] = row[k];
  return {
    ...out,
    analysis_id: row.analysis_id,
    workflow_id: row.workflow_id,
    status: 'failed',
    error_class: 'RowRejected',
    error_message: `BigQuery refused the result row: ${reason}`.slice(0, 2000),
    failed_stage: null,
    recorded_at: new Date(recordedAt).toISOString(),
  };
}

/**
 * Writes an analysis' row; if BigQuery refuses it, writes its stand-in instead. Returns which landed.
 * Throws RowRejectedError (non-retryable) if the stand-in is refused too, and a TransientError for
 * everything else (the record activity is retried without limit).
 */
export async function writeResultRow(
  rows: Pick<RowBatcher, 'write'>,
  row: ResultRow,
  now: () => number = Date.now,
  opts: WriteOptions = {},
): Promise<'row' | 'stand-in'> {
  try {
    await rows.write(row, opts);
    return 'row';
  } catch (err) {
    if (!(err instanceof RowRejectedError)) throw err;
    await rows.write(rejectedRowStandIn(row, err.message, now()), opts);
    return 'stand-in';
  }
}

type Pending = { row: ResultRow; retried: boolean; resolve: () => void; reject: (e: unknown) => void };

/**
 * Gathers rows from concurrent record activities into one insertAll call,
 * bounded by size and delay; each caller learns whether its own row landed.
 * Copies of one analysis_id in a batch are inserted once; a retried row whose
 * analysis_id the table already holds is not inserted again (one lookup per
 * batch, only when it holds retried rows). Otherwise:
 * a row BigQuery refused fails with RowRejectedError, the rows it took down
 * with it (reason "stopped"; or every row of a batch refused as a whole with
 * 400, after which each is tried alone) fail as passing faults or land.
 */
export class RowBatcher {
  private pending: Pending[] = [];
  private timer: { timeout?: NodeJS.Timeout; immediate?: NodeJS.Immediate } | undefined;
  private writing = Promise.resolve();
  /** Inserts sent and not yet answered. */
  private inflight = 0;

  /**
   * maxDelayMs bounds how long a row waits while an insert is in flight (rows arriving then go together in
   * the next one); a row written while no insert is in flight goes at once (on the next turn of the event
   * loop, with the rows written in the same turn). Waiting the full delay for a lone row cost every
   * analysis at light load ~125 ms on average between its last stage and its row (docs/performance.md).
   */
  constructor(
    private readonly sink: RowSink,
    private readonly opts: { maxRows: number; maxDelayMs: number; idleFlush?: boolean } = {
      maxRows: 500,
      maxDelayMs: 250,
      idleFlush: true,
    },
  ) {}

  write(row: ResultRow, opts: WriteOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row, retried: opts.retried === true, resolve, reject });
      if (this.pending.length >= this.opts.maxRows) void this.flush();
      else if (!this.timer) {
        const idle = this.opts.idleFlush !== false && this.inflight === 0;
        this.timer = idle
          ? { immediate: setImmediate(() => void this.flush()) }
          : { timeout: setTimeout(() => void this.flush(), this.opts.maxDelayMs) };
      }
    });
  }

  flush(): Promise<void> {
    if (this.timer) {
      if (this.timer.timeout) clearTimeout(this.timer.timeout);
      if (this.timer.immediate) clearImmediate(this.timer.immediate);
      this.timer = undefined;
    }
    const batch = this.pending.splice(0);
    if (batch.length === 0) return this.writing;
    this.inflight++;
    this.writing = this.writing
      .then(() => this.deduplicate(batch))
      .finally(() => {
        this.inflight--;
        // Rows that came while this insert was out wait no longer than it took.
        if (this.pending.length > 0 && this.opts.idleFlush !== false) void this.flush();
      });
    return this.writing;
  }

  /** Settles the copies of a row with its first writer, drops retried rows that already landed, inserts the rest. */
  private async deduplicate(batch: Pending[]): Promise<void> {
    const first = new Map<string, Pending>();
    const copies = new Map<Pending, Pending[]>();
    for (const b of batch) {
      const f = first.get(b.row.analysis_id);
      // A stand-in replaces a refused row under the same id: only identical copies are merged.
      if (f && JSON.stringify(f.row) === JSON.stringify(b.row)) {
        f.retried ||= b.retried;
        copies.get(f)!.push(b);
      } else if (!f) {
        first.set(b.row.analysis_id, b);
        copies.set(b, [b]);
      } else copies.set(b, [b]);
    }
    const fanOut = (p: Pending): Pending => ({
      ...p,
      resolve: () => copies.get(p)!.forEach((c) => c.resolve()),
      reject: (e) => copies.get(p)!.forEach((c) => c.reject(e)),
    });
    let todo = [...copies.keys()].map(fanOut);
    const retried = todo.filter((b) => b.retried);
    if (retried.length > 0 && this.sink.present) {
      const started = retried.map((b) => Date.parse(String(b.row.workflow_started_at ?? '')));
      const since = started.every(Number.isFinite) ? new Date(Math.min(...started)).toISOString() : undefined;
      let landed: Set<string>;
      try {
        landed = await this.sink.present(
          retried.map((b) => b.row.analysis_id),
          since,
        );
      } catch (err) {
        todo.forEach((b) => b.reject(passing(err)));
        return;
      }
      for (const b of todo) if (b.retried && landed.has(b.row.analysis_id)) b.resolve();
      todo = todo.filter((b) => !(b.retried && landed.has(b.row.analysis_id)));
    }
    if (todo.length > 0) await this.insert(todo, true);
  }

  private async insert(batch: Pending[], split: boolean): Promise<void> {
    try {
      await this.sink.insert(batch.map((b) => b.row));
      batch.forEach((b) => b.resolve());
    } catch (err) {
      if (isPartialFailure(err)) {
        const refused = new Map<string, string>();
        for (const e of err.errors) {
          const id = e.row?.insertId ?? e.row?.json?.analysis_id ?? e.row?.analysis_id;
          const real = (e.errors ?? []).filter((x) => x.reason !== 'stopped');
          if (id && real.length > 0) refused.set(id, real.map((x) => `${x.reason}: ${x.message}`).join('; '));
        }
        for (const b of batch) {
          const why = refused.get(b.row.analysis_id);
          b.reject(why ? new RowRejectedError(b.row.analysis_id, why, err) : passing(err));
        }
      } else if (httpCode(err) === 400 && split && batch.length > 1) {
        // Refused as a whole: find the culprit by trying each row alone.
        for (const b of batch) await this.insert([b], false);
      } else if (httpCode(err) === 400 && batch.length === 1) {
        batch[0].reject(new RowRejectedError(batch[0].row.analysis_id, (err as Error).message, err));
      } else {
        batch.forEach((b) => b.reject(passing(err)));
      }
    }
  }
}
