/**
 * The BigQuery API front's routing, against a fake upstream that answers as bigquery-emulator v0.6.6 does
 * (its handlers read from source: raw timestamps, jobInternalError, no paging, no job behind jobs.query).
 * Query jobs never reach the emulator's jobs.insert (held-jobs.ts): the fake records what reached it.
 * The real emulator is exercised by the integration tests (node-client, python-client, report-sql).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBigQueryApi } from '../../infra/bigquery-api/server';

const SCHEMA = {
  fields: [
    { name: 'at', type: 'TIMESTAMP' },
    { name: 's', type: 'RECORD', mode: 'REPEATED', fields: [{ name: 't', type: 'TIMESTAMP' }] },
  ],
};
// As the emulator writes them: top-level TIMESTAMPs as int64 microseconds when the URL asks for it, else as
// decimal seconds whose fraction lost its leading zeros (0.075 s -> '.75000'); nested ones as whole-second text.
const rows = (int64: boolean) =>
  [1, 2, 3].map((i) => ({
    f: [
      { v: int64 ? `179609413${i}075000` : `179609413${i}.75000` },
      { v: [{ v: { f: [{ v: `2026-12-01T03:02:1${i}Z` }] } }] },
    ],
  }));

const seen: string[] = [];
const syncQueries: Array<{ query: string; formatOptions?: { useInt64Timestamp?: boolean } }> = [];
const jobs = new Map<string, { error?: string }>();
let upstream: http.Server;
let api: http.Server;
let base = '';

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const internal = (message: string) => ({
  error: { errors: [{ reason: 'jobInternalError', location: '', debugInfo: '', message }], code: 500, message },
});

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      const u = new URL(req.url!, 'http://x');
      const p = u.pathname.replace(/^\/bigquery\/v2/, '');
      let m: RegExpExecArray | null;
      if (req.method === 'POST' && (m = /^\/projects\/([^/]+)\/queries$/.exec(p))) {
        const q = JSON.parse(body) as (typeof syncQueries)[number];
        syncQueries.push(q);
        if (q.query.startsWith('SELEC ')) {
          const message = 'failed to analyze: INVALID_ARGUMENT: Syntax error: Unexpected identifier "SELEC" [at 1:1]';
          return json(res, 400, {
            error: {
              errors: [{ reason: 'jobInternalError', location: '', debugInfo: '', message }],
              code: 400,
              message,
            },
          });
        }
        return json(res, 200, {
          jobReference: { projectId: m[1], jobId: 'emulator-own-id' },
          schema: SCHEMA,
          rows: rows(q.formatOptions?.useInt64Timestamp === true),
          totalRows: '3',
          jobComplete: true,
        });
      }
      if (req.method === 'POST' && (m = /^\/projects\/([^/]+)\/jobs$/.exec(p))) {
        const job = JSON.parse(body) as {
          jobReference: { jobId: string };
          configuration: { query?: { query: string } };
        };
        const bad = (job.configuration.query?.query ?? '').startsWith('SELEC ');
        jobs.set(
          job.jobReference.jobId,
          bad
            ? { error: 'failed to analyze: INVALID_ARGUMENT: Syntax error: Unexpected identifier "SELEC" [at 1:1]' }
            : {},
        );
        return json(res, 200, {
          ...job,
          kind: 'bigquery#job',
          status: {
            state: 'DONE',
            ...(bad
              ? {
                  errorResult: { reason: 'jobInternalError', message: jobs.get(job.jobReference.jobId)!.error },
                  errors: [{ reason: 'jobInternalError' }],
                }
              : {}),
          },
        });
      }
      if (req.method === 'GET' && (m = /^\/projects\/([^/]+)\/queries\/([^/]+)$/.exec(p))) {
        const j = jobs.get(m[2]);
        if (!j)
          return json(res, 404, { error: { code: 404, message: 'job not found', errors: [{ reason: 'notFound' }] } });
        if (j.error) return json(res, 500, internal(j.error));
        return json(res, 200, {
          jobReference: { projectId: m[1], jobId: m[2] },
          schema: SCHEMA,
          rows: rows(u.searchParams.get('formatOptions.useInt64Timestamp') === 'true'),
          totalRows: '3',
          jobComplete: true,
        });
      }
      if (req.method === 'GET' && /^\/projects\/[^/]+\/datasets\/d\/tables\/t$/.test(p))
        return json(res, 200, { schema: SCHEMA });
      if (req.method === 'GET' && /^\/projects\/[^/]+\/datasets\/d\/tables\/t\/data$/.test(p))
        return json(res, 200, {
          rows: rows(u.searchParams.get('formatOptions.useInt64Timestamp') === 'true'),
          totalRows: '3',
        });
      if (req.method === 'POST' && /^\/projects\/[^/]+\/datasets\/d\/tables\/t\/insertAll$/.test(p))
        return json(res, 200, { kind: 'bigquery#tableDataInsertAllResponse', echoed: body.length });
      return json(res, 404, { error: { code: 404, message: `no route ${p}` } });
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  api = createBigQueryApi({
    upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    host: '127.0.0.1',
    port: 0,
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => api.close(r));
  await new Promise((r) => upstream.close(r));
});

const call = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

describe('BigQuery API front (fake emulator)', () => {
  it('jobs.query runs as a job the client can read again, with timestamps as asked and a page of rows', async () => {
    const r = await call('POST', '/bigquery/v2/projects/p/queries', {
      query: 'SELECT 1',
      useLegacySql: false,
      maxResults: 2,
      formatOptions: { useInt64Timestamp: true },
    });
    expect(r.status).toBe(200);
    const ref = r.body.jobReference as { jobId: string };
    expect(r.body).toEqual(
      expect.objectContaining({ kind: 'bigquery#queryResponse', jobComplete: true, totalRows: '3', pageToken: '2' }),
    );
    expect(r.body.rows).toEqual(
      [1, 2].map((i) => ({
        f: [
          { v: `179609413${i}075000` },
          { v: [{ v: { f: [{ v: String(Date.parse(`2026-12-01T03:02:1${i}Z`) * 1000) }] } }] },
        ],
      })),
    );
    // The job exists upstream: the next page (and a reload) reach it.
    const next = await call(
      'GET',
      `/bigquery/v2/projects/p/queries/${ref.jobId}?pageToken=2&formatOptions.useInt64Timestamp=true`,
    );
    expect(next.status).toBe(200);
    expect((next.body.rows as unknown[]).length).toBe(1);
    expect(next.body.pageToken).toBeUndefined();
    // Held by the front: the emulator ran it as a synchronous query and recorded no job.
    expect(seen).toContain('POST /bigquery/v2/projects/p/queries');
    expect(seen.some((s) => s.startsWith('POST /bigquery/v2/projects/p/jobs'))).toBe(false);
    const job = await call('GET', `/bigquery/v2/projects/p/jobs/${ref.jobId}`);
    expect(job.status).toBe(200);
    expect(job.body.status).toEqual({ state: 'DONE' });
  });

  it('a query job (jobs.insert) is held by the front, not recorded by the emulator: get, pages, cancel, delete', async () => {
    const before = seen.length;
    const ins = await call('POST', '/bigquery/v2/projects/p/jobs', {
      jobReference: { projectId: 'p', jobId: 'held-1' },
      configuration: { query: { query: 'SELECT at FROM t', useLegacySql: false } },
    });
    expect(ins.status).toBe(200);
    expect(ins.body).toEqual(
      expect.objectContaining({
        kind: 'bigquery#job',
        jobReference: { projectId: 'p', jobId: 'held-1' },
        status: { state: 'DONE' },
      }),
    );
    expect((ins.body.statistics as { query: { statementType: string } }).query.statementType).toBe('SELECT');
    expect(seen.slice(before)).toEqual(['POST /bigquery/v2/projects/p/queries']);
    expect(syncQueries.at(-1)?.formatOptions?.useInt64Timestamp).toBe(true);
    const again = await call('POST', '/bigquery/v2/projects/p/jobs', {
      jobReference: { projectId: 'p', jobId: 'held-1' },
      configuration: { query: { query: 'SELECT 1' } },
    });
    expect(again.status).toBe(409);
    const first = await call(
      'GET',
      '/bigquery/v2/projects/p/queries/held-1?maxResults=2&formatOptions.useInt64Timestamp=true',
    );
    expect(first.body).toEqual(
      expect.objectContaining({
        jobComplete: true,
        totalRows: '3',
        pageToken: '2',
        jobReference: { projectId: 'p', jobId: 'held-1' },
      }),
    );
    expect((first.body.rows as unknown[]).length).toBe(2);
    const cancel = await call('POST', '/bigquery/v2/projects/p/jobs/held-1/cancel');
    expect(cancel.body).toEqual(expect.objectContaining({ kind: 'bigquery#jobCancelResponse' }));
    expect((await call('DELETE', '/bigquery/v2/projects/p/jobs/held-1/delete')).status).toBe(200);
    // Gone from the front: the next read is the emulator's own answer for a job it never had.
    expect((await call('GET', '/bigquery/v2/projects/p/queries/held-1')).status).toBe(404);
  });

  it('load jobs, dry runs and queries with a destination table still go to the emulator as jobs', async () => {
    for (const configuration of [
      { load: { destinationTable: { tableId: 't' } } },
      { query: { query: 'SELECT 1' }, dryRun: true },
      { query: { query: 'SELECT 1', destinationTable: { tableId: 't' } } },
    ]) {
      const before = seen.length;
      const r = await call('POST', '/bigquery/v2/projects/p/jobs', {
        jobReference: { projectId: 'p', jobId: `up-${seen.length}` },
        configuration,
      });
      expect(r.status).toBe(200);
      expect(seen.slice(before)).toEqual(['POST /bigquery/v2/projects/p/jobs']);
    }
  });

  it('getQueryResults without formatOptions gives seconds, right to the millisecond; the emulator is always asked for microseconds', async () => {
    const q = await call('POST', '/projects/p/queries', { query: 'SELECT 1' }); // bare path, as the Node client sends to an emulator host
    const id = (q.body.jobReference as { jobId: string }).jobId;
    const r = await call('GET', `/projects/p/queries/${id}`);
    expect((r.body.rows as Array<{ f: Array<{ v: unknown }> }>)[0].f[0].v).toBe('1796094131.075000');
    expect(syncQueries.length).toBeGreaterThan(0);
    for (const q of syncQueries) expect(q.formatOptions?.useInt64Timestamp).toBe(true);
    for (const s of seen.filter((x) => x.startsWith('GET') && /\/(queries|data)/.test(x)))
      expect(s).toContain('formatOptions.useInt64Timestamp=true');
  });

  it('a failed query is invalidQuery with HTTP 400 on every path: jobs.query, the job, getQueryResults', async () => {
    const q = await call('POST', '/bigquery/v2/projects/p/queries', { query: 'SELEC 1' });
    expect(q.status).toBe(400);
    expect(q.body.error).toEqual(expect.objectContaining({ code: 400, status: 'INVALID_ARGUMENT' }));
    expect((q.body.error as { errors: Array<{ reason: string }> }).errors[0].reason).toBe('invalidQuery');
    const job = await call('POST', '/bigquery/v2/projects/p/jobs', {
      jobReference: { projectId: 'p', jobId: 'j-bad' },
      configuration: { query: { query: 'SELEC 1' } },
    });
    expect(job.status).toBe(200);
    expect((job.body.status as { errorResult: { reason: string } }).errorResult.reason).toBe('invalidQuery');
    const res = await call('GET', '/bigquery/v2/projects/p/queries/j-bad');
    expect(res.status).toBe(400);
    expect((res.body.error as { errors: Array<{ reason: string; message: string }> }).errors[0]).toEqual(
      expect.objectContaining({ reason: 'invalidQuery', message: expect.stringContaining('Syntax error') }),
    );
  });

  it('tabledata.list reads the schema and pages', async () => {
    const r = await call(
      'GET',
      '/bigquery/v2/projects/p/datasets/d/tables/t/data?maxResults=1&pageToken=1&formatOptions.useInt64Timestamp=true',
    );
    expect(r.body).toEqual({
      kind: 'bigquery#tableDataList',
      totalRows: '3',
      pageToken: '2',
      rows: [
        {
          f: [
            { v: '1796094132075000' },
            { v: [{ v: { f: [{ v: String(Date.parse('2026-12-01T03:02:12Z') * 1000) }] } }] },
          ],
        },
      ],
    });
  });

  it('everything else passes through untouched (insertAll)', async () => {
    const body = { rows: [{ insertId: 'a', json: { x: 1 } }] };
    const r = await call('POST', '/bigquery/v2/projects/p/datasets/d/tables/t/insertAll', body);
    expect(r).toEqual({
      status: 200,
      body: { kind: 'bigquery#tableDataInsertAllResponse', echoed: JSON.stringify(body).length },
    });
  });

  it('an unknown job is the emulator own 404', async () => {
    const r = await call('GET', '/bigquery/v2/projects/p/queries/nope');
    expect(r.status).toBe(404);
  });
});

describe('BigQuery API front with the emulator down', () => {
  it('answers 502 emulatorUnavailable, naming the log and the way out, on routed and passed-through calls', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r)); // nothing listens there now
    const front = createBigQueryApi({
      upstream: `http://127.0.0.1:${port}`,
      host: '127.0.0.1',
      port: 0,
      emulatorLog: '/x/logs/bigquery.log',
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    try {
      for (const [method, path, body] of [
        ['POST', '/bigquery/v2/projects/p/queries', { query: 'SELECT 1' }],
        ['GET', '/bigquery/v2/projects/p/queries/j', undefined],
        ['GET', '/bigquery/v2/projects/p/datasets', undefined],
      ] as const) {
        const r = await fetch(`${at}${path}`, { method, body: body && JSON.stringify(body) });
        const e = ((await r.json()) as { error: { errors: Array<{ reason: string; message: string }> } }).error
          .errors[0];
        expect([path, r.status, e.reason]).toEqual([path, 502, 'emulatorUnavailable']);
        expect(e.message).toContain('/x/logs/bigquery.log');
        expect(e.message).toContain('lookout up');
      }
    } finally {
      await new Promise((r) => front.close(r));
    }
  });
});

describe('while `lookout up` loads the row journal (the hold file exists)', () => {
  it('inserts and new queries are answered 503, other calls pass; once the file is gone they reach the emulator', async () => {
    const hold = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bq-hold-')), 'importing');
    fs.writeFileSync(hold, 'now\n');
    const front = createBigQueryApi({
      upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      host: '127.0.0.1',
      port: 0,
      holdInsertsWhile: hold,
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const send = async (method: string, p: string, body?: unknown) =>
      (
        await fetch(`${at}${p}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
      ).status;
    const insert = () =>
      send('POST', '/bigquery/v2/projects/p/datasets/d/tables/t/insertAll', {
        rows: [{ insertId: 'a', json: { at: 1 } }],
      });
    const syncQuery = () => send('POST', '/bigquery/v2/projects/p/queries', { query: 'SELECT 1' });
    const jobQuery = () =>
      send('POST', '/bigquery/v2/projects/p/jobs', {
        jobReference: { projectId: 'p', jobId: 'held-1' },
        configuration: { query: { query: 'SELECT 1' } },
      });
    try {
      expect([await insert(), await syncQuery(), await jobQuery()]).toEqual([503, 503, 503]);
      expect(await send('GET', '/bigquery/v2/projects/p/datasets/d/tables/t')).toBe(200);
      fs.rmSync(hold);
      expect([await insert(), await syncQuery(), await jobQuery()]).toEqual([200, 200, 200]);
    } finally {
      await new Promise((r) => front.close(r));
    }
  });
});
