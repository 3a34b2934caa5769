/**
 * A worker process of one pool (cpu or gpu): wiring only. It loads the methods of the pipelines it
 * serves (models once per process), serves each pipeline's stage queue `<pipeline>-<pool>` with the
 * activities, and on the CPU pool also the workflow queue. SIGTERM/SIGINT drain: no new tasks are
 * taken, running ones finish, then connections close.
 */
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { heartbeat } from '../activities/stage';
import type { LookoutConfig, Pool } from '../config';
import { PIPELINES, taskQueueFor } from '../core/pipelines';
import { bigqueryClient, storageClient } from '../io/clients';
import { createImageLoader } from '../io/images';
import { gcsObjectStore } from '../io/objectstore';
import { RowBatcher, bigquerySink, journalSink, rowJournalDir } from '../io/results';
import { SceneStore } from '../io/scenes';
import { VideoFiles } from '../io/video-files';
import type { MethodRuntime } from '../methods/method';
import { methodOfPipeline, modelsForPipelines } from '../methods/registry';
import { CachingModelLoader } from '../runtime/loader';
import { defaultModelRepo, listLocalModels } from '../runtime/manifest';
import { syncModels } from '../runtime/remote';

export interface WorkerOptions {
  pool: Pool;
  pipelines: string[];
  /** Activity tasks run at once per queue. */
  concurrency: number;
  /** Serve the workflow task queue too (default: the CPU pool does). */
  workflows: boolean;
  /** Model repository folder or gs:// prefix. */
  modelRepo?: string;
  /** Intra-op threads for onnxruntime. */
  threads?: number;
  /** Override dynamic batching (maxBatchSize 1 = off). */
  batch?: { maxBatchSize?: number; maxQueueDelayMs?: number };
  /** Decoded images kept between stages of an object (LRU, bytes). */
  imageCacheBytes?: number;
  log?: (line: string) => void;
}

/** Pipelines whose models are all in the repository (the default set a worker serves). */
export function servablePipelines(cfg: LookoutConfig, modelRepo?: string): { ok: string[]; missing: Array<{ pipeline: string; models: string[] }> } {
  const have = new Set(listLocalModels(modelRepo ?? defaultModelRepo(cfg.projectRoot)));
  const ok: string[] = [];
  const missing: Array<{ pipeline: string; models: string[] }> = [];
  for (const p of PIPELINES.keys()) {
    const lack = modelsForPipelines([p]).filter((m) => !have.has(m));
    if (lack.length) missing.push({ pipeline: p, models: lack });
    else ok.push(p);
  }
  return { ok, missing };
}

export async function runWorker(cfg: LookoutConfig, opts: WorkerOptions, onReady?: () => void): Promise<void> {
  const log = opts.log ?? ((l: string) => console.log(l));
  Runtime.install({ shutdownSignals: [] }); // we handle signals ourselves, to drain in order
  const storage = storageClient(cfg);
  let repo = opts.modelRepo ?? defaultModelRepo(cfg.projectRoot);
  if (repo.startsWith('gs://')) {
    const cache = path.join(cfg.projectRoot, '.lookout', 'model-cache');
    log(`models: copying ${modelsForPipelines(opts.pipelines).join(', ')} from ${repo} to ${cache}`);
    repo = await syncModels(storage, repo, modelsForPipelines(opts.pipelines), cache);
  }
  const models = new CachingModelLoader({ repo, pool: opts.pool, threads: opts.threads, batch: opts.batch });
  const store = gcsObjectStore(storage);
  const loadImage = createImageLoader({ store, limits: cfg.limits, cacheBytes: opts.imageCacheBytes ?? cfg.worker.imageCacheMb * 2 ** 20, onDownloaded: () => heartbeat('downloaded') });
  const methods = new Map<string, MethodRuntime>();
  for (const p of opts.pipelines) {
    const def = methodOfPipeline(p);
    if (methods.has(def.name)) continue;
    methods.set(
      def.name,
      await def.load({
        models,
        store,
        sceneStore: (format) => new SceneStore(storage, cfg.gcs.resultsBucket, format),
        resultsBucket: cfg.gcs.resultsBucket,
        maxObjectBytes: cfg.limits.maxObjectBytes,
        loadImage,
        heartbeat,
      }),
    );
  }
  const loaded = [...new Set([...methods.values()].flatMap((m) => m.loadedModels()))];
  log(`models loaded: ${loaded.join(', ') || 'none'}`);
  const connection = await NativeConnection.connect({ address: cfg.temporal.url });
  const sink = bigquerySink(bigqueryClient(cfg, { autoRetry: false }), cfg);
  // Embedded BigQuery keeps rows in memory only: journal them so `lookout up` can load them back.
  const rows = new RowBatcher(cfg.bigquery.embedded ? journalSink(sink, rowJournalDir(cfg)) : sink);
  const videos = new VideoFiles(store, { maxObjectBytes: cfg.limits.maxObjectBytes, cacheBytes: cfg.video.cacheMb * 2 ** 20 });
  const definitions = new Map(opts.pipelines.map((p) => methodOfPipeline(p)).map((d) => [d.name, d]));
  const activities = createActivities({ methods, definitions, videos, rows, table: `${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}`, pool: opts.pool });
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
    await models.close();
    videos.close();
    await connection.close();
    log('worker stopped');
  }
}
