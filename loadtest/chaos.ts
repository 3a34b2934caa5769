/**
 * The chaos suite: objects uploaded to the embedded stack while one fault at a time hits it, then a count of
 * what came out. For each fault, in its own phase (own run tag):
 *   uploaded      objects put in the bucket
 *   rows          rows of the phase in the TABLE (not the _latest view)
 *   duplicates    rows beyond one per analysis (rows − distinct workflow_id), in the table
 *   deadLetters   dead letters naming the phase's objects
 *   lost          uploaded objects without a row when the phase ended
 *   landed        the evidence that the fault hit work in progress (see each fault)
 * A phase ends on a positive signal: every object has its row and Temporal runs no workflow any more (so no
 * retried record step can still add a copy), or its time limit.
 *
 * The disk holding the stream filling up is played by a JetStream limit: the object stream's max_bytes is
 * lowered to what it holds plus a little, with discard=new, so publishes are refused exactly as nats-server
 * refuses them when its store is full (an error to the publisher, nothing stored); after the hold it is
 * raised again, as an operator freeing disk would. No root, tmpfs or loop device is needed, and the rest of
 * the server keeps running (a real full disk would also stop consumer-state writes, not covered here).
 */
import fs from 'node:fs';
import type { BigQuery } from '@google-cloud/bigquery';
import type { Storage } from '@google-cloud/storage';
import { DiscardPolicy, type NatsConnection } from 'nats';
import type { Client } from '@temporalio/client';
import { PORT_OFFSETS, type LookoutConfig } from '../config';
import { query } from '../io/query';
import { tableRef } from '../io/results';
import { readDeadLetters } from '../io/streams';
import { appSpec, readyFile, serverReady, serverSpec, up, type ServerName } from '../infra/stack';
import { isAlive, portOpen, procPaths, readPid, startDetached, stopProc, waitReady } from '../infra/procs';
import { uploadLoad } from './loadtest';

export const FAULTS = [
  'worker-kill',
  'dispatcher-kill',
  'nats-restart',
  'temporal-restart',
  'temporal-outage',
  'bigquery-kill',
  'gcs-outage',
  'stream-full',
] as const;
export type FaultName = (typeof FAULTS)[number];

export interface ChaosOptions {
  /** Objects per fault phase. */
  objects: number;
  faults: FaultName[];
  files: Array<{ file: string; contentType: string }>;
  /** Run tag prefix; each phase's tag is `<runTag>-<fault>`. */
  runTag: string;
  temporalOutageS: number;
  gcsOutageS: number;
  streamFullS: number;
  /** Longest a phase may take after its fault is over. */
  phaseTimeoutMs: number;
  log?: (line: string) => void;
}

export interface FaultResult {
  fault: FaultName;
  uploaded: number;
  rows: number;
  analyses: number;
  duplicates: number;
  failedRows: number;
  deadLetters: number;
  lost: number;
  /** Rows of the phase already in the table when the fault struck (0 < k < uploaded: mid-work). */
  rowsAtFault: number;
  /** Workflows running when the fault struck (work in flight). */
  runningAtFault: number | undefined;
  /** Fault-specific evidence, e.g. retried stages or redelivered, already-started events. */
  landed: string;
  /** Seconds from the end of the fault to the phase's last row. */
  recoverS: number;
}

export interface ChaosClients {
  cfg: LookoutConfig;
  storage: Storage;
  bq: BigQuery;
  nc: NatsConnection;
  temporal: Client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The phase's counts in the table; undefined while BigQuery does not answer (a fault in progress). */
async function tableCounts(
  c: ChaosClients,
  run: string,
): Promise<{ rows: number; analyses: number; failed: number; retried: number } | undefined> {
  try {
    // n_rows, not rows: ROWS is a reserved word in BigQuery SQL.
    const [r] = await query<{ n_rows: number; analyses: number; failed: number; retried: number }>(
      c.bq,
      `SELECT COUNT(*) AS n_rows, COUNT(DISTINCT workflow_id) AS analyses, COUNTIF(status != 'ok') AS failed, COUNTIF(attempts > ARRAY_LENGTH(stages)) AS retried FROM ${tableRef(c.cfg)} WHERE run_tag = @run`,
      { run },
    );
    return {
      rows: Number(r?.n_rows ?? 0),
      analyses: Number(r?.analyses ?? 0),
      failed: Number(r?.failed ?? 0),
      retried: Number(r?.retried ?? 0),
    };
  } catch {
    return undefined;
  }
}

/** Waits until the phase has at least `min` analyses in the table (and, with `below`, fewer than that). */
async function waitAnalyses(c: ChaosClients, run: string, min: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = (await tableCounts(c, run))?.analyses ?? 0;
    if (n >= min || Date.now() > deadline) return n;
    // Not faster: bigquery-emulator was seen at 5 GiB RSS after ~25 min of 4 polls a second (its memory grows with queries).
    await sleep(1000);
  }
}

