/**
 * Prometheus metrics (prom-client) of the long-running processes, each served on its own /metrics port
 * (config PORT_OFFSETS.metrics*; docs/operations.md "Observability"). Every process registers the same metric names; a
 * metric a process does not produce simply has no samples there. Gauges of outside state (JetStream consumer,
 * Temporal task queues, the decode pixel budget) are read when Prometheus scrapes, not on a timer.
 *
 * A worker's /metrics also carries the Temporal SDK's own runtime metrics (`temporal_*`: task slots, poll
 * latency, sticky cache, activity/workflow task latencies), which the SDK's Rust core serves on a loopback
 * port; serveMetrics appends that text, so one scrape target per process is enough.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { NatsConnection } from 'nats';
import client, { Counter, Gauge, Histogram, register } from 'prom-client';
import { stepTotals, STEPS } from '../runtime/steps';

export { register };

/** Seconds buckets from 5 ms to 2 min: stages are tens of ms on a warm CPU worker, minutes for video segments. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * A metric of the default registry, made once per process. This module can be loaded twice in one process (the
 * test runner's module graph beside Node's own require of the same file, e.g. through a CLI command's lazy
 * require); a second `new Histogram` of the same name would throw, so the second copy reuses the first's metric.
 */
function once<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

export const metrics = {
  stageRun: once(
    'lookout_stage_run_seconds',
    () =>
      new Histogram({
        name: 'lookout_stage_run_seconds',
        help: 'run time of a stage activity attempt (started to completed)',
        labelNames: ['stage', 'pool', 'outcome'],
        buckets: SECONDS,
      }),
  ),
  stageQueue: once(
    'lookout_stage_queue_seconds',
    () =>
      new Histogram({
        name: 'lookout_stage_queue_seconds',
        help: 'time a stage activity attempt waited on its task queue (scheduled to started)',
        labelNames: ['stage', 'pool'],
        buckets: SECONDS,
      }),
  ),
  stageInFlight: once(
    'lookout_stage_in_flight',
    () =>
      new Gauge({
        name: 'lookout_stage_in_flight',
        help: 'stage activities running in this worker',
        labelNames: ['stage', 'pool'],
      }),
  ),
  inference: once(
    'lookout_inference_seconds',
    () =>
      new Histogram({
        name: 'lookout_inference_seconds',
        help: 'model inference time per stage call',
        labelNames: ['model', 'execution_provider', 'stage'],
        buckets: SECONDS,
      }),
  ),
  inferenceBatch: once(
    'lookout_inference_batch_size',
    () =>
      new Histogram({
        name: 'lookout_inference_batch_size',
        help: 'dynamic batch size of an inference call',
        labelNames: ['model', 'execution_provider'],
        buckets: [1, 2, 4, 8, 16, 32, 64],
      }),
  ),
  rows: once(
    'lookout_rows_total',
    () => new Counter({ name: 'lookout_rows_total', help: 'result rows recorded', labelNames: ['pipeline', 'status'] }),
  ),
  failedRows: once(
    'lookout_failed_rows_total',
    () =>
      new Counter({
        name: 'lookout_failed_rows_total',
        help: 'failed result rows by error class and failed stage',
        labelNames: ['error_class', 'stage'],
      }),
  ),
  endToEnd: once(
    'lookout_end_to_end_seconds',
    () =>
      new Histogram({
        name: 'lookout_end_to_end_seconds',
        help: 'object created to result recorded, per row',
        labelNames: ['pipeline', 'status'],
        buckets: SECONDS,
      }),
  ),
  eventsPublished: once(
    'lookout_events_published_total',
    () =>
      new Counter({
        name: 'lookout_events_published_total',
        help: 'object events published to JetStream (duplicate = dropped by the stream as a repeat)',
        labelNames: ['source', 'duplicate'],
      }),
  ),
  deadLetters: once(
    'lookout_dead_letters_total',
    () =>
      new Counter({
        name: 'lookout_dead_letters_total',
        help: 'dead letters published by this process',
        labelNames: ['kind'],
      }),
  ),
  dispatched: once(
    'lookout_dispatch_total',
    () =>
      new Counter({
        name: 'lookout_dispatch_total',
        help: 'events settled by the dispatcher, by outcome',
        labelNames: ['outcome'],
      }),
  ),
  redeliveries: once(
    'lookout_dispatch_redeliveries_total',
    () =>
      new Counter({
        name: 'lookout_dispatch_redeliveries_total',
        help: 'messages the dispatcher received again (redelivered by JetStream)',
      }),
  ),
  workflowStart: once(
    'lookout_workflow_start_seconds',
    () =>
      new Histogram({
        name: 'lookout_workflow_start_seconds',
        help: 'time of a workflow start call from the dispatcher',
        labelNames: ['outcome'],
        buckets: SECONDS,
      }),
  ),
  dispatchInFlight: once(
    'lookout_dispatch_in_flight',
    () => new Gauge({ name: 'lookout_dispatch_in_flight', help: 'events being dispatched now' }),
  ),
  collectErrors: once(
    'lookout_metrics_collect_errors_total',
    () =>
      new Counter({
        name: 'lookout_metrics_collect_errors_total',
        help: 'scrapes where an outside source (JetStream, Temporal) could not be read',
        labelNames: ['source'],
      }),
  ),
};

