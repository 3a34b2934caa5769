/**
 * `npm run bench:scale`: throughput with 1 and 2 CPU worker processes on this machine, and the per-object costs
 * the capacity model (infra/capacity.ts, docs/scaling.md, `lookout plan`) is built on:
 *  - CPU-seconds per object of every process (utime+stime from /proc, less each process's idle rate measured
 *    just before), and the worker's share split over the stages by their run time;
 *  - Temporal: history events, history bytes (protobuf, what the server stores) and billable actions per workflow;
 *  - JetStream: stored bytes per object event;  BigQuery: bytes per result row (JSON of the row as inserted).
 * Runs its own embedded stack on LOOKOUT_BENCH_PORT_BASE (default 37300; state in .lookout/scale-stack).
 */
import fs from 'node:fs';
// The generated protobuf classes of Temporal's API (installed with @temporalio/client): the encoded size of a
// history is what the server stores; JSON is what bench.ts reports.
import { temporal } from '@temporalio/proto';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type LookoutConfig } from '../config';
import { bigqueryClient, natsConnect, storageClient, temporalClient } from '../io/clients';
import { query } from '../io/query';
import { runLatestSql } from '../io/results';
import { listSampleFiles, uploadLoad, waitForRun } from '../loadtest/loadtest';
import { extractFrames } from '../demo/samples';
import { onnxruntimeVersion } from '../runtime/session';
import { appSpec, down, readyFile, up } from '../infra/stack';
import { readPid, startDetached, stopProc } from '../infra/procs';
import { percentile } from './metrics';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm run bench:scale [-- --objects N] [--out FILE.json] [--keep]

