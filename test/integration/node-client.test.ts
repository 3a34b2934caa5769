/**
 * The analyst's Node client, @google-cloud/bigquery with its own row parsing (not Lookout's raw reader), on
 * the embedded stack's BigQuery endpoint: SELECT * of the table and of the view, timestamps nested or not,
 * rows listed from the table, and a query error that fails at once. Written as the README tells users to.
 */
import { BigQuery, BigQueryTimestamp } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import { beforeAll, describe, expect, it } from 'vitest';
import { bigquerySink, type ResultRow } from '../../io/results';
import { fixtureRuns, newestPerAnalysis, type FixtureRuns } from '../fixtures/report-rows';
import { bq as lookoutBq, cfg, uniqueRun } from './helpers';

// The README's pattern: the endpoint `lookout env` prints, and an auth client with a placeholder token
// (the emulator checks none; the client library insists on one).
function analystClient(): BigQuery {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'local' });
  return new BigQuery({ projectId: cfg.gcp.projectId, apiEndpoint: cfg.bigquery.url, authClient: auth });
}

const tableId = () => `${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}`;
const viewId = () => `${tableId()}_latest`;
const iso = (v: unknown) => (v instanceof BigQueryTimestamp ? v.value : String(v));
const floorSecond = (t: string) => new Date(Math.floor(Date.parse(t) / 1000) * 1000).toISOString();

let fx: FixtureRuns;
let client: BigQuery;

beforeAll(async () => {
  fx = fixtureRuns(uniqueRun('node-a'), uniqueRun('node-b'), Date.UTC(2026, 10, 30, 12, 0, 0, 125));
  await bigquerySink(lookoutBq, cfg).insert(fx.rowsA);
  client = analystClient();
});

describe('@google-cloud/bigquery (Node) on the embedded stack', () => {
  const byId = () => new Map(fx.rowsA.map((r) => [r.analysis_id, r]));

  it('SELECT * of the table: every row, top-level timestamps to the millisecond, NULLs as null', async () => {
    const [rows] = await client.query({
      query: `SELECT * FROM \`${tableId()}\` WHERE run_tag = @run`,
      params: { run: fx.runA },
    });
    expect(rows).toHaveLength(fx.rowsA.length);
    const want = byId();
    for (const r of rows as Array<Record<string, unknown>>) {
      const w = want.get(String(r.analysis_id))!;
      expect(r.recorded_at).toBeInstanceOf(BigQueryTimestamp);
      expect(new Date(iso(r.recorded_at)).toISOString()).toBe(w.recorded_at);
      expect(r.inference_ms).toBe(w.inference_ms);
      expect(r.completed_at === null ? null : new Date(iso(r.completed_at)).toISOString()).toBe(w.completed_at);
      // Nested TIMESTAMPs parse too (whole seconds on the emulator; see the README).
      const stages = r.stages as Array<Record<string, unknown>>;
      const ws = w.stages as Array<Record<string, unknown>>;
      expect(stages.map((s) => new Date(iso(s.started_at)).toISOString())).toEqual(
        ws.map((s) => floorSecond(String(s.started_at))),
      );
    }
  });

  it('SELECT * of the view: one row per analysis, the newest', async () => {
    const [rows] = await client.query({
      query: `SELECT * FROM \`${viewId()}\` WHERE run_tag = @run`,
      params: { run: fx.runA },
    });
    const newest = newestPerAnalysis(fx.rowsA);
    expect((rows as ResultRow[]).map((r) => r.analysis_id).sort()).toEqual(newest.map((r) => r.analysis_id).sort());
  });

  it('a query job (jobs.insert) and its results', async () => {
    const [job] = await client.createQueryJob({
      query: `SELECT analysis_id, object_created_at, stages FROM \`${tableId()}\` WHERE run_tag = @run ORDER BY analysis_id`,
      params: { run: fx.runA },
    });
    const [rows] = await job.getQueryResults();
    expect(rows.map((r) => r.analysis_id)).toEqual(fx.rowsA.map((r) => r.analysis_id).sort());
    const [meta] = await job.getMetadata();
    expect(meta.status.state).toBe('DONE');
  });

  it('rows listed from the table (tabledata.list) in pages', async () => {
    const table = client.dataset(cfg.bigquery.dataset).table(cfg.bigquery.table);
    // Pages of 5, followed by hand (with autoPaginate, maxResults would cap the total instead).
    const rows: ResultRow[] = [];
    let pages = 0;
    let next: object | null | undefined = { autoPaginate: false, maxResults: 5 };
    while (next) {
      const [page, nextQuery] = (await table.getRows(next)) as unknown as [ResultRow[], object | null];
      rows.push(...page);
      pages++;
      expect(page.length).toBeLessThanOrEqual(5);
      next = nextQuery;
    }
    expect(pages).toBeGreaterThan(fx.rowsA.length / 5);
    const mine = rows.filter((r) => r.run_tag === fx.runA);
    expect(mine.map((r) => r.analysis_id).sort()).toEqual(fx.rowsA.map((r) => r.analysis_id).sort());
    const one = mine.find((r) => r.analysis_id === fx.rowsA[0].analysis_id)!;
    expect(new Date(iso(one.recorded_at)).toISOString()).toBe(fx.rowsA[0].recorded_at);
  });

  it('BIGQUERY_EMULATOR_HOST (from lookout env) works as the endpoint too', async () => {
    const saved = process.env.BIGQUERY_EMULATOR_HOST;
    process.env.BIGQUERY_EMULATOR_HOST = cfg.bigquery.url;
    try {
      const auth = new OAuth2Client();
      auth.setCredentials({ access_token: 'local' });
      const viaEnv = new BigQuery({ projectId: cfg.gcp.projectId, authClient: auth });
      const [rows] = await viaEnv.query({
        query: `SELECT COUNT(*) AS n FROM \`${tableId()}\` WHERE run_tag = @run`,
        params: { run: fx.runA },
      });
      expect(rows).toEqual([{ n: fx.rowsA.length }]);
    } finally {
      if (saved === undefined) delete process.env.BIGQUERY_EMULATOR_HOST;
      else process.env.BIGQUERY_EMULATOR_HOST = saved;
    }
  });

  it('a typo fails at once with invalidQuery (HTTP 400), not retried', async () => {
    const err = (await client.query(`SELEC status FROM \`${tableId()}\``).catch((e: unknown) => e)) as {
      code?: number;
      errors?: Array<{ reason?: string }>;
    };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(400);
    expect(err.errors?.[0]?.reason).toBe('invalidQuery');
  });
});
