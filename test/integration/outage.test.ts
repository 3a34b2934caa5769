/**
 * Outages are waited out, not dead-lettered: the test stack's Temporal server is stopped while objects are
 * uploaded, stays down for LOOKOUT_TEST_OUTAGE_S seconds (default 120: longer than the ~95 s in which the
 * old dispatcher spent its 5 deliveries of ~20 s each and dead-lettered the events), and is started again
 * on the same database. Every object must then get its row, and no dead letter may appear.
 */
import { describe, expect, it } from 'vitest';
import { serverReady, serverSpec } from '../../infra/stack';
import { startDetached, stopProc, waitReady } from '../../infra/procs';
import { readDeadLetters } from '../../io/streams';
import { cfg, sampleFrame, uniqueRun, upload, waitForRows, withNats } from './helpers';

const OUTAGE_S = Number(process.env.LOOKOUT_TEST_OUTAGE_S ?? 120);

describe('Temporal outage', () => {
  it(
    `a ${OUTAGE_S} s outage dead-letters nothing; every object is analysed once Temporal is back`,
    async () => {
      const run = uniqueRun('outage');
      const n = 4;
      const deadBefore = await withNats((nc) => readDeadLetters(nc, cfg, { kind: 'dispatch' }));
      await stopProc(cfg.home, 'temporal');
      const t0 = Date.now();
      try {
        // Uploaded during the outage: the watcher publishes them, the dispatcher cannot start them.
        for (let i = 0; i < n; i++)
          await upload(cfg.gcs.bucket, `${run}/o${i}.jpg`, sampleFrame(300 + i * 11), 'image/jpeg', {
            'lookout-run': run,
          });
        await new Promise((r) => setTimeout(r, Math.max(0, t0 + OUTAGE_S * 1000 - Date.now())));
      } finally {
        const pid = startDetached(cfg.home, serverSpec(cfg, 'temporal'));
        await waitReady(cfg.home, 'temporal', () => serverReady(cfg, 'temporal'), 90_000, pid);
      }
      const rows = await waitForRows<{ status: string; workflow_id: string }>('run_tag = @run', { run }, n, 240_000);
      expect(rows.map((r) => r.status)).toEqual(Array(n).fill('ok'));
      const deadAfter = await withNats((nc) => readDeadLetters(nc, cfg, { kind: 'dispatch' }));
      expect(deadAfter.filter((d) => d.payload.includes(run))).toEqual([]);
      expect(deadAfter.length).toBe(deadBefore.length);
    },
    (OUTAGE_S + 420) * 1000,
  );
});
