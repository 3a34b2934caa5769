/**
 * Issue 16: a 3-node NATS JetStream cluster survives the loss of its stream leader mid-run with 0 lost and 0
 * duplicate rows. Reduced size here (LOOKOUT_FAILOVER_OBJECTS, default 300); full size: `npm run bench:nats-failover`.
 *
 * The cluster is real (three nats-server processes on loopback, streams and KV with 3 replicas, a NATS user and
 * password required); Temporal, GCS, BigQuery and the worker are the test stack's. A dispatcher of its own
 * consumes the cluster, and its whole output is checked for the NATS password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFailover } from '../../bench/nats-failover';
import { loadConfig } from '../../config';
import { extractFrames } from '../../demo/samples';
import { listSampleFiles } from '../../loadtest/loadtest';
import { down, natsNodeSpec, natsServerName, upNats } from '../../infra/stack';
import { startDetached } from '../../infra/procs';
import { natsConnect, temporalClient } from '../../io/clients';
import { ensureStreams } from '../../io/streams';
import { bq, cfg, ensureBucket, samplesDir, storage, uniqueRun } from './helpers';

const OBJECTS = Number(process.env.LOOKOUT_FAILOVER_OBJECTS || 300);
const BUCKET = 'lookout-cluster';
const PASSWORD = `cluster-pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const clusterEnv: Record<string, string> = {
  LOOKOUT_HOME: path.join(path.dirname(cfg.home), 'test-nats-cluster'),
  // Ports 80-88 above the test stack's base: inside this checkout's range, clear of the test stack's own
  // (config.ts PORT_OFFSETS end at 61: the Temporal SDK metrics) and of nats-auth.test.ts (70, 72).
  LOOKOUT_PORT_BASE: String(cfg.portBase + 80),
  LOOKOUT_NATS_CLUSTER: '3',
  LOOKOUT_NATS_USER: 'lookout',
  LOOKOUT_NATS_PASSWORD: PASSWORD,
  LOOKOUT_TEMPORAL_ADDRESS: cfg.temporal.url,
  LOOKOUT_GCS_ENDPOINT: cfg.gcs.url,
  LOOKOUT_BIGQUERY_ENDPOINT: cfg.bigquery.url,
};
const ccfg = loadConfig({ ...process.env, ...clusterEnv });

let dispatcher: ChildProcess | undefined;
let dispatcherOutput = '';

beforeAll(async () => {
  await down(ccfg);
  fs.rmSync(ccfg.home, { recursive: true, force: true });
  await upNats(ccfg, (l) => process.stderr.write(`[cluster] ${l}\n`));
  const nc = await natsConnect(ccfg, 'test-provision');
  try {
    await ensureStreams(nc, ccfg);
  } finally {
    await nc.close();
  }
  await ensureBucket(BUCKET);
  const ready = path.join(ccfg.home, 'run', 'dispatcher.ready');
  fs.mkdirSync(path.dirname(ready), { recursive: true });
  dispatcher = spawn(process.execPath, [path.join(cfg.projectRoot, 'bin', 'lookout'), 'dispatch'], {
    cwd: cfg.projectRoot,
    env: { ...process.env, ...clusterEnv, LOOKOUT_READY_FILE: ready },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  dispatcher.stdout!.on('data', (d: Buffer) => (dispatcherOutput += d.toString()));
  dispatcher.stderr!.on('data', (d: Buffer) => (dispatcherOutput += d.toString()));
  const t0 = Date.now();
  while (!fs.existsSync(ready)) {
    if (dispatcher.exitCode !== null) throw new Error(`dispatcher exited: ${dispatcherOutput}`);
    if (Date.now() - t0 > 60_000) throw new Error(`dispatcher not ready after 60 s: ${dispatcherOutput}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 180_000);

afterAll(async () => {
  if (dispatcher && dispatcher.exitCode === null) {
    const exited = new Promise((r) => dispatcher!.once('exit', r));
    dispatcher.kill('SIGTERM');
    await exited;
  }
  await down(ccfg);
});

describe('NATS JetStream cluster', () => {
  it('streams and the KV bucket are replicated 3 times across the three nodes', async () => {
    const nc = await natsConnect(ccfg, 'test-info');
    try {
      const jsm = await nc.jetstreamManager();
      for (const s of [ccfg.nats.stream, ccfg.nats.deadStream, `KV_${ccfg.nats.kvBucket}`]) {
        const info = await jsm.streams.info(s);
        expect(info.config.num_replicas, s).toBe(3);
        expect(info.cluster?.replicas ?? [], s).toHaveLength(2);
      }
    } finally {
      await nc.close();
    }
  });

  it(`kill the stream leader mid-run: ${OBJECTS} objects, 0 lost, 0 duplicate rows`, async () => {
    const dir = path.join(samplesDir, 'failover');
    extractFrames(
      dir,
      Array.from({ length: 20 }, (_, i) => 30 + i * 37),
    );
    const nc = await natsConnect(ccfg, 'test-failover');
    const temporal = await temporalClient(ccfg);
    try {
      const r = await runFailover(
        nc,
        storage,
        bq,
        temporal.client,
        ccfg,
        {
          runId: uniqueRun('failover'),
          objects: OBJECTS,
          rate: 20,
          window: 40,
          killAtFraction: 0.4,
          bucket: BUCKET,
          files: listSampleFiles(dir),
          timeoutMs: 900_000,
          log: (l) => process.stderr.write(`[failover] ${l}\n`),
        },
        async (name) => {
          startDetached(ccfg.home, natsNodeSpec(ccfg, name === 'nats' ? 1 : Number(name.slice(-1))));
        },
      );
      process.stderr.write(`[failover] ${JSON.stringify(r)}\n`);
      // Mid-run: rows existed before the kill, events were still being published, and rows kept coming after it.
      expect(r.rowsBeforeKill).toBeGreaterThan(0);
      expect(r.rowsBeforeKill).toBeLessThan(OBJECTS);
      expect(r.publishedBeforeKill).toBeLessThan(OBJECTS);
      expect(r.rowsAfterKill).toBeGreaterThan(0);
      // Publishing rode out the failover: every event acknowledged within its publish deadline (a publish that
      // gave up counts in unpublished), and the stream is led by another node than the one killed (the election
      // has a deadline: runFailover throws without a new leader).
      expect(r.unpublished).toBe(0);
      expect(r.published).toBe(OBJECTS);
      expect(r.newLeader).not.toBe(r.killedNode);
      expect([1, 2, 3].map((n) => natsServerName(ccfg, n))).toContain(r.newLeader);
      // Nothing lost, nothing twice: in the view and raw in the table, read once the dispatcher had acknowledged
      // every event and every row's workflow had finished with the row's own run as its newest run.
      expect(r.lost).toBe(0);
      expect(r.viewRows).toBe(OBJECTS);
      expect(r.tableRows).toBe(OBJECTS);
      expect(r.duplicateRows).toBe(0);
      expect(r.failedRows).toBe(0);
      expect(r.workflowsNotSettled).toBe(0);
    } finally {
      await temporal.connection.close();
      await nc.close();
    }
    // The dispatcher rode out the failover (it reconnects to another seed) and never printed the password.
    expect(dispatcher!.exitCode).toBeNull();
    expect(dispatcherOutput).toContain('dispatcher: consuming');
    expect(dispatcherOutput).not.toContain(PASSWORD);
  }, 1_000_000);
});
