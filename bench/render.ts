/**
 * Renders a benchmark result (the JSON `npm run bench` writes) as Markdown tables.
 *   node -r tsx/cjs bench/render.ts RESULT.json [> RESULT.md]
 */
import fs from 'node:fs';
import { formatLedgers, type Ledger } from './ledger';

interface Bare {
  batch: number;
  concurrency: number;
  images: number;
  perSecond: number;
  p50: number;
  p99: number;
  meanBatch: number;
}
interface Run {
  label: string;
  objects: number;
  rows: number;
  failed: number;
  offeredRate: number;
  perSecond: number;
  e2eP50: number;
  e2eP99: number;
  pipelineP50: number;
  inferenceP50: number;
  meanDetectBatch: number;
}
interface Bulk {
  objects: number;
  batch: number;
  perSecond: number;
  wallS: number;
  uploadS?: number;
  overheadMsPerObject: number;
  rows: number;
  failed: number;
  batches?: number;
  historyEvents?: number[];
  historyBytes?: number[];
  rssAfterMb?: Record<string, number | null>;
  /** Older results: the worker's peak RSS only. */
  workerRssMb?: number | null;
}
/**
 * One workload's headline in a results file (`workloads.<name>`): throughput through the pipeline, bare
 * inference of the same model on the same machine in the same run, their ratio, and the CPU ledger.
 */
export interface Workload {
  /** What one object is: chip, image, frame. */
  unit: string;
  /** Objects per second through the whole pipeline. */
  perSecond: number;
  /** Bare inference (preprocess + run + decode in one process) of the same model, objects per second. */
  bare: number;
  ratio: number;
  ledger: Ledger | null;
  /** Bare inference's CPU ms per object (its process, all threads) and bare CPU / the stack's CPU per object (ledger). */
  bareCpuMsPerObject?: number | null;
  cpuRatio?: number | null;
  /**
   * Derived from the ledger, not measured: bare CPU per object / the worker processes' CPU per object — the CPU ratio
   * a deployment with the servers (Temporal, BigQuery, NATS, GCS) on other machines would have.
   */
  workerCpuRatio?: number | null;
}

/**
 * The results file `npm run bench` writes (benchmarks/<date>-<machine>.json). The top level is stable:
 *   date (YYYY-MM-DD), machine (runtime/machine.ts machineInfo), commit, workloads: { <name>: Workload },
 *   latency: { uploadToRowP50Ms, uploadToRowP99Ms, halfLoadRate, serveP50Ms, serveP99Ms, streamP50Ms, streamP99Ms }
 * (a figure a run did not measure is null); the runs' details follow (bare, pipeline, bulk, video, raster, …).
 */
export interface ResultsFile {
  date: string;
  machine: { host?: string; cores: number; cpuModel?: string; memoryTotalMb?: number; platform: string };
  commit: string | null;
  workloads: Record<string, Workload>;
  latency: Record<
    | 'uploadToRowP50Ms'
    | 'uploadToRowP99Ms'
    | 'halfLoadRate'
    | 'serveP50Ms'
    | 'serveP99Ms'
    | 'streamP50Ms'
    | 'streamP99Ms',
    number | null
  >;
}

