/**
 * NATS JetStream leader failover, end to end (issue 16): objects flow GCS -> events published to a 3-node
 * JetStream cluster -> dispatcher -> Temporal -> workers -> BigQuery while the stream's leader node is
 * SIGKILLed mid-run. Counts lost and duplicate rows (in the _latest view and raw in the table) and measures
 * the failover.
 *
 * Used by test/integration/nats-cluster.test.ts (reduced size, on the test stack) and run full size as
 * `npm run bench:nats-failover` (its own stack with `--nats-cluster 3`, 3,000 objects by default).
 *
 * Publishing goes on through the failover the way Lookout's publishers do it: an event whose publish fails
 * (no stream leader yet, a timeout) is published again with the same Nats-Msg-Id, which the stream dedupes,
 * as the watcher does at its next poll and Pub/Sub does when the push endpoint answers 5xx — for at most
 * `publishDeadlineMs` per event; an event still unpublished then is counted in `unpublished` (a failure that shows
 * in the result), not retried forever. Every wait has a deadline: no leader elected within `electionDeadlineMs`
 * throws, and so does a dispatcher that does not settle. "No duplicate" is read from positive signals, not a pause:
 * the dispatcher's consumer has acknowledged every event on the stream, and each row's workflow has finished with
 * the row's own run as its newest run (`workflowsNotSettled` counts those that have not).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import type { Client } from '@temporalio/client';
import type { Storage } from '@google-cloud/storage';
import type { NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';
import { eventFromObjectResource, type ObjectEvent } from '../core/events';
import { RateLimiter } from '../ingest/backfill';
import { natsServerName } from '../infra/stack';
import { readPid } from '../infra/procs';
import { query } from '../io/query';
import { runLatestSql, tableRef } from '../io/results';
import { DISPATCHER_DURABLE, publishObjectEvent } from '../io/streams';

export interface FailoverOptions {
  runId: string;
  objects: number;
  /** Events published per second at most. */
  rate: number;
  /**
   * Events published ahead of the rows: the publisher waits while more than this many are in flight, so
   * publishing spans the whole run (as uploads arriving over time do) and the kill lands in its middle.
   */
  window: number;
  /** The leader is killed once this share of the rows exists (publishing is then still going on). */
  killAtFraction: number;
  /** Bucket the objects are uploaded to (not watched: the run publishes their events itself). */
  bucket: string;
  /** Sample images, replicated round-robin. */
  files: Array<{ file: string; contentType: string }>;
  timeoutMs: number;
  /** Longest one event is retried before it counts as unpublished (default 120 s). */
  publishDeadlineMs?: number;
  /** Longest wait for a stream leader, before the kill and after it (default 60 s). */
  electionDeadlineMs?: number;
  log?: (line: string) => void;
}

