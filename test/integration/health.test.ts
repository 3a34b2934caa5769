/**
 * The probes on real long-running processes: a second dispatcher and a second CPU worker (LOOKOUT_HEALTH_PORT set)
 * against the test stack answer /healthz at once, /readyz 200 once it consumes (markReady), and exits 0 on SIGTERM
 * after draining — what the Helm chart's probes and terminationGracePeriodSeconds rely on. (The 503 while draining
 * is checked in test/unit/health.test.ts, where the drain can be held open.)
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cfg } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');

async function status(url: string): Promise<number | 'refused'> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 'refused';
  }
}

describe('health endpoints of a real process', () => {
  // Each runs beside the stack's own processes: a second dispatcher shares the durable consumer, a second worker
  // the task queues; neither disturbs other tests.
  const cases = [
    { name: 'dispatcher', args: ['dispatch'], offset: 58, drained: 'dispatcher: draining' },
    {
      name: 'worker',
      args: ['worker', '--pool', 'cpu', '--pipelines', 'objects', '--concurrency', '1'],
      offset: 59,
      drained: 'worker stopped',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: /readyz turns 200 once it serves; SIGTERM drains and exits 0`, async () => {
      const port = cfg.portBase + c.offset; // no server of the stack sits at this offset (config.ts PORT_OFFSETS)
      const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'lookout'), ...c.args], {
        cwd: ROOT,
        env: {
          ...process.env,
          LOOKOUT_HOME: cfg.home,
          LOOKOUT_PORT_BASE: String(cfg.portBase),
          LOOKOUT_HEALTH_PORT: String(port),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout.on('data', (d) => (out += String(d)));
      proc.stderr.on('data', (d) => (out += String(d)));
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      try {
        const deadline = Date.now() + 120_000;
        let ready: number | 'refused' = 'refused';
        while (Date.now() < deadline && proc.exitCode === null) {
          ready = await status(`http://127.0.0.1:${port}/readyz`);
          if (ready === 200) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(ready, out).toBe(200);
        expect(await status(`http://127.0.0.1:${port}/healthz`)).toBe(200);
        proc.kill('SIGTERM');
        // The drain is bounded (chart: terminationGracePeriodSeconds 30 s for the dispatcher, 50 s for a worker).
        const code = await Promise.race([
          exited,
          new Promise<string>((r) => setTimeout(() => r('still running after 60 s'), 60_000)),
        ]);
        expect(code, out).toBe(0);
        expect(out).toContain(c.drained);
      } finally {
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
    }, 180_000);
  }
});
