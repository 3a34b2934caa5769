import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRow, journalSink, loadSchema, RowBatcher, type ResultRow } from '../../io/results';
import { TransientError } from '../../core/errors';
import { summary } from './fixtures';

describe('buildRow', () => {
  const t = Date.parse('2026-11-23T10:00:00.000Z');

  it('fills identity, result, timings and machine; stages are ordered and fit inside end-to-end', () => {
    const row = buildRow(summary(), t + 400);
    expect(row.analysis_id).toBe('objects:b-1/x.jpg#7/r-1');
    expect(row.status).toBe('ok');
    expect(row.label).toBe('person');
    expect(row.models).toEqual([{ stage: 'detect', name: 'nanodet', version: 1 }]);
    expect(row.end_to_end_ms).toBe(355);
    expect(row.pipeline_ms).toBe(255);
    expect(row.inference_ms).toBe(80);
    const stages = row.stages as Array<{
      queue_ms: number;
      run_ms: number;
      scheduled_at: string;
      completed_at: string;
    }>;
    expect(stages.map((s) => [s.queue_ms, s.run_ms])).toEqual([
      [10, 100],
      [5, 5],
      [5, 5],
    ]);
    for (let i = 1; i < stages.length; i++)
      expect(Date.parse(stages[i].scheduled_at)).toBeGreaterThanOrEqual(Date.parse(stages[i - 1].completed_at));
    const sum = stages.reduce((n, s) => n + s.queue_ms + s.run_ms, 0);
    expect(sum).toBeLessThanOrEqual(row.end_to_end_ms as number);
  });

  it('records a failure with its class, stage and attempts', () => {
    const s = summary({
      extract: undefined,
      score: undefined,
      failure: { stage: 'extract', errorClass: 'CorruptImage', message: 'bad', attempts: 1, retryable: false },
    });
    const row = buildRow(s, t + 400);
    expect(row.status).toBe('failed');
    expect(row.error_class).toBe('CorruptImage');
    expect(row.failed_stage).toBe('extract');
    expect(row.attempts).toBe(1); // detect's one attempt, the failing stage's one: no stage was retried
  });

  it('counts attempts per stage: the row holds the most any one stage needed, each stage its own', () => {
    const base = summary();
    const at = (r: NonNullable<typeof base.detect>['report'], attempt: number) => ({ ...r, attempt });
    const clean = buildRow(base, t + 400);
    expect(clean.attempts).toBe(1); // three stages, each first time: 1, not 3
    const retried = buildRow(
      summary({
        detect: { ...base.detect!, report: at(base.detect!.report, 3) },
        score: { ...base.score!, report: at(base.score!.report, 2) },
      }),
      t + 400,
    );
    expect((retried.stages as Array<{ stage: string; attempt: number }>).map((x) => [x.stage, x.attempt])).toEqual([
      ['detect', 3],
      ['extract', 1],
      ['score', 2],
    ]);
    expect(retried.attempts).toBe(3);
    const failedAfterRetries = buildRow(
      summary({
        score: undefined,
        failure: { stage: 'score', errorClass: 'Timeout', message: 'slow', attempts: 5, retryable: true },
      }),
      t + 400,
    );
    expect(failedAfterRetries.attempts).toBe(5);
  });

  it('leaves the totals of a failed analysis NULL, never 0 or a partial sum; its stages keep their own figures', () => {
    const failedAtExtract = buildRow(
      summary({
        extract: undefined,
        score: undefined,
        failure: { stage: 'extract', errorClass: 'CorruptImage', message: 'bad', attempts: 1, retryable: false },
      }),
      t + 400,
    );
    const failedAtDetect = buildRow(
      summary({
        detect: undefined,
        extract: undefined,
        score: undefined,
        failure: { stage: 'detect', errorClass: 'NotAnImage', message: 'bad', attempts: 1, retryable: false },
      }),
      t + 400,
    );
    for (const row of [failedAtExtract, failedAtDetect]) {
      expect([row.inference_ms, row.end_to_end_ms, row.pipeline_ms, row.completed_at]).toEqual([
        null,
        null,
        null,
        null,
      ]);
      expect(row.recorded_at).toBe(new Date(t + 400).toISOString()); // when the failure was recorded
    }
    const [detect] = failedAtExtract.stages as Array<{ stage: string; inference_ms: number; run_ms: number }>;
    expect([detect.stage, detect.inference_ms, detect.run_ms]).toEqual(['detect', 80, 100]);
    expect(failedAtDetect.stages).toEqual([]);
    expect([failedAtDetect.pool, failedAtDetect.execution_provider]).toEqual([null, null]);
    // A completed analysis has them all.
    const ok = buildRow(summary(), t + 400);
    expect([ok.inference_ms, ok.end_to_end_ms, ok.pipeline_ms, ok.completed_at]).toEqual([
      80,
      355,
      255,
      new Date(t + 355).toISOString(),
    ]);
  });

  it('only uses columns the schema declares', () => {
    const cols = new Set(loadSchema().map((f) => f.name));
    for (const k of Object.keys(buildRow(summary(), t))) expect(cols.has(k)).toBe(true);
  });
});

