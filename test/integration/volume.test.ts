/** Issue 3's acceptance check: 200 uploads through the official client -> exactly 200 rows, timings set and consistent. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSampleFiles, uploadLoad, waitForRun } from '../../loadtest/loadtest';
import { buildReport, reportHtml } from '../../loadtest/report';
import { extractFrames } from '../../demo/samples';
import {
  bq,
  cfg,
  checkTimings,
  expectOnlyRunWroteRow,
  objectsStreamLastSeq,
  rowsWhere,
  samplesDir,
  storage,
  TABLE,
  uniqueRun,
  waitDispatcherSettled,
  type TimedRow,
} from './helpers';

describe('volume', () => {
  it('200 images uploaded with the official GCS client produce exactly 200 rows with consistent timings', async () => {
    const dir = path.join(samplesDir, 'volume');
    extractFrames(
      dir,
      Array.from({ length: 20 }, (_, i) => 20 + i * 35),
    );
    const run = uniqueRun('volume');
    const uploaded = await uploadLoad(storage, cfg, {
      runId: run,
      objects: 200,
      concurrency: 8,
      rate: 0,
      files: listSampleFiles(dir),
    });
    expect(uploaded).toBe(200);
    const n = await waitForRun(bq, cfg, run, 200, { timeoutMs: 400_000 });
    expect(n).toBe(200);
    // Nothing more: every event on the stream is settled by the dispatcher and each row came from its object's only run.
    await waitDispatcherSettled(await objectsStreamLastSeq());
    const raw = await rowsWhere<TimedRow & { status: string; workflow_id: string; run_id: string }>(
      'run_tag = @run',
      { run },
      TABLE(),
    );
    await expectOnlyRunWroteRow(raw);
    expect(raw).toHaveLength(200);
    for (const r of raw) {
      expect(r.status).toBe('ok');
      checkTimings(r, expect);
    }
    // The SQL report of the run (infra/sql, as `lookout report` runs it).
    const rep = await buildReport(bq, cfg, run);
    const [summary] = rep.sections.find((x) => x.title.startsWith('Summary'))!.rows as Array<Record<string, number>>;
    expect(summary.objects).toBe(200);
    expect(summary.ok).toBe(200);
    expect(summary.e2e_p50).toBeLessThanOrEqual(summary.e2e_p90);
    expect(summary.e2e_p90).toBeLessThanOrEqual(summary.e2e_p99);
    expect(summary.e2e_p99).toBeLessThanOrEqual(summary.e2e_max);
    expect(summary.per_second).toBeGreaterThan(0);
    const stages = rep.sections.find((x) => x.title.startsWith('Stages'))!.rows as Array<
      Record<string, number | string>
    >;
    expect(stages.map((x) => x.stage)).toEqual(['detect', 'extract', 'score']);
    for (const st of stages) {
      expect(st.n).toBe(200);
      expect(Number(st.queue_p50)).toBeLessThanOrEqual(Number(st.queue_p99));
      expect(Number(st.run_p50)).toBeLessThanOrEqual(Number(st.run_p99));
    }
    expect(rep.latencies).toHaveLength(200);
    expect(rep.timeline.reduce((n, t) => n + t.finished, 0)).toBe(200);
    expect(rep.timeline.reduce((n, t) => n + t.failed, 0)).toBe(0);
    expect(reportHtml(rep)).toContain('<svg');
  }, 600_000);
});