/**
 * The worker's steps (runtime/steps.ts), read at scrape time: `clock="cpu"` is main-thread CPU inside synchronous
 * sections, `clock="wall"` elapsed time summed over calls (async sections overlap). bench/ledger.ts divides
 * their change over a workload by the objects analysed.
 */
export function watchWorkerSteps(): void {
  register.removeSingleMetric('lookout_worker_step_seconds_total');
  new Counter({
    name: 'lookout_worker_step_seconds_total',
    help: 'time spent in each worker step since start (clock cpu: main-thread CPU of synchronous sections; wall: elapsed, summed over concurrent calls)',
    labelNames: ['step', 'clock'],
    collect() {
      this.reset();
      const t = stepTotals();
      for (const s of STEPS) {
        this.inc({ step: s, clock: 'cpu' }, t[s].cpuS);
        this.inc({ step: s, clock: 'wall' }, t[s].wallS);
      }
    },
  });
}

let defaultsOn = false;
/** Node process metrics (CPU, memory, event-loop lag, GC): lookout_process_*, lookout_nodejs_*. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  client.collectDefaultMetrics({ prefix: 'lookout_' });
}

/** What the stage frame (activities/stage.ts) reports once per attempt. */
export function observeStage(
  r: {
    stage: string;
    pool: string;
    scheduledAt: number;
    startedAt: number;
    completedAt: number;
    inferenceMs?: number;
    model?: string;
    executionProvider?: string;
    batchSize?: number;
  },
  outcome: 'ok' | 'failed',
): void {
  metrics.stageRun.observe({ stage: r.stage, pool: r.pool, outcome }, (r.completedAt - r.startedAt) / 1000);
  metrics.stageQueue.observe({ stage: r.stage, pool: r.pool }, Math.max(0, r.startedAt - r.scheduledAt) / 1000);
  if (r.inferenceMs !== undefined && r.model) {
    const ep = r.executionProvider ?? 'unknown';
    metrics.inference.observe({ model: r.model, execution_provider: ep, stage: r.stage }, r.inferenceMs / 1000);
    if (r.batchSize) metrics.inferenceBatch.observe({ model: r.model, execution_provider: ep }, r.batchSize);
  }
}

/** A recorded row: counts, failures by class, end-to-end latency. */
export function observeRow(r: {
  pipeline: string;
  status: string;
  errorClass?: string | null;
  failedStage?: string | null;
  endToEndMs?: number | null;
}): void {
  metrics.rows.inc({ pipeline: r.pipeline, status: r.status });
  if (r.status !== 'ok')
    metrics.failedRows.inc({ error_class: r.errorClass ?? 'Unknown', stage: r.failedStage ?? 'unknown' });
  if (typeof r.endToEndMs === 'number' && Number.isFinite(r.endToEndMs))
    metrics.endToEnd.observe({ pipeline: r.pipeline, status: r.status }, r.endToEndMs / 1000);
}

