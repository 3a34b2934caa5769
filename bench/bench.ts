/**
 * `npm run bench`: in one run on one machine, with the same images and model:
 *  (a) bare onnxruntime-node inference (preprocess + run + decode) — the limit;
 *  (b) the full pipeline end to end (GCS -> JetStream -> Temporal -> worker -> BigQuery)
 *      at saturation and at half of it, with dynamic batching on and off.
 * Prints throughput, p50/p99 latency, peak memory per process and the ratio (b)/(a).
 * Runs its own embedded stack on ports 37200+ (state in .lookout/bench-stack).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type LookoutConfig } from '../config';
import { bigqueryClient, natsConnect, storageClient, temporalClient } from '../io/clients';
import { backfill } from '../ingest/backfill';
import { resolvePipeline } from '../core/pipelines';
import { WorkflowStarter } from '../io/starter';
import { decodeImage } from '../media/image';
import { listSampleFiles, uploadLoad, waitForRun } from '../loadtest/loadtest';
import { OnnxDetector } from '../runtime/detector';
import { defaultModelRepo, loadLocalModel } from '../runtime/manifest';
import { onnxruntimeVersion } from '../runtime/session';
import { query } from '../io/query';
import { runLatestSql } from '../io/results';
import { machineSlug, renderMarkdown, type BenchResult, type Workload } from './render';
import { extractFrames, VTEST } from '../demo/samples';
import { cutVideo, runFit } from '../cli/scene';
import { APPS, appSpec, appsFor, down, up, type AppName } from '../infra/stack';
import { readPid, startDetached, stopProc } from '../infra/procs';
import { longVideoBench, serveBench, streamBench } from './video-extra';
import { compareResults, formatHops, hopBreakdown, type HopRow } from './hops';
import { percentile } from './metrics';
import { allProcs, clockTicks, formatLedgers, ledger, snapshot, type Ledger } from './ledger';
import { scene as rasterScene } from './raster-pipeline';
import { bufferRangeSource, chipWindows, openRaster } from '../media/raster';
import { OnnxEmbedder } from '../runtime/embedder';
import { chipToRgb01, onnxFeatureExtractor, percentileStretch } from '../methods/raster-change';
import { machineInfo } from '../runtime/machine';
import { tableRef } from '../io/results';
import { natsNodeNames, SERVERS } from '../infra/stack';
import { execFileSync } from 'node:child_process';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm run bench [-- --json] [--objects N] [--quick]

Measures bare inference (a) and the full pipeline (b) at saturation and half of it, batching on and off.
  --objects N   objects per pipeline run (default 300; --quick: 60)
  --json        also print the results as one line of JSON on stdout (the human-readable lines go to stderr)
  --keep        leave the bench stack running afterwards
  --bulk-sizes A,B,…   archive sizes of the bulk-mode runs (default 200,1000)
  --bulk-only   skip the per-object pipeline runs and the video runs (bare inference and bulk mode only)
  --no-video    skip (c): videos in segments (objects detection, and cctv-anomaly after fitting a scene)
  --video-only  bare inference (a) and the video runs (c) only
  --out FILE.json   write the results there (and as Markdown tables to FILE.md) instead of benchmarks/<date>-<machine>.json
  --raster-size PX  (e) the raster workload: one PX x PX 4-band GeoTIFF (chips of 128 px) through the stack, beside
                bare MobileNetV2 on the same chips (default 4096: 1,024 chips; --quick: 2048; 0: skip)
  --raster-backfill N  (e) the raster archive: N generated GeoTIFFs (--raster-backfill-size each) in an unwatched
                bucket, analysed by \`lookout backfill\` (one analyzeRaster workflow per raster, through the stream and
                the dispatcher), chips/s from the backfill's start to the last summary row, beside the same bare
                MobileNetV2 (default 100; --quick: 10; 0: skip)
  --raster-backfill-size PX  side of each raster of --raster-backfill (default 1024: 64 chips of 128 px)
  --raster-only  bare inference (a) and the raster workloads (e) only
  --no-pinned   skip the per-object run with the worker alone on one core (servers, dispatcher, ingest and the
                bench pinned to the other with taskset) beside bare inference pinned to that one core
  --serve N     (d) lookout serve: N frame requests one at a time, p50/p99 (default 30 with the video runs; 0: skip)
  --stream-s S  (d) lookout stream from a looped vtest.avi camera on loopback for S s: capture-to-row p50/p99 (default 60; 0: skip)
  --long-min M  (d) vtest.avi looped to M minutes, analysed in segments, worker RSS start/peak/end (default 0: skip; 60 for an hour)
  --long-pipeline P   pipeline of the long video (default cctv-anomaly)
  --latency-only  bare inference (a) and the per-object pipeline with batching on (saturation, then half of it)
                with the per-hop breakdown; no batching-off, video or bulk runs
  --half-rate R  offered rate of the half-load run (objects/s) instead of half the measured saturation
  --vs FILE.json  print this run's headline figures and hop breakdown beside an earlier run's result
  --cpu-prof DIR  run the worker, the dispatcher and the ingest process under node --cpu-prof (profiles in DIR
                when they stop; summarise with bench/profile-summary.ts)
                (always written to .lookout/bench-results.json; bench/render.ts renders any result)

Every workload also gets its CPU ledger (bench/ledger.ts): CPU ms per analysed object of each process of the stack,
the worker's threads and steps, printed as one table and written into the results ("ledger" of each workload).

Archive scaling (bulk mode at 1,000 / 10,000 / 100,000 objects; about 75 minutes on 2 cores, ~8 GB of
fake-gcs-server data under .lookout/bench-stack):
  npm run bench -- --bulk-only --bulk-sizes 1000,10000,100000`);
  process.exit(0);
}
const json = args.includes('--json');
const quick = args.includes('--quick');
const keep = args.includes('--keep');
const nIdx = args.indexOf('--objects');
const OBJECTS = nIdx >= 0 ? Number(args[nIdx + 1]) : quick ? 60 : 300;
const bIdx = args.indexOf('--bulk-sizes');
const BULK_SIZES =
  bIdx >= 0
    ? String(args[bIdx + 1])
        .split(',')
        .map(Number)
        .filter((x) => x > 0)
    : quick
      ? [100, 300]
      : [200, 1000];
const BULK_ONLY = args.includes('--bulk-only');
const NO_VIDEO = args.includes('--no-video') || BULK_ONLY;
const VIDEO_ONLY = args.includes('--video-only');
const oIdx = args.indexOf('--out');
const OUT = oIdx >= 0 ? path.resolve(String(args[oIdx + 1])) : undefined;
const numArg = (flag: string, fallback: number) =>
  args.indexOf(flag) >= 0 ? Number(args[args.indexOf(flag) + 1]) : fallback;
const SERVE_REQUESTS = numArg('--serve', 30);
const STREAM_S = numArg('--stream-s', 60);
const LONG_MIN = numArg('--long-min', 0);
const LONG_PIPELINE =
  args.indexOf('--long-pipeline') >= 0 ? String(args[args.indexOf('--long-pipeline') + 1]) : 'cctv-anomaly';
const LATENCY_ONLY = args.includes('--latency-only');
const RASTER_ONLY = args.includes('--raster-only');
const RASTER_SIZE = numArg('--raster-size', quick ? 2048 : 4096);
const RASTER_BACKFILL = numArg('--raster-backfill', quick ? 10 : 100);
const RASTER_BACKFILL_SIZE = numArg('--raster-backfill-size', 1024);
const PINNED = !args.includes('--no-pinned');
const hrIdx = args.indexOf('--half-rate');
const HALF_RATE = hrIdx >= 0 ? Number(args[hrIdx + 1]) : undefined;
const vIdx = args.indexOf('--vs');
const VS = vIdx >= 0 ? path.resolve(String(args[vIdx + 1])) : undefined;
const pIdx = args.indexOf('--cpu-prof');
const CPU_PROF = pIdx >= 0 ? path.resolve(String(args[pIdx + 1])) : undefined;
/** Node flags of the app processes (before the script): the sampling profiler with --cpu-prof. */
const nodeFlags = (app: string) =>
  CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=${app}.cpuprofile`] : [];

const log = (s: string) => process.stderr.write(`${s}\n`);

/** A process's memory in MiB from /proc: VmHWM (peak resident) or VmRSS (resident now). */
function procMemMb(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number | null {
  if (!pid) return null;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

async function bare(files: string[], batch: number, concurrency: number, iterations: number) {
  const det = await OnnxDetector.load(loadLocalModel(defaultModelRepo(path.resolve(__dirname, '..')), 'nanodet'), {
    pool: 'cpu',
    batch: { maxBatchSize: batch, maxQueueDelayMs: batch > 1 ? 4 : 0 },
  });
  const imgs = await Promise.all(files.map(async (f) => decodeImage(fs.readFileSync(f), { maxPixels: 1e8 })));
  for (let i = 0; i < 5; i++) await det.detect(imgs[i % imgs.length]); // warm-up
  const lat: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= iterations) return;
        const s = performance.now();
        await det.detect(imgs[i % imgs.length]);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const r = {
    batch,
    concurrency,
    images: iterations,
    perSecond: iterations / secs,
    cpuMsPerObject: (cpu.user + cpu.system) / 1000 / iterations,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    meanBatch: det.batchStats.items / det.batchStats.batches,
  };
  await det.close();
  return r;
}

async function restartWorker(cfg: LookoutConfig, extra: string[], app: AppName = 'worker-cpu') {
  await stopProc(cfg.home, app, 30_000);
  const spec = appSpec(cfg, app);
  spec.args.unshift(...nodeFlags(app));
  spec.args.push(...extra);
  const ready = spec.env!.LOOKOUT_READY_FILE;
  fs.rmSync(ready, { force: true });
  startDetached(cfg.home, spec);
  const deadline = Date.now() + 120_000;
  while (!fs.existsSync(ready)) {
    if (Date.now() > deadline) throw new Error('worker did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function pipelineRun(
  cfg: LookoutConfig,
  files: Array<{ file: string; contentType: string }>,
  label: string,
  objects: number,
  rate: number,
  ledgerName?: string,
) {
  const run = `bench-${label}-${Date.now().toString(36)}`;
  const t0 = Date.now();
  const cpu0 = ledgerName ? await ledgerStart(cfg) : undefined;
  await uploadLoad(storageClient(cfg), cfg, { runId: run, objects, concurrency: 8, rate, files });
  const n = await waitForRun(bigqueryClient(cfg), cfg, run, objects, { timeoutMs: 900_000 });
  // The ledger ends when the last row landed: the bench's own queries below are not the pipeline's CPU.
  if (ledgerName && cpu0) await ledgerEnd(cfg, cpu0, ledgerName, 'image', n);
  type StageCols = { [K in `${'d' | 'x' | 's'}${'s' | 'b' | 'c'}`]: number | null };
  const stageCols = (['detect', 'extract', 'score'] as const)
    .map((st, i) =>
      (['scheduled', 'started', 'completed'] as const)
        .map(
          (t) =>
            `(SELECT x.${t}_offset_ms FROM UNNEST(stages) x WHERE x.stage = '${st}' ORDER BY x.attempt DESC LIMIT 1) AS ${'dxs'[i]}${t === 'started' ? 'b' : t[0]}`,
        )
        .join(', '),
    )
    .join(',\n       ');
  const rows = await query<
    {
      e: number | null;
      p: number | null;
      i: number | null;
      c: string | null;
      r: string;
      o: string;
      st: string;
      q: number;
      b: number;
      po: number | null;
      dso: number | null;
      wso: number | null;
      w: string;
    } & StageCols
  >(
    bigqueryClient(cfg),
    `SELECT end_to_end_ms AS e, pipeline_ms AS p, inference_ms AS i, completed_at AS c, recorded_at AS r, object_created_at AS o, status AS st,
       (SELECT SUM(s.queue_ms) FROM UNNEST(stages) s) AS q, (SELECT MAX(s.batch_size) FROM UNNEST(stages) s WHERE s.stage = 'detect') AS b,
       published_offset_ms AS po, dispatched_offset_ms AS dso, workflow_started_offset_ms AS wso, workflow_id AS w,
       ${stageCols}
     FROM (${runLatestSql(cfg)})`,
    { run },
  );
  const num = (x: unknown) => (x === null || x === undefined ? null : Number(x));
  const hopRows: HopRow[] = rows
    .filter((r) => r.st === 'ok')
    .map((r) => {
      const stage = (k: 'd' | 'x' | 's') => {
        const [a, b, c] = [num(r[`${k}s`]), num(r[`${k}b`]), num(r[`${k}c`])];
        return a === null || b === null || c === null ? undefined : { scheduled: a, started: b, completed: c };
      };
      return {
        published: num(r.po),
        dispatched: num(r.dso),
        workflowStarted: num(r.wso),
        recorded: Date.parse(r.r) - Date.parse(r.o),
        stages: { detect: stage('d'), extract: stage('x'), score: stage('s') },
      };
    });
  const hops = hopBreakdown(hopRows);
  const toRecord = hopRows.map((h) => h.recorded).filter((v): v is number => v !== null && Number.isFinite(v));
  const first = Math.min(...rows.map((r) => Date.parse(r.o)));
  // A failed analysis has no completed_at (nor latencies): it finished when its failure was recorded.
  const last = Math.max(...rows.map((r) => Date.parse(r.st === 'ok' && r.c ? r.c : r.r)));
  const ok = rows.filter((r) => r.st === 'ok');
  const col = (k: 'e' | 'p' | 'i') => ok.map((r) => r[k]).filter((v): v is number => v !== null);
  // Temporal history events of one object's workflow (each event is written to the server's store).
  let historyEvents: number | null = null;
  if (ok[0]?.w) {
    const { client, connection } = await temporalClient(cfg);
    try {
      historyEvents = (await client.workflow.getHandle(ok[0].w).fetchHistory()).events?.length ?? null;
    } catch {
      historyEvents = null;
    } finally {
      await connection.close();
    }
  }
  return {
    label,
    run,
    objects,
    rows: n,
    failed: rows.filter((r) => r.st !== 'ok').length,
    offeredRate: rate,
    perSecond: rows.length / ((last - first) / 1000),
    e2eP50: percentile(col('e'), 50),
    e2eP99: percentile(col('e'), 99),
    pipelineP50: percentile(col('p'), 50),
    inferenceP50: percentile(col('i'), 50),
    queueP50: percentile(
      rows.map((r) => r.q),
      50,
    ),
    meanDetectBatch: rows.reduce((a, r) => a + Number(r.b ?? 1), 0) / Math.max(1, rows.length),
    /** Upload -> row: object created -> its row built by the record activity. */
    recordP50: percentile(toRecord, 50),
    recordP99: percentile(toRecord, 99),
    hops,
    historyEvents,
    wallS: (Date.now() - t0) / 1000,
  };
}

interface BulkRun {
  objects: number;
  batch: number;
  perSecond: number;
  wallS: number;
  uploadS: number;
  overheadMsPerObject: number;
  rows: number;
  failed: number;
  batches: number;
  /** Temporal history of the batch workflows sampled (first, middle, last started): events and bytes. */
  historyEvents: number[];
  historyBytes: number[];
  /** Resident memory of each process right after the run (MiB): flat across sizes means no per-object growth. */
  rssAfterMb: Record<string, number | null>;
}
const bulkRuns: BulkRun[] = [];
const rasterRuns: Array<Awaited<ReturnType<typeof rasterRun>>> = [];
let rasterBackfill: Awaited<ReturnType<typeof rasterBackfillRun>> | undefined;
let pinned: Awaited<ReturnType<typeof pinnedRun>> | undefined;
const videoRuns: Array<Awaited<ReturnType<typeof videoRun>>> = [];
const videoExtra: {
  serve?: Awaited<ReturnType<typeof serveBench>>;
  stream?: Awaited<ReturnType<typeof streamBench>>;
  long?: Awaited<ReturnType<typeof longVideoBench>>;
} = {};

/** Uploads n objects to an unwatched bucket, then analyses them with backfill --bulk; throughput from the wall time. */
async function bulkRun(
  cfg: LookoutConfig,
  files: Array<{ file: string; contentType: string }>,
  n: number,
  bareLimit: number,
): Promise<BulkRun> {
  const run = `bench-bulk-${n}-${Date.now().toString(36)}`;
  const bucket = 'lookout-bench-archive';
  const st = storageClient(cfg);
  const [exists] = await st.bucket(bucket).exists();
  if (!exists) await st.createBucket(bucket);
  const tu = Date.now();
  const every = Math.max(1000, Math.round(n / 10));
  await uploadLoad(st, cfg, {
    runId: run,
    objects: n,
    concurrency: 8,
    rate: 0,
    files,
    bucket,
    prefix: `${run}/`,
    onUpload: (k) => k % every === 0 && log(`      uploaded ${k}/${n}`),
  });
  const uploadS = (Date.now() - tu) / 1000;
  // The ledger leaves the upload out: an archive is in the bucket before its backfill.
  const cpu0 = await ledgerStart(cfg);
  const nc = await natsConnect(cfg, 'bench-bulk');
  const { client, connection } = await temporalClient(cfg);
  // History is sampled on the first, the middle and the last batch workflow started.
  const middle = Math.ceil(Math.ceil(n / 50) / 2);
  const sampled: Record<'first' | 'middle' | 'last', string | undefined> = {
    first: undefined,
    middle: undefined,
    last: undefined,
  };
  const t0 = Date.now();
  let batches = 0;
  let histories: Array<{ events: number; bytes: number }> = [];
  let logged = 0;
  try {
    await backfill(nc, st, cfg, {
      bucket,
      prefix: `${run}/`,
      rate: 0,
      pageSize: 1000,
      restart: true,
      runTag: run,
      onProgress: (p) => {
        if (p.listed < logged + every) return;
        logged = p.listed;
        log(`      started ${p.listed}/${n} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      },
      bulk: {
        size: 50,
        inflight: 4,
        starter: new WorkflowStarter(client, cfg),
        pipeline: resolvePipeline('objects', { gpuStages: [], gpuFallbackMs: 10_000 }),
        onStarted: (id) => {
          batches++;
          if (batches === 1) sampled.first = id;
          if (batches === middle) sampled.middle = id;
          sampled.last = id;
        },
      },
    });
    histories = await Promise.all(
      [sampled.first, sampled.middle, sampled.last]
        .filter((id): id is string => !!id)
        .map(async (id) => {
          const h = await client.workflow.getHandle(id).fetchHistory();
          return { events: h.events?.length ?? 0, bytes: Buffer.byteLength(JSON.stringify(h)) };
        }),
    );
  } finally {
    await connection.close();
    await nc.close();
  }
  const wallS = (Date.now() - t0) / 1000;
  const rows = await waitForRun(bigqueryClient(cfg), cfg, run, n, { timeoutMs: 600_000 });
  await ledgerEnd(cfg, cpu0, `bulk ${n}`, 'image', n);
  const statuses = await query<{ st: string; n: number }>(
    bigqueryClient(cfg),
    `SELECT status AS st, COUNT(*) AS n FROM (${runLatestSql(cfg)}) GROUP BY status`,
    { run },
  );
  const r: BulkRun = {
    objects: n,
    batch: 50,
    perSecond: n / wallS,
    wallS,
    uploadS,
    // Overhead per object: wall time per object beyond what bare inference needs per image on this machine.
    overheadMsPerObject: (wallS * 1000) / n - 1000 / bareLimit,
    rows,
    failed: statuses.filter((x) => x.st !== 'ok').reduce((a, x) => a + Number(x.n), 0),
    batches,
    historyEvents: histories.map((h) => h.events),
    historyBytes: histories.map((h) => h.bytes),
    rssAfterMb: {
      bench: Math.round(process.memoryUsage().rss / 2 ** 20),
      ...Object.fromEntries(
        ['worker-cpu', 'temporal', 'bigquery', 'nats', 'gcs'].map((p) => [p, procMemMb(readPid(cfg.home, p), 'VmRSS')]),
      ),
    },
  };
  log(
    `    bulk ${n} objects (${batches} batches of 50): ${r.perSecond.toFixed(1)} obj/s, ${r.wallS.toFixed(1)} s, overhead per object beyond bare inference ${r.overheadMsPerObject.toFixed(1)} ms, rows ${rows}, failed ${r.failed}; ` +
      `history per batch workflow ${r.historyEvents.join('/')} events (${r.historyBytes.map((b) => (b / 1024).toFixed(0)).join('/')} KiB); RSS after (MiB): ${Object.entries(
        r.rssAfterMb,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
  );
  return r;
}

/**
 * Videos at camera speed: a clip of vtest.avi (frames 500-794, 10 fps) uploaded like any object and analysed in
 * segments; frames/s = frames / (last frame row completed - first frame's detect started), which leaves out the
 * time before the video's workflow started. `objects` detects only; `cctv-anomaly` (cctv-attributes) also tracks,
 * embeds every object with MobileNetV2 and scores it against a scene fitted first on frames 0-199.
 */
async function videoRun(cfg: LookoutConfig, pipeline: string, scene: string | undefined) {
  const clip = cutVideo(VTEST, path.join(cfg.home, 'samples', 'bench-video-500-794.avi'), 500, 795);
  const run = `bench-video-${pipeline}-${Date.now().toString(36)}`;
  const t0 = Date.now();
  const cpu0 = await ledgerStart(cfg);
  await storageClient(cfg)
    .bucket(cfg.gcs.bucket)
    .upload(clip, {
      destination: `${run}/clip.avi`,
      resumable: false,
      contentType: 'video/x-msvideo',
      metadata: {
        metadata: {
          'lookout-run': run,
          'lookout-pipeline': pipeline,
          'lookout-video-every': '1',
          ...(scene ? { 'lookout-scene': scene } : {}),
        },
      },
    });
  const expected = 295 + 1;
  const n = await waitForRun(bigqueryClient(cfg), cfg, run, expected, { timeoutMs: 1_800_000 });
  await ledgerEnd(cfg, cpu0, `video ${pipeline}`, 'frame', 295);
  const rows = await query<{ c: string; s: string; st: string; i: number; k: string | null }>(
    bigqueryClient(cfg),
    `SELECT completed_at AS c, (SELECT MIN(x.started_at) FROM UNNEST(stages) x) AS s, status AS st, inference_ms AS i, JSON_VALUE(details, '$.kind') AS k FROM (${runLatestSql(cfg)})`,
    { run },
  );
  const frames = rows.filter((r) => r.k === null);
  const first = Math.min(...frames.map((r) => Date.parse(r.s)));
  const last = Math.max(...frames.map((r) => Date.parse(r.c)));
  const r = {
    pipeline,
    frames: frames.length,
    rows: n,
    failed: rows.filter((x) => x.st !== 'ok').length,
    framesPerSecond: frames.length / ((last - first) / 1000),
    wallS: (Date.now() - t0) / 1000,
    inferenceMsP50: percentile(
      frames.map((x) => x.i),
      50,
    ),
    workerRssMb: procMemMb(readPid(cfg.home, 'worker-cpu'), 'VmRSS'),
  };
  log(
    `    video ${pipeline}: ${r.frames} frames at ${r.framesPerSecond.toFixed(1)} frames/s (upload to last row ${r.wallS.toFixed(0)} s), failed rows ${r.failed}, detector inference p50 ${r.inferenceMsP50.toFixed(1)} ms, worker RSS ${r.workerRssMb} MiB`,
  );
  return r;
}

/** Pids of the stack's processes (servers, NATS nodes, apps) from their pid files. */
function stackPids(cfg: LookoutConfig): Record<string, number | undefined> {
  const names = [...new Set([...natsNodeNames(cfg), ...SERVERS.filter((x) => x !== 'nats'), ...APPS])];
  return Object.fromEntries(names.map((n) => [n, readPid(cfg.home, n)]));
}

const CLK_TCK = clockTicks();
/** The CPU ledger of every workload measured, by workload name (bench/ledger.ts). */
const ledgers: Record<string, Ledger> = {};

/** A CPU snapshot of the stack (and the worker's steps) at the start of a workload. */
async function ledgerStart(cfg: LookoutConfig) {
  return snapshot(stackPids(cfg), {
    threadsOf: ['worker-cpu'],
    stepsUrl: `http://127.0.0.1:${cfg.observability.metricsPorts.worker}/metrics`,
  });
}

