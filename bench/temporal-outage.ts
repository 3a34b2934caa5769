/**
 * A Temporal outage against the real servers, without the rest of the stack: nats-server and the Temporal
 * dev server (from infra/install.sh) on their own ports, the dispatcher in this process.
 *
 *   node -r tsx/cjs bench/temporal-outage.ts [--outage-s 120] [--events 6] [--port-base 30200]
 *
 * Temporal is stopped, events are published, the outage lasts --outage-s seconds, Temporal is started
 * again (same database file) and the script waits until every event's workflow exists. It prints the
 * dispatcher's counts, the dead letters and the time to recover, and exits 1 if any event was
 * dead-lettered or not started. No worker runs: the check is the dispatch path (started = accepted by
 * Temporal), not the analysis.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { workflowIdFor } from '../core/events';
import { Dispatcher, DISPATCHER_DEFAULTS } from '../dispatch/dispatcher';
import { serverReady, serverSpec } from '../infra/stack';
import { startDetached, stopProc, waitReady } from '../infra/procs';
import { natsConnect, temporalClient } from '../io/clients';
import { ensureStreams, publishObjectEvent, readDeadLetters } from '../io/streams';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const outageS = arg('outage-s', 120);
  const events = arg('events', 6);
  const portBase = arg('port-base', 30200);
  const home = path.resolve(__dirname, '..', '.lookout', 'outage-check');
  fs.rmSync(home, { recursive: true, force: true });
  const cfg = loadConfig({ ...process.env, LOOKOUT_HOME: home, LOOKOUT_PORT_BASE: String(portBase) });
  const start = async (s: 'nats' | 'temporal') => {
    const pid = startDetached(cfg.home, serverSpec(cfg, s));
    await waitReady(cfg.home, s, () => serverReady(cfg, s), 90_000, pid);
  };
  await Promise.all([start('nats'), start('temporal')]);
  const nc = await natsConnect(cfg, 'outage-check');
  const { client, connection } = await temporalClient(cfg);
  const lines: string[] = [];
  let code = 0;
  try {
    await ensureStreams(nc, cfg);
    const d = new Dispatcher(nc, client, cfg, {
      ...DISPATCHER_DEFAULTS,
      concurrency: 4,
      pipelineOptions: { gpuStages: [], gpuFallbackMs: 10_000 },
      log: (l) => lines.push(`${new Date().toISOString()} ${l}`),
    });
    const running = d.run();
    await stopProc(cfg.home, 'temporal');
    const t0 = Date.now();
    const evs = Array.from({ length: events }, (_, i) => ({
      eventType: 'OBJECT_FINALIZE' as const,
      bucket: cfg.gcs.bucket,
      name: `outage/o${i}.jpg`,
      generation: String(1_700_000_000_000_000 + i),
      size: '100',
      contentType: 'image/jpeg',
      timeCreated: new Date().toISOString(),
      source: 'watcher' as const,
      publishedAt: new Date().toISOString(),
    }));
    for (const ev of evs) await publishObjectEvent(nc.jetstream(), cfg, ev);
    await sleep(Math.max(0, t0 + outageS * 1000 - Date.now()));
    const countsAtEnd = { ...d.counts };
    await start('temporal');
    const back = Date.now();
    const ids = evs.map((e) => workflowIdFor(cfg.pipeline, e));
    const exists = async (id: string) =>
      client.workflow
        .getHandle(id)
        .describe()
        .then(
          () => true,
          () => false,
        );
    let started = 0;
    while (Date.now() - back < 180_000) {
      started = (await Promise.all(ids.map(exists))).filter(Boolean).length;
      if (started === ids.length) break;
      await sleep(1000);
    }
    const recoveredS = (Date.now() - back) / 1000;
    await d.stop();
    await running;
    const dead = await readDeadLetters(nc, cfg, { kind: 'dispatch' });
    const report = {
      machine: `${os.cpus()[0]?.model} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      outageS,
      events,
      countsDuringOutage: countsAtEnd,
      countsTotal: d.counts,
      deadLetters: dead.length,
      workflowsStarted: started,
      startedWithinS: Number(recoveredS.toFixed(1)),
      log: lines,
    };
    console.log(JSON.stringify(report, null, 2));
    if (dead.length > 0 || started !== events) code = 1;
  } finally {
    await nc.close().catch(() => {});
    await connection.close().catch(() => {});
    await stopProc(cfg.home, 'temporal');
    await stopProc(cfg.home, 'nats');
  }
  return code;
}

main().then(
  (c) => process.exit(c),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
