/**
 * The capacity model of docs/scaling.md, as code: from per-object costs measured by bench/scale.ts (MEASURED
 * below, copied from benchmarks/2026-12-01-scale.json; a unit test keeps the two equal) and a daily object count,
 * what a deployment needs. Pure functions, no I/O: `lookout plan` prints it, tests pin the formulas.
 *
 * Every figure is a formula of inputs the user can override (their own measurement, rates and prices): the
 * defaults marked ASSUMED were not measurable on the machine the benchmark ran on (no GPU, no Temporal Cloud).
 */

/** Per-object costs measured on the embedded stack (objects pipeline, 768×576 JPEG frames of vtest.avi). */
export interface MeasuredCosts {
  source: string;
  /** CPU-seconds per object of all CPU worker processes together (decode + inference + Temporal + rows). */
  workerCpuS: number;
  dispatcherCpuS: number;
  /** Ingest: the bucket watcher here; the push endpoint does less per event (no listing). */
  ingestCpuS: number;
  /** The Temporal dev server (one process: frontend, history, matching; SQLite). */
  temporalCpuS: number;
  natsCpuS: number;
  temporalActions: number;
  temporalHistoryBytes: number;
  temporalHistoryEvents: number;
  jetstreamBytesPerEvent: number;
  bigqueryRowBytes: number;
  /** Throughput of 1 and 2 worker processes on the benchmark machine (objects/s). */
  objPerS: { workers1: number; workers2: number };
}

export const MEASURED: MeasuredCosts = {
  source: 'benchmarks/2026-12-01-scale.json',
  // The 1-worker run: 80 objects on 2 cores at load average ~29 (a machine shared with other jobs). CPU-seconds
  // are each process's own, less its idle rate; throughput under that load is not a figure to plan with.
  workerCpuS: 0.0853846,
  dispatcherCpuS: 0.0025,
  ingestCpuS: 0.0013408,
  temporalCpuS: 0.1086282,
  natsCpuS: 0.0014188,
  temporalActions: 5,
  temporalHistoryBytes: 26394.9,
  temporalHistoryEvents: 29,
  jetstreamBytesPerEvent: 564,
  bigqueryRowBytes: 3895.225,
  objPerS: { workers1: 1.3698395575418227, workers2: 0.626051570998161 },
};

/** The part of a bench results file (benchmarks/<date>-<machine>.json, bench/render.ts ResultsFile) a plan reads. */
export interface LedgerResults {
  date?: string;
  machine?: { cores?: number; cpuModel?: string };
  workloads?: Record<
    string,
    { unit?: string; perSecond?: number; ledger?: { perObjectMs?: Record<string, number | null> } | null }
  >;
}

/**
 * Per-object CPU costs from a bench run's CPU ledger (bench/ledger.ts: CPU ms per analysed object of every process
 * of the stack, for one workload), over the defaults: the worker, dispatcher, ingest, Temporal and NATS figures come
 * from the ledger; Temporal actions, history, event and row sizes (which the ledger does not measure) stay as
 * `base` has them. Null when the file has no ledger for that workload.
 */
export function costsFromLedger(
  r: LedgerResults,
  workload: string,
  source: string,
  base: MeasuredCosts = MEASURED,
): MeasuredCosts | null {
  const w = r.workloads?.[workload];
  const ms = w?.ledger?.perObjectMs;
  if (!w || !ms || typeof ms['worker-cpu'] !== 'number') return null;
  const s = (...names: string[]) =>
    names.reduce((a, n) => a + (typeof ms[n] === 'number' ? (ms[n] as number) : 0), 0) / 1000;
  return {
    ...base,
    source: `${source} (CPU ledger of workload "${workload}"${r.date ? `, ${r.date}` : ''}${r.machine?.cores ? `, ${r.machine.cores} cores ${r.machine.cpuModel ?? ''}`.trimEnd() : ''}; Temporal actions, history and row sizes from ${base.source})`,
    workerCpuS: s('worker-cpu', 'worker-cpu-2'),
    dispatcherCpuS: s('dispatcher'),
    ingestCpuS: s('watcher', 'subscriber'),
    temporalCpuS: s('temporal'),
    natsCpuS: s('nats', 'nats-2', 'nats-3'),
    objPerS: { workers1: w.perSecond ?? base.objPerS.workers1, workers2: base.objPerS.workers2 },
  };
}

