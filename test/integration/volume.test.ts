/** Issue 3's acceptance check: 200 uploads through the official client -> exactly 200 rows, timings set and consistent. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSampleFiles, uploadLoad, waitForRun } from '../../lib/loadtest';
import { extractFrames } from '../../lib/samples';
import { bq, cfg, checkTimings, rowsWhere, samplesDir, storage, TABLE, uniqueRun, type TimedRow } from './helpers';

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
    const raw = await rowsWhere<TimedRow & { status: string }>('run_tag = @run', { run }, TABLE());
    expect(raw).toHaveLength(200);
    for (const r of raw) {
      expect(r.status).toBe('ok');
      checkTimings(r, expect);
    }
  }, 600_000);
});