describe('RowBatcher', () => {
  it('writes concurrent rows in one call and reports a failed write to each caller', async () => {
    const calls: number[] = [];
    let fail = false;
    const b = new RowBatcher(
      {
        insert: async (rows) => {
          calls.push(rows.length);
          if (fail) throw new Error('bq down');
        },
      },
      { maxRows: 10, maxDelayMs: 10 },
    );
    const row = (i: number) => ({ analysis_id: `a${i}`, workflow_id: `w${i}` }) as ResultRow;
    await Promise.all([1, 2, 3].map((i) => b.write(row(i))));
    expect(calls).toEqual([3]);
    fail = true;
    const rs = await Promise.allSettled([b.write(row(4)), b.write(row(5))]);
    expect(rs.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('RowBatcher: exactly one row per analysis', () => {
  /** A sink that behaves like a table: present() answers from what was inserted. */
  function tableSink() {
    const table: ResultRow[] = [];
    const asked: string[][] = [];
    return {
      table,
      asked,
      sink: {
        insert: async (rows: ResultRow[]) => void table.push(...rows),
        present: async (ids: string[]) => {
          asked.push(ids);
          return new Set(table.map((r) => r.analysis_id).filter((id) => ids.includes(id)));
        },
      },
    };
  }
  const row = (i: number) => ({ analysis_id: `w${i}/r`, workflow_id: `w${i}`, status: 'ok' }) as ResultRow;

  it('a retried write of a row that landed inserts nothing; one that did not land inserts it once', async () => {
    const t = tableSink();
    const b = new RowBatcher(t.sink, { maxRows: 10, maxDelayMs: 5 });
    await b.write(row(1)); // attempt 1 landed, then (say) the worker was killed before completing
    await Promise.all([b.write(row(1), { retried: true }), b.write(row(2), { retried: true })]);
    expect(t.table.map((r) => r.analysis_id).sort()).toEqual(['w1/r', 'w2/r']);
    expect(t.asked).toEqual([['w1/r', 'w2/r']]);
  });

  it('the lookup names the earliest start of the retried analyses (partition pruning), or none if one lacks it', async () => {
    const seen: Array<string | undefined> = [];
    const b = new RowBatcher(
      { insert: async () => {}, present: async (_ids, since) => (seen.push(since), new Set()) },
      { maxRows: 10, maxDelayMs: 5 },
    );
    const at = (i: number, t?: string) => ({ ...row(i), workflow_started_at: t }) as ResultRow;
    await Promise.all([
      b.write(at(1, '2026-12-01T06:00:00.000Z'), { retried: true }),
      b.write(at(2, '2026-11-30T23:00:00.000Z'), { retried: true }),
      b.write(at(3, '2026-11-01T00:00:00.000Z')),
    ]);
    await b.write(at(4), { retried: true });
    expect(seen).toEqual(['2026-11-30T23:00:00.000Z', undefined]);
  });

  it('first attempts are not looked up (no query on the common path)', async () => {
    const t = tableSink();
    const b = new RowBatcher(t.sink, { maxRows: 10, maxDelayMs: 5 });
    await Promise.all([1, 2, 3].map((i) => b.write(row(i))));
    expect(t.asked).toEqual([]);
    expect(t.table).toHaveLength(3);
  });

  it('two identical copies in one batch are inserted once and both callers resolve', async () => {
    const t = tableSink();
    const b = new RowBatcher(t.sink, { maxRows: 10, maxDelayMs: 5 });
    await Promise.all([b.write(row(7)), b.write(row(7), { retried: true })]);
    expect(t.table.map((r) => r.analysis_id)).toEqual(['w7/r']);
  });

  it('a failing lookup fails the retried batch as a passing fault (retried again), never inserts blindly', async () => {
    const inserted: string[] = [];
    const b = new RowBatcher(
      {
        insert: async (rows) => void inserted.push(...rows.map((r) => r.analysis_id)),
        present: async () => {
          throw new Error('bq away');
        },
      },
      { maxRows: 10, maxDelayMs: 5 },
    );
    await expect(b.write(row(1), { retried: true })).rejects.toBeInstanceOf(TransientError);
    expect(inserted).toEqual([]);
  });
});

describe("journalSink (the embedded stack's durable rows)", () => {
  it('appends each batch to its own file before inserting, and keeps it when the insert fails', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-journal-'));
    let fail = false;
    const inserted: string[] = [];
    const sink = journalSink(
      {
        insert: async (rows) => {
          if (fail) throw new Error('bq down');
          inserted.push(...rows.map((r) => r.analysis_id));
        },
      },
      path.join(dir, 'j'),
    );
    await sink.insert([
      { analysis_id: 'a/1', workflow_id: 'a' },
      { analysis_id: 'b/1', workflow_id: 'b' },
    ]);
    fail = true;
    await expect(sink.insert([{ analysis_id: 'c/1', workflow_id: 'c' }])).rejects.toThrow('bq down');
    const files = fs.readdirSync(path.join(dir, 'j'));
    expect(files).toHaveLength(1);
    const lines = fs
      .readFileSync(path.join(dir, 'j', files[0]), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { analysis_id: string });
    // Write-ahead: the failed batch is journaled too (its retry will journal it again; the view keeps one).
    expect(lines.map((l) => l.analysis_id)).toEqual(['a/1', 'b/1', 'c/1']);
    expect(inserted).toEqual(['a/1', 'b/1']);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
