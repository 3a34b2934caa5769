/** Shared helpers of the integration tests: real clients to the test stack started by global-setup. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bigqueryClient, natsConnect, storageClient, temporalClient } from '../../io/clients';
import { loadConfig } from '../../config';
import { query } from '../../io/query';
import { tableRef, viewName } from '../../io/results';
import { DISPATCHER_DURABLE } from '../../io/streams';
import { vi } from 'vitest';
import { extractFrames, OPENCV_DATA, VTEST } from '../../demo/samples';
import { cutVideo, fitSceneFromCli } from '../../cli/scene';

export const cfg = loadConfig(process.env);
export const storage = storageClient(cfg);
export const bq = bigqueryClient(cfg);

/** A second bucket nobody watches: objects put here are analysed only when a test says so. */
export const SIDE_BUCKET = 'lookout-side';

export async function ensureBucket(name: string): Promise<void> {
  const [exists] = await storage.bucket(name).exists();
  if (!exists) await storage.createBucket(name);
}

export const samplesDir = path.join(cfg.home, 'test-samples');

export function sampleFrame(n: number): Buffer {
  const [f] = extractFrames(samplesDir, [n]);
  return fs.readFileSync(f);
}

export function samplePhoto(name: string): Buffer {
  return fs.readFileSync(path.join(OPENCV_DATA, name));
}

export function uniqueRun(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Uploads with the official client; returns the object's generation. */
export async function upload(
  bucket: string,
  name: string,
  data: Buffer,
  contentType: string,
  metadata: Record<string, string> = {},
): Promise<string> {
  const file = storage.bucket(bucket).file(name);
  await file.save(data, { resumable: false, contentType, metadata: { metadata } });
  const [md] = await file.getMetadata();
  return String(md.generation);
}

export const VIEW = () => tableRef(cfg, viewName(cfg));
export const TABLE = () => tableRef(cfg);

export async function rowsWhere<T = Record<string, unknown>>(
  where: string,
  params: Record<string, unknown>,
  table = VIEW(),
): Promise<T[]> {
  return query<T>(bq, `SELECT * FROM ${table} WHERE ${where}`, params);
}

/** Polls until `count` rows match in the view (or fails after timeoutMs with what it saw). */
export async function waitForRows<T = Record<string, unknown>>(
  where: string,
  params: Record<string, unknown>,
  count: number,
  timeoutMs = 120_000,
): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  // Poll a cheap count on the table (the view's window function is slow on the emulator), then read the view.
  while (Date.now() < deadline) {
    const [r] = await query<{ n: number }>(
      bq,
      `SELECT COUNT(DISTINCT workflow_id) AS n FROM ${TABLE()} WHERE ${where}`,
      params,
    );
    n = Number(r?.n ?? 0);
    if (n >= count) return rowsWhere<T>(where, params);
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`expected ${count} rows where ${where} ${JSON.stringify(params)}, got ${n} after ${timeoutMs} ms`);
}