/** Decode memory: the worker's shared pixel budget (media/pixel-budget.ts), read at scrape time. */
export function watchPixelBudget(budget: { inUse: number; total: number; waiting: number; peak: number }): void {
  register.removeSingleMetric('lookout_decode_pixels_in_use');
  register.removeSingleMetric('lookout_decode_pixel_budget');
  register.removeSingleMetric('lookout_decode_waiting');
  register.removeSingleMetric('lookout_decode_pixels_peak');
  new Gauge({
    name: 'lookout_decode_pixels_in_use',
    help: 'pixels held by image decodes in flight (about 3-4 bytes each)',
    collect() {
      this.set(budget.inUse);
    },
  });
  new Gauge({
    name: 'lookout_decode_pixel_budget',
    help: 'pixels all decodes in flight may hold together (LOOKOUT_DECODE_PIXEL_BUDGET)',
    collect() {
      this.set(budget.total);
    },
  });
  new Gauge({
    name: 'lookout_decode_waiting',
    help: 'decodes waiting for pixel budget',
    collect() {
      this.set(budget.waiting);
    },
  });
  new Gauge({
    name: 'lookout_decode_pixels_peak',
    help: 'most pixels held at once since the worker started',
    collect() {
      this.set(budget.peak);
    },
  });
}

/**
 * One read of an outside source shared by the gauges of one scrape: prom-client collects all metrics at once,
 * so each gauge awaits the same promise instead of each calling the server (or reading the last scrape's values).
 */
function sharedPoll<T>(fn: () => Promise<T>, ttlMs = 1000): () => Promise<T> {
  let last: { at: number; p: Promise<T> } | undefined;
  return () => {
    if (!last || Date.now() - last.at > ttlMs) last = { at: Date.now(), p: fn() };
    return last.p;
  };
}

function pollGauge<T>(
  name: string,
  help: string,
  labelNames: string[],
  poll: () => Promise<T | undefined>,
  values: (t: T) => Array<[Record<string, string>, number]>,
): void {
  register.removeSingleMetric(name);
  new Gauge({
    name,
    help,
    labelNames,
    async collect() {
      const t = await poll();
      this.reset();
      if (t !== undefined) for (const [l, v] of values(t)) this.set(l, v);
    },
  });
}

/** JetStream consumer state (pending, ack pending, redelivered) and stream sizes, read at scrape time. */
export function watchJetStream(
  nc: NatsConnection,
  consumers: Array<{ stream: string; consumer: string }>,
  streams: string[],
): void {
  const poll = sharedPoll(async () => {
    try {
      const jsm = await nc.jetstreamManager();
      const cs = await Promise.all(
        consumers.map(async (c) => ({ c, info: await jsm.consumers.info(c.stream, c.consumer) })),
      );
      const ss = await Promise.all(
        streams.map(async (s) => ({ s, messages: (await jsm.streams.info(s)).state.messages })),
      );
      return { cs, ss };
    } catch {
      metrics.collectErrors.inc({ source: 'jetstream' });
      return undefined;
    }
  });
  const L = ['stream', 'consumer'];
  pollGauge(
    'lookout_jetstream_consumer_pending',
    'messages in the stream not yet delivered to the consumer (backlog)',
    L,
    poll,
    (t) => t.cs.map(({ c, info }) => [c, info.num_pending]),
  );
  pollGauge(
    'lookout_jetstream_consumer_ack_pending',
    'messages delivered and not yet acknowledged (in flight)',
    L,
    poll,
    (t) => t.cs.map(({ c, info }) => [c, info.num_ack_pending]),
  );
  pollGauge(
    'lookout_jetstream_consumer_redelivered',
    'messages delivered more than once and not yet acknowledged',
    L,
    poll,
    (t) => t.cs.map(({ c, info }) => [c, info.num_redelivered]),
  );
  pollGauge(
    'lookout_jetstream_stream_messages',
    'messages kept in a stream (the dead-letter stream: dead letters not yet replayed or purged)',
    ['stream'],
    poll,
    (t) => t.ss.map(({ s, messages }) => [{ stream: s }, messages]),
  );
}