/** Books the ledger of a workload under `name`: the CPU since `before`, per analysed object (chip, frame, image). */
async function ledgerEnd(
  cfg: LookoutConfig,
  before: Awaited<ReturnType<typeof ledgerStart>>,
  name: string,
  unit: string,
  objects: number,
): Promise<Ledger> {
  const after = await ledgerStart(cfg);
  ledgers[name] = ledger(before, after, objects, { unit, clkTck: CLK_TCK, cores: os.availableParallelism() });
  return ledgers[name];
}

/**
 * (e) bare: MobileNetV2 on the chips of the same generated raster as the pipeline run, read and decoded
 * beforehand, in one process: chip -> RGB [0, 1] at 224 (the method's chipToRgb01) -> normalise -> run, with the
 * manifest's dynamic batching (batch <= 16) and 16 chips in flight. The limit the raster pipeline is held to.
 */
async function bareRaster(side: number) {
  const r = await openRaster(bufferRangeSource(rasterScene(side, false)));
  const windows = chipWindows(r.width, r.height, 128, 0);
  const chips = await r.readChips(windows);
  const sample = chips.filter((_, i) => i % 16 === 0);
  const stretch = percentileStretch(
    [0, 1, 2].map((b) => sample.flatMap((c) => Array.from(c.bands[b]).filter((_, i) => i % 7 === 0))) as [
      number[],
      number[],
      number[],
    ],
    r.nodata,
  );
  const embedder = await OnnxEmbedder.load(
    loadLocalModel(defaultModelRepo(path.resolve(__dirname, '..')), 'mobilenetv2'),
    { pool: 'cpu' },
  );
  const ex = onnxFeatureExtractor(embedder);
  for (let i = 0; i < 4; i++) await ex.embed(chipToRgb01(chips[i], [0, 1, 2], stretch, ex.inputSize)); // warm-up
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= chips.length) return;
        await ex.embed(chipToRgb01(chips[i], [0, 1, 2], stretch, ex.inputSize));
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await embedder.close();
  const out = {
    model: 'mobilenetv2',
    chips: chips.length,
    chipSize: 128,
    maxBatch: 16,
    inFlight: 16,
    perSecond: chips.length / secs,
    cpuMsPerObject: (cpu.user + cpu.system) / 1000 / chips.length,
  };
  log(
    `    bare MobileNetV2 on ${out.chips} chips of a ${side} x ${side} raster (batch <= 16): ${out.perSecond.toFixed(1)} chips/s`,
  );
  return out;
}

