import { describe, expect, it } from 'vitest';
import {
  errorBody,
  fixJobStatus,
  formatTimestamp,
  pageOf,
  queryError,
  refusedQuery,
  requestedFormat,
  rewriteRows,
  selectFields,
  timestampMicros,
  type Field,
  type Row,
} from '../../infra/bigquery-api/wire';

describe('timestampMicros: the forms bigquery-emulator writes', () => {
  it.each([
    ['1796094133075000', 1796094133075000n], // top level, asked for int64 microseconds
    ['1796094133.500000', 1796094133500000n], // decimal seconds (its default form)
    ['1796094133.123456789', 1796094133123456n], // beyond microseconds: cut, as BigQuery keeps micros
    ['2026-12-01T03:02:13Z', BigInt(Date.parse('2026-12-01T03:02:13Z')) * 1000n], // inside a STRUCT
    ['2026-12-01T03:02:13.25Z', BigInt(Date.parse('2026-12-01T03:02:13.250Z')) * 1000n],
    ['2026-12-01 05:02:13.000001+02:00', BigInt(Date.parse('2026-12-01T03:02:13Z')) * 1000n + 1n],
    ['1.7960941338E9', 1796094133800000n],
    ['-1.5', -1500000n],
  ])('%s', (raw, micros) => {
    expect(timestampMicros(raw)).toBe(micros);
  });

  it('is null for what is not a timestamp', () => {
    expect(timestampMicros('yesterday')).toBeNull();
  });
});

describe('formatTimestamp: the forms the clients parse', () => {
  const t = 1796094133800000n;
  it('INT64 is microseconds (Python and Node clients ask for it)', () =>
    expect(formatTimestamp(t, 'INT64')).toBe('1796094133800000'));
  it('FLOAT64 is seconds (the REST default)', () => expect(formatTimestamp(t, 'FLOAT64')).toBe('1796094133.800000'));
  it('ISO8601_STRING keeps microseconds', () =>
    expect(formatTimestamp(t + 7n, 'ISO8601_STRING')).toBe(
      `${new Date(1796094133800).toISOString().slice(0, 19)}.800007Z`,
    ));
  it('before 1970 too', () => {
    expect(formatTimestamp(-1n, 'ISO8601_STRING')).toBe('1969-12-31T23:59:59.999999Z');
    expect(formatTimestamp(-1n, 'FLOAT64')).toBe('-0.000001');
  });
  it('round-trips through every form', () => {
    for (const f of ['INT64', 'FLOAT64', 'ISO8601_STRING'] as const)
      expect(timestampMicros(formatTimestamp(t + 123n, f))).toBe(t + 123n);
  });
  it('writes a fraction under 0.1 s with its leading zeros (what the emulator gets wrong)', () => {
    expect(formatTimestamp(1796047201075000n, 'FLOAT64')).toBe('1796047201.075000');
  });
});

describe('requestedFormat', () => {
  it('reads the URL parameters of getQueryResults / tabledata.list', () => {
    expect(requestedFormat(new URLSearchParams('formatOptions.useInt64Timestamp=True'))).toBe('INT64');
    expect(requestedFormat(new URLSearchParams('formatOptions.timestampOutputFormat=ISO8601_STRING'))).toBe(
      'ISO8601_STRING',
    );
    expect(requestedFormat(new URLSearchParams(''))).toBe('FLOAT64');
  });
  it("reads a jobs.query body's formatOptions", () => {
    expect(requestedFormat(new URLSearchParams(''), { formatOptions: { useInt64Timestamp: true } })).toBe('INT64');
  });
});

describe('rewriteRows', () => {
  const fields: Field[] = [
    { name: 'at', type: 'TIMESTAMP' },
    { name: 'n', type: 'INT64' },
    {
      name: 'stages',
      type: 'RECORD',
      mode: 'REPEATED',
      fields: [
        { name: 'stage', type: 'STRING' },
        { name: 'started_at', type: 'TIMESTAMP' },
      ],
    },
    { name: 'times', type: 'TIMESTAMP', mode: 'REPEATED' },
    { name: 'missing', type: 'TIMESTAMP' },
  ];
  const rows: Row[] = [
    {
      f: [
        { v: '1796094133800000' },
        { v: '7' },
        {
          v: [
            { v: { f: [{ v: 'detect' }, { v: '2026-12-01T03:02:13Z' }] } },
            { v: { f: [{ v: 'extract' }, { v: null }] } },
          ],
        },
        { v: [{ v: '2026-12-01T03:02:14Z' }] },
        { v: null },
      ],
    },
  ];

  it('writes every TIMESTAMP, at any depth, as asked; leaves the rest', () => {
    const [r] = rewriteRows(fields, rows, 'INT64')!;
    const s13 = String(Date.parse('2026-12-01T03:02:13Z') * 1000);
    expect(r.f[0].v).toBe('1796094133800000');
    expect(r.f[1].v).toBe('7');
    expect(r.f[2].v).toEqual([
      { v: { f: [{ v: 'detect' }, { v: s13 }] } },
      { v: { f: [{ v: 'extract' }, { v: null }] } },
    ]);
    expect(r.f[3].v).toEqual([{ v: String(Date.parse('2026-12-01T03:02:14Z') * 1000) }]);
    expect(r.f[4].v).toBeNull();
    // The input is not modified (the server may reuse it for another page).
    expect(rows[0].f[0].v).toBe('1796094133800000');
  });
});