/** Bench results file names (benchmarks/<YYYY-MM-DD>-<machine>[-quick].json) newest first; of one day, full runs before quick ones. */
export function resultsFilesNewestFirst(names: string[]): string[] {
  const ok = names.filter((n) => /^\d{4}-\d{2}-\d{2}-.+\.json$/.test(n));
  return ok.sort(
    (a, b) =>
      b.slice(0, 10).localeCompare(a.slice(0, 10)) ||
      Number(a.includes('-quick')) - Number(b.includes('-quick')) ||
      a.localeCompare(b),
  );
}

export interface PlanInputs {
  objectsPerDay: number;
  /** Peak rate over the daily mean (uploads are not uniform over the day). */
  peakFactor: number;
  /** CPU a pool is sized to use at peak (headroom for retries, restarts, noisy neighbours). */
  targetUtilization: number;
  /** ASSUMED: objects per second one GPU sustains on the detect stage (batched); measure with `npm run bench` on a GPU node. */
  gpuObjPerS: number;
  /** Fraction of objects whose inference runs on the GPU pool (LOOKOUT_GPU_STAGES); 0 = CPU only. */
  gpuShare: number;
  /** Workflow history retention of the Temporal namespace (days): history storage is kept that long. */
  temporalRetentionDays: number;
  /** JetStream object-stream retention (io/streams.ts: max_age 7 days) and replicas (3 in a cluster). */
  streamRetentionDays: number;
  streamReplicas: number;
  /** ASSUMED: messages/s one R3 file-backed stream sustains with fsync on every write; measure with `nats bench --js`. */
  streamMsgPerS: number;
  /** BigQuery result rows are kept this long (the table is partitioned by day). */
  bigqueryRetentionDays: number;
  /**
   * Objects per workflow: 1 = one analyzeObject workflow per object (what was measured); N = bulk mode
   * (`backfill --bulk N`: one analyzeBatch workflow per N objects, whose history has the same 29 events per batch
   * in the 2026-12-01 bench), so actions per object divide by N. History bytes per object are kept as measured for
   * one object (an upper bound: bulk histories measured 24 KiB of JSON per object against 43 KB here).
   */
  objectsPerWorkflow: number;
  /** Optional prices, in the user's currency: costs are printed only for those given. */
  prices: {
    perMillionTemporalActions?: number;
    perGbMonthTemporalStorage?: number;
    perGbBigqueryStreaming?: number;
    perGbMonthBigqueryStorage?: number;
    perCoreHour?: number;
    perGpuHour?: number;
  };
}

export const PLAN_DEFAULTS: Omit<PlanInputs, 'objectsPerDay' | 'prices'> = {
  peakFactor: 3,
  targetUtilization: 0.7,
  gpuObjPerS: 400,
  gpuShare: 0,
  temporalRetentionDays: 7,
  streamRetentionDays: 7,
  streamReplicas: 3,
  streamMsgPerS: 5000,
  bigqueryRetentionDays: 365,
  objectsPerWorkflow: 1,
};

export interface Plan {
  inputs: PlanInputs;
  measured: MeasuredCosts;
  rates: { meanObjPerS: number; peakObjPerS: number };
  workers: { cpuCores: number; cpuWorkerPods: number; coresPerPod: number; gpus: number };
  control: { dispatcherCores: number; ingestCores: number };
  temporal: {
    actionsPerDay: number;
    actionsPerMonth: number;
    peakActionsPerS: number;
    historyBytesPerDay: number;
    historyStorageBytes: number;
    selfHostedCores: number;
  };
  bigquery: { rowsPerDay: number; bytesPerDay: number; storageBytes: number; legacyStreamingBilledBytesPerDay: number };
  nats: { eventsPerDay: number; peakEventsPerS: number; streamStorageBytes: number; nodes: number; streams: number };
  costsPerMonth: Record<string, number>;
}

const ceil = (x: number) => Math.max(0, Math.ceil(x - 1e-9));

/**
 * The model. R = objects/day ÷ 86,400 × peakFactor (objects/s at peak), u = targetUtilization:
 *   CPU worker cores   = R × (1 − gpuShare) × workerCpuS ÷ u        (the GPU pods' own host CPU for decoding is not modelled: the chart requests 2 cores per GPU pod)
 *   GPUs               = ceil(R × gpuShare ÷ gpuObjPerS ÷ u)
 *   dispatcher, ingest = R × cpuS ÷ u
 *   Temporal actions   = objects/day × actions/workflow ÷ objectsPerWorkflow (× 30 a month); at peak R × that per second
 *   Temporal storage   = objects/day × historyBytes × retentionDays
 *   BigQuery           = objects/day × rowBytes a day; × retentionDays stored; legacy streaming bills ≥ 1 KiB a row
 *   JetStream          = objects/day × eventBytes × retentionDays × replicas; streams = ceil(R ÷ streamMsgPerS),
 *                        nodes = 3 × streams (R3: one leader and two followers per stream, spread over the nodes)
 */