/**
 * (e) the raster pipeline: the same generated GeoTIFF uploaded to the inbox bucket, analysed by analyzeRaster
 * (plan, blocks of chips, finish), waited for by its summary row. chips/s = chips / (summary completed_at -
 * workflow started), as bench/raster-pipeline.ts reports it; upload -> summary row is the wall time a user sees.
 */
async function rasterRun(cfg: LookoutConfig, side: number) {
  const run = `bench-raster-${side}-${Date.now().toString(36)}`;
  const data = rasterScene(side, false);
  // The ledger starts after the GeoTIFF is generated (the bench's CPU, not the pipeline's) and ends when the
  // summary row landed.
  const cpu0 = await ledgerStart(cfg);
  const t0 = Date.now();
  await storageClient(cfg)
    .bucket(cfg.gcs.bucket)
    .file(`${run}/scene.tif`)
    .save(data, { resumable: false, contentType: 'image/tiff', metadata: { metadata: { 'lookout-run': run } } });
  const bq = bigqueryClient(cfg);
  const deadline = Date.now() + 1_800_000;
  type Summary = {
    chips: number;
    failed: number;
    started: string | { value: string };
    completed: string | { value: string };
  };
  let row: Summary | undefined;
  while (Date.now() < deadline) {
    // Polled on the table, not the _latest view: the view groups the whole table, ~1 s of emulator CPU per poll at
    // 800 rows (the CPU ledger), which the bench would take from the pipeline it measures. The newest summary row.
    [row] = await query<Summary>(
      bq,
      `SELECT raster.chips AS chips, raster.chips_failed AS failed, workflow_started_at AS started, completed_at AS completed FROM ${tableRef(cfg)} WHERE run_tag = @run AND raster.kind = 'summary' ORDER BY recorded_at DESC LIMIT 1`,
      { run },
    );
    if (row) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  if (!row) throw new Error(`raster ${run}: no summary row within 30 minutes`);
  const wallS = (Date.now() - t0) / 1000;
  await ledgerEnd(cfg, cpu0, 'raster', 'chip', Number(row.chips));
  // Chips with a row: distinct chip analyses on the table (the view's answer, without grouping the whole table).
  const [count] = await query<{ n: number }>(
    bq,
    `SELECT COUNT(DISTINCT workflow_id) AS n FROM ${tableRef(cfg)} WHERE run_tag = @run AND raster.kind = 'chip'`,
    { run },
  );
  const ts = (v: string | { value: string }) => Date.parse(typeof v === 'string' ? v : v.value);
  const seconds = (ts(row.completed) - ts(row.started)) / 1000;
  const out = {
    run,
    side,
    chips: Number(row.chips),
    chipRows: Number(count?.n ?? 0),
    chipsFailed: Number(row.failed),
    seconds,
    perSecond: Number(row.chips) / seconds,
    uploadToSummaryS: wallS,
  };
  log(
    `    raster ${side} x ${side}: ${out.chips} chips (${out.chipRows} chip rows, ${out.chipsFailed} failed) in ${seconds.toFixed(1)} s = ${out.perSecond.toFixed(1)} chips/s (upload -> summary row ${out.uploadToSummaryS.toFixed(1)} s)`,
  );
  return out;
}

/**
 * (e) the raster archive: `n` generated GeoTIFFs of `side` px uploaded to an unwatched bucket (an archive is in its
 * bucket before its backfill), then analysed by `lookout backfill` as a user runs it: one event per raster on the
 * stream, the dispatcher starts one analyzeRaster workflow each. chips/s = all chips / (backfill start -> the last
 * summary row's completed_at): listing, the stream, planning, blocks and finishing of every raster included.
 * Every raster is the same scene under another name (its own object, generation and workflow).
 */
async function rasterBackfillRun(cfg: LookoutConfig, n: number, side: number) {
  const run = `bench-raster-backfill-${n}-${Date.now().toString(36)}`;
  const bucket = 'lookout-bench-archive';
  const st = storageClient(cfg);
  const [exists] = await st.bucket(bucket).exists();
  if (!exists) await st.createBucket(bucket);
  const data = rasterScene(side, false);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        await st
          .bucket(bucket)
          .file(`${run}/scene-${String(i).padStart(4, '0')}.tif`)
          .save(data, { resumable: false, contentType: 'image/tiff' });
      }
    }),
  );
  const cpu0 = await ledgerStart(cfg);
  const t0 = Date.now();
  const nc = await natsConnect(cfg, 'bench-raster-backfill');
  try {
    await backfill(nc, st, cfg, { bucket, prefix: `${run}/`, rate: 0, pageSize: 1000, restart: true, runTag: run });
  } finally {
    await nc.close();
  }
  const bq = bigqueryClient(cfg);
  const deadline = Date.now() + 1_800_000;
  type Totals = { n: number; chips: number; failed: number; last: string | { value: string } | null };
  let totals: Totals | undefined;
  while (Date.now() < deadline) {
    // On the table (never the _latest view, see rasterRun): one summary per raster workflow (a retried write may
    // leave two rows of one key; MAX per workflow counts it once).
    [totals] = await query<Totals>(
      bq,
      `SELECT COUNT(*) AS n, SUM(c) AS chips, SUM(f) AS failed, MAX(t) AS last FROM (SELECT workflow_id, MAX(raster.chips) AS c, MAX(raster.chips_failed) AS f, MAX(completed_at) AS t FROM ${tableRef(cfg)} WHERE run_tag = @run AND raster.kind = 'summary' GROUP BY workflow_id)`,
      { run },
    );
    if (totals && Number(totals.n) >= n) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  if (!totals || Number(totals.n) < n)
    throw new Error(`raster backfill ${run}: ${totals?.n ?? 0} of ${n} summary rows within 30 minutes`);
  const chips = Number(totals.chips);
  await ledgerEnd(cfg, cpu0, 'raster backfill', 'chip', chips);
  const ts = (v: string | { value: string }) => Date.parse(typeof v === 'string' ? v : v.value);
  const last = totals.last ? ts(totals.last) : Date.now();
  const seconds = (last - t0) / 1000;
  // Each raster's own time (its workflow started -> its summary completed) and when it started after the backfill
  // began: how far the rasters overlapped, and what one raster costs alone.
  const each = await query<{ s: string | { value: string }; c: string | { value: string } }>(
    bq,
    `SELECT MIN(workflow_started_at) AS s, MAX(completed_at) AS c FROM ${tableRef(cfg)} WHERE run_tag = @run AND raster.kind = 'summary' GROUP BY workflow_id`,
    { run },
  );
  const perRasterS = each.map((e) => (ts(e.c) - ts(e.s)) / 1000);
  const startOffsetS = each.map((e) => (ts(e.s) - t0) / 1000);
  const out = {
    run,
    rasters: n,
    side,
    chips,
    chipsFailed: Number(totals.failed),
    seconds,
    perSecond: chips / seconds,
    rastersPerMinute: (n * 60) / seconds,
    perRasterP50S: percentile(perRasterS, 50),
    perRasterMaxS: Math.max(...perRasterS),
    lastStartS: Math.max(...startOffsetS),
    /** Mean rasters in progress: the sum of their own times over the whole span. */
    meanConcurrency: perRasterS.reduce((a, b) => a + b, 0) / seconds,
  };
  log(
    `    raster backfill: ${n} rasters of ${side} x ${side}, ${chips} chips (${out.chipsFailed} failed) in ${seconds.toFixed(1)} s = ${out.perSecond.toFixed(1)} chips/s (${out.rastersPerMinute.toFixed(1)} rasters/min); one raster p50 ${out.perRasterP50S.toFixed(1)} s (max ${out.perRasterMaxS.toFixed(1)} s), the last started ${out.lastStartS.toFixed(1)} s after the backfill began, ${out.meanConcurrency.toFixed(1)} in progress on average`,
  );
  return out;
}

