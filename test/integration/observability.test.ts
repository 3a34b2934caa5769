/**
 * Metrics, logs and `lookout status` of the stack's real processes (watcher, dispatcher, CPU worker started by
 * global-setup as `lookout up` does): after real uploads, each /metrics endpoint shows them, the processes' log
 * files carry the object's key, workflow id and one trace id across processes, and `lookout status` reports them.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { objectKey } from '../../core/events';
import { cfg, sampleFrame, samplePhoto, uniqueRun, upload, waitForRows } from './helpers';

const ports = cfg.observability.metricsPorts;
/** The ingest app `lookout up` runs: the Pub/Sub subscriber on the embedded stack, else the watcher (infra/stack.ts appsFor). */
const ingest = cfg.ingest === 'pubsub' ? 'subscriber' : 'watcher';

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://${cfg.observability.metricsHost}:${port}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

/** The value of one sample (name and exact labels) in Prometheus text; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (
      Object.keys(labels).length === Object.keys(got).length &&
      Object.entries(labels).every(([k, v]) => got[k] === v)
    )
      return Number(m[3]);
  }
  return undefined;
}

function logLines(app: string): Array<Record<string, unknown>> {
  const text = fs.readFileSync(path.join(cfg.home, 'logs', `${app}.log`), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitForLog(
  app: string,
  pred: (l: Record<string, unknown>) => boolean,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = logLines(app).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no matching line in ${app}.log after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('observability of the running stack', () => {
  it('after an upload and a corrupt upload: metrics on every process, log lines with ids and one trace id, lookout status', async () => {
    const [w0, d0, wa0] = await Promise.all([scrape(ports.worker), scrape(ports.dispatcher), scrape(ports[ingest])]);
    const run = uniqueRun('obs');
    const good = `${run}/frame100.jpg`;
    const jpeg = samplePhoto('messi5.jpg');
    const goodGen = await upload(cfg.gcs.bucket, good, sampleFrame(100), 'image/jpeg', { 'lookout-run': run });
    await upload(cfg.gcs.bucket, `${run}/truncated.jpg`, jpeg.subarray(0, jpeg.length >> 1), 'image/jpeg', {
      'lookout-run': run,
    });
    const rows = await waitForRows<{
      name: string;
      status: string;
      error_class: string | null;
      failed_stage: string | null;
      workflow_id: string;
    }>('run_tag = @run', { run }, 2);
    const ok = rows.find((r) => r.name === good)!;
    const bad = rows.find((r) => r.name !== good)!;
    expect(ok.status).toBe('ok');
    expect(bad.status).toBe('failed');
    expect(bad.error_class).toBeTruthy();

    const [w1, d1, wa1] = await Promise.all([scrape(ports.worker), scrape(ports.dispatcher), scrape(ports[ingest])]);
    const grew = (a: string, b: string, name: string, labels: Record<string, string>) =>
      (sample(b, name, labels) ?? 0) - (sample(a, name, labels) ?? 0);

    // Worker: stage and inference histograms, rows, failed rows by class, decode budget, and the Temporal SDK's own metrics.
    expect(
      grew(w0, w1, 'lookout_stage_run_seconds_count', { stage: 'detect', pool: 'cpu', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(grew(w0, w1, 'lookout_stage_queue_seconds_count', { stage: 'score', pool: 'cpu' })).toBeGreaterThanOrEqual(
      1,
    );
    expect(
      grew(w0, w1, 'lookout_inference_seconds_count', { model: 'nanodet', execution_provider: 'cpu', stage: 'detect' }),
    ).toBeGreaterThanOrEqual(1);
    expect(grew(w0, w1, 'lookout_rows_total', { pipeline: 'objects', status: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(
      grew(w0, w1, 'lookout_failed_rows_total', {
        error_class: bad.error_class!,
        stage: bad.failed_stage ?? 'unknown',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      grew(w0, w1, 'lookout_end_to_end_seconds_count', { pipeline: 'objects', status: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(w1, 'lookout_decode_pixel_budget')).toBe(cfg.limits.decodePixelBudget);
    expect(sample(w1, 'lookout_decode_pixels_in_use')).toBeGreaterThanOrEqual(0);
    expect(w1).toMatch(/^temporal_activity_execution_latency\w*\{/m);
    expect(w1).toMatch(/^lookout_process_resident_memory_bytes \d/m);

    // Dispatcher: outcomes, JetStream consumer state and Temporal task-queue backlog (read at scrape time).
    expect(grew(d0, d1, 'lookout_dispatch_total', { outcome: 'started' })).toBeGreaterThanOrEqual(2);
    expect(
      sample(d1, 'lookout_jetstream_consumer_pending', { stream: cfg.nats.stream, consumer: 'dispatcher' }),
    ).toBeGreaterThanOrEqual(0);
    expect(sample(d1, 'lookout_jetstream_stream_messages', { stream: cfg.nats.stream })).toBeGreaterThanOrEqual(2);
    expect(
      sample(d1, 'lookout_temporal_task_queue_backlog', { task_queue: cfg.temporal.workflowQueue, type: 'workflow' }),
    ).toBeGreaterThanOrEqual(0);
    expect(
      sample(d1, 'lookout_temporal_task_queue_pollers', { task_queue: 'objects-cpu', type: 'activity' }),
    ).toBeGreaterThanOrEqual(1);

    // Watcher: the events it published.
    expect(
      grew(wa0, wa1, 'lookout_events_published_total', {
        source: ingest === 'subscriber' ? 'pubsub' : 'watcher',
        duplicate: 'false',
      }),
    ).toBeGreaterThanOrEqual(2);

    // The Grafana dashboard reads only metrics that these processes serve (names as in their # TYPE lines).
    const dash = JSON.parse(
      fs.readFileSync(path.join(cfg.projectRoot, 'infra', 'grafana', 'lookout.json'), 'utf8'),
    ) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    const used = new Set(
      exprs.flatMap((e) =>
        [...e.matchAll(/\b((?:lookout|temporal)_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, '')),
      ),
    );
    const served = new Set([w1, d1, wa1].flatMap((t) => [...t.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1])));
    expect([...used].filter((n) => !served.has(n))).toEqual([]);

    // Logs: the dispatcher's and the worker's line about the object share its key, workflow id and trace id.
    const key = objectKey({ bucket: cfg.gcs.bucket, name: good, generation: goodGen });
    const dl = await waitForLog('dispatcher', (l) => l.objectKey === key && l.msg === 'dispatcher: workflow started');
    const wl = await waitForLog('worker-cpu', (l) => l.objectKey === key && l.msg === 'row recorded');
    expect(dl.workflowId).toBe(ok.workflow_id);
    expect(wl.workflowId).toBe(ok.workflow_id);
    expect(dl.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(wl.traceId).toBe(dl.traceId);

    // lookout status --json: the same sources, with this run's failure among the last hour's.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(cfg.projectRoot, 'bin', 'lookout'), 'status', '--json'],
      { env: process.env, maxBuffer: 1 << 20 },
    );
    const st = JSON.parse(stdout) as {
      services: Array<{ name: string; state: string }>;
      pipeline: {
        backlog: { events: number; taskQueues: Array<{ name: string; pollers: number }> };
        inFlight: { events: number; workflows: number };
        failuresLastHour: { rows: number; byErrorClass: Array<{ errorClass: string; n: number }>; deadLetters: number };
        slowestStage: { stage: string; pool: string; n: number } | null;
        unavailable: unknown[];
      };
    };
    expect(st.services.map((s) => s.name)).toEqual(
      expect.arrayContaining(['nats', 'temporal', ingest, 'dispatcher', 'worker-cpu']),
    );
    expect(st.pipeline.unavailable).toEqual([]);
    expect(typeof st.pipeline.backlog.events).toBe('number');
    expect(st.pipeline.backlog.taskQueues.find((q) => q.name === 'objects-cpu')?.pollers).toBeGreaterThanOrEqual(1);
    expect(typeof st.pipeline.inFlight.workflows).toBe('number');
    expect(
      st.pipeline.failuresLastHour.byErrorClass.find((c) => c.errorClass === bad.error_class)?.n,
    ).toBeGreaterThanOrEqual(1);
    expect(st.pipeline.failuresLastHour.rows).toBeGreaterThanOrEqual(1);
    expect(typeof st.pipeline.failuresLastHour.deadLetters).toBe('number');
    expect(['detect', 'extract', 'score']).toContain(st.pipeline.slowestStage?.stage);
    expect(st.pipeline.slowestStage!.n).toBeGreaterThanOrEqual(1);
  });
});