export function plan(inputs: Partial<PlanInputs> & { objectsPerDay: number }, m: MeasuredCosts = MEASURED): Plan {
  const i: PlanInputs = { ...PLAN_DEFAULTS, prices: {}, ...inputs };
  if (!(i.objectsPerDay > 0)) throw new RangeError(`objectsPerDay must be > 0, got ${i.objectsPerDay}`);
  if (!(i.targetUtilization > 0 && i.targetUtilization <= 1))
    throw new RangeError(`targetUtilization must be in (0, 1], got ${i.targetUtilization}`);
  if (!(i.gpuShare >= 0 && i.gpuShare <= 1)) throw new RangeError(`gpuShare must be in [0, 1], got ${i.gpuShare}`);
  if (!(Number.isInteger(i.objectsPerWorkflow) && i.objectsPerWorkflow >= 1))
    throw new RangeError(`objectsPerWorkflow must be an integer >= 1, got ${i.objectsPerWorkflow}`);
  const mean = i.objectsPerDay / 86_400;
  const R = mean * i.peakFactor;
  const u = i.targetUtilization;
  const cpuCores = (R * (1 - i.gpuShare) * m.workerCpuS) / u;
  const coresPerPod = 2;
  const gpus = i.gpuShare > 0 ? ceil((R * i.gpuShare) / i.gpuObjPerS / u) : 0;
  const actionsPerObject = m.temporalActions / i.objectsPerWorkflow;
  const actionsPerDay = i.objectsPerDay * actionsPerObject;
  const historyBytesPerDay = i.objectsPerDay * m.temporalHistoryBytes;
  const bqBytesPerDay = i.objectsPerDay * m.bigqueryRowBytes;
  const streams = Math.max(1, ceil(R / i.streamMsgPerS));
  const p = i.prices;
  const GB = 1e9;
  const costs: Record<string, number> = {};
  if (p.perMillionTemporalActions !== undefined)
    costs.temporalActions = ((actionsPerDay * 30) / 1e6) * p.perMillionTemporalActions;
  if (p.perGbMonthTemporalStorage !== undefined)
    costs.temporalStorage = ((historyBytesPerDay * i.temporalRetentionDays) / GB) * p.perGbMonthTemporalStorage;
  if (p.perGbBigqueryStreaming !== undefined)
    costs.bigqueryStreaming =
      ((i.objectsPerDay * Math.max(1024, m.bigqueryRowBytes) * 30) / GB) * p.perGbBigqueryStreaming;
  if (p.perGbMonthBigqueryStorage !== undefined)
    costs.bigqueryStorage = ((bqBytesPerDay * i.bigqueryRetentionDays) / GB) * p.perGbMonthBigqueryStorage;
  if (p.perCoreHour !== undefined)
    costs.workerCores = ((mean * (1 - i.gpuShare) * m.workerCpuS) / u) * 24 * 30 * p.perCoreHour;
  if (p.perGpuHour !== undefined) costs.gpus = gpus * 24 * 30 * p.perGpuHour;
  return {
    inputs: i,
    measured: m,
    rates: { meanObjPerS: mean, peakObjPerS: R },
    workers: { cpuCores, cpuWorkerPods: ceil(cpuCores / coresPerPod), coresPerPod, gpus },
    control: { dispatcherCores: (R * m.dispatcherCpuS) / u, ingestCores: (R * m.ingestCpuS) / u },
    temporal: {
      actionsPerDay,
      actionsPerMonth: actionsPerDay * 30,
      peakActionsPerS: R * actionsPerObject,
      historyBytesPerDay,
      historyStorageBytes: historyBytesPerDay * i.temporalRetentionDays,
      selfHostedCores: (R * m.temporalCpuS) / u,
    },
    bigquery: {
      rowsPerDay: i.objectsPerDay,
      bytesPerDay: bqBytesPerDay,
      storageBytes: bqBytesPerDay * i.bigqueryRetentionDays,
      legacyStreamingBilledBytesPerDay: i.objectsPerDay * Math.max(1024, m.bigqueryRowBytes),
    },
    nats: {
      eventsPerDay: i.objectsPerDay,
      peakEventsPerS: R,
      streamStorageBytes: i.objectsPerDay * m.jetstreamBytesPerEvent * i.streamRetentionDays * i.streamReplicas,
      nodes: 3 * streams,
      streams,
    },
    costsPerMonth: costs,
  };
}

