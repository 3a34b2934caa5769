/**
 * Runs before each integration test file: restarts the test stack's bigquery-emulator when it has grown past
 * LOOKOUT_TEST_BQ_RESTART_MIB (default 1536 MiB) of resident memory. A safety net, logged when it acts.
 *
 * Why: bigquery-emulator v0.6.6 never frees what it keeps per recorded job (goccy/bigquery-emulator#512); a
 * full suite run once took it past 18 GiB and stalled the 2-core, 24 GiB CI machine (a restarted Temporal
 * not ready in 90 s, NATS connects timing out). The fix is in the front (infra/bigquery-api/held-jobs.ts:
 * query jobs are no longer recorded by the emulator), which leaves ~0.2 MiB per small query; reads of the
 * de-duplicating view over a large table cost more, and list_rows ~1.5 MiB a page. This guard bounds what
 * is left over a long run. Restarting is what `lookout up` does safely: the front holds inserts while the
 * fresh emulator loads the workers' row journal. Rows a test inserted itself are not journaled: no test
 * reads rows written by another file.
 */
import fs from 'node:fs';
import { beforeAll } from 'vitest';
import { isAlive, readPid, stopProc } from '../../infra/procs';
import { up } from '../../infra/stack';
import { cfg } from './helpers';

const LIMIT_MIB = Number(process.env.LOOKOUT_TEST_BQ_RESTART_MIB ?? 1536);

function residentMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

beforeAll(async () => {
  if (!cfg.bigquery.embedded) return;
  const pid = readPid(cfg.home, 'bigquery');
  if (!isAlive(pid)) return; // a test that kills it starts it again itself
  const rss = residentMiB(pid!);
  if (rss < LIMIT_MIB) return;
  const t0 = Date.now();
  await stopProc(cfg.home, 'bigquery');
  await up(cfg, { apps: false, log: (l) => process.stderr.write(`[fresh-emulator] ${l}\n`) });
  process.stderr.write(
    `[fresh-emulator] bigquery-emulator restarted at ${Math.round(rss)} MiB resident, in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`,
  );
}, 600_000);
