/**
 * The report queries (infra/sql/*.sql) on bigquery-emulator, over rows of two load-test runs that hold what
 * real runs hold: analyses that completed, failed at detect / extract / score, fell back from the GPU pool,
 * were retried after a failure (two rows, the newer counts), and a failed row as older versions wrote it
 * (0 where nothing was measured). Each answer is compared with the same figure read off the rows in
 * TypeScript (test/fixtures/report-rows.ts), so the SQL is checked against an independent reading.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSql } from '../../loadtest/report';
import { query } from '../../io/query';
import { bigquerySink, type ResultRow } from '../../io/results';
import {
  finishedAt,
  fixtureRuns,
  newestPerAnalysis,
  num,
  okRows,
  rankPct,
  stagesOf,
  type FixtureRuns,
} from '../fixtures/report-rows';
import { bq, cfg, uniqueRun } from './helpers';

type Row = Record<string, unknown>;

let fx: FixtureRuns;
let a: ResultRow[]; // run A, newest row per analysis
let b: ResultRow[];
const run = (file: string) => query<Row>(bq, loadSql(cfg, file), { run: fx.runA, vs: fx.runB });

beforeAll(async () => {
  fx = fixtureRuns(uniqueRun('report-a'), uniqueRun('report-b'), Date.UTC(2026, 10, 30, 10, 0, 0, 250));
  await bigquerySink(bq, cfg).insert([...fx.rowsA, fx.legacyA, ...fx.rowsB]);
  a = newestPerAnalysis([...fx.rowsA, fx.legacyA]);
  b = newestPerAnalysis(fx.rowsB);
});

describe('report queries on failed rows (bigquery-emulator)', () => {
  it('the fixture holds every kind of row', () => {
    expect(
      a
        .filter((r) => r.status === 'failed')
        .map((r) => r.failed_stage)
        .sort(),
    ).toEqual(['detect', 'detect', 'detect', 'extract', 'extract', 'score']);
    // The retried analysis wrote two rows (one workflow id, two runs): only the newer counts; the legacy row adds one.
    const workflows = new Set(fx.rowsA.map((r) => r.workflow_id));
    expect(fx.rowsA.length).toBe(workflows.size + 1);
    expect(a.length).toBe(workflows.size + 1);
    expect(a.filter((r) => String(r.name).includes('retried'))).toHaveLength(1);
    expect(a.find((r) => String(r.name).includes('retried'))?.status).toBe('ok');
    expect(stagesOf(a).filter((s) => s.fell_back)).toHaveLength(1);
    expect(a.find((r) => String(r.name).includes('legacy'))?.inference_ms).toBe(0);
  });

  it('summary.sql: counts failures; latency percentiles over completed analyses only', async () => {
    const [s] = await run('summary');
    const ok = okRows(a);
    const created = Math.min(...a.map((r) => Date.parse(String(r.object_created_at))));
    const wall = (Math.max(...a.map(finishedAt)) - created) / 1000;
    expect(s).toEqual(
      expect.objectContaining({
        run_tag: fx.runA,
        objects: a.length,
        ok: ok.length,
        failed: a.length - ok.length,
        e2e_max: Math.max(...num(ok, 'end_to_end_ms')),
      }),
    );
    expect(s.wall_s).toBeCloseTo(wall, 2);
    expect(s.per_second).toBeCloseTo(a.length / wall, 2);
    for (const [col, field, p] of [
      ['e2e_p50', 'end_to_end_ms', 0.5],
      ['e2e_p90', 'end_to_end_ms', 0.9],
      ['e2e_p99', 'end_to_end_ms', 0.99],
      ['pipeline_p50', 'pipeline_ms', 0.5],
      ['pipeline_p99', 'pipeline_ms', 0.99],
      ['inference_p50', 'inference_ms', 0.5],
      ['inference_p99', 'inference_ms', 0.99],
    ] as const) {
      expect([col, s[col]]).toEqual([col, rankPct(num(ok, field), p)]);
    }
    // What the zeros of failed rows did before: they pulled the median down.
    expect(rankPct(num(a, 'inference_ms'), 0.5)).toBeLessThan(s.inference_p50 as number);
  });

  it('throughput.sql: every analysis in the second it finished, failures included', async () => {
    const rows = await run('throughput');
    const first = Math.floor(Math.min(...a.map((r) => Date.parse(String(r.object_created_at)))) / 1000);
    const want = new Map<number, { finished: number; ok: number; failed: number }>();
    for (const r of a) {
      const sec = Math.floor(finishedAt(r) / 1000) - first;
      const w = want.get(sec) ?? { finished: 0, ok: 0, failed: 0 };
      w.finished++;
      if (r.status === 'ok') w.ok++;
      else w.failed++;
      want.set(sec, w);
    }
    expect(rows).toEqual([...want.entries()].sort((x, y) => x[0] - y[0]).map(([second, w]) => ({ second, ...w })));
    expect(rows.reduce((n, r) => n + Number(r.failed), 0)).toBe(a.filter((r) => r.status === 'failed').length);
  });

  it('errors.sql: one line per class and stage, the retried failure not counted', async () => {
    const rows = await run('errors');
    const want = new Map<string, number>();
    for (const r of a.filter((x) => x.status === 'failed'))
      want.set(`${r.error_class}|${r.failed_stage}`, (want.get(`${r.error_class}|${r.failed_stage}`) ?? 0) + 1);
    expect(new Map(rows.map((r) => [`${r.error_class}|${r.failed_stage}`, r.n]))).toEqual(want);
    expect(rows[0].n).toBe(Math.max(...want.values())); // largest first
    for (const r of rows) expect(String(r.example)).toContain(String(r.error_class));
  });

  it('stages.sql: per stage and pool, the stages that ran (in failed analyses too)', async () => {
    const rows = await run('stages');
    const groups = new Map<string, ReturnType<typeof stagesOf>>();
    for (const s of stagesOf(a)) groups.set(`${s.stage}|${s.pool}`, [...(groups.get(`${s.stage}|${s.pool}`) ?? []), s]);
    expect(rows.map((r) => `${r.stage}|${r.pool}`)).toEqual(['detect|cpu', 'extract|cpu', 'score|cpu']);
    for (const r of rows) {
      const g = groups.get(`${r.stage}|${r.pool}`)!;
      const q = g.map((s) => s.queue_ms);
      const t = g.map((s) => s.run_ms);
      expect(r).toEqual(
        expect.objectContaining({
          n: g.length,
          queue_p50: rankPct(q, 0.5),
          queue_p90: rankPct(q, 0.9),
          queue_p99: rankPct(q, 0.99),
          queue_max: Math.max(...q),
          run_p50: rankPct(t, 0.5),
          run_p99: rankPct(t, 0.99),
          run_max: Math.max(...t),
        }),
      );
    }
    // detect ran in the analyses that failed at extract and score too; not in those that failed at detect.
    expect(rows[0].n).toBe(a.filter((r) => r.status === 'ok' || r.failed_stage !== 'detect').length);
  });

  it('queue_wait_by_pool.sql: queue wait per pool, the GPU stage that fell back counted', async () => {
    const rows = await run('queue_wait_by_pool');
    const q = stagesOf(a).map((s) => s.queue_ms);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual(
      expect.objectContaining({
        pool: 'cpu',
        tasks: q.length,
        fell_back_to_cpu: 1,
        queue_p50: rankPct(q, 0.5),
        queue_p99: rankPct(q, 0.99),
        queue_max: Math.max(...q),
      }),
    );
    expect(rows[0].queue_mean).toBeCloseTo(q.reduce((x, y) => x + y, 0) / q.length, 1);
  });

  it('compare.sql: one row per run, even with failed rows that have no pool, model or provider', async () => {
    const rows = await run('compare');
    expect(rows.map((r) => r.run_tag)).toEqual([fx.runA, fx.runB].sort());
    for (const [tag, rs, pool, provider] of [
      [fx.runA, a, 'cpu', 'cpu'],
      [fx.runB, b, 'gpu', 'cuda'],
    ] as const) {
      const r = rows.find((x) => x.run_tag === tag)!;
      const ok = okRows(rs);
      const wall =
        (Math.max(...rs.map(finishedAt)) - Math.min(...rs.map((x) => Date.parse(String(x.object_created_at))))) / 1000;
      expect(r).toEqual(
        expect.objectContaining({
          pipeline: 'objects',
          model: 'nanodet v1',
          pool,
          execution_provider: provider,
          objects: rs.length,
          failed: rs.length - ok.length,
          fell_back: stagesOf(rs).filter((s) => s.fell_back).length,
          e2e_p50: rankPct(num(ok, 'end_to_end_ms'), 0.5),
          e2e_p99: rankPct(num(ok, 'end_to_end_ms'), 0.99),
          inference_p50: rankPct(num(ok, 'inference_ms'), 0.5),
        }),
      );
      expect(r.per_second).toBeCloseTo(rs.length / wall, 2);
      expect(rs.some((x) => x.pool === null)).toBe(true); // the rows that used to split the run
    }
  });
});
