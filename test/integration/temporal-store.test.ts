/**
 * The embedded Temporal server's store keeps what it committed when the server is killed outright (SIGKILL, no
 * shutdown): infra/stack.ts runs its SQLite in write-ahead-log mode with synchronous=NORMAL (chosen by the CPU
 * ledger, docs/performance.md) instead of the dev server's rollback journal with synchronous=FULL, and `lookout up`
 * promises that workflows persist across restarts. A workflow started on a queue no worker polls is still there,
 * running, after the kill and a restart on the same database.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProcStat } from '../../bench/ledger';
import { serverReady, serverSpec } from '../../infra/stack';
import { readPid, startDetached, waitReady } from '../../infra/procs';
import { temporalClient } from '../../io/clients';
import { cfg, uniqueRun } from './helpers';

describe('embedded Temporal store', () => {
  it('runs SQLite in WAL mode with synchronous=NORMAL', () => {
    const args = serverSpec(cfg, 'temporal').args;
    const pragmas = args.flatMap((a, i) => (args[i - 1] === '--sqlite-pragma' ? [a] : []));
    expect(pragmas).toEqual(['journal_mode=wal', 'synchronous=normal']);
    expect(args[args.indexOf('--db-filename') + 1]).toMatch(/temporal\.db$/);
  });

  it('a started workflow survives SIGKILL of the server and a restart on the same database', async () => {
    const id = uniqueRun('store-kill');
    const queue = `nobody-polls-${id}`;
    {
      const { client, connection } = await temporalClient(cfg);
      try {
        await client.workflow.start('analyzeObject', { taskQueue: queue, workflowId: id, args: [] });
      } finally {
        await connection.close();
      }
    }
    const pid = readPid(cfg.home, 'temporal');
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    // Gone: no such process, or a zombie its parent has not reaped yet (state Z in /proc/<pid>/stat).
    const alive = () => {
      try {
        return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).state !== 'Z';
      } catch {
        return false;
      }
    };
    await expect.poll(alive, { timeout: 10_000 }).toBe(false);
    const again = startDetached(cfg.home, serverSpec(cfg, 'temporal'));
    await waitReady(cfg.home, 'temporal', () => serverReady(cfg, 'temporal'), 90_000, again);
    const { client, connection } = await temporalClient(cfg);
    try {
      const handle = client.workflow.getHandle(id);
      const d = await handle.describe();
      expect(d.status.name).toBe('RUNNING');
      expect(d.taskQueue).toBe(queue);
      await handle.terminate('test done');
    } finally {
      await connection.close();
    }
  }, 180_000);
});
