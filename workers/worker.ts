/**
 * A worker process of one pool (cpu or gpu): wiring only. It loads the methods of the pipelines it
 * serves (models once per process), serves each pipeline's stage queue `<pipeline>-<pool>` with the
 * activities, and on the CPU pool also the workflow queue. SIGTERM/SIGINT drain: no new tasks are
 * taken, running ones finish, then connections close.
 */
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import {
  NativeConnection,
  Runtime,
  Worker,
  type ActivityInboundCallsInterceptor,
  type WorkerInterceptors,
  type WorkerOptions as TemporalWorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities';
import { heartbeat } from '../activities/stage';
import type { LookoutConfig, Pool } from '../config';
import { PIPELINES, taskQueueFor } from '../core/pipelines';
import { bigqueryClient, ConnectError, storageClient, temporalConnectOptions } from '../io/clients';
import { bigqueryAcquisitions } from '../io/acquisitions';
import { bigqueryAlertLedger } from '../io/alert-ledger';
import { createImageLoader } from '../io/images';
import { gcsObjectStore } from '../io/objectstore';
import { RowBatcher, bigquerySink, journalSink, rowJournalDir } from '../io/results';
import { SceneStore } from '../io/scenes';
import { VideoFiles } from '../io/video-files';
import type { MethodRuntime } from '../methods/method';
import { methodOfPipeline, modelsForPipelines } from '../methods/registry';
import { cctvAttributesMethod, POSE_MODEL } from '../methods/cctv-attributes/method';
import { CachingModelLoader } from '../runtime/loader';
import { defaultModelRepo, listLocalModels } from '../runtime/manifest';
import { syncPipelineModels } from '../runtime/remote';
import { PixelBudget } from '../media/pixel-budget';
import { log as rootLog, objectKeyOfWorkflowId, temporalLogger, withLogFields } from '../io/log';
import {
  collectProcessMetrics,
  serveMetricsIfFree,
  watchPixelBudget,
  watchWorkerSteps,
  type MetricsServer,
} from '../io/metrics';
import { workflowSpanExport } from '../io/tracing';

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
  /** Port of this worker's /metrics (0: any free port; undefined: no metrics server). */
  metricsPort?: number;
  /** Where the Temporal SDK's own Prometheus exporter listens (host:port; proxied into /metrics). Undefined: not installed. */
  sdkMetricsAddress?: string;
  /** Aborting drains the worker like SIGTERM (tests run a worker in-process). */
  signal?: AbortSignal;
  /** Called with the metrics server once it listens. */
  onMetrics?: (server: MetricsServer) => void;
}

/**
 * Log fields of an activity: its workflow id and the object key (from a per-object workflow id, or the
 * object the first argument names), on every line the activity and the code below it write.
 */
function logFieldsInterceptor(): ActivityInboundCallsInterceptor {
  return {
    async execute(input, next) {
      const workflowId = Context.current().info.workflowExecution?.workflowId;
      const arg = input.args[0] as
        | {
            object?: { bucket?: string; name?: string; generation?: string };
            input?: { object?: { bucket?: string; name?: string; generation?: string } };
          }
        | undefined;
      const o = arg?.object ?? arg?.input?.object;
      const objectKey =
        (workflowId && objectKeyOfWorkflowId(workflowId)) ||
        (o?.bucket && o.name ? `${o.bucket}/${o.name}#${o.generation}` : undefined);
      return withLogFields({ workflowId, objectKey }, () => next(input));
    },
  };
}

/** Tracing and log-field interceptors of every Lookout worker (docs/operations.md "Observability"). */
export function workerInterceptors(): WorkerInterceptors {
  return {
    workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
    activity: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
      () => ({ inbound: logFieldsInterceptor() }),
    ],
  };
}

