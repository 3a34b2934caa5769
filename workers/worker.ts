/**
 * A worker process of one pool (cpu or gpu). Models are loaded once per
 * process; each pipeline's stage queue `<pipeline>-<pool>` is served with the
 * activities, and the CPU pool also serves the workflow queue. SIGTERM/SIGINT
 * drain: no new tasks are taken, running ones finish, then connections close.
 */
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { bigqueryClient, storageClient } from '../io/clients';
import type { LookoutConfig, Pool } from '../config';
import type { Detector } from '../runtime/detector';
import { OnnxDetector } from '../runtime/detector';
import { defaultModelRepo, listLocalModels, loadLocalModel } from '../runtime/manifest';
import { OnnxEmbedder } from '../runtime/embedder';
import { SceneStore } from '../io/scenes';
import { syncModels } from '../runtime/remote';
import { gcsObjectStore } from '../io/objectstore';
import { PIPELINES, taskQueueFor } from '../core/pipelines';
import { RowBatcher, bigquerySink, journalSink, rowJournalDir } from '../io/results';

export interface WorkerOptions {
  pool: Pool;
  pipelines: string[];
  /** Activity tasks run at once per queue. */
  concurrency: number;
  /** Serve the workflow task queue too (default: the CPU pool does). */
  workflows: boolean;
  /** Model repository folder. */
  modelRepo?: string;
  /** Intra-op threads for onnxruntime. */
  threads?: number;
  /** Override dynamic batching (maxBatchSize 1 = off). */
  batch?: { maxBatchSize?: number; maxQueueDelayMs?: number };
  /** Decoded images kept between the stages of an object (LRU, bytes). */
  imageCacheBytes?: number;
  log?: (line: string) => void;
}

export async function loadDetectors(cfg: LookoutConfig, opts: Pick<WorkerOptions, 'pipelines' | 'pool' | 'modelRepo' | 'threads' | 'batch'>): Promise<Map<string, Detector>> {
  const repo = opts.modelRepo ?? defaultModelRepo(cfg.projectRoot);
  const byModel = new Map<string, Detector>();
  const byPipeline = new Map<string, Detector>();
  for (const p of opts.pipelines) {
    const def = PIPELINES[p];
    if (!def) throw new Error(`unknown pipeline "${p}" (known: ${Object.keys(PIPELINES).join(', ')})`);
    const modelName = def.models.detect;
    if (!modelName) continue;
    // One session per model and detection profile: pipelines that share both share the detector.
    const key = `${modelName}#${def.detection ?? ''}`;
    let det = byModel.get(key);
    if (!det) {
      det = await OnnxDetector.load(loadLocalModel(repo, modelName), { pool: opts.pool, threads: opts.threads, batch: opts.batch, detection: def.detection });
      byModel.set(key, det);
    }
    byPipeline.set(p, det);
  }
  return byPipeline;
}

/** Pipelines whose models are all in the repository (the default set a worker serves). */
export function servablePipelines(cfg: LookoutConfig, modelRepo?: string): { ok: string[]; missing: Array<{ pipeline: string; models: string[] }> } {
  const have = new Set(listLocalModels(modelRepo ?? defaultModelRepo(cfg.projectRoot)));
  const ok: string[] = [];
  const missing: Array<{ pipeline: string; models: string[] }> = [];
  for (const def of Object.values(PIPELINES)) {
    const need = [...Object.values(def.models), ...(def.encoders ? [def.encoders.appearance, def.encoders.motion] : [])].filter((m): m is string => !!m);
    const lack = need.filter((m) => !have.has(m));
    if (lack.length) missing.push({ pipeline: def.name, models: lack });
    else ok.push(def.name);
  }
  return { ok, missing };
}

export async function loadEncoders(cfg: LookoutConfig, opts: Pick<WorkerOptions, 'pipelines' | 'pool' | 'modelRepo' | 'threads'>): Promise<{ appearance: OnnxEmbedder; motion: OnnxEmbedder } | undefined> {
  const def = opts.pipelines.map((p) => PIPELINES[p]).find((d) => d?.encoders);
  if (!def?.encoders) return undefined;
  const repo = opts.modelRepo ?? defaultModelRepo(cfg.projectRoot);
  return {
    appearance: await OnnxEmbedder.load(loadLocalModel(repo, def.encoders.appearance), { pool: opts.pool, threads: opts.threads }),
    motion: await OnnxEmbedder.load(loadLocalModel(repo, def.encoders.motion), { pool: opts.pool, threads: opts.threads }),
  };
}