const si = (x: number) =>
  x >= 1e9
    ? `${(x / 1e9).toFixed(2)} G`
    : x >= 1e6
      ? `${(x / 1e6).toFixed(2)} M`
      : x >= 1e3
        ? `${(x / 1e3).toFixed(1)} k`
        : x.toFixed(x < 10 ? 2 : 0);
const bytes = (x: number) =>
  x >= 1e12
    ? `${(x / 1e12).toFixed(2)} TB`
    : x >= 1e9
      ? `${(x / 1e9).toFixed(2)} GB`
      : x >= 1e6
        ? `${(x / 1e6).toFixed(1)} MB`
        : `${(x / 1e3).toFixed(1)} kB`;

/** The plan as the lines `lookout plan` prints. */
export function renderPlan(p: Plan): string {
  const i = p.inputs;
  const lines = [
    `Plan for ${si(i.objectsPerDay)} objects/day: mean ${p.rates.meanObjPerS.toFixed(1)} obj/s, peak ${p.rates.peakObjPerS.toFixed(1)} obj/s (peak factor ${i.peakFactor}); pools sized to ${(i.targetUtilization * 100).toFixed(0)} % CPU at peak.`,
    `Measured inputs (${p.measured.source}): worker ${p.measured.workerCpuS.toFixed(3)} CPU-s/object, ${p.measured.temporalActions.toFixed(1)} Temporal actions per workflow and ${bytes(p.measured.temporalHistoryBytes)} history per object, ${p.measured.jetstreamBytesPerEvent.toFixed(0)} B per JetStream event, ${p.measured.bigqueryRowBytes.toFixed(0)} B per BigQuery row.`,
    '',
    `Workers     CPU pool: ${p.workers.cpuCores.toFixed(1)} cores = ${p.workers.cpuWorkerPods} pods of ${p.workers.coresPerPod} cores` +
      (i.gpuShare > 0
        ? `; GPU pool: ${p.workers.gpus} GPUs (${(i.gpuShare * 100).toFixed(0)} % of objects at ${i.gpuObjPerS} obj/s per GPU, ASSUMED)`
        : '; GPU pool: none (--gpu-share 0)'),
    `Control     dispatcher ${p.control.dispatcherCores.toFixed(2)} cores, ingest ${p.control.ingestCores.toFixed(2)} cores`,
    `Temporal    ${i.objectsPerWorkflow > 1 ? `bulk ${i.objectsPerWorkflow} objects/workflow: ` : ''}${si(p.temporal.actionsPerDay)} actions/day, ${si(p.temporal.actionsPerMonth)}/month, ${p.temporal.peakActionsPerS.toFixed(0)} actions/s at peak; history ${bytes(p.temporal.historyBytesPerDay)}/day, ${bytes(p.temporal.historyStorageBytes)} kept (${i.temporalRetentionDays} d); self-hosted: ~${p.temporal.selfHostedCores.toFixed(1)} server cores`,
    `BigQuery    ${si(p.bigquery.rowsPerDay)} rows/day, ${bytes(p.bigquery.bytesPerDay)}/day streamed (${bytes(p.bigquery.legacyStreamingBilledBytesPerDay)} billed by legacy insertAll at 1 KiB/row minimum), ${bytes(p.bigquery.storageBytes)} stored over ${i.bigqueryRetentionDays} d`,
    `NATS        ${p.nats.peakEventsPerS.toFixed(0)} events/s at peak, ${bytes(p.nats.streamStorageBytes)} of stream storage (${i.streamRetentionDays} d × R${i.streamReplicas}); ${p.nats.nodes} nodes (${p.nats.streams} R3 stream${p.nats.streams > 1 ? 's' : ''} at ≤ ${i.streamMsgPerS} msg/s each, ASSUMED)`,
  ];
  const c = Object.entries(p.costsPerMonth);
  if (c.length)
    lines.push(
      '',
      `Cost/month  ${c.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')} (total ${c.reduce((a, [, v]) => a + v, 0).toFixed(2)})`,
    );
  return lines.join('\n');
}