/** Running workflows of one phase (its object names start with `chaos/<run>/`), so other work on a shared stack does not count. */
async function runningWorkflows(c: ChaosClients, run: string): Promise<number | undefined> {
  try {
    return (
      await c.temporal.workflow.count(
        `ExecutionStatus="Running" AND WorkflowId STARTS_WITH "${c.cfg.pipeline}:${c.cfg.gcs.bucket}/chaos/${run}/"`,
      )
    ).count;
  } catch {
    return undefined;
  }
}

async function restartServer(cfg: LookoutConfig, s: ServerName): Promise<void> {
  const pid = startDetached(cfg.home, serverSpec(cfg, s));
  await waitReady(cfg.home, s, () => serverReady(cfg, s), 120_000, pid);
}

async function restartApp(cfg: LookoutConfig, app: 'worker-cpu' | 'dispatcher' | 'watcher'): Promise<void> {
  fs.rmSync(readyFile(cfg, app), { force: true });
  const pid = startDetached(cfg.home, appSpec(cfg, app));
  await waitReady(cfg.home, app, async () => fs.existsSync(readyFile(cfg, app)), 120_000, pid);
}

function kill9(cfg: LookoutConfig, name: string): number {
  const pid = readPid(cfg.home, name);
  if (!pid || !isAlive(pid)) throw new Error(`chaos: ${name} is not running`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

async function waitDead(pid: number): Promise<void> {
  while (isAlive(pid)) await sleep(50);
}

function logSize(cfg: LookoutConfig, name: string): number {
  try {
    return fs.statSync(procPaths(cfg.home, name).logFile).size;
  } catch {
    return 0;
  }
}

function logSince(cfg: LookoutConfig, name: string, offset: number): string {
  try {
    return fs.readFileSync(procPaths(cfg.home, name).logFile).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

/** Runs one phase: uploads, strikes the fault mid-work, recovers, waits for the end, counts. */
export async function runFault(c: ChaosClients, fault: FaultName, o: ChaosOptions): Promise<FaultResult> {
  const { cfg } = c;
  const log = o.log ?? (() => {});
  const run = `${o.runTag}-${fault}`;
  const n = o.objects;
  // Mid-work: a tenth of the phase has its row, most has not.
  const someDone = Math.max(1, Math.floor(n / 10));
  const upload = (signal?: AbortSignal) =>
    uploadLoad(c.storage, cfg, {
      runId: run,
      objects: n,
      concurrency: 8,
      rate: 0,
      files: o.files,
      prefix: `chaos/${run}/`,
      signal,
    });
  let uploaded = 0;
  let rowsAtFault = 0;
  let landed = '';
  let runningAtFault: number | undefined;
  let faultOver = Date.now();
  const deadBefore = new Set((await readDeadLetters(c.nc, cfg)).map((d) => d.seq));

  switch (fault) {
    case 'worker-kill': {
      uploaded = await upload();
      rowsAtFault = await waitAnalyses(c, run, someDone, o.phaseTimeoutMs);
      runningAtFault = await runningWorkflows(c, run);
      const pid = kill9(cfg, 'worker-cpu');
      await waitDead(pid);
      log(`${fault}: SIGKILL worker (pid ${pid}) at ${rowsAtFault}/${n} rows`);
      await restartApp(cfg, 'worker-cpu');
      faultOver = Date.now();
      break;
    }
    case 'dispatcher-kill': {
      // Killed while it holds delivered, unacked events (workflow starts in flight): some were started and not acked.
      const jsm = await c.nc.jetstreamManager();
      const durable = (await jsm.consumers.list(cfg.nats.stream).next()).find((ci) => ci.config.durable_name)?.config
        .durable_name;
      if (!durable) throw new Error('chaos: no durable dispatcher consumer on the object stream');
      const uploading = upload();
      let pending = 0;
      const t0 = Date.now();
      // Struck in full flow: events delivered and unacked while this run's workflows are already being started
      // (a kill before the first start could only leave events that were never started).
      while (Date.now() - t0 < o.phaseTimeoutMs) {
        pending = (await jsm.consumers.info(cfg.nats.stream, durable)).num_ack_pending;
        if (pending >= 2 && ((await runningWorkflows(c, run)) ?? 0) > 0) break;
        await sleep(10);
      }
      const logAt = logSize(cfg, 'dispatcher');
      runningAtFault = await runningWorkflows(c, run);
      const pid = kill9(cfg, 'dispatcher');
      await waitDead(pid);
      rowsAtFault = (await tableCounts(c, run))?.analyses ?? 0;
      log(`${fault}: SIGKILL dispatcher (pid ${pid}) with ${pending} events delivered and unacked`);
      uploaded = await uploading;
      await restartApp(cfg, 'dispatcher');
      faultOver = Date.now();
      await waitAnalyses(c, run, n, o.phaseTimeoutMs);
      const again = (logSince(cfg, 'dispatcher', logAt).match(/already started, acked again/g) ?? []).length;
      landed = `${pending} events unacked at the kill; ${again} redelivered events found their workflow already started`;
      break;
    }
    case 'nats-restart':
    case 'temporal-restart':
    case 'temporal-outage': {
      const s: ServerName = fault === 'nats-restart' ? 'nats' : 'temporal';
      uploaded = await upload();
      rowsAtFault = await waitAnalyses(c, run, someDone, o.phaseTimeoutMs);
      runningAtFault = await runningWorkflows(c, run);
      await stopProc(cfg.home, s, 10_000);
      const t0 = Date.now();
      log(`${fault}: ${s} stopped at ${rowsAtFault}/${n} rows`);
      if (fault === 'temporal-outage') await sleep(o.temporalOutageS * 1000);
      await restartServer(cfg, s);
      landed = `${s} down ${((Date.now() - t0) / 1000).toFixed(0)} s`;
      faultOver = Date.now();
      break;
    }
    case 'bigquery-kill': {
      uploaded = await upload();
      rowsAtFault = await waitAnalyses(c, run, someDone, o.phaseTimeoutMs);
      runningAtFault = await runningWorkflows(c, run);
      const pid = kill9(cfg, 'bigquery');
      await waitDead(pid);
      // A killed Go server's leader thread turns zombie before its other threads have let go of the sockets:
      // wait until its ports are really closed, or the restart finds them in use.
      for (const port of [cfg.portBase + PORT_OFFSETS.bigqueryEmulator, cfg.portBase + PORT_OFFSETS.bigqueryGrpc])
        while (await portOpen('127.0.0.1', port)) await sleep(100);
      log(`${fault}: SIGKILL bigquery-emulator (pid ${pid}) at ${rowsAtFault}/${n} rows`);
      // As an operator would: `lookout up` starts a fresh emulator and loads the row journal into it.
      await up(cfg, { apps: false, log: (l) => log(`${fault}: up: ${l}`) });
      faultOver = Date.now();
      break;
    }
    case 'gcs-outage': {
      uploaded = await upload();
      rowsAtFault = await waitAnalyses(c, run, someDone, o.phaseTimeoutMs);
      runningAtFault = await runningWorkflows(c, run);
      await stopProc(cfg.home, 'gcs', 10_000);
      log(`${fault}: fake-gcs-server stopped at ${rowsAtFault}/${n} rows for ${o.gcsOutageS} s`);
      await sleep(o.gcsOutageS * 1000);
      await restartServer(cfg, 'gcs');
      landed = `GCS down ${o.gcsOutageS} s`;
      faultOver = Date.now();
      break;
    }
    case 'stream-full': {
      const jsm = await c.nc.jetstreamManager();
      const info = await jsm.streams.info(cfg.nats.stream);
      // Room for about a tenth of the phase's events (~1 KiB each), then publishes are refused.
      const room = Math.max(2048, someDone * 1024);
      await jsm.streams.update(cfg.nats.stream, {
        ...info.config,
        max_bytes: info.state.bytes + room,
        discard: DiscardPolicy.New,
      });
      const logAt = logSize(cfg, 'watcher');
      try {
        uploaded = await upload();
        // Held full until the watcher has been refused at least once, and for streamFullS.
        const t0 = Date.now();
        let refusals = 0;
        while (
          Date.now() - t0 < Math.max(o.streamFullS * 1000, 1000) ||
          (refusals === 0 && Date.now() - t0 < Math.min(o.phaseTimeoutMs, 120_000))
        ) {
          refusals = (
            logSince(cfg, 'watcher', logAt).match(/maximum bytes exceeded|insufficient resources|no space/gi) ?? []
          ).length;
          await sleep(500);
        }
        rowsAtFault = (await tableCounts(c, run))?.analyses ?? 0;
        runningAtFault = await runningWorkflows(c, run);
        const held = await jsm.streams.info(cfg.nats.stream);
        landed = `stream full for ${((Date.now() - t0) / 1000).toFixed(0)} s (${held.state.bytes}/${held.config.max_bytes} bytes), ${refusals} refused publishes logged by the watcher`;
      } finally {
        const now = await jsm.streams.info(cfg.nats.stream);
        await jsm.streams.update(cfg.nats.stream, { ...now.config, max_bytes: -1, discard: DiscardPolicy.Old });
      }
      log(`${fault}: ${landed}; space freed`);
      faultOver = Date.now();
      break;
    }
  }

  // The end: every object has its row and no workflow runs any more; or the time limit.
  const deadline = Date.now() + o.phaseTimeoutMs;
  let counts = await tableCounts(c, run);
  let lastRowAt = Date.now();
  let prevAnalyses = -1;
  while (Date.now() < deadline) {
    counts = (await tableCounts(c, run)) ?? counts;
    if (counts && counts.analyses !== prevAnalyses) {
      prevAnalyses = counts.analyses;
      lastRowAt = Date.now();
    }
    if (counts && counts.analyses >= uploaded && (await runningWorkflows(c, run)) === 0) break;
    await sleep(1000);
  }
  counts = (await tableCounts(c, run)) ?? counts;
  landed = [
    `${runningAtFault ?? '?'} workflows running when it struck`,
    landed || `${counts?.retried ?? 0} rows with a retried stage`,
  ].join('; ');
  const dead = (await readDeadLetters(c.nc, cfg)).filter(
    (d) => !deadBefore.has(d.seq) && JSON.stringify(d).includes(run),
  );
  const rows = counts?.rows ?? 0;
  const analyses = counts?.analyses ?? 0;
  return {
    fault,
    uploaded,
    rows,
    analyses,
    duplicates: rows - analyses,
    failedRows: counts?.failed ?? 0,
    deadLetters: dead.length,
    lost: Math.max(0, uploaded - analyses),
    rowsAtFault,
    runningAtFault,
    landed,
    recoverS: Number((Math.max(0, lastRowAt - faultOver) / 1000).toFixed(1)),
  };
}

export async function runChaos(c: ChaosClients, o: ChaosOptions): Promise<FaultResult[]> {
  const out: FaultResult[] = [];
  for (const f of o.faults) {
    const t0 = Date.now();
    const r = await runFault(c, f, o);
    o.log?.(`${f}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s ${JSON.stringify(r)}`);
    out.push(r);
  }
  return out;
}

/** The printed table (also pasted into the README and the benchmark note). */
export function chaosTable(rs: FaultResult[]): string {
  const head =
    '| fault | uploaded | rows in table | duplicate rows | failed rows | dead letters | lost | rows when it struck | evidence it landed mid-work | recovered in |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|';
  return [
    head,
    sep,
    ...rs.map(
      (r) =>
        `| ${r.fault} | ${r.uploaded} | ${r.rows} | ${r.duplicates} | ${r.failedRows} | ${r.deadLetters} | ${r.lost} | ${r.rowsAtFault}/${r.uploaded} | ${r.landed} | ${r.recoverS} s |`,
    ),
  ].join('\n');
}
