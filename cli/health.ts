/**
 * /healthz and /readyz of Lookout's long-running processes, for Kubernetes probes and compose healthchecks.
 *
 *  GET /healthz  200 while the event loop answers (liveness: a wedged process stops answering and is restarted).
 *  GET /readyz   200 once the process serves (the same moment it calls `markReady`: models loaded, worker
 *                polling, consumer attached), 503 before that and from SIGTERM on, so a draining pod leaves
 *                the Service while its running tasks finish.
 *
 * Kept on its own small node:http server (no framework) so the metrics endpoint can share it or sit beside it.
 * Started by cli/main.ts when LOOKOUT_HEALTH_PORT is set; unref'd, so a short command never waits on it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthState {
  ready: boolean;
  draining: boolean;
  startedAt: number;
}

const state: HealthState = { ready: false, draining: false, startedAt: Date.now() };

/** The process serves: /readyz answers 200 (until SIGTERM). */
export function setReady(): void {
  state.ready = true;
}

/** The process drains: /readyz answers 503 from now on. */
export function setDraining(): void {
  state.draining = true;
}

/** Status code and body of a probe path, or undefined for any other path (pure: the server and tests use it). */
export function probe(
  pathname: string,
  s: Readonly<HealthState> = state,
): { status: number; body: Record<string, unknown> } | undefined {
  const uptimeS = Math.round((Date.now() - s.startedAt) / 1000);
  if (pathname === '/healthz') return { status: 200, body: { ok: true, uptimeS } };
  if (pathname === '/readyz') {
    const ok = s.ready && !s.draining;
    return { status: ok ? 200 : 503, body: { ok, ready: s.ready, draining: s.draining, uptimeS } };
  }
  return undefined;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Listens on host:port. SIGTERM flips readiness to draining first (prependListener), before the process's own
 * drain handler runs; where the process has no SIGTERM handler of its own, it exits as Node would have (143):
 * adding a listener must not turn SIGTERM into a no-op.
 */
export async function startHealthServer(port: number, host = '0.0.0.0'): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://health');
    const r = req.method === 'GET' || req.method === 'HEAD' ? probe(url.pathname) : undefined;
    const status = r?.status ?? 404;
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : JSON.stringify(r?.body ?? { error: 'not found' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const onTerm = () => {
    setDraining();
    if (process.listenerCount('SIGTERM') === 1) process.exit(143);
  };
  process.prependListener('SIGTERM', onTerm);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        process.removeListener('SIGTERM', onTerm);
        server.close(() => resolve());
      }),
  };
}