/** Pids of `roots` and all their descendants (a server's helper processes, a worker's ffmpeg). */
function withDescendants(roots: number[]): number[] {
  const procs = allProcs();
  const out = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs)
      if (out.has(p.ppid) && !out.has(p.pid)) {
        out.add(p.pid);
        grew = true;
      }
  }
  return [...out];
}

/** Sets the CPU affinity of every thread of each process (`taskset -a -p -c`); a process gone meanwhile is skipped. */
function pin(pids: number[], cpus: string): void {
  for (const pid of pids) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    } catch {
      // exited in between: nothing to pin
    }
  }
}

/** Whether the worker-alone run can pin: Linux taskset present and at least two cores. */
function canPin(): boolean {
  if (os.availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The worker alone against its queue, measured: every process of the stack but the worker (servers, ingest,
 * dispatcher) and the bench itself pinned to core 0, the worker to core 1; the per-object pipeline at saturation,
 * beside bare inference pinned to core 1 in this process. What a deployment with the servers elsewhere gets per
 * worker core (the servers' core must keep up, which the ledger of the run shows).
 */
async function pinnedRun(cfg: LookoutConfig, files: Array<{ file: string; contentType: string }>, objects: number) {
  const all = `0-${os.availableParallelism() - 1}`;
  const iterations = quick ? 60 : 200;
  pin([process.pid], '1');
  const bare1 = [];
  try {
    const fs0 = files.map((f) => f.file);
    bare1.push(await bare(fs0, 1, 1, iterations), await bare(fs0, 1, 4, iterations), await bare(fs0, 8, 8, iterations));
  } finally {
    pin([process.pid], all);
  }
  const bareLimit = Math.max(...bare1.map((b) => b.perSecond));
  await restartWorker(cfg, []);
  const pids = stackPids(cfg);
  const worker = withDescendants([pids['worker-cpu']!].filter(Boolean));
  const others = withDescendants(
    Object.entries(pids)
      .filter(([k, v]) => !k.startsWith('worker') && v)
      .map(([, v]) => v!),
  );
  pin([...others, process.pid], '0');
  pin(worker, '1');
  try {
    const sat = await pipelineRun(cfg, files, 'worker-alone-saturation', objects, 0, 'per-object, worker alone');
    log(
      `    worker alone on core 1 (servers, ingest, dispatcher and the bench on core 0): ${sat.perSecond.toFixed(1)} obj/s against bare on one core ${bareLimit.toFixed(1)} img/s: ratio ${(sat.perSecond / bareLimit).toFixed(3)}`,
    );
    return { sat, bare: bare1, bareLimit };
  } finally {
    pin([...others, ...worker, process.pid], all);
  }
}

/** The earlier result given with --vs (read before anything runs, so a wrong path fails at once). */
let previous:
  | {
      pipeline?: Array<{
        label: string;
        perSecond: number;
        e2eP50: number;
        e2eP99: number;
        hops?: ReturnType<typeof hopBreakdown>;
      }>;
    }
  | undefined;

async function main() {
  if (VS) previous = JSON.parse(fs.readFileSync(VS, 'utf8'));
  const root = path.resolve(__dirname, '..');
  const cfg = loadConfig({
    ...process.env,
    LOOKOUT_HOME: path.join(root, '.lookout', 'bench-stack'),
    LOOKOUT_PORT_BASE: process.env.LOOKOUT_BENCH_PORT_BASE ?? '37200',
  });
  // The code measured: read at the start (a file edited while the bench runs does not change what it runs).
  let commit: string | null = null;
  try {
    commit =
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim() +
      (execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim()
        ? '+changes'
        : '');
  } catch {
    commit = null;
  }
  // The machine as result rows name it (runtime/machine.ts), with the older fields render.ts also reads.
  const machine = {
    ...machineInfo(),
    cpu: os.cpus()[0]?.model,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    onnxruntime: onnxruntimeVersion(),
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  log(
    `machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GiB, ${machine.platform}, Node ${machine.node}, onnxruntime-node ${machine.onnxruntime}; load average ${machine.loadavgAtStart.join(' ')}`,
  );
  const dir = path.join(cfg.home, 'samples');
  extractFrames(
    dir,
    Array.from({ length: 24 }, (_, i) => 30 + i * 30),
  );
  const files = listSampleFiles(dir);

  const bareRuns = [];
  if (!RASTER_ONLY) {
    log('(a) bare inference: nanodet, vtest.avi frames 768x576, preprocess + run + decode in one process');
    bareRuns.push(
      await bare(
        files.map((f) => f.file),
        1,
        1,
        quick ? 60 : 200,
      ),
      await bare(
        files.map((f) => f.file),
        1,
        4,
        quick ? 60 : 200,
      ),
      await bare(
        files.map((f) => f.file),
        8,
        8,
        quick ? 64 : 240,
      ),
    );
    for (const b of bareRuns)
      log(
        `    batch<=${b.batch} concurrency ${b.concurrency}: ${b.perSecond.toFixed(1)} img/s, p50 ${b.p50.toFixed(1)} ms, p99 ${b.p99.toFixed(1)} ms, mean batch ${b.meanBatch.toFixed(2)}`,
      );
  }
  const limit = bareRuns.length ? Math.max(...bareRuns.map((b) => b.perSecond)) : NaN;
  const rasterWorkloads = RASTER_ONLY || !(BULK_ONLY || VIDEO_ONLY || LATENCY_ONLY);
  const withRaster = RASTER_SIZE > 0 && rasterWorkloads;
  const withRasterBackfill = RASTER_BACKFILL > 0 && rasterWorkloads;
  if (withRaster || withRasterBackfill) log('(a) bare inference: MobileNetV2 on raster chips');
  // Bare MobileNetV2 on the chips of one raster: the same 128 px chips as every raster of the backfill.
  const rasterBare =
    withRaster || withRasterBackfill ? await bareRaster(withRaster ? RASTER_SIZE : RASTER_BACKFILL_SIZE) : undefined;

  log('(b) full pipeline on the embedded stack (bench profile, ports 37200+)');
  await down(cfg);
  fs.rmSync(path.join(cfg.home, 'data'), { recursive: true, force: true });
  await up(cfg, { apps: true, log: (l) => log(`    ${l}`) });
  const runs = [];
  try {
    if (CPU_PROF) {
      fs.mkdirSync(CPU_PROF, { recursive: true });
      for (const app of appsFor(cfg).filter((a) => a !== 'worker-cpu')) await restartWorker(cfg, [], app);
    }
    await pipelineRun(cfg, files, 'warmup', 20, 0);
    if (withRaster) {
      log(`(e) raster archive: one ${RASTER_SIZE} x ${RASTER_SIZE} GeoTIFF through the stack (analyzeRaster)`);
      await restartWorker(cfg, []);
      rasterRuns.push(await rasterRun(cfg, RASTER_SIZE));
      log(
        `    ratio raster chips/s to bare MobileNetV2: ${(rasterRuns[0].perSecond / rasterBare!.perSecond).toFixed(3)} (${rasterRuns[0].perSecond.toFixed(1)} vs ${rasterBare!.perSecond.toFixed(1)})`,
      );
    }
    if (withRasterBackfill) {
      log(
        `(e) raster archive: ${RASTER_BACKFILL} GeoTIFFs of ${RASTER_BACKFILL_SIZE} x ${RASTER_BACKFILL_SIZE} by lookout backfill (one analyzeRaster each)`,
      );
      await restartWorker(cfg, []);
      rasterBackfill = await rasterBackfillRun(cfg, RASTER_BACKFILL, RASTER_BACKFILL_SIZE);
      log(
        `    ratio raster backfill chips/s to bare MobileNetV2: ${(rasterBackfill.perSecond / rasterBare!.perSecond).toFixed(3)} (${rasterBackfill.perSecond.toFixed(1)} vs ${rasterBare!.perSecond.toFixed(1)})`,
      );
    }
    for (const [label, extra] of (BULK_ONLY || VIDEO_ONLY || RASTER_ONLY
      ? []
      : [
          ['batching-on', []],
          ...(LATENCY_ONLY ? [] : [['batching-off', ['--max-batch', '1']] as const]),
        ]) as ReadonlyArray<readonly [string, readonly string[]]>) {
      await restartWorker(cfg, [...extra]);
      const sat = await pipelineRun(cfg, files, `${label}-saturation`, OBJECTS, 0, `per-object ${label}`);
      log(
        `    ${label} saturation: ${sat.perSecond.toFixed(1)} obj/s, e2e p50 ${sat.e2eP50.toFixed(0)} ms p99 ${sat.e2eP99.toFixed(0)} ms, inference p50 ${sat.inferenceP50.toFixed(1)} ms, mean detect batch ${sat.meanDetectBatch.toFixed(2)}, history events per object ${sat.historyEvents ?? '–'}`,
      );
      const halfRate = HALF_RATE ?? sat.perSecond / 2;
      const half = await pipelineRun(cfg, files, `${label}-half`, Math.max(20, Math.round(OBJECTS / 2)), halfRate);
      log(
        `    ${label} half load (${halfRate.toFixed(1)}/s offered): e2e p50 ${half.e2eP50.toFixed(0)} ms p99 ${half.e2eP99.toFixed(0)} ms, upload->row p50 ${half.recordP50.toFixed(0)} ms p99 ${half.recordP99.toFixed(0)} ms, pipeline p50 ${half.pipelineP50.toFixed(0)} ms, inference p50 ${half.inferenceP50.toFixed(1)} ms`,
      );
      const was = previous?.pipeline?.find((r) => r.label === half.label)?.hops;
      log(`    ${label} half load, per hop (ms; upload -> row = toRecord)${was ? ', beside --vs' : ''}:`);
      for (const l of formatHops(half.hops, was)) log(`      ${l}`);
      runs.push(sat, half);
    }
    if (PINNED && !(BULK_ONLY || VIDEO_ONLY || RASTER_ONLY || LATENCY_ONLY)) {
      if (canPin()) {
        log('(b) the worker alone against its queue: worker on core 1, everything else on core 0 (taskset)');
        pinned = await pinnedRun(cfg, files, OBJECTS);
      } else log('(b) worker alone: skipped (needs taskset and at least two cores)');
    }
    if (!NO_VIDEO && !LATENCY_ONLY && !RASTER_ONLY) {
      log('(c) video at camera speed: vtest.avi frames 500-794 in segments');
      await restartWorker(cfg, []);
      const normal = cutVideo(VTEST, path.join(cfg.home, 'samples', 'bench-normal-0-199.avi'), 0, 200);
      const bucket = storageClient(cfg).bucket(cfg.gcs.bucket);
      await bucket.upload(normal, {
        destination: 'normal/bench/clip.avi',
        resumable: false,
        contentType: 'video/x-msvideo',
        metadata: { metadata: { 'lookout-derived': 'normal-footage' } },
      });
      const [md] = await bucket.file('normal/bench/clip.avi').getMetadata();
      const { client, connection } = await temporalClient(cfg);
      try {
        const f0 = Date.now();
        const fit = await runFit(
          client,
          cfg,
          'bench',
          [
            {
              bucket: cfg.gcs.bucket,
              name: 'normal/bench/clip.avi',
              generation: String(md.generation),
              size: Number(md.size),
              timeCreated: String(md.timeCreated),
            },
          ],
          { every: 1, k: 8, seed: 7, quantile: 0.97, parallelism: 1 },
        );
        log(`    fitted scene bench on 200 frames: ${fit.samples} objects, ${((Date.now() - f0) / 1000).toFixed(0)} s`);
      } finally {
        await connection.close();
      }
      videoRuns.push(await videoRun(cfg, 'objects', undefined), await videoRun(cfg, 'cctv-anomaly', 'bench'));
      for (const v of videoRuns)
        log(
          `    ratio video ${v.pipeline} frames/s to bare detection: ${(v.framesPerSecond / limit).toFixed(3)} (${v.framesPerSecond.toFixed(1)} vs ${limit.toFixed(1)})`,
        );
      log("(d) video latency and memory: serve p50/p99, stream capture-to-row p50/p99, a long video's worker RSS");
      if (STREAM_S > 0) videoExtra.stream = await streamBench(cfg, STREAM_S, 'cctv-anomaly', 'bench');
      if (SERVE_REQUESTS > 0) videoExtra.serve = await serveBench(cfg, SERVE_REQUESTS);
      if (LONG_MIN > 0) {
        await restartWorker(cfg, []);
        videoExtra.long = await longVideoBench(
          cfg,
          LONG_MIN,
          LONG_PIPELINE,
          LONG_PIPELINE === 'objects' ? undefined : 'bench',
        );
      }
    }
    // Bulk mode: the same frames from an unwatched archive bucket, analysed by `backfill --bulk` (one workflow
    // per 50 objects), at two archive sizes to see whether the per-object overhead stays flat.
    if (!VIDEO_ONLY && !LATENCY_ONLY && !RASTER_ONLY) await restartWorker(cfg, []);
    if (!VIDEO_ONLY && !LATENCY_ONLY && !RASTER_ONLY)
      for (const n of BULK_SIZES) bulkRuns.push(await bulkRun(cfg, files, n, limit));
  } finally {
    const memory: Record<string, number | null> = { bench: Math.round(process.resourceUsage().maxRSS / 1024) };
    for (const p of [
      'nats',
      'temporal',
      'gcs',
      'bigquery',
      'pubsub',
      'watcher',
      'subscriber',
      'dispatcher',
      'worker-cpu',
    ])
      memory[p] = procMemMb(readPid(cfg.home, p), 'VmHWM');
    log(
      `peak memory (MiB, VmHWM): ${Object.entries(memory)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    const sat = runs.find((r) => r.label === 'batching-on-saturation');
    const bestBulk = bulkRuns.length ? Math.max(...bulkRuns.map((b) => b.perSecond)) : null;
    // The headline per workload (pipeline objects/s, bare of the same model, ratio, CPU ledger): render.ts ResultsFile.
    const workloads: Record<string, Workload> = {};
    // CPU ratio: bare inference's CPU per object over the whole stack's (ledger): on a shared machine, where the
    // throughput ratio moves with other programs' load between the bare run and the pipeline run, this one does not.
    const bareDetCpu = bareRuns.find((b) => b.perSecond === limit)?.cpuMsPerObject;
    const wl = (
      name: string,
      unit: string,
      perSecond: number,
      bare: number,
      ledgerName: string,
      bareCpu: number | undefined,
    ) => {
      const l = ledgers[ledgerName] ?? null;
      workloads[name] = {
        unit,
        perSecond,
        bare,
        ratio: perSecond / bare,
        ledger: l,
        bareCpuMsPerObject: bareCpu ?? null,
        cpuRatio: bareCpu && l ? bareCpu / l.stackMsPerObject : null,
        // Derived, not measured: bare CPU per object over the worker processes' alone (servers elsewhere).
        workerCpuRatio: bareCpu && l?.workerMsPerObject ? bareCpu / l.workerMsPerObject : null,
      };
    };
    if (rasterRuns[0] && rasterBare)
      wl('raster', 'chip', rasterRuns[0].perSecond, rasterBare.perSecond, 'raster', rasterBare.cpuMsPerObject);
    if (rasterBackfill && rasterBare)
      wl(
        'raster backfill',
        'chip',
        rasterBackfill.perSecond,
        rasterBare.perSecond,
        'raster backfill',
        rasterBare.cpuMsPerObject,
      );
    if (sat) wl('per-object', 'image', sat.perSecond, limit, 'per-object batching-on', bareDetCpu);
    if (pinned)
      wl(
        'per-object, worker alone (1 core)',
        'image',
        pinned.sat.perSecond,
        pinned.bareLimit,
        'per-object, worker alone',
        pinned.bare.find((b) => b.perSecond === pinned!.bareLimit)?.cpuMsPerObject,
      );
    const off = runs.find((r) => r.label === 'batching-off-saturation');
    if (off) wl('per-object, batching off', 'image', off.perSecond, limit, 'per-object batching-off', bareDetCpu);
    const bulkBest = bulkRuns.length ? bulkRuns.reduce((a, b) => (b.perSecond > a.perSecond ? b : a)) : undefined;
    if (bulkBest) wl('bulk', 'image', bulkBest.perSecond, limit, `bulk ${bulkBest.objects}`, bareDetCpu);
    for (const v of videoRuns)
      wl(`video ${v.pipeline}`, 'frame', v.framesPerSecond, limit, `video ${v.pipeline}`, bareDetCpu);
    const half = runs.find((r) => r.label === 'batching-on-half');
    const num = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? null : x);
    const latency = {
      uploadToRowP50Ms: num(half?.recordP50),
      uploadToRowP99Ms: num(half?.recordP99),
      halfLoadRate: num(half?.offeredRate),
      serveP50Ms: num(videoExtra.serve?.p50Ms),
      serveP99Ms: num(videoExtra.serve?.p99Ms),
      streamP50Ms: num(videoExtra.stream?.p50Ms),
      streamP99Ms: num(videoExtra.stream?.p99Ms),
    };
    const date = new Date().toISOString().slice(0, 10);
    const result = {
      date,
      machine,
      commit,
      command: `npm run bench -- ${args.join(' ')}`.trim(),
      workloads,
      latency,
      ledgerTable: formatLedgers(ledgers),
      ledgers,
      bare: bareRuns,
      bareLimitPerSecond: limit,
      rasterBare: rasterBare ?? null,
      raster: rasterRuns,
      rasterBackfill: rasterBackfill ?? null,
      workerAlone: pinned ?? null,
      pipeline: runs,
      bulk: bulkRuns,
      video: videoRuns,
      videoExtra,
      ratioPipelineToBare: sat ? sat.perSecond / limit : null,
      ratioBulkToBare: bestBulk ? bestBulk / limit : null,
      peakMemoryMb: memory,
    };
    if (Object.keys(ledgers).length) {
      log('CPU ledger (ms per analysed object; bench/ledger.ts):');
      for (const l of formatLedgers(ledgers)) log(`    ${l}`);
    }
    for (const [k, w] of Object.entries(workloads))
      log(`ratio ${k}: ${w.ratio.toFixed(3)} (${w.perSecond.toFixed(1)} vs bare ${w.bare.toFixed(1)} ${w.unit}s/s)`);
    if (bestBulk)
      log(
        `ratio bulk/(a): ${(bestBulk / limit).toFixed(3)}  (bulk ${bestBulk.toFixed(1)} obj/s vs bare ${limit.toFixed(1)} img/s)`,
      );
    if (sat)
      log(
        `ratio (b)/(a): ${(sat.perSecond / limit).toFixed(3)}  (pipeline ${sat.perSecond.toFixed(1)} obj/s at saturation vs bare ${limit.toFixed(1)} img/s)`,
      );
    const out = path.join(root, '.lookout', 'bench-results.json');
    fs.writeFileSync(out, JSON.stringify(result, null, 2));
    // The results file: benchmarks/<date>-<machine>.json (or --out), with its Markdown beside it.
    const file = OUT ?? path.join(root, 'benchmarks', `${date}-${machineSlug(machine)}${quick ? '-quick' : ''}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(result, null, 2));
    const md = file.replace(/\.json$/, '') + '.md';
    fs.writeFileSync(md, renderMarkdown(result as BenchResult) + '\n');
    log(`results in ${path.relative(root, file)} and ${path.relative(root, md)}`);
    log(`results: ${out}`);
    if (previous) {
      log(`beside ${VS}:`);
      for (const c of compareResults(result, previous))
        log(
          `    ${c.label.padEnd(40)} ${c.before.toFixed(2).padStart(10)} -> ${c.now.toFixed(2).padStart(10)}  (${c.change >= 0 ? '+' : ''}${(100 * c.change).toFixed(0)}%, ${c.better ? 'better' : 'not better'})`,
        );
    }
    if (json) console.log(JSON.stringify(result));
    if (!keep) {
      await down(cfg);
      // The archive objects of the bulk runs (tens of GB at 100,000 objects) are of no use after the run.
      for (const f of ['lookout-bench-archive', 'lookout-bench-archive.bucketMetadata'])
        fs.rmSync(path.join(cfg.home, 'data', 'gcs', f), { recursive: true, force: true });
    }
  }
}

main().catch((err) => {
  console.error(`bench: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