Throughput with 1 and 2 CPU worker processes, and per-object costs (CPU-seconds per process and stage,
Temporal history and actions, JetStream bytes, BigQuery bytes per row). Results: .lookout/scale-results.json
and, with --out, FILE.json + FILE.md. Default 150 objects per run (about 5 minutes on 2 cores).`);
  process.exit(0);
}
const nIdx = args.indexOf('--objects');
const OBJECTS = nIdx >= 0 ? Number(args[nIdx + 1]) : 150;
const oIdx = args.indexOf('--out');
const OUT = oIdx >= 0 ? args[oIdx + 1] : undefined;
const log = (l: string) => console.error(l);
const TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

const PROCS = [
  'nats',
  'temporal',
  'gcs',
  'bigquery',
  'bigquery-api',
  'watcher',
  'dispatcher',
  'worker-cpu',
  'worker-cpu-2',
];

function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime (fields 14, 15)
  } catch {
    return null;
  }
}

function snapshot(cfg: LookoutConfig): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of PROCS) {
    const s = cpuSeconds(readPid(cfg.home, p));
    if (s !== null) out[p] = s;
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startSecondWorker(cfg: LookoutConfig): Promise<void> {
  const spec = appSpec(cfg, 'worker-cpu');
  spec.name = 'worker-cpu-2';
  spec.env = { ...spec.env, LOOKOUT_READY_FILE: readyFile(cfg, 'worker-cpu-2') };
  fs.rmSync(readyFile(cfg, 'worker-cpu-2'), { force: true });
  startDetached(cfg.home, spec);
  const deadline = Date.now() + 120_000;
  while (!fs.existsSync(readyFile(cfg, 'worker-cpu-2'))) {
    if (Date.now() > deadline) throw new Error('second worker did not start');
    await sleep(200);
  }
}

interface HistoryCost {
  events: number;
  protoBytes: number;
  jsonBytes: number;
  actions: number;
}

/**
 * Temporal Cloud bills "actions": a workflow start, each activity attempt started, timers, signals, child
 * workflow starts, markers, search-attribute upserts (and heartbeats, which histories do not show: Lookout's
 * activities heartbeat on long downloads only). Counted from the history's event types.
 */
const ACTION_EVENTS = new Set([
  'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
  'EVENT_TYPE_ACTIVITY_TASK_STARTED',
  'EVENT_TYPE_TIMER_STARTED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
  'EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED',
  'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED',
  'EVENT_TYPE_MARKER_RECORDED',
  'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
  'EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED',
]);

async function historyCosts(cfg: LookoutConfig, workflowIds: string[]): Promise<HistoryCost[]> {
  const { client, connection } = await temporalClient(cfg);
  try {
    return await Promise.all(
      workflowIds.map(async (id) => {
        const h = await client.workflow.getHandle(id).fetchHistory();
        const types = (h.events ?? []).map(
          (e) => temporal.api.enums.v1.EventType[e.eventType as number] ?? String(e.eventType),
        );
        return {
          events: types.length,
          protoBytes: temporal.api.history.v1.History.encode(h).finish().length,
          jsonBytes: Buffer.byteLength(JSON.stringify(h)),
          actions: types.filter((t) => ACTION_EVENTS.has(t)).length,
        };
      }),
    );
  } finally {
    await connection.close();
  }
}

interface RunResult {
  workers: number;
  objects: number;
  rows: number;
  failed: number;
  wallS: number;
  objPerS: number;
  e2eP50Ms: number;
  cpuSecondsPerObject: Record<string, number>;
  stageRunMsMean: Record<string, number>;
  loadAvg1: number;
}

async function run(
  cfg: LookoutConfig,
  files: Array<{ file: string; contentType: string }>,
  workers: number,
  n: number,
): Promise<{ r: RunResult; workflowIds: string[]; rowBytes: number[]; streamBytes: number; streamMsgs: number }> {
  // Idle rate of every process first: the servers spend CPU while idle (Temporal's timers and queues), which is
  // a fixed cost per server, not a cost per object.
  const i0 = snapshot(cfg);
  const idleMs = 10_000;
  await sleep(idleMs);
  const i1 = snapshot(cfg);
  const idleRate = Object.fromEntries(
    Object.keys(i1).map((k) => [k, Math.max(0, (i1[k] - (i0[k] ?? i1[k])) / (idleMs / 1000))]),
  );

  const nc = await natsConnect(cfg, 'bench-scale');
  const jsm = await nc.jetstreamManager();
  const s0 = (await jsm.streams.info(cfg.nats.stream)).state;
  const runId = `scale-${workers}w-${Date.now().toString(36)}`;
  const c0 = snapshot(cfg);
  const t0 = Date.now();
  await uploadLoad(storageClient(cfg), cfg, { runId, objects: n, concurrency: 8, rate: 0, files });
  const got = await waitForRun(bigqueryClient(cfg), cfg, runId, n, { timeoutMs: 900_000 });
  const wallS = (Date.now() - t0) / 1000;
  const c1 = snapshot(cfg);
  const s1 = (await jsm.streams.info(cfg.nats.stream)).state;
  await nc.close();

  const rows = await query<
    Record<string, unknown> & {
      workflow_id: string;
      status: string;
      end_to_end_ms: number | null;
      object_created_at: unknown;
      completed_at: unknown;
      recorded_at: unknown;
      stages: Array<{ stage: string; run_ms: number | null }>;
    }
  >(bigqueryClient(cfg), `SELECT * FROM (${runLatestSql(cfg)})`, { run: runId });
  const ts = (v: unknown) =>
    Date.parse(typeof v === 'object' && v && 'value' in v ? String((v as { value: string }).value) : String(v));
  const first = Math.min(...rows.map((r) => ts(r.object_created_at)));
  const last = Math.max(...rows.map((r) => ts(r.completed_at ?? r.recorded_at)));
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(c1)) if (k in c0) cpu[k] = Math.max(0, c1[k] - c0[k] - (idleRate[k] ?? 0) * wallS) / n;
  const stageMs: Record<string, number[]> = {};
  for (const r of rows) for (const s of r.stages ?? []) if (s.run_ms !== null) (stageMs[s.stage] ??= []).push(s.run_ms);
  const r: RunResult = {
    workers,
    objects: n,
    rows: got,
    failed: rows.filter((x) => x.status !== 'ok').length,
    wallS,
    objPerS: rows.length / ((last - first) / 1000),
    e2eP50Ms: percentile(
      rows.map((x) => x.end_to_end_ms).filter((x): x is number => x !== null),
      50,
    ),
    cpuSecondsPerObject: cpu,
    stageRunMsMean: Object.fromEntries(
      Object.entries(stageMs).map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length]),
    ),
    loadAvg1: os.loadavg()[0],
  };
  return {
    r,
    workflowIds: rows.map((x) => x.workflow_id),
    rowBytes: rows.map((x) => Buffer.byteLength(JSON.stringify(x))),
    streamBytes: Number(s1.bytes) - Number(s0.bytes),
    streamMsgs: s1.messages - s0.messages,
  };
}

async function main() {
  const root = path.resolve(__dirname, '..');
  const cfg = loadConfig({
    ...process.env,
    LOOKOUT_HOME: path.join(root, '.lookout', 'scale-stack'),
    LOOKOUT_PORT_BASE: process.env.LOOKOUT_BENCH_PORT_BASE ?? '37300',
  });
  const machine = {
    cpu: os.cpus()[0]?.model,
    cores: os.availableParallelism(),
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    onnxruntime: onnxruntimeVersion(),
    loadAvgAtStart: os.loadavg()[0],
  };
  log(
    `machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GiB, load average ${machine.loadAvgAtStart.toFixed(1)}`,
  );
  const dir = path.join(cfg.home, 'samples');
  extractFrames(
    dir,
    Array.from({ length: 24 }, (_, i) => 30 + i * 30),
  );
  const files = listSampleFiles(dir);
  await down(cfg);
  fs.rmSync(path.join(cfg.home, 'data'), { recursive: true, force: true });
  await up(cfg, { apps: true, log: (l) => log(`  ${l}`) });
  const runs: RunResult[] = [];
  let costs: Awaited<ReturnType<typeof run>> | undefined;
  try {
    await run(cfg, files, 1, 20); // warm-up: models, JIT, connections
    for (const workers of [1, 2]) {
      if (workers === 2) await startSecondWorker(cfg);
      const res = await run(cfg, files, workers, OBJECTS);
      runs.push(res.r);
      costs ??= res;
      log(
        `  ${workers} worker process(es): ${res.r.objPerS.toFixed(2)} obj/s, e2e p50 ${res.r.e2eP50Ms} ms, ${res.r.failed} failed, worker CPU-s/object ${((res.r.cpuSecondsPerObject['worker-cpu'] ?? 0) + (res.r.cpuSecondsPerObject['worker-cpu-2'] ?? 0)).toFixed(3)}`,
      );
    }
    const sample = costs!.workflowIds
      .filter((_, i, a) => i % Math.max(1, Math.floor(a.length / 10)) === 0)
      .slice(0, 10);
    const hist = await historyCosts(cfg, sample);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const result = {
      kind: 'lookout-scale-bench',
      date: new Date().toISOString(),
      machine,
      objectsPerRun: OBJECTS,
      runs,
      perObject: {
        temporal: {
          workflowsSampled: hist.length,
          historyEvents: mean(hist.map((h) => h.events)),
          historyProtoBytes: mean(hist.map((h) => h.protoBytes)),
          historyJsonBytes: mean(hist.map((h) => h.jsonBytes)),
          actions: mean(hist.map((h) => h.actions)),
        },
        jetstream: {
          bytesPerEvent: costs!.streamMsgs > 0 ? costs!.streamBytes / costs!.streamMsgs : null,
          events: costs!.streamMsgs,
        },
        bigquery: { rowJsonBytes: mean(costs!.rowBytes) },
      },
    };
    const outFile = path.join(root, '.lookout', 'scale-results.json');
    fs.writeFileSync(outFile, JSON.stringify(result, null, 2));
    if (OUT) {
      fs.writeFileSync(OUT, JSON.stringify(result, null, 2));
      fs.writeFileSync(OUT.replace(/\.json$/, '') + '.md', renderScale(result));
    }
    console.log(renderScale(result));
  } finally {
    if (!args.includes('--keep')) {
      await stopProc(cfg.home, 'worker-cpu-2').catch(() => {});
      await down(cfg);
    }
  }
}

export function renderScale(r: {
  machine: { cores: number; cpu?: string; memoryGb: number; node: string; onnxruntime: string; loadAvgAtStart: number };
  runs: RunResult[];
  perObject: {
    temporal: {
      historyEvents: number;
      historyProtoBytes: number;
      historyJsonBytes: number;
      actions: number;
      workflowsSampled: number;
    };
    jetstream: { bytesPerEvent: number | null };
    bigquery: { rowJsonBytes: number };
  };
}): string {
  const procs = [...new Set(r.runs.flatMap((x) => Object.keys(x.cpuSecondsPerObject)))];
  const lines = [
    `Machine: ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memoryGb} GiB, Node ${r.machine.node}, onnxruntime-node ${r.machine.onnxruntime} (CPU); load average at start ${r.machine.loadAvgAtStart.toFixed(1)} (a machine shared with other jobs).`,
    '',
    '| worker processes | objects | obj/s | e2e p50 ms | failed | load avg | ' +
      procs.map((p) => `${p} CPU-s/obj`).join(' | ') +
      ' |',
    '|---|---|---|---|---|---|' + procs.map(() => '---|').join(''),
    ...r.runs.map(
      (x) =>
        `| ${x.workers} | ${x.objects} | ${x.objPerS.toFixed(2)} | ${x.e2eP50Ms} | ${x.failed} | ${x.loadAvg1.toFixed(1)} | ` +
        procs.map((p) => (x.cpuSecondsPerObject[p] ?? 0).toFixed(4)).join(' | ') +
        ' |',
    ),
    '',
    'Mean stage run time per object (ms, wall): ' +
      r.runs
        .map(
          (x) =>
            `${x.workers} worker(s): ` +
            Object.entries(x.stageRunMsMean)
              .map(([k, v]) => `${k} ${v.toFixed(1)}`)
              .join(', '),
        )
        .join('; '),
    '',
    `Per object: Temporal ${r.perObject.temporal.historyEvents.toFixed(1)} history events, ${r.perObject.temporal.historyProtoBytes.toFixed(0)} history bytes (protobuf; ${r.perObject.temporal.historyJsonBytes.toFixed(0)} as JSON), ${r.perObject.temporal.actions.toFixed(1)} billable actions (${r.perObject.temporal.workflowsSampled} workflows sampled); JetStream ${r.perObject.jetstream.bytesPerEvent?.toFixed(0) ?? '?'} bytes per event; BigQuery ${r.perObject.bigquery.rowJsonBytes.toFixed(0)} bytes per row (JSON).`,
  ];
  return lines.join('\n') + '\n';
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