describe('selectFields (tabledata.list selectedFields)', () => {
  const fields: Field[] = [
    { name: 'a', type: 'STRING' },
    { name: 'b', type: 'INT64' },
    { name: 'c', type: 'RECORD', fields: [{ name: 'x', type: 'STRING' }] },
  ];
  const rows: Row[] = [{ f: [{ v: 'A' }, { v: '1' }, { v: { f: [{ v: 'X' }] } }] }];
  it("keeps the asked columns in the table's order (a nested path selects its top-level column)", () => {
    expect(selectFields(fields, rows, 'c.x,a')).toEqual({
      fields: [fields[0], fields[2]],
      rows: [{ f: [{ v: 'A' }, { v: { f: [{ v: 'X' }] } }] }],
    });
  });
  it('keeps everything when nothing is asked', () => {
    expect(selectFields(fields, rows, null)).toEqual({ fields, rows });
  });
});

describe('pageOf', () => {
  const rows = [1, 2, 3, 4, 5];
  it('pages by maxResults with start-index tokens', () => {
    expect(pageOf(rows, new URLSearchParams('maxResults=2'))).toEqual({ rows: [1, 2], pageToken: '2' });
    expect(pageOf(rows, new URLSearchParams('maxResults=2&pageToken=4'))).toEqual({ rows: [5], pageToken: undefined });
    expect(pageOf(rows, new URLSearchParams('startIndex=1&maxResults=3'))).toEqual({ rows: [2, 3, 4], pageToken: '4' });
  });
  it('gives all rows without maxResults, none for maxResults=0 (a completion poll)', () => {
    expect(pageOf(rows, new URLSearchParams(''))).toEqual({ rows, pageToken: undefined });
    expect(pageOf(rows, new URLSearchParams('maxResults=0')).rows).toEqual([]);
  });
});

describe('query errors', () => {
  it('a query the engine rejects is invalidQuery, HTTP 400 (the clients do not retry it)', () => {
    const e = queryError('jobInternalError: failed to analyze: INVALID_ARGUMENT: Unrecognized name: nme [at 1:8]');
    expect(e.status).toBe(400);
    expect(e.proto.reason).toBe('invalidQuery');
    expect(e.proto.message).toMatch(/^failed to analyze: INVALID_ARGUMENT: Unrecognized name: nme/);
    expect(errorBody(e.status, e.proto).error).toEqual(
      expect.objectContaining({ code: 400, status: 'INVALID_ARGUMENT', errors: [e.proto] }),
    );
  });
  it('a busy store stays retryable: backendError, HTTP 503', () => {
    expect(queryError('jobInternalError: failed to query: database is locked')).toEqual({
      status: 503,
      proto: expect.objectContaining({ reason: 'backendError' }),
    });
  });
  it('a missing table is notFound, HTTP 404', () => {
    expect(queryError('failed to analyze: INVALID_ARGUMENT: Table not found: `p.d.nope`').status).toBe(404);
  });
  it("a failed query job's errorResult gets the same reason; other jobs are left alone", () => {
    const job = {
      configuration: { query: { query: 'SELEC 1' } },
      status: {
        state: 'DONE',
        errorResult: { reason: 'jobInternalError', message: 'Syntax error' },
        errors: [{ reason: 'jobInternalError', message: 'Syntax error' }],
      },
    };
    const fixed = fixJobStatus(job);
    expect(fixed.status.errorResult.reason).toBe('invalidQuery');
    expect(fixed.status.errors.map((e) => e.reason)).toEqual(['invalidQuery']);
    const load = {
      configuration: { load: {} },
      status: { state: 'DONE', errorResult: { reason: 'jobInternalError', message: 'x' } },
    };
    expect(fixJobStatus(load)).toBe(load);
  });
});

describe('refusedQuery (what would make the emulator exit)', () => {
  it('refuses APPROX_QUANTILES … IGNORE NULLS, in any case and spacing', () => {
    expect(refusedQuery('SELECT approx_quantiles(x, 4\n  ignore   nulls) FROM t')).toMatch(/exit/);
    expect(refusedQuery('SELECT APPROX_QUANTILES(ROUND(x, 1), 4 IGNORE NULLS) FROM t')).toMatch(/exit/);
  });
  it('lets everything else through, APPROX_QUANTILES without IGNORE NULLS included', () => {
    for (const q of [
      'SELECT APPROX_QUANTILES(x, 4) FROM t',
      'SELECT ARRAY_AGG(x IGNORE NULLS) FROM t',
      'SELECT APPROX_QUANTILES(x, 4), ARRAY_AGG(y IGNORE NULLS) FROM t',
      undefined,
    ])
      expect(refusedQuery(q)).toBeUndefined();
  });
});
