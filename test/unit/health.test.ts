/**
 * cli/health.ts: the probes Kubernetes and compose use. A child process runs the real server (SIGTERM cannot be
 * sent to the test runner itself); the test reads its port from stdout and drives it over HTTP.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { probe } from '../../cli/health';

const ROOT = path.resolve(__dirname, '..', '..');

/** A child that starts the health server; `ownHandler`: it also drains on SIGTERM like the worker does. */
function child(ownHandler: boolean): { proc: ChildProcessWithoutNullStreams; lines: AsyncIterator<string> } {
  const src = `
    const h = require('./cli/health.ts');
    h.startHealthServer(0, '127.0.0.1').then((s) => {
      console.log('port ' + s.port);
      ${ownHandler ? "process.once('SIGTERM', () => { console.log('draining'); process.stdin.once('data', () => process.exit(0)); });" : ''}
      process.stdin.on('data', (d) => { if (String(d).trim() === 'ready') { h.setReady(); console.log('ok'); } });
    });`;
  const proc = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', src], { cwd: ROOT });
  const lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  return { proc, lines };
}

async function next(lines: AsyncIterator<string>): Promise<string> {
  const r = await lines.next();
  if (r.done) throw new Error('child closed stdout');
  return r.value;
}

const exited = (p: ChildProcessWithoutNullStreams) =>
  new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));

let running: ChildProcessWithoutNullStreams | undefined;
afterEach(() => {
  if (running && running.exitCode === null) running.kill('SIGKILL');
});

describe('health endpoints', () => {
  it('probe(): /healthz always 200; /readyz 200 only when ready and not draining; other paths none', () => {
    const t = Date.now();
    expect(probe('/healthz', { ready: false, draining: false, startedAt: t })?.status).toBe(200);
    expect(probe('/readyz', { ready: false, draining: false, startedAt: t })?.status).toBe(503);
    expect(probe('/readyz', { ready: true, draining: false, startedAt: t })?.status).toBe(200);
    expect(probe('/readyz', { ready: true, draining: true, startedAt: t })?.status).toBe(503);
    expect(probe('/metrics', { ready: true, draining: false, startedAt: t })).toBeUndefined();
  });

  it('serves 503 before ready, 200 after, 503 while draining on SIGTERM, and leaves the exit to the drain handler', async () => {
    const { proc, lines } = child(true);
    running = proc;
    const port = Number((await next(lines)).split(' ')[1]);
    const get = (p: string) => fetch(`http://127.0.0.1:${port}${p}`);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/nope')).status).toBe(404);
    proc.stdin.write('ready\n');
    expect(await next(lines)).toBe('ok');
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, ready: true, draining: false });
    proc.kill('SIGTERM');
    expect(await next(lines)).toBe('draining'); // the process's own handler ran, and it is still alive
    const draining = await get('/readyz');
    expect(draining.status).toBe(503);
    expect(await draining.json()).toMatchObject({ ok: false, draining: true });
    expect((await get('/healthz')).status).toBe(200);
    proc.stdin.write('bye\n');
    expect(await exited(proc)).toBe(0);
  });

  it('a process without its own SIGTERM handler still exits on SIGTERM (143)', async () => {
    const { proc, lines } = child(false);
    running = proc;
    await next(lines);
    proc.kill('SIGTERM');
    expect(await exited(proc)).toBe(143);
  });
});