export async function withNats<T>(fn: (nc: Awaited<ReturnType<typeof natsConnect>>) => Promise<T>): Promise<T> {
  const nc = await natsConnect(cfg, 'lookout-test');
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

export async function withTemporal<T>(
  fn: (c: Awaited<ReturnType<typeof temporalClient>>['client']) => Promise<T>,
): Promise<T> {
  const { client, connection } = await temporalClient(cfg);
  try {
    return await fn(client);
  } finally {
    await connection.close();
  }
}

export interface StageRow {
  stage: string;
  pool: string;
  task_queue: string;
  attempt: number;
  scheduled_at: { value: string } | string;
  started_at: { value: string } | string;
  completed_at: { value: string } | string;
  scheduled_offset_ms: number;
  started_offset_ms: number;
  completed_offset_ms: number;
  queue_ms: number;
  run_ms: number;
  fell_back: boolean;
}

export interface TimedRow {
  stages: StageRow[];
  end_to_end_ms: number;
  pipeline_ms: number;
  object_created_at: unknown;
  event_published_at: unknown;
  dispatched_at: unknown;
  workflow_started_at: unknown;
  completed_at: unknown;
  recorded_at: unknown;
  published_offset_ms: number;
  dispatched_offset_ms: number;
  workflow_started_offset_ms: number;
}

/**
 * Every hop set, in order, and the stages' queue + run time within end-to-end. Order is checked on the
 * exact millisecond offsets (bigquery-emulator keeps whole seconds in TIMESTAMPs inside records).
 * `clockSlackMs` allows for the Temporal server's clock vs the worker's (same machine).
 */
export function checkTimings(
  r: TimedRow,
  expect: (v: unknown) => {
    toBe(x: unknown): void;
    toBeGreaterThanOrEqual(x: number): void;
    toBeLessThanOrEqual(x: number): void;
  },
  clockSlackMs = 5,
): void {
  for (const t of [
    r.object_created_at,
    r.event_published_at,
    r.dispatched_at,
    r.workflow_started_at,
    r.completed_at,
    r.recorded_at,
  ])
    expect(Number.isFinite(ts(t))).toBe(true);
  expect(r.published_offset_ms).toBeGreaterThanOrEqual(0);
  expect(r.dispatched_offset_ms).toBeGreaterThanOrEqual(r.published_offset_ms);
  expect(r.workflow_started_offset_ms).toBeGreaterThanOrEqual(r.dispatched_offset_ms - clockSlackMs);
  expect(r.stages.map((s) => s.stage).join(',')).toBe('detect,extract,score');
  let prev = r.workflow_started_offset_ms;
  let sum = 0;
  for (const s of r.stages) {
    expect(s.scheduled_offset_ms).toBeGreaterThanOrEqual(prev - clockSlackMs);
    expect(s.started_offset_ms).toBeGreaterThanOrEqual(s.scheduled_offset_ms);
    expect(s.completed_offset_ms).toBeGreaterThanOrEqual(s.started_offset_ms);
    prev = s.completed_offset_ms;
    sum += s.queue_ms + s.run_ms;
  }
  expect(sum).toBeLessThanOrEqual(r.end_to_end_ms);
  expect(r.end_to_end_ms).toBeGreaterThanOrEqual(r.pipeline_ms);
  expect(Math.abs(r.stages[r.stages.length - 1].completed_offset_ms - r.end_to_end_ms)).toBeLessThanOrEqual(1);
}

/** BigQuery timestamps come back as BigQueryTimestamp objects ({ value }) or strings. */
export function ts(v: unknown): number {
  if (v && typeof v === 'object' && 'value' in v) return Date.parse(String((v as { value: string }).value));
  return Date.parse(String(v));
}

// ---------------------------------------------------------------------------------------------
// "Nothing more appears", proven by positive signals instead of a fixed wait (see docs/tests.md).

/** The sequence of the newest message on the objects stream now (0 when empty). */
export async function objectsStreamLastSeq(): Promise<number> {
  return withNats(async (nc) => (await (await nc.jetstreamManager()).streams.info(cfg.nats.stream)).state.last_seq);
}

/**
 * Waits until the dispatcher has settled every event on the objects stream up to `seq`: its durable consumer's ack
 * floor reaches `seq` (each event was started, found already started, skipped or dead-lettered, then acked) and nothing
 * is in flight. After this no event published up to `seq` can still start an analysis. Fails after timeoutMs.
 */
export async function waitDispatcherSettled(
  seq: number,
  timeoutMs = 120_000,
): Promise<{ ackFloor: number; delivered: number }> {
  const deadline = Date.now() + timeoutMs;
  return withNats(async (nc) => {
    const jsm = await nc.jetstreamManager();
    for (;;) {
      const ci = await jsm.consumers.info(cfg.nats.stream, DISPATCHER_DURABLE);
      if (ci.ack_floor.stream_seq >= seq && ci.num_ack_pending === 0)
        return { ackFloor: ci.ack_floor.stream_seq, delivered: ci.delivered.stream_seq };
      if (Date.now() > deadline)
        throw new Error(
          `dispatcher not settled after ${timeoutMs} ms: ack floor ${ci.ack_floor.stream_seq} < ${seq} or ${ci.num_ack_pending} unacked`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  });
}

/**
 * Every row's workflow has finished and its newest run is the run that wrote the row: no second analysis was
 * started after it (a later run would be the newest one) and none is still running that could write a row later.
 */
export async function expectOnlyRunWroteRow(
  rows: ReadonlyArray<{ workflow_id: string; run_id: string }>,
): Promise<void> {
  await withTemporal(async (client) => {
    for (const r of rows) {
      const d = await client.workflow.getHandle(r.workflow_id).describe();
      if (d.status.name !== 'COMPLETED' || d.runId !== r.run_id)
        throw new Error(
          `workflow ${r.workflow_id}: newest run ${d.runId} is ${d.status.name}, the row came from run ${r.run_id}`,
        );
    }
  });
}

/**
 * Waits until the object events of all `names` are on the objects stream (published by the watcher, push or a
 * backfill) and returns their stream sequences, scanning from `fromSeq` (take objectsStreamLastSeq() + 1 before the
 * uploads). Fails after timeoutMs naming what was seen.
 */
export async function objectEventSeqs(
  names: readonly string[],
  fromSeq: number,
  timeoutMs = 60_000,
): Promise<Map<string, number>> {
  const want = new Set(names);
  const seqs = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  return withNats(async (nc) => {
    const jsm = await nc.jetstreamManager();
    let from = fromSeq;
    while (seqs.size < want.size) {
      if (Date.now() > deadline)
        throw new Error(`object events seen for ${seqs.size} of ${want.size} objects after ${timeoutMs} ms`);
      const { state } = await jsm.streams.info(cfg.nats.stream);
      for (let seq = Math.max(from, state.first_seq); seq <= state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(cfg.nats.stream, { seq }).catch(() => undefined);
        let name: string | undefined;
        try {
          name = m?.json<{ name?: string }>().name; // other suites share the stream: a message that is not an object event is not ours
        } catch {
          name = undefined;
        }
        if (name && want.has(name) && !seqs.has(name)) seqs.set(name, seq);
      }
      from = state.last_seq + 1;
      if (seqs.size < want.size) await new Promise((r) => setTimeout(r, 250));
    }
    return seqs;
  });
}

/** vtest.avi frames (ui-alerts, online-normal) from..to-1, every 4th: people at four times walking speed. */
export function fastClip(dst: string, from: number, to: number): string {
  if (!fs.existsSync(dst)) {
    // setpts=N/TB: consecutive timestamps in the AVI's 1/10 s time base, so the clip plays at vtest's 10 fps.
    execFileSync(
      'ffmpeg',
      [
        '-v',
        'error',
        '-y',
        '-i',
        VTEST,
        '-vf',
        `select=between(n\\,${from}\\,${to - 1})*not(mod(n\\,4)),setpts=N/TB`,
        '-fps_mode',
        'passthrough',
        '-c:v',
        'mjpeg',
        '-q:v',
        '2',
        '-an',
        dst,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  }
  return dst;
}

/**
 * Fits `scene` (cctv-attributes) on vtest.avi frames 0–149 uploaded as normal footage, as `lookout fit` does, with the
 * settings the alert, zones and refit tests share; returns the footage's gs:// URI.
 */
export async function fitSceneOnVtestStart(scene: string): Promise<string> {
  const normal = cutVideo(VTEST, path.join(samplesDir, 'ui-alerts-normal-0-150.avi'), 0, 150);
  const name = `normal/${scene}/clip.avi`;
  await storage.bucket(cfg.gcs.bucket).upload(normal, {
    destination: name,
    resumable: false,
    contentType: 'video/x-msvideo',
    metadata: { metadata: { 'lookout-derived': 'normal-footage' } },
  });
  const uri = `gs://${cfg.gcs.bucket}/${name}`;
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await fitSceneFromCli(cfg, scene, [uri], {
      every: 1,
      k: 4,
      seed: 7,
      quantile: 0.97,
      parallelism: 1,
      reportDir: path.join(samplesDir, `fit-${scene}`),
    });
  } finally {
    log.mockRestore();
  }
  return uri;
}
