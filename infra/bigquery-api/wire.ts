/**
 * What the BigQuery API front of the embedded stack changes on the wire, as pure functions (the server in
 * ./server.ts only moves bytes): timestamps in the form the client asked for, at any depth; query errors
 * with the reason and HTTP status BigQuery gives them; pages of rows.
 *
 * Why these and no more: bigquery-emulator v0.6.6 answers in three ways that the official clients cannot
 * read, found by running google-cloud-bigquery 3.x and @google-cloud/bigquery 8 against it:
 *  - TIMESTAMPs inside a STRUCT or ARRAY come back as RFC 3339 text cut to whole seconds
 *    ('2026-12-01T03:02:13Z'); top-level ones as decimal seconds with the fraction's leading zeros dropped
 *    (01.075 s is written '…01.75000'), or right, as int64 microseconds, when the request carries
 *    formatOptions.useInt64Timestamp as a URL parameter. The clients ask for int64 microseconds (Python in
 *    the URL, Node's jobs.query in the body) and parse every TIMESTAMP, nested or not, so. This front always
 *    asks the emulator for microseconds and writes every TIMESTAMP in the form the client asked for.
 *  - every query error is `jobInternalError` (HTTP 500 or a job errorResult), which both clients treat as
 *    passing and retry: a typo in a query hung the Python client for 40 minutes. The emulator is a
 *    deterministic in-process engine, so a query that failed once fails again: it is the query's error.
 *  - getQueryResults and tabledata.list ignore maxResults / pageToken and return every row.
 */

export interface Field {
  name: string;
  type: string;
  mode?: string;
  fields?: Field[];
}

export interface Cell {
  v: unknown;
}

export interface Row {
  f: Cell[];
}

/** How the client asked for TIMESTAMP values (formatOptions): microseconds, seconds, or ISO 8601 text. */
export type TimestampFormat = 'INT64' | 'FLOAT64' | 'ISO8601_STRING';

/** The format asked for, from the URL (getQueryResults, tabledata.list) or the body (jobs.query). */
export function requestedFormat(
  params: URLSearchParams,
  body?: { formatOptions?: { useInt64Timestamp?: boolean; timestampOutputFormat?: string } },
): TimestampFormat {
  const out = params.get('formatOptions.timestampOutputFormat') ?? body?.formatOptions?.timestampOutputFormat;
  if (out === 'INT64' || out === 'FLOAT64' || out === 'ISO8601_STRING') return out;
  const int = params.get('formatOptions.useInt64Timestamp') ?? body?.formatOptions?.useInt64Timestamp;
  if (int === true || (typeof int === 'string' && /^(true|1)$/i.test(int))) return 'INT64';
  // BigQuery's REST default is floating-point seconds.
  return 'FLOAT64';
}

const MICROS = 1_000_000n;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i;
const INTEGER = /^-?\d+$/;
const DECIMAL = /^(-?)(\d+)\.(\d*)$/;

/**
 * Microseconds since the epoch of a TIMESTAMP cell as the emulator writes it when asked for int64
 * microseconds: an integer (top level) or RFC 3339 text (nested). A decimal is read as seconds (the
 * emulator's default form, which this front never asks for: its fraction is wrong below 0.1 s). Null when
 * the text is not a timestamp.
 */
