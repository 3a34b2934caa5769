/**
 * The record step: a row is never given up on because BigQuery is away (unlimited attempts, capped
 * backoff), and a row BigQuery refuses (schema) does not retry forever: it is replaced by a minimal failed
 * row that says why (error_class RowRejected); only if even that is refused does the step fail, once,
 * non-retryably. The sink fakes answer as @google-cloud/bigquery does (PartialFailureError with
 * per-row reasons 'invalid' / 'stopped'; ApiError with an HTTP code).
 */
import { compileRetryPolicy } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { isRetryable } from '../../core/errors';
import { RECORD_RETRY } from '../../core/policies';
import { buildRow, loadSchema, RowBatcher, type ResultRow, type RowSink } from '../../io/results';
import { summary } from './fixtures';

function partialFailure(rows: ResultRow[], bad: (r: ResultRow) => string | undefined): Error {
  const errors = rows.map((r) => {
    const why = bad(r);
    return {
      row: { insertId: r.analysis_id, json: r },
      errors: [why ? { reason: 'invalid', message: why } : { reason: 'stopped', message: '' }],
    };
  });
  return Object.assign(new Error('A failure occurred during this request.'), {
    name: 'PartialFailureError',
    errors,
    response: {},
  });
}

/** A table that refuses rows carrying a column it does not have. */
function schemaSink(missingColumn: string) {
  const written: ResultRow[] = [];
  let calls = 0;
  const sink: RowSink = {
    async insert(rows) {
      calls++;
      if (rows.some((r) => r[missingColumn] !== undefined && r[missingColumn] !== null))
        throw partialFailure(rows, (r) =>
          r[missingColumn] !== undefined && r[missingColumn] !== null ? `no such field: ${missingColumn}.` : undefined,
        );
      written.push(...rows);
    },
  };
  return { sink, written, calls: () => calls };
}

function activities(sink: RowSink) {
  const rows = new RowBatcher(sink, { maxRows: 10, maxDelayMs: 5 });
  return createActivities({
    methods: new Map(),
    definitions: new Map(),
    videos: { get: async () => '/nonexistent' },
    rows,
    table: 'p.d.t',
    pool: 'cpu',
  });
}

async function failure(p: Promise<unknown>): Promise<Error & { type?: string; nonRetryable?: boolean }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('record retry policy', () => {
  it('retries without a limit on attempts, backing off to at most a minute (as the SDK compiles it for the server)', () => {
    const p = compileRetryPolicy(RECORD_RETRY);
    expect(p.maximumAttempts ?? 0).toBe(0); // absent or 0 on the wire = unlimited
    expect(Number(p.maximumInterval?.seconds)).toBe(60);
  });
});

describe('record activity', () => {
  it('a row the table refuses is replaced by a minimal failed row that says why', async () => {
    const { sink, written } = schemaSink('label');
    const r = await activities(sink).record(summary());
    expect(r.status).toBe('failed');
    expect(written).toHaveLength(1);
    expect(written[0].status).toBe('failed');
    expect(written[0].error_class).toBe('RowRejected');
    expect(String(written[0].error_message)).toContain('no such field: label');
    expect(written[0].workflow_id).toBe(buildRow(summary(), 0).workflow_id);
    // The minimal row holds every REQUIRED column.
    for (const f of loadSchema().filter((f) => f.mode === 'REQUIRED')) expect(written[0][f.name!]).toBeTruthy();
  });

  it('if even the minimal row is refused, the step fails once, non-retryably (a logged workflow failure, not 100 attempts)', async () => {
    const { sink, calls } = schemaSink('workflow_id');
    const err = await failure(activities(sink).record(summary()));
    expect(err.type).toBe('RowRejected');
    expect(err.nonRetryable).toBe(true);
    expect(calls()).toBe(2);
  });

  it('BigQuery away (5xx, refused connection, table missing) is a passing fault: retried', async () => {
    for (const e of [
      Object.assign(new Error('Service Unavailable'), { code: 503 }),
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('Not found: Table p:d.t'), { code: 404 }),
    ]) {
      const err = await failure(activities({ insert: async () => Promise.reject(e) }).record(summary()));
      expect(err.nonRetryable).toBe(false);
    }
  });
});

describe('record step after a failed in-group write', () => {
  /** A table that already holds the row: the stage group's write failed after it landed, or it was journaled and reloaded by `lookout up`. */
  function holdingSink() {
    const table = new Map<string, ResultRow>();
    const inserted: string[] = [];
    const sink: RowSink = {
      async insert(rows) {
        for (const r of rows) {
          inserted.push(r.analysis_id);
          table.set(r.analysis_id, r);
        }
      },
      present: async (ids) => new Set(ids.filter((id) => table.has(id))),
    };
    table.set(buildRow(summary(), 0).analysis_id, buildRow(summary(), 0));
    return { sink, inserted };
  }

  it('looks the row up first and does not insert it a second time', async () => {
    const { sink, inserted } = holdingSink();
    const r = await activities(sink).record(summary(), { afterFailedWrite: true });
    expect(r.status).toBe('ok');
    expect(inserted).toEqual([]);
  });

  it('without an earlier write (first attempt, nothing tried before) it inserts without a lookup', async () => {
    const { sink, inserted } = holdingSink();
    let lookups = 0;
    const present = sink.present!;
    sink.present = (ids, since) => {
      lookups++;
      return present(ids, since);
    };
    await activities(sink).record(summary());
    expect(lookups).toBe(0);
    expect(inserted).toHaveLength(1);
  });
});

describe('RowBatcher with a refused row in the batch', () => {
  it('fails the refused row as RowRejected and the rows stopped with it as retryable', async () => {
    const { sink, written } = schemaSink('label');
    const b = new RowBatcher(sink, { maxRows: 10, maxDelayMs: 5 });
    const good = { ...buildRow(summary(), 1), analysis_id: 'good', workflow_id: 'wg', label: null };
    const bad = { ...buildRow(summary(), 1), analysis_id: 'bad', workflow_id: 'wb' };
    const [g, x] = await Promise.allSettled([b.write(good), b.write(bad)]);
    expect(x.status).toBe('rejected');
    expect(((x as PromiseRejectedResult).reason as Error).name).toBe('RowRejected');
    expect(isRetryable((x as PromiseRejectedResult).reason)).toBe(false);
    // The good row was only stopped by its neighbour: its write is retryable (or already retried and landed).
    if (g.status === 'rejected') expect(isRetryable(g.reason)).toBe(true);
    else expect(written.map((r) => r.analysis_id)).toEqual(['good']);
  });

  it('a whole-request 400 for a batch is resolved row by row', async () => {
    const inserted: string[] = [];
    const sink: RowSink = {
      async insert(rows) {
        if (rows.some((r) => r.analysis_id === 'bad'))
          throw Object.assign(new Error('Invalid value for field'), { code: 400 });
        inserted.push(...rows.map((r) => r.analysis_id));
      },
    };
    const b = new RowBatcher(sink, { maxRows: 10, maxDelayMs: 5 });
    const row = (id: string) => ({ analysis_id: id, workflow_id: id }) as ResultRow;
    const rs = await Promise.allSettled([b.write(row('a')), b.write(row('bad')), b.write(row('c'))]);
    expect(rs.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((rs[1] as PromiseRejectedResult).reason as Error).name).toBe('RowRejected');
    expect(inserted.sort()).toEqual(['a', 'c']);
  });
});