/** Model names the given pipelines need. */
export function modelsFor(pipelines: string[]): string[] {
  const names = new Set<string>();
  for (const p of pipelines) {
    const def = PIPELINES[p];
    if (!def) throw new Error(`unknown pipeline "${p}" (known: ${Object.keys(PIPELINES).join(', ')})`);
    for (const m of Object.values(def.models)) if (m) names.add(m);
    if (def.encoders) [def.encoders.appearance, def.encoders.motion].forEach((m) => names.add(m));
  }
  return [...names];
}

export async function runWorker(cfg: LookoutConfig, opts: WorkerOptions, onReady?: () => void): Promise<void> {
  const log = opts.log ?? ((l: string) => console.log(l));
  Runtime.install({ shutdownSignals: [] }); // we handle signals ourselves, to drain in order
  if (opts.modelRepo?.startsWith('gs://')) {
    const cache = path.join(cfg.projectRoot, '.lookout', 'model-cache');
    log(`models: copying ${modelsFor(opts.pipelines).join(', ')} from ${opts.modelRepo} to ${cache}`);
    opts = { ...opts, modelRepo: await syncModels(storageClient(cfg), opts.modelRepo, modelsFor(opts.pipelines), cache) };
  }
  const detectors = await loadDetectors(cfg, opts);
  const encoders = await loadEncoders(cfg, opts);
  const loadedNames = [...new Set([...detectors.values()].map((d) => `${d.name} v${d.version} (${d.executionProvider})`))];
  if (encoders) loadedNames.push(...[encoders.appearance, encoders.motion].map((e) => `${e.name} v${e.version} (${e.executionProvider})`));
  log(`models loaded: ${loadedNames.join(', ') || 'none'}`);
  const storage = storageClient(cfg);
  const connection = await NativeConnection.connect({ address: cfg.temporal.url });
  const sink = bigquerySink(bigqueryClient(cfg), cfg);
  // Embedded BigQuery keeps rows in memory only: journal them so `lookout up` can load them back.
  const rows = new RowBatcher(cfg.bigquery.embedded ? journalSink(sink, rowJournalDir(cfg)) : sink);
  const activities = createActivities({
    store: gcsObjectStore(storage),
    objectCentric: encoders ? { encoders, scenes: new SceneStore(storage, cfg.gcs.resultsBucket), resultsBucket: cfg.gcs.resultsBucket } : undefined,
    detector: (p) => {
      const d = detectors.get(p);
      if (!d) throw new Error(`this worker has no detector for pipeline "${p}" (serving: ${[...detectors.keys()].join(', ')})`);
      return d;
    },
    rows,
    table: `${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}`,
    pool: opts.pool,
    limits: cfg.limits,
    imageCacheBytes: opts.imageCacheBytes,
  });
  const workers: Worker[] = [];
  try {
    for (const p of opts.pipelines) {
      workers.push(
        await Worker.create({
          connection,
          namespace: cfg.temporal.namespace,
          taskQueue: taskQueueFor(p, opts.pool),
          activities,
          maxConcurrentActivityTaskExecutions: opts.concurrency,
          identity: `${opts.pool}@${os.hostname()}/${process.pid}`,
          shutdownGraceTime: '30s',
        }),
      );
    }
    if (opts.workflows) {
      workers.push(
        await Worker.create({
          connection,
          namespace: cfg.temporal.namespace,
          taskQueue: cfg.temporal.workflowQueue,
          workflowsPath: require.resolve('../workflows'),
          maxConcurrentWorkflowTaskExecutions: 64,
          identity: `workflows@${os.hostname()}/${process.pid}`,
        }),
      );
    }
    const stop = () => {
      log('draining: finishing running tasks, taking no new ones');
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    log(`worker pool=${opts.pool} queues=${workers.map((w) => w.options.taskQueue).join(', ')} concurrency=${opts.concurrency}`);
    const running = Promise.all(workers.map((w) => w.run()));
    onReady?.();
    await running;
  } finally {
    await rows.flush();
    for (const d of new Set(detectors.values())) await d.close();
    if (encoders) for (const e of [encoders.appearance, encoders.motion]) await e.close();
    await connection.close();
    log('worker stopped');
  }
}