export function timestampMicros(raw: string): bigint | null {
  const s = raw.trim();
  let m = RFC3339.exec(s);
  if (m) {
    const [, y, mo, d, h, mi, se, frac, zone] = m;
    const seconds = BigInt(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se)) / 1000);
    let micros = seconds * MICROS + BigInt((frac ?? '').slice(0, 6).padEnd(6, '0'));
    if (zone && !/^(Z|UTC)$/i.test(zone)) {
      const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
      const offset = BigInt((Number(zm[2]) * 60 + Number(zm[3] ?? 0)) * 60) * MICROS;
      micros = zm[1] === '+' ? micros - offset : micros + offset;
    }
    return micros;
  }
  if (INTEGER.test(s)) return BigInt(s);
  m = DECIMAL.exec(s);
  if (m) {
    // Decimal seconds, read digit by digit: a double cannot hold 16+ significant digits.
    const [, sign, whole, frac] = m;
    const micros = BigInt(whole) * MICROS + BigInt((frac ?? '').slice(0, 6).padEnd(6, '0'));
    return sign === '-' ? -micros : micros;
  }
  if (/^-?\d+(\.\d+)?[eE][+-]?\d+$/.test(s)) {
    const n = Number(s);
    return Number.isFinite(n) ? BigInt(Math.round(n * 1e6)) : null;
  }
  return null;
}

/** A TIMESTAMP in the form the client asked for (BigQuery's own forms). */
export function formatTimestamp(micros: bigint, f: TimestampFormat): string {
  if (f === 'INT64') return micros.toString();
  const neg = micros < 0n;
  const abs = neg ? -micros : micros;
  const frac = (abs % MICROS).toString().padStart(6, '0');
  if (f === 'FLOAT64') return `${neg ? '-' : ''}${abs / MICROS}.${frac}`;
  const floorSeconds = micros >= 0n || micros % MICROS === 0n ? micros / MICROS : micros / MICROS - 1n;
  const iso = new Date(Number(floorSeconds) * 1000).toISOString().slice(0, 19);
  return `${iso}.${(((micros % MICROS) + MICROS) % MICROS).toString().padStart(6, '0')}Z`;
}

function rewriteValue(field: Field, v: unknown, f: TimestampFormat): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (field.mode === 'REPEATED') {
    if (!Array.isArray(v)) return v;
    const one = { ...field, mode: 'NULLABLE' };
    return (v as Cell[]).map((c) => ({ ...c, v: rewriteValue(one, c?.v, f) }));
  }
  if (field.type === 'RECORD' || field.type === 'STRUCT') {
    const row = v as Row;
    if (!row || !Array.isArray(row.f)) return v;
    return { ...row, f: rewriteCells(field.fields ?? [], row.f, f) };
  }
  if (field.type === 'TIMESTAMP' && typeof v === 'string') {
    const micros = timestampMicros(v);
    return micros === null ? v : formatTimestamp(micros, f);
  }
  return v;
}

function rewriteCells(fields: Field[], cells: Cell[], f: TimestampFormat): Cell[] {
  return cells.map((c, i) => (fields[i] ? { ...c, v: rewriteValue(fields[i], c?.v, f) } : c));
}

/** Every TIMESTAMP of every row, at any depth, in format `f`; all other cells unchanged. */
export function rewriteRows(
  fields: Field[] | undefined,
  rows: Row[] | undefined,
  f: TimestampFormat,
): Row[] | undefined {
  if (!rows || !fields) return rows;
  return rows.map((r) => ({ ...r, f: rewriteCells(fields, r.f ?? [], f) }));
}

/**
 * tabledata.list's selectedFields (top-level names; the emulator returns every column): the table's fields
 * that were asked for, in the table's order, and the same cells of each row.
 */
export function selectFields(fields: Field[], rows: Row[], selected: string | null): { fields: Field[]; rows: Row[] } {
  if (!selected) return { fields, rows };
  const names = new Set(
    selected
      .split(',')
      .map((n) => n.trim().split('.')[0])
      .filter(Boolean),
  );
  const keep = fields.map((f, i) => (names.has(f.name) ? i : -1)).filter((i) => i >= 0);
  return { fields: keep.map((i) => fields[i]), rows: rows.map((r) => ({ ...r, f: keep.map((i) => r.f[i]) })) };
}