export interface FailoverResult {
  objects: number;
  /** Events the stream acknowledged. */
  published: number;
  /** Events that could not be published within publishDeadlineMs (each a lost object). */
  unpublished: number;
  /** Publishes that failed and were retried (same Nats-Msg-Id). */
  publishRetries: number;
  /** Publishes the stream reported as duplicates (a retry of one that had in fact been stored). */
  publishDuplicates: number;
  killedNode: string;
  /** The stream's leader after the failover (another node than killedNode). */
  newLeader: string;
  rowsBeforeKill: number;
  publishedBeforeKill: number;
  /** Rows that appeared after the kill (rowsAfter - rowsBeforeKill). */
  rowsAfterKill: number;
  /** From SIGKILL to a stream leader on another node, as stream info reports it. */
  leaderElectedMs: number;
  /** From SIGKILL to the first publish acknowledged after it. */
  firstPublishAfterKillMs: number;
  /** Longest time one event took from its first publish attempt to its acknowledgement. */
  maxPublishMs: number;
  /** Objects with a row in the _latest view. */
  viewRows: number;
  /** Rows in the table itself (raw). */
  tableRows: number;
  lost: number;
  /** Raw rows beyond one per object. */
  duplicateRows: number;
  /** Objects whose latest row is not `ok`. */
  failedRows: number;
  /** Upload of the objects to the last row. */
  runSeconds: number;
  /** The killed node restarted and every stream replica caught up again. */
  rejoinedMs: number;
  /** Rows whose workflow is not finished, or whose newest run is not the run that wrote the row (a second analysis). */
  workflowsNotSettled: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function countRows(bq: BigQuery, cfg: LookoutConfig, run: string): Promise<number> {
  const [r] = await query<{ n: number }>(
    bq,
    `SELECT COUNT(DISTINCT workflow_id) AS n FROM ${tableRef(cfg)} WHERE run_tag = @run`,
    { run },
  );
  return Number(r?.n ?? 0);
}

/** The server_name of the stream's leader, or undefined while it has none (or the request fails). */
async function streamLeader(nc: NatsConnection, cfg: LookoutConfig): Promise<string | undefined> {
  try {
    const jsm = await nc.jetstreamManager({ timeout: 1000 });
    return (await jsm.streams.info(cfg.nats.stream)).cluster?.leader;
  } catch {
    return undefined;
  }
}

/** Polls until `ok(value)` or throws after deadlineMs with `what`. */
async function waitFor<T>(
  what: string,
  deadlineMs: number,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  everyMs = 100,
): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${deadlineMs} ms (last seen ${JSON.stringify(v)})`);
    await sleep(everyMs);
  }
}

async function uploadObjects(storage: Storage, opts: FailoverOptions): Promise<void> {
  const bucket = storage.bucket(opts.bucket);
  const datas = opts.files.map((f) => ({ ...f, data: fs.readFileSync(f.file) }));
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < opts.objects; i = next++) {
      const s = datas[i % datas.length];
      const name = `failover/${opts.runId}/${String(i).padStart(6, '0')}-${path.basename(s.file)}`;
      await bucket.file(name).save(s.data, {
        resumable: false,
        contentType: s.contentType,
        metadata: { metadata: { 'lookout-run': opts.runId } },
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function listEvents(storage: Storage, opts: FailoverOptions): Promise<ObjectEvent[]> {
  const [files] = await storage.bucket(opts.bucket).getFiles({ prefix: `failover/${opts.runId}/` });
  return files.map((f) => {
    const v = eventFromObjectResource(
      { ...f.metadata, bucket: opts.bucket, name: f.name } as Parameters<typeof eventFromObjectResource>[0],
      'backfill',
    );
    if (!v.ok) throw new Error(`object ${f.name}: ${v.reason}`);
    return v.value;
  });
}

/**
 * Runs the scenario against a running system whose NATS is an embedded cluster of 3 (`cfg.nats.cluster`),
 * with a dispatcher consuming it and workers on its Temporal. Kills the stream leader's process.
 */
export async function runFailover(
  nc: NatsConnection,
  storage: Storage,
  bq: BigQuery,
  temporal: Client,
  cfg: LookoutConfig,
  opts: FailoverOptions,
  restartNode: (name: string) => Promise<void>,
): Promise<FailoverResult> {
  const log = opts.log ?? (() => {});
  if (cfg.nats.cluster < 3) throw new Error('runFailover needs an embedded NATS cluster of 3 nodes');
  const t0 = Date.now();
  await uploadObjects(storage, opts);
  const events = await listEvents(storage, opts);
  if (events.length !== opts.objects) throw new Error(`listed ${events.length} of ${opts.objects} uploaded objects`);
  log(`uploaded ${events.length} objects in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

  const js = nc.jetstream({ timeout: 2000 });
  const limiter = new RateLimiter(opts.rate);
  const publishDeadlineMs = opts.publishDeadlineMs ?? 120_000;
  const electionDeadlineMs = opts.electionDeadlineMs ?? 60_000;
  const deadline = Date.now() + opts.timeoutMs;
  let published = 0;
  let unpublished = 0;
  let publisherError: Error | undefined;
  let retries = 0;
  let duplicates = 0;
  let maxPublishMs = 0;
  let killAt = undefined as number | undefined;
  let firstAckAfterKill: number | undefined;
  let rowsSeen = 0;
  const publisher = (async () => {
    for (const ev of events) {
      while (published - rowsSeen >= opts.window) {
        if (Date.now() > deadline)
          throw new Error(`rows stopped coming: ${published} published, ${rowsSeen} rows after ${opts.timeoutMs} ms`);
        await sleep(100);
      }
      await limiter.acquire();
      const started = Date.now();
      let acked = false;
      while (!acked && Date.now() - started < publishDeadlineMs) {
        try {
          const r = await publishObjectEvent(js, cfg, ev);
          if (r.duplicate) duplicates++;
          acked = true;
        } catch {
          retries++;
          await sleep(250);
        }
      }
      if (!acked) {
        unpublished++;
        log(`gave up publishing ${ev.name} after ${publishDeadlineMs} ms`);
        continue;
      }
      const now = Date.now();
      maxPublishMs = Math.max(maxPublishMs, now - started);
      if (killAt !== undefined && firstAckAfterKill === undefined) firstAckAfterKill = now;
      published++;
    }
  })().catch((err: unknown) => {
    publisherError = err as Error;
  });