/** A file-name-safe name of the machine: cores and CPU model (host names of cloud VMs change every boot). */
export function machineSlug(m: { cores: number; cpuModel?: string; cpu?: string }): string {
  const model = (m.cpuModel ?? m.cpu ?? 'cpu')
    .toLowerCase()
    .replace(/\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$/g, ' ')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${m.cores}cpu-${model || 'unknown'}`.slice(0, 60);
}

export interface BenchResult extends Partial<ResultsFile> {
  machine: {
    cpu?: string;
    cpuModel?: string;
    cores: number;
    memoryGb?: number;
    memoryTotalMb?: number;
    platform: string;
    node?: string;
    nodeVersion?: string;
    onnxruntime?: string;
    onnxruntimeVersion?: string;
  };
  bare: Bare[];
  bareLimitPerSecond: number;
  pipeline: Run[];
  bulk: Bulk[];
  ratioPipelineToBare: number | null;
  ratioBulkToBare: number | null;
  peakMemoryMb: Record<string, number | null>;
  /** The raster archive by `lookout backfill` (bench/bench.ts rasterBackfillRun). */
  rasterBackfill?: {
    rasters: number;
    side: number;
    chips: number;
    chipsFailed: number;
    seconds: number;
    perSecond: number;
  } | null;
  /** The worker alone on one core, everything else on the other (bench/bench.ts pinnedRun). */
  workerAlone?: { sat: { perSecond: number; objects: number }; bareLimit: number } | null;
}

const f = (x: number | null | undefined, d = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
const table = (head: string[], rows: Array<Array<string | number>>) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );

export function renderMarkdown(r: BenchResult): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `Machine: ${m.cores} cores (${m.cpuModel ?? m.cpu ?? 'unknown CPU'}), ${m.memoryGb ?? Math.round((m.memoryTotalMb ?? 0) / 1024)} GiB, ${m.platform}, Node ${m.nodeVersion ?? m.node}, onnxruntime-node ${m.onnxruntimeVersion ?? m.onnxruntime} (CPU execution provider)${r.commit ? `, commit ${r.commit}` : ''}${r.date ? `, ${r.date}` : ''}.`,
    '',
  );
  if (r.workloads && Object.keys(r.workloads).length) {
    out.push('### Headline: the pipeline against bare inference of the same model, same run', '');
    out.push(
      table(
        [
          'workload',
          'unit',
          'pipeline /s',
          'bare /s',
          'ratio',
          'CPU ms per object (stack)',
          'bare CPU ms per object',
          'CPU ratio (bare / stack)',
          'worker CPU ms per object',
          'CPU ratio, worker alone (bare / worker; derived)',
          'other programs ms per object',
        ],
        Object.entries(r.workloads).map(([k, w]) => [
          k,
          w.unit,
          f(w.perSecond),
          f(w.bare),
          f(w.ratio, 3),
          f(w.ledger?.stackMsPerObject),
          f(w.bareCpuMsPerObject),
          f(w.cpuRatio, 3),
          f(w.ledger?.workerMsPerObject),
          f(w.workerCpuRatio, 3),
          f(w.ledger?.otherMsPerObject),
        ]),
      ),
      '',
    );
    const ls = Object.fromEntries(Object.entries(r.workloads).flatMap(([k, w]) => (w.ledger ? [[k, w.ledger]] : [])));
    if (Object.keys(ls).length)
      out.push(
        '### CPU ledger (bench/ledger.ts): CPU ms per analysed object',
        '',
        '```',
        ...formatLedgers(ls),
        '```',
        '',
      );
  }
  if (r.rasterBackfill)
    out.push(
      `Raster archive by \`lookout backfill\`: ${r.rasterBackfill.rasters} GeoTIFFs of ${r.rasterBackfill.side} × ${r.rasterBackfill.side} px, ${r.rasterBackfill.chips} chips (${r.rasterBackfill.chipsFailed} failed), backfill start → last summary row ${f(r.rasterBackfill.seconds)} s = ${f(r.rasterBackfill.perSecond)} chips/s.`,
      '',
    );
  if (r.workerAlone)
    out.push(
      `Worker alone, measured: the worker pinned to one core, the servers, ingest, dispatcher and the bench to the other (taskset): ${f(r.workerAlone.sat.perSecond)} images/s at saturation (${r.workerAlone.sat.objects} objects) against bare NanoDet pinned to one core ${f(r.workerAlone.bareLimit)} img/s: **${f(r.workerAlone.sat.perSecond / r.workerAlone.bareLimit, 3)}**. The "worker alone (derived)" figures above divide bare CPU by the worker processes' CPU per object instead.`,
      '',
    );
  if (r.latency)
    out.push(
      `Latency: upload → row at half load p50 ${f(r.latency.uploadToRowP50Ms, 0)} / p99 ${f(r.latency.uploadToRowP99Ms, 0)} ms (${f(r.latency.halfLoadRate)} objects/s offered); lookout serve p50 ${f(r.latency.serveP50Ms, 0)} / p99 ${f(r.latency.serveP99Ms, 0)} ms; lookout stream capture → row p50 ${f(r.latency.streamP50Ms, 0)} / p99 ${f(r.latency.streamP99Ms, 0)} ms.`,
      '',
    );
  if (r.bare.length) out.push('### (a) Bare inference (NanoDet, 768×576 frames decoded beforehand)', '');
  if (r.bare.length)
    out.push(
      table(
        ['batch ≤', 'concurrency', 'images', 'img/s', 'p50 ms', 'p99 ms', 'mean batch'],
        r.bare.map((b) => [b.batch, b.concurrency, b.images, f(b.perSecond), f(b.p50), f(b.p99), f(b.meanBatch, 2)]),
      ),
      '',
    );
  if (r.bare.length) out.push(`Limit (best of the above): **${f(r.bareLimitPerSecond)} img/s**.`, '');
  if (r.pipeline.length) {
    out.push('### (b) Per-object pipeline (GCS → watcher → JetStream → dispatcher → Temporal → worker → BigQuery)', '');
    out.push(
      table(
        [
          'run',
          'objects',
          'offered/s',
          'obj/s',
          'e2e p50 ms',
          'e2e p99 ms',
          'pipeline p50 ms',
          'inference p50 ms',
          'mean detect batch',
          'failed',
        ],
        r.pipeline.map((p) => [
          p.label,
          p.objects,
          p.offeredRate ? f(p.offeredRate) : 'max',
          f(p.perSecond),
          f(p.e2eP50, 0),
          f(p.e2eP99, 0),
          f(p.pipelineP50, 0),
          f(p.inferenceP50),
          f(p.meanDetectBatch, 2),
          p.failed,
        ]),
      ),
      '',
    );
  }
  if (r.bulk.length) {
    out.push('### (b) Bulk mode (`backfill --bulk 50`: one analyzeBatch workflow per 50 objects)', '');
    out.push(
      table(
        [
          'objects',
          'batches',
          'obj/s',
          'wall s',
          'overhead ms/object',
          'rows',
          'failed',
          'history events per batch (sampled)',
          'history KiB',
          'RSS after the run, MiB',
        ],
        r.bulk.map((b) => [
          b.objects,
          b.batches ?? Math.ceil(b.objects / b.batch),
          f(b.perSecond),
          f(b.wallS, 0),
          // Recomputed from the wall time (results written before 2026-11-23 17:28 stored a wrong value here).
          f((b.wallS * 1000) / b.objects - 1000 / r.bareLimitPerSecond),
          b.rows,
          b.failed,
          b.historyEvents?.join(' / ') ?? '–',
          b.historyBytes?.map((x) => (x / 1024).toFixed(0)).join(' / ') ?? '–',
          b.rssAfterMb
            ? Object.entries(b.rssAfterMb)
                .map(([k, v]) => `${k} ${v ?? '–'}`)
                .join(', ')
            : `worker peak ${b.workerRssMb ?? '–'}`,
        ]),
      ),
      '',
    );
    out.push('Overhead per object = wall time per object beyond what bare inference needs per image.', '');
  }
  out.push(
    `Ratios to bare inference: per-object pipeline **${f(r.ratioPipelineToBare, 3)}**, bulk mode (best run) **${f(r.ratioBulkToBare, 3)}**.`,
    '',
  );
  out.push(
    `Peak memory over the whole benchmark (VmHWM, MiB): ${Object.entries(r.peakMemoryMb)
      .map(([k, v]) => `${k} ${v ?? '–'}`)
      .join(', ')}.`,
    '',
  );
  return out.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file || file === '--help' || file === '-h') {
    console.log(
      'Usage: node -r tsx/cjs bench/render.ts RESULT.json   (prints Markdown tables of a `npm run bench` result)',
    );
    process.exit(file ? 0 : 2);
  }
  console.log(renderMarkdown(JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult));
}