/** One page of rows: startIndex or pageToken (the proxy's tokens are start indexes), maxResults. */
export function pageOf<T>(
  rows: T[],
  params: URLSearchParams,
  body?: { maxResults?: number },
): { rows: T[]; pageToken?: string } {
  const token = params.get('pageToken');
  const start = Math.max(0, Number(token ?? params.get('startIndex') ?? 0) || 0);
  const maxRaw = params.get('maxResults') ?? body?.maxResults;
  const max = maxRaw === undefined || maxRaw === null || maxRaw === '' ? Infinity : Math.max(0, Number(maxRaw));
  const end = Math.min(rows.length, start + max);
  return { rows: rows.slice(start, end), pageToken: end < rows.length && max > 0 ? String(end) : undefined };
}

export interface ErrorProto {
  reason?: string;
  message?: string;
  location?: string;
  debugInfo?: string;
  domain?: string;
}

/** What the emulator's SQLite store says when it is only busy: worth a retry, as BigQuery's backendError is. */
const TRANSIENT = /database is locked|SQLITE_BUSY|deadline exceeded|connection (?:reset|refused)|unexpected EOF/i;

/**
 * A query's error as BigQuery reports it. A missing table or dataset is `notFound` (404), anything else the
 * engine rejected is `invalidQuery` (400); neither is retried by the clients, as on BigQuery. A busy store
 * is `backendError` (503), which they retry.
 */
export function queryError(message: string): { status: number; proto: ErrorProto } {
  const text = message.replace(/^(jobInternalError|internalError):\s*/, '');
  if (TRANSIENT.test(text)) return { status: 503, proto: { reason: 'backendError', message: text, domain: 'global' } };
  if (/\bnot\s*found\b/i.test(text))
    return { status: 404, proto: { reason: 'notFound', message: text, location: 'query', domain: 'global' } };
  return { status: 400, proto: { reason: 'invalidQuery', message: text, location: 'query', domain: 'global' } };
}

/** The REST error body the clients parse (google.rpc status names included). */
export function errorBody(
  status: number,
  proto: ErrorProto,
): { error: { code: number; message: string; errors: ErrorProto[]; status: string } } {
  const name: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    404: 'NOT_FOUND',
    409: 'ALREADY_EXISTS',
    500: 'INTERNAL',
    502: 'UNAVAILABLE',
    503: 'UNAVAILABLE',
  };
  return { error: { code: status, message: proto.message ?? '', errors: [proto], status: name[status] ?? 'UNKNOWN' } };
}

/**
 * Queries the front refuses rather than pass on, because they make bigquery-emulator v0.6.6 exit (taking
 * every table of the embedded stack with it until `lookout up`): APPROX_QUANTILES with IGNORE NULLS panics
 * in its aggregator. Returns the reason, or undefined for a query that may go through.
 */
export function refusedQuery(sql: string | undefined): string | undefined {
  // Inside the call's own parentheses (one level of nested calls allowed), not a later IGNORE NULLS.
  if (sql && /APPROX_QUANTILES\s*\((?:[^()]|\([^()]*\))*\bIGNORE\s+NULLS\b/i.test(sql)) {
    return 'APPROX_QUANTILES … IGNORE NULLS makes bigquery-emulator v0.6.6 exit, so the embedded stack refuses it; use the sorted-array percentile of infra/sql/summary.sql (or pandas quantile) — on BigQuery it works';
  }
  return undefined;
}

/** True for the emulator's label of every failed query. */
export function isEmulatorQueryError(proto: ErrorProto | undefined): boolean {
  return proto?.reason === 'jobInternalError';
}

interface JobLike {
  status?: { state?: string; errorResult?: ErrorProto; errors?: ErrorProto[] };
  configuration?: { query?: unknown; [kind: string]: unknown };
}

/** A query job whose errorResult the emulator labelled jobInternalError gets BigQuery's reason instead. */
export function fixJobStatus<T extends JobLike>(job: T): T {
  const st = job.status;
  if (!job.configuration?.query || !st?.errorResult || !isEmulatorQueryError(st.errorResult)) return job;
  const { proto } = queryError(st.errorResult.message ?? '');
  return { ...job, status: { ...st, errorResult: proto, errors: [proto] } };
}