  // Rows counted once a second for the publisher's window, until the end of the run.
  let counting = true;
  const counter = (async () => {
    while (counting) {
      rowsSeen = await countRows(bq, cfg, opts.runId).catch(() => rowsSeen);
      await sleep(1000);
    }
  })();
  // Wait until the run is well under way (rows arriving, events still being published), then kill the node
  // that leads the stream.
  const killAtRows = Math.max(1, Math.floor(opts.objects * opts.killAtFraction));
  while (rowsSeen < killAtRows) {
    if (publisherError) throw publisherError;
    if (Date.now() > deadline)
      throw new Error(`kill point not reached (${published} published, ${rowsSeen} rows) after ${opts.timeoutMs} ms`);
    await sleep(200);
  }
  const rowsBeforeKill = rowsSeen;
  const leader = (await waitFor(
    'a stream leader before the kill',
    electionDeadlineMs,
    () => streamLeader(nc, cfg),
    (l) => l !== undefined,
  ))!;
  const nodeIndex = [1, 2, 3].find((n) => natsServerName(cfg, n) === leader);
  if (!nodeIndex) throw new Error(`stream leader ${leader} is not an embedded node`);
  const procName = nodeIndex === 1 ? 'nats' : `nats-${nodeIndex}`;
  const pid = readPid(cfg.home, procName);
  if (!pid) throw new Error(`no pid for ${procName}`);
  const publishedBeforeKill = published;
  killAt = Date.now();
  process.kill(pid, 'SIGKILL');
  log(
    `killed stream leader ${leader} (${procName}, pid ${pid}) at ${rowsBeforeKill} rows, ${publishedBeforeKill} events published`,
  );

  const newLeader = (await waitFor(
    `a new stream leader after killing ${leader}`,
    electionDeadlineMs,
    () => streamLeader(nc, cfg),
    (l) => l !== undefined && l !== leader,
    50,
  ))!;
  const leaderElectedMs = Date.now() - killAt;
  log(`new stream leader ${newLeader} after ${leaderElectedMs} ms`);

  await publisher;
  if (publisherError) throw publisherError;
  log(
    `published ${published} events (${retries} retried publishes, ${duplicates} reported duplicate, ${unpublished} given up)`,
  );
  while (rowsSeen < published && Date.now() < deadline) await sleep(500);
  counting = false;
  await counter;
  const rows = await countRows(bq, cfg, opts.runId);
  const runSeconds = (Date.now() - t0) / 1000;
  // Nothing more can arrive once the dispatcher has acknowledged every event on the stream and every row's workflow
  // has finished with that row's run as its newest run.
  const lastSeq = (await (await nc.jetstreamManager({ timeout: 5000 })).streams.info(cfg.nats.stream)).state.last_seq;
  await waitFor(
    `the dispatcher acknowledging every event up to ${lastSeq}`,
    Math.max(60_000, deadline - Date.now()),
    async () => {
      const ci = await (
        await nc.jetstreamManager({ timeout: 5000 })
      ).consumers
        .info(cfg.nats.stream, DISPATCHER_DURABLE)
        .catch(() => undefined);
      return ci ? { ackFloor: ci.ack_floor.stream_seq, unacked: ci.num_ack_pending } : undefined;
    },
    (c) => c !== undefined && c.ackFloor >= lastSeq && c.unacked === 0,
    500,
  );
  const written = await query<{ workflow_id: string; run_id: string }>(
    bq,
    `SELECT workflow_id, run_id FROM ${tableRef(cfg)} WHERE run_tag = @run`,
    { run: opts.runId },
  );
  let workflowsNotSettled = 0;
  for (const w of written) {
    const d = await temporal.workflow.getHandle(w.workflow_id).describe();
    if (d.status.name !== 'COMPLETED' || d.runId !== w.run_id) workflowsNotSettled++;
  }

  const [view] = await query<{ n: number; failed: number }>(
    bq,
    `SELECT COUNT(*) AS n, COUNTIF(status != 'ok') AS failed FROM (${runLatestSql(cfg)})`,
    { run: opts.runId },
  );
  const [raw] = await query<{ n: number; objects: number }>(
    bq,
    `SELECT COUNT(*) AS n, COUNT(DISTINCT CONCAT(bucket, '/', name, '#', CAST(generation AS STRING))) AS objects FROM ${tableRef(cfg)} WHERE run_tag = @run`,
    { run: opts.runId },
  );

  // Bring the node back: it rejoins and catches up from the new leader.
  const tRestart = Date.now();
  await restartNode(procName);
  await waitFor(
    `${procName} rejoining the stream`,
    60_000,
    async () =>
      (await (await nc.jetstreamManager({ timeout: 1000 })).streams.info(cfg.nats.stream).catch(() => undefined))
        ?.cluster?.replicas ?? [],
    (reps) => reps.length === 2 && reps.every((r) => r.current && !r.offline),
    200,
  );
  const rejoinedMs = Date.now() - tRestart;

  const viewRows = Number(view?.n ?? 0);
  const tableRows = Number(raw?.n ?? 0);
  return {
    objects: opts.objects,
    published,
    unpublished,
    publishRetries: retries,
    publishDuplicates: duplicates,
    killedNode: leader,
    newLeader,
    rowsBeforeKill,
    publishedBeforeKill,
    rowsAfterKill: rows - rowsBeforeKill,
    leaderElectedMs,
    firstPublishAfterKillMs: (firstAckAfterKill ?? Date.now()) - killAt,
    maxPublishMs,
    viewRows,
    tableRows,
    lost: opts.objects - Number(raw?.objects ?? 0),
    duplicateRows: tableRows - Number(raw?.objects ?? 0),
    failedRows: Number(view?.failed ?? 0),
    runSeconds,
    rejoinedMs,
    workflowsNotSettled,
  };
}