/** Pipelines whose models are all in the repository (the default set a worker serves). */
export function servablePipelines(
  cfg: LookoutConfig,
  modelRepo?: string,
): { ok: string[]; missing: Array<{ pipeline: string; models: string[] }> } {
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
  const log = opts.log ?? ((l: string) => rootLog().info(l));
  let metricsServer: MetricsServer | undefined;
  if (opts.metricsPort !== undefined) {
    collectProcessMetrics();
    watchPixelBudget(PixelBudget.shared(cfg.limits.decodePixelBudget));
    watchWorkerSteps();
    metricsServer = await serveMetricsIfFree(
      {
        host: cfg.observability.metricsHost,
        port: opts.metricsPort,
        proxied: opts.sdkMetricsAddress ? [`http://${opts.sdkMetricsAddress}/metrics`] : [],
      },
      (m) => rootLog().warn(m),
    );
    if (metricsServer) {
      log(`metrics: http://${cfg.observability.metricsHost}:${metricsServer.port}/metrics`);
      opts.onMetrics?.(metricsServer);
    }
  }
  // The SDK's exporter only beside our own /metrics: a second worker of the pool on this machine would find its port taken too.
  const sdkMetrics = metricsServer && opts.sdkMetricsAddress;
  Runtime.install({
    shutdownSignals: [], // we handle signals ourselves, to drain in order
    // Workflow and activity `log` calls and the SDK's own messages, as pino lines with the workflow's ids.
    logger: temporalLogger(rootLog(), cfg.observability.logLevel),
    ...(sdkMetrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetrics } } } } : {}),
  });
  const storage = storageClient(cfg);
  let repo = opts.modelRepo ?? defaultModelRepo(cfg.projectRoot);
  if (repo.startsWith('gs://')) {
    const cache = path.join(cfg.projectRoot, '.lookout', 'model-cache');
    // The pipelines' own models, and the chip classifiers a user published for them (plugged in by manifest alone).
    // With the optional pose step on, the CCTV attribute method's pose model too.
    const wanted = modelsForPipelines(opts.pipelines);
    if (cfg.cctv.pose && opts.pipelines.some((p) => methodOfPipeline(p).name === cctvAttributesMethod.name))
      wanted.push(POSE_MODEL);
    const synced = await syncPipelineModels(storage, repo, opts.pipelines, wanted, cache);
    log(`models: copied ${synced.names.join(', ')} from ${repo} to ${cache}`);
    repo = synced.dir;
  }
  const models = new CachingModelLoader({ repo, pool: opts.pool, threads: opts.threads, batch: opts.batch });
  const store = gcsObjectStore(storage);
  const loadImage = createImageLoader({
    store,
    limits: cfg.limits,
    cacheBytes: opts.imageCacheBytes ?? cfg.worker.imageCacheMb * 2 ** 20,
    onDownloaded: () => heartbeat('downloaded'),
  });
  const methods = new Map<string, MethodRuntime>();
  // Raster pairing by place and time reads the archive's acquisitions back from the results table.
  const acquisitions = cfg.raster.pairing ? bigqueryAcquisitions(bigqueryClient(cfg), cfg) : undefined;
  // Learning normal as footage flows: a refit asks the results table for each video's alerts and verdicts.
  const alerts = bigqueryAlertLedger(bigqueryClient(cfg), cfg);
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
        ...(acquisitions ? { acquisitions } : {}),
        alerts,
        keepObservations: cfg.refit.keepObservations,
        pose: cfg.cctv.pose,
      }),
    );
  }
  const loaded = [...new Set([...methods.values()].flatMap((m) => m.loadedModels()))];
  log(`models loaded: ${loaded.join(', ') || 'none'}`);
  const connection = await NativeConnection.connect(temporalConnectOptions(cfg)).catch((err: unknown) => {
    throw new ConnectError('temporal', cfg.temporal.url, err);
  });
  const sink = bigquerySink(bigqueryClient(cfg, { autoRetry: false }), cfg);
  // Embedded BigQuery keeps rows in memory only: journal them so `lookout up` can load them back.
  const rows = new RowBatcher(cfg.bigquery.embedded ? journalSink(sink, rowJournalDir(cfg)) : sink);
  const videos = new VideoFiles(store, { maxObjectBytes: cfg.video.maxBytes, cacheBytes: cfg.video.cacheMb * 2 ** 20 });
  const definitions = new Map(opts.pipelines.map((p) => methodOfPipeline(p)).map((d) => [d.name, d]));
  const activities = createActivities({
    methods,
    definitions,
    videos,
    rows,
    table: `${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}`,
    pool: opts.pool,
    maxVideoPixels: cfg.video.maxFramePixels,
  });
  const workers: Worker[] = [];
  const versioning = workerDeploymentOptions(cfg);
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
          ...versioning,
          interceptors: workerInterceptors(),
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
          // For local activities (the row's record step): they run here, in the workflow's own worker.
          activities,
          maxConcurrentWorkflowTaskExecutions: 64,
          identity: `workflows@${os.hostname()}/${process.pid}`,
          ...versioning,
          interceptors: workerInterceptors(),
          // Workflow spans are made in the sandbox and exported by the worker through this sink.
          sinks: { exporter: makeWorkflowExporter(workflowSpanExport().processor, workflowSpanExport().resource) },
        }),
      );
    }
    const stop = () => {
      log('draining: finishing running tasks, taking no new ones');
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    opts.signal?.addEventListener('abort', stop, { once: true });
    log(
      `worker pool=${opts.pool} queues=${workers.map((w) => w.options.taskQueue).join(', ')} concurrency=${opts.concurrency}`,
    );
    const running = Promise.all(workers.map((w) => w.run()));
    onReady?.();
    await running;
  } finally {
    await rows.flush();
    await models.close();
    videos.close();
    await connection.close();
    await metricsServer?.close();
    log('worker stopped');
  }
}

/**
 * Worker versioning (Temporal Worker Deployments). With LOOKOUT_WORKER_DEPLOYMENT and LOOKOUT_WORKER_BUILD_ID
 * set, every worker of this process polls as that deployment version. Workflows are PINNED: a workflow runs to
 * its end on the build that started it, so a new release whose workflow code differs cannot break the
 * histories already running (no patching needed); the old release drains and is retired once its workflows are
 * done. New workflows go to the version set current (`temporal worker deployment set-current-version`).
 */
export function workerDeploymentOptions(cfg: LookoutConfig): Pick<TemporalWorkerOptions, 'workerDeploymentOptions'> {
  const d = cfg.temporal.deployment;
  if (!d) return {};
  return {
    workerDeploymentOptions: {
      version: { deploymentName: d.name, buildId: d.buildId },
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'PINNED',
    },
  };
}