/** Temporal task-queue backlog (DescribeTaskQueue with report_stats), read at scrape time. */
export function watchTaskQueues(
  tc: Client,
  namespace: string,
  queues: Array<{ name: string; type: 'workflow' | 'activity' }>,
): void {
  const poll = sharedPoll(async () => {
    try {
      return await describeTaskQueues(tc, namespace, queues);
    } catch {
      metrics.collectErrors.inc({ source: 'temporal' });
      return undefined;
    }
  });
  const L = ['task_queue', 'type'];
  const label = (s: TaskQueueState) => ({ task_queue: s.name, type: s.type });
  pollGauge(
    'lookout_temporal_task_queue_backlog',
    'tasks waiting on a Temporal task queue (approximate, DescribeTaskQueue stats)',
    L,
    poll,
    (t) => t.map((s) => [label(s), s.backlog]),
  );
  pollGauge(
    'lookout_temporal_task_queue_backlog_age_seconds',
    'age of the oldest task waiting on a task queue',
    L,
    poll,
    (t) => t.map((s) => [label(s), s.backlogAgeSeconds]),
  );
  pollGauge('lookout_temporal_task_queue_pollers', 'workers polling a task queue', L, poll, (t) =>
    t.map((s) => [label(s), s.pollers]),
  );
}

export interface TaskQueueState {
  name: string;
  type: 'workflow' | 'activity';
  backlog: number;
  backlogAgeSeconds: number;
  pollers: number;
}

/** Backlog and pollers of each queue (the same call `lookout status` makes). */
export async function describeTaskQueues(
  tc: Client,
  namespace: string,
  queues: Array<{ name: string; type: 'workflow' | 'activity' }>,
): Promise<TaskQueueState[]> {
  const T = temporal.api.enums.v1.TaskQueueType;
  return Promise.all(
    queues.map(async (q) => {
      const r = await tc.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: q.name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: q.type === 'workflow' ? T.TASK_QUEUE_TYPE_WORKFLOW : T.TASK_QUEUE_TYPE_ACTIVITY,
        reportStats: true,
      });
      const a = r.stats?.approximateBacklogAge;
      return {
        ...q,
        backlog: Number(r.stats?.approximateBacklogCount ?? 0),
        backlogAgeSeconds: a ? Number(a.seconds ?? 0) + (a.nanos ?? 0) / 1e9 : 0,
        pollers: r.pollers?.length ?? 0,
      };
    }),
  );
}

/**
 * serveMetrics, except that a port already taken (a second worker of the same pool on one machine) costs the
 * metrics, not the process: it is reported through `warn`, naming the variable that moves it, and undefined is returned.
 */
export async function serveMetricsIfFree(
  opts: { host: string; port: number; proxied?: string[] },
  warn: (msg: string) => void,
): Promise<MetricsServer | undefined> {
  try {
    return await serveMetrics(opts);
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code !== 'EADDRINUSE') throw err;
    warn(
      `metrics: port ${opts.port} is in use; this process serves no /metrics (set LOOKOUT_METRICS_PORT for it, 0 = off)`,
    );
    return undefined;
  }
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics (this process's registry, then the text of each `proxied` URL: the Temporal SDK's
 * exporter) and GET /healthz. Port 0 picks a free port (tests).
 */
export async function serveMetrics(opts: { host: string; port: number; proxied?: string[] }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      void (async () => {
        try {
          const parts = [await register.metrics()];
          for (const u of opts.proxied ?? []) {
            // A missing SDK exporter must not hide Lookout's own metrics: count it and serve the rest.
            try {
              const r = await fetch(u, { signal: AbortSignal.timeout(2000) });
              if (r.ok) parts.push(await r.text());
              else metrics.collectErrors.inc({ source: 'temporal-sdk' });
            } catch {
              metrics.collectErrors.inc({ source: 'temporal-sdk' });
            }
          }
          res.writeHead(200, { 'content-type': register.contentType });
          res.end(parts.join('\n'));
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String((err as Error)?.message ?? err));
        }
      })();
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('GET /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
