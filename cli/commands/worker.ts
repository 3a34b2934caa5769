/** `lookout worker` */
import type { Command } from '../command';
import { markReady } from '../command';
import type { Pool } from '../../config';

export const workerCommand: Command = {
  spec: {
    name: 'worker',
    summary: 'run a worker of the cpu or gpu pool (models loaded once; SIGTERM drains)',
    usage: 'worker --pool cpu|gpu [--pipelines objects] [--concurrency N]',
    options: {
      pool: {
        type: 'string',
        default: 'cpu',
        arg: 'cpu|gpu',
        help: 'pool to serve: queue <pipeline>-<pool>; gpu uses the CUDA execution provider',
      },
      pipelines: { type: 'string', arg: 'LIST', help: 'comma-separated pipelines to serve (default: all known)' },
      concurrency: { type: 'number', default: 8, help: 'activity tasks at once per queue' },
      workflows: { type: 'boolean', help: 'also serve the workflow queue (default: yes for cpu, no for gpu)' },
      threads: { type: 'number', help: 'onnxruntime intra-op threads (default: all cores)' },
      'max-batch': { type: 'number', help: 'override dynamic batching max batch size (1 = off)' },
      'max-delay-ms': { type: 'number', help: 'override dynamic batching max queue delay' },
      'model-repo': {
        type: 'string',
        arg: 'DIR|gs://…',
        help: 'model repository: a folder, or a bucket prefix copied to .lookout/model-cache (default $LOOKOUT_MODEL_REPO or models/)',
      },
      'image-cache-mb': {
        type: 'number',
        arg: 'MB',
        help: "decoded images kept between stages (LRU, default $LOOKOUT_IMAGE_CACHE_MB or 256): the extract stage reuses the detect stage's decode instead of downloading and decoding again; raise it when many batches are in flight",
      },
    },
  },
  run: async (cfg, { opts }) => {
    const pool = opts.pool as Pool;
    const cacheMb = Number(opts['image-cache-mb'] ?? cfg.worker.imageCacheMb);
    if (!(Number.isFinite(cacheMb) && cacheMb >= 0))
      throw new Error(`--image-cache-mb takes a number of MB (0 = off), got ${JSON.stringify(opts['image-cache-mb'])}`);
    if (pool !== 'cpu' && pool !== 'gpu')
      throw new Error(`--pool must be cpu or gpu, got ${JSON.stringify(opts.pool)}`);
    const { runWorker, servablePipelines } = require('../../workers/worker') as typeof import('../../workers/worker');
    const { observe } = require('../observability') as typeof import('../observability');
    const { PORT_OFFSETS } = require('../../config') as typeof import('../../config');
    // The worker serves its own /metrics (runWorker): it also proxies the Temporal SDK's exporter.
    const obs = await observe(cfg, `worker-${pool}`, undefined);
    const modelRepo = (opts['model-repo'] as string | undefined) ?? cfg.worker.modelRepo;
    let pipelines: string[];
    if (opts.pipelines)
      pipelines = String(opts.pipelines)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (modelRepo?.startsWith('gs://')) pipelines = ['objects'];
    else {
      const s = servablePipelines(cfg, modelRepo);
      for (const m of s.missing)
        obs.logger.warn(
          { pipeline: m.pipeline, models: m.models },
          `worker: not serving pipeline ${m.pipeline}: models missing from models/: ${m.models.join(', ')}`,
        );
      pipelines = s.ok;
    }
    const batch = {
      ...(opts['max-batch'] !== undefined ? { maxBatchSize: Number(opts['max-batch']) } : {}),
      ...(opts['max-delay-ms'] !== undefined ? { maxQueueDelayMs: Number(opts['max-delay-ms']) } : {}),
    };
    const metricsPort = cfg.observability.metricsPorts[pool === 'gpu' ? 'workerGpu' : 'worker'];
    const sdkPort =
      cfg.portBase +
      (pool === 'gpu' ? PORT_OFFSETS.temporalSdkMetricsWorkerGpu : PORT_OFFSETS.temporalSdkMetricsWorker);
    try {
      await runWorker(
        cfg,
        {
          pool,
          pipelines,
          modelRepo,
          concurrency: Number(opts.concurrency),
          workflows: (opts.workflows as boolean | undefined) ?? pool === 'cpu',
          threads: opts.threads as number | undefined,
          batch,
          imageCacheBytes: Math.round(cacheMb * 2 ** 20),
          metricsPort: metricsPort > 0 ? metricsPort : undefined,
          sdkMetricsAddress: metricsPort > 0 ? `127.0.0.1:${sdkPort}` : undefined,
        },
        () => markReady(cfg),
      );
    } finally {
      await obs.close();
    }
  },
};
