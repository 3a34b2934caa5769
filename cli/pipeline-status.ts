/**
 * The pipeline half of `lookout status`: what an operator asks first. Read from the sources the /metrics
 * gauges read (io/metrics.ts), so the two agree:
 *  - backlog: events on the stream not yet delivered to the dispatcher (JetStream consumer num_pending) and
 *    tasks waiting on each Temporal task queue (DescribeTaskQueue stats);
 *  - in flight: events delivered and not yet acknowledged, and workflows running;
 *  - failures in the last hour: failed rows by error class (BigQuery, the record of every analysis) and the
 *    dead letters kept on the dead-letter stream;
 *  - the slowest stage in the last hour: mean queue + run time per stage and pool, from the rows' stages.
 * Each source is read on its own, with a deadline: one that is down leaves its figures null and says why.
 */
import type { LookoutConfig } from '../config';
import { PIPELINES, taskQueueFor } from '../core/pipelines';
import { bigqueryClient, natsConnect, temporalClient } from '../io/clients';
import { describeTaskQueues, type TaskQueueState } from '../io/metrics';
import { query } from '../io/query';
import { tableRef } from '../io/results';
import { DISPATCHER_DURABLE } from '../io/streams';

export interface StageLatency {
  stage: string;
  pool: string;
  n: number;
  queueMsMean: number;
  runMsMean: number;
}

export interface PipelineStatus {
  backlog: { events: number | null; taskQueues: TaskQueueState[] | null };
  inFlight: { events: number | null; workflows: number | null };
  failuresLastHour: {
    rows: number | null;
    byErrorClass: Array<{ errorClass: string; n: number }> | null;
    deadLetters: number | null;
  };
  /** Stages in the last hour, slowest (mean queue + run) first. */
  stagesLastHour: StageLatency[] | null;
  slowestStage: StageLatency | null;
  /** Sources that could not be read, with the reason. */
  unavailable: Array<{ source: string; error: string }>;
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(t));
}

const DEADLINE_MS = 10_000;

export async function pipelineStatus(cfg: LookoutConfig): Promise<PipelineStatus> {
  const out: PipelineStatus = {
    backlog: { events: null, taskQueues: null },
    inFlight: { events: null, workflows: null },
    failuresLastHour: { rows: null, byErrorClass: null, deadLetters: null },
    stagesLastHour: null,
    slowestStage: null,
    unavailable: [],
  };
  const fail = (source: string) => (err: unknown) => {
    out.unavailable.push({ source, error: (err as Error)?.message ?? String(err) });
  };

  const nats = withDeadline(
    (async () => {
      const nc = await natsConnect(cfg, 'lookout-status');
      try {
        const jsm = await nc.jetstreamManager();
        const c = await jsm.consumers.info(cfg.nats.stream, DISPATCHER_DURABLE);
        out.backlog.events = c.num_pending;
        out.inFlight.events = c.num_ack_pending;
        out.failuresLastHour.deadLetters = (await jsm.streams.info(cfg.nats.deadStream)).state.messages;
      } finally {
        await nc.close();
      }
    })(),
    DEADLINE_MS,
    'NATS',
  ).catch(fail('nats'));

  const temporal = withDeadline(
    (async () => {
      const { client, connection } = await temporalClient(cfg);
      try {
        const queues = [
          { name: cfg.temporal.workflowQueue, type: 'workflow' as const },
          ...[...PIPELINES.keys()].flatMap((p) =>
            (['cpu', 'gpu'] as const).map((pool) => ({ name: taskQueueFor(p, pool), type: 'activity' as const })),
          ),
        ];
        // Only queues that have work or workers: the others (pipelines nobody runs) would be noise.
        out.backlog.taskQueues = (await describeTaskQueues(client, cfg.temporal.namespace, queues)).filter(
          (q) => q.backlog > 0 || q.pollers > 0,
        );
        out.inFlight.workflows = (await client.workflow.count('ExecutionStatus="Running"')).count;
      } finally {
        await connection.close();
      }
    })(),
    DEADLINE_MS,
    'Temporal',
  ).catch(fail('temporal'));

  const bigquery = withDeadline(
    (async () => {
      const bq = bigqueryClient(cfg);
      const since = 'TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 HOUR)';
      const failed = await query<{ error_class: string | null; n: number }>(
        bq,
        `SELECT error_class, COUNT(*) AS n FROM ${tableRef(cfg)} WHERE status = 'failed' AND recorded_at >= ${since} GROUP BY error_class ORDER BY n DESC`,
      );
      out.failuresLastHour.byErrorClass = failed.map((r) => ({
        errorClass: r.error_class ?? 'Unknown',
        n: Number(r.n),
      }));
      out.failuresLastHour.rows = out.failuresLastHour.byErrorClass.reduce((a, r) => a + r.n, 0);
      const stages = await query<{ stage: string; pool: string; n: number; queue_ms: number; run_ms: number }>(
        bq,
        `SELECT st.stage AS stage, st.pool AS pool, COUNT(*) AS n, AVG(st.queue_ms) AS queue_ms, AVG(st.run_ms) AS run_ms FROM ${tableRef(cfg)}, UNNEST(stages) AS st WHERE recorded_at >= ${since} GROUP BY st.stage, st.pool`,
      );
      out.stagesLastHour = stages
        .map((r) => ({
          stage: r.stage,
          pool: r.pool,
          n: Number(r.n),
          queueMsMean: Math.round(Number(r.queue_ms) * 10) / 10,
          runMsMean: Math.round(Number(r.run_ms) * 10) / 10,
        }))
        .sort((a, b) => b.queueMsMean + b.runMsMean - (a.queueMsMean + a.runMsMean));
      out.slowestStage = out.stagesLastHour[0] ?? null;
    })(),
    DEADLINE_MS * 3,
    'BigQuery',
  ).catch(fail('bigquery'));

  await Promise.all([nats, temporal, bigquery]);
  return out;
}

/** The human-readable lines of `lookout status`'s pipeline part. */
export function formatPipelineStatus(s: PipelineStatus): string[] {
  const n = (v: number | null) => (v === null ? '?' : String(v));
  const lines: string[] = [];
  const queues = s.backlog.taskQueues
    ?.map(
      (q) =>
        `${q.name} ${q.backlog}${q.backlog > 0 ? ` (oldest ${q.backlogAgeSeconds.toFixed(1)} s)` : ''}, ${q.pollers} pollers`,
    )
    .join('; ');
  lines.push(
    `backlog      events ${n(s.backlog.events)}; task queues: ${queues === undefined ? '?' : queues || 'none active'}`,
  );
  lines.push(`in flight    events ${n(s.inFlight.events)}, workflows running ${n(s.inFlight.workflows)}`);
  const classes = s.failuresLastHour.byErrorClass?.map((c) => `${c.errorClass} ${c.n}`).join(', ');
  lines.push(
    `failures 1h  rows ${n(s.failuresLastHour.rows)}${classes ? ` (${classes})` : ''}; dead letters kept ${n(s.failuresLastHour.deadLetters)}`,
  );
  const sl = s.slowestStage;
  lines.push(
    `slowest 1h   ${sl ? `${sl.stage} on ${sl.pool}: queue ${sl.queueMsMean} ms + run ${sl.runMsMean} ms (mean of ${sl.n})` : s.stagesLastHour ? 'no analyses in the last hour' : '?'}`,
  );
  for (const u of s.unavailable) lines.push(`unavailable  ${u.source}: ${u.error}`);
  return lines;
}
