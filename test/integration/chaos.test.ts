/**
 * The chaos suite's reduced form (the full one is `npm run chaos`): three faults that once left duplicate rows
 * in the table itself — a worker SIGKILL, a Temporal restart and a bigquery-emulator kill — each striking a
 * phase of LOOKOUT_TEST_CHAOS_OBJECTS objects (default 100) while its analyses are in progress. Every object
 * must end with exactly one row in the table (not only in the _latest view), none may be dead-lettered, and
 * the fault must have struck mid-work (some rows landed before it, not all).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractFrames } from '../../demo/samples';
import { chaosTable, runFault, type ChaosClients, type ChaosOptions, type FaultName } from '../../loadtest/chaos';
import { listSampleFiles } from '../../loadtest/loadtest';
import { bq, cfg, samplesDir, storage, uniqueRun, withNats, withTemporal } from './helpers';

const N = Number(process.env.LOOKOUT_TEST_CHAOS_OBJECTS ?? 100);

describe('chaos (reduced)', () => {
  const dir = path.join(samplesDir, 'chaos');
  const opts = (): ChaosOptions => {
    extractFrames(
      dir,
      Array.from({ length: 10 }, (_, i) => 30 + i * 60),
    );
    return {
      objects: N,
      faults: [],
      files: listSampleFiles(dir),
      runTag: uniqueRun('chaos'),
      temporalOutageS: 0,
      gcsOutageS: 0,
      streamFullS: 0,
      phaseTimeoutMs: 300_000,
      log: (l) => process.stderr.write(`[chaos] ${l}\n`),
    };
  };

  for (const fault of ['worker-kill', 'temporal-restart', 'bigquery-kill'] as FaultName[]) {
    it(`${fault}: ${N} objects, each exactly one row in the table, nothing lost or dead-lettered`, async () => {
      const r = await withNats((nc) =>
        withTemporal((temporal) => runFault({ cfg, storage, bq, nc, temporal } satisfies ChaosClients, fault, opts())),
      );
      process.stderr.write(`${chaosTable([r])}\n`);
      expect(r.uploaded).toBe(N);
      // Struck mid-work: some analyses had their row, not all.
      expect(r.rowsAtFault).toBeGreaterThan(0);
      expect(r.rowsAtFault).toBeLessThan(N);
      expect(r.runningAtFault).toBeGreaterThan(0);
      expect(r.lost).toBe(0);
      expect(r.duplicates).toBe(0);
      expect(r.rows).toBe(N);
      expect(r.deadLetters).toBe(0);
    }, 900_000);
  }
});
