/** Issue 3's acceptance check: 200 uploads through the official client -> exactly 200 rows, timings set and consistent. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSampleFiles, uploadLoad, waitForRun } from '../../lib/loadtest';
import { extractFrames } from '../../lib/samples';
import { bq, cfg, rowsWhere, samplesDir, storage, TABLE, ts, uniqueRun, type StageRow } from './helpers';

describe('volume', () => {
  it('200 images uploaded with the official GCS client produce exactly 200 rows with consistent timings', async () => {
    const dir = path.join(samplesDir, 'volume');
    extractFrames(dir, Array.from({ length: 20 }, (_, i) => 20 + i * 35));
    const run = uniqueRun('volume');
    const uploaded = await uploadLoad(storage, cfg, { runId: run, objects: 200, concurrency: 8, rate: 0, files: listSampleFiles(dir) });
    expect(uploaded).toBe(200);
    const n = await waitForRun(bq, cfg, run, 200, { timeoutMs: 400_000 });
    expect(n).toBe(200);
    await new Promise((r) => setTimeout(r, 2000));
    const raw = await rowsWhere<{
      status: string;
      stages: StageRow[];
      end_to_end_ms: number;
      object_created_at: unknown;
      event_published_at: unknown;
      dispatched_at: unknown;
      workflow_started_at: unknown;
      completed_at: unknown;
    }>('run_tag = @run', { run }, TABLE());
    expect(raw).toHaveLength(200);
    for (const r of raw) {
      expect(r.status).toBe('ok');
      const hops = [r.object_created_at, r.event_published_at, r.dispatched_at, r.workflow_started_at, r.completed_at].map(ts);
      for (const h of hops) expect(Number.isFinite(h)).toBe(true);
      expect(r.stages).toHaveLength(3);
      let prev = hops[3] - 5;
      let sum = 0;
      for (const s of r.stages) {
        expect(ts(s.scheduled_at)).toBeGreaterThanOrEqual(prev - 5);
        expect(ts(s.started_at)).toBeGreaterThanOrEqual(ts(s.scheduled_at));
        expect(ts(s.completed_at)).toBeGreaterThanOrEqual(ts(s.started_at));
        prev = ts(s.completed_at);
        sum += s.queue_ms + s.run_ms;
      }
      expect(sum).toBeLessThanOrEqual(r.end_to_end_ms);
    }
  }, 600_000);
});
