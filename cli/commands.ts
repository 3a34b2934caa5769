/** The commands of `lookout`. */
import { command, markReady } from './main';
import { envLines, type Pool } from '../config';
import { Progress } from './args';

command(
  {
    name: 'up',
    summary: 'start the embedded stack (NATS, Temporal, GCS and BigQuery emulators) and Lookout\'s watcher, dispatcher and CPU worker',
    usage: 'up [--no-apps]',
    description: `Starts, on loopback, every server whose endpoint is not configured, waits until each is ready,
creates bucket, dataset/table/view, streams and KV, then starts the long-running Lookout processes.
Already-running parts are reused. State lives in $LOOKOUT_HOME (default .lookout/stack). Stop with \`lookout down\`.`,
    options: { apps: { type: 'boolean', default: true, help: 'also start watcher, dispatcher and a CPU worker (--no-apps: servers only)' } },
  },
  async (cfg, { opts }) => {
    const { up } = require('../infra/stack') as typeof import('../infra/stack');
    await up(cfg, { apps: opts.apps as boolean, log: (l) => console.log(`  ${l}`) });
    console.log(`lookout is up. Endpoints: \`lookout env\`; health: \`lookout status\`; stop: \`lookout down\`.`);
  },
);

command(
  { name: 'down', summary: 'stop everything `lookout up` started (state is kept)', usage: 'down', options: {} },
  async (cfg) => {
    const { down } = require('../infra/stack') as typeof import('../infra/stack');
    await down(cfg, (l) => console.log(`  ${l}`));
    console.log('lookout is down.');
  },
);

command(
  { name: 'status', summary: 'show each server and process with its health', usage: 'status [--json]', options: { json: { type: 'boolean', help: 'print JSON' } } },
  async (cfg, { opts }) => {
    const { status } = require('../infra/stack') as typeof import('../infra/stack');
    const lines = await status(cfg);
    if (opts.json) console.log(JSON.stringify(lines, null, 2));
    else {
      for (const l of lines) {
        console.log(`${l.name.padEnd(12)} ${l.state.padEnd(9)} ${l.pid ? `pid ${String(l.pid).padEnd(8)}` : ''.padEnd(12)} ${l.endpoint ?? ''}`);
        if (l.detail) console.log(l.detail.replace(/^/gm, '    '));
      }
    }
    return lines.every((l) => l.state === 'running' || l.state === 'external') ? 0 : 3;
  },
);

command(
  {
    name: 'env',
    summary: "print every endpoint and name a client needs, as export KEY='VALUE' lines (shell-quoted)",
    usage: 'env',
    description: `Point any standard client at the running system, e.g.:
  eval "$(lookout env)"   # exports them all; then client libraries, curl, python, node
Variables Lookout reads (unset = embedded stack): LOOKOUT_GCS_ENDPOINT, LOOKOUT_BIGQUERY_ENDPOINT, LOOKOUT_NATS_URL,
LOOKOUT_TEMPORAL_ADDRESS, LOOKOUT_GCP_PROJECT, LOOKOUT_BUCKET, LOOKOUT_RESULTS_BUCKET, LOOKOUT_BIGQUERY_DATASET,
LOOKOUT_BIGQUERY_TABLE, LOOKOUT_NATS_STREAM, LOOKOUT_TEMPORAL_NAMESPACE, LOOKOUT_WORKFLOW_QUEUE, LOOKOUT_PIPELINE,
LOOKOUT_GPU_STAGES, LOOKOUT_GPU_FALLBACK_MS, LOOKOUT_PORT_BASE, LOOKOUT_HOME, LOOKOUT_TOOLS_DIR, LOOKOUT_MAX_OBJECT_BYTES,
LOOKOUT_MAX_PIXELS, LOOKOUT_PUSH_AUDIENCE, LOOKOUT_PUSH_TOKEN.`,
    options: {},
  },
  async (cfg) => {
    for (const l of envLines(cfg)) console.log(l);
  },
);

command(
  {
    name: 'worker',
    summary: 'run a worker of the cpu or gpu pool (models loaded once; SIGTERM drains)',
    usage: 'worker --pool cpu|gpu [--pipelines objects] [--concurrency N]',
    options: {
      pool: { type: 'string', default: 'cpu', arg: 'cpu|gpu', help: 'pool to serve: queue <pipeline>-<pool>; gpu uses the CUDA execution provider' },
      pipelines: { type: 'string', arg: 'LIST', help: 'comma-separated pipelines to serve (default: all known)' },
      concurrency: { type: 'number', default: 8, help: 'activity tasks at once per queue' },
      workflows: { type: 'boolean', help: 'also serve the workflow queue (default: yes for cpu, no for gpu)' },
      threads: { type: 'number', help: 'onnxruntime intra-op threads (default: all cores)' },
      'max-batch': { type: 'number', help: 'override dynamic batching max batch size (1 = off)' },
      'max-delay-ms': { type: 'number', help: 'override dynamic batching max queue delay' },
      'model-repo': { type: 'string', arg: 'DIR|gs://…', help: 'model repository: a folder, or a bucket prefix copied to .lookout/model-cache (default $LOOKOUT_MODEL_REPO or models/)' },
      'image-cache-mb': { type: 'number', arg: 'MB', help: 'decoded images kept between stages (LRU, default $LOOKOUT_IMAGE_CACHE_MB or 256): the extract stage reuses the detect stage\'s decode instead of downloading and decoding again; raise it when many batches are in flight' },
    },
  },
  async (cfg, { opts }) => {
    const pool = opts.pool as Pool;
    const cacheMb = Number(opts['image-cache-mb'] ?? process.env.LOOKOUT_IMAGE_CACHE_MB ?? 256);
    if (!(Number.isFinite(cacheMb) && cacheMb >= 0)) throw new Error(`--image-cache-mb takes a number of MB (0 = off), got ${JSON.stringify(opts['image-cache-mb'] ?? process.env.LOOKOUT_IMAGE_CACHE_MB)}`);
    if (pool !== 'cpu' && pool !== 'gpu') throw new Error(`--pool must be cpu or gpu, got ${JSON.stringify(opts.pool)}`);
    const { runWorker, servablePipelines } = require('../workers/worker') as typeof import('../workers/worker');
    const modelRepo = (opts['model-repo'] as string | undefined) ?? process.env.LOOKOUT_MODEL_REPO;
    let pipelines: string[];
    if (opts.pipelines) pipelines = String(opts.pipelines).split(',').map((s) => s.trim()).filter(Boolean);
    else if (modelRepo?.startsWith('gs://')) pipelines = ['objects'];
    else {
      const s = servablePipelines(cfg, modelRepo);
      for (const m of s.missing) console.error(`worker: not serving pipeline ${m.pipeline}: models missing from models/: ${m.models.join(', ')}`);
      pipelines = s.ok;
    }
    const batch = { ...(opts['max-batch'] !== undefined ? { maxBatchSize: Number(opts['max-batch']) } : {}), ...(opts['max-delay-ms'] !== undefined ? { maxQueueDelayMs: Number(opts['max-delay-ms']) } : {}) };
    await runWorker(
      cfg,
      { pool, pipelines, modelRepo, concurrency: Number(opts.concurrency), workflows: (opts.workflows as boolean | undefined) ?? pool === 'cpu', threads: opts.threads as number | undefined, batch, imageCacheBytes: Math.round(cacheMb * 2 ** 20) },
      markReady,
    );
  },
);

command(
  {
    name: 'dispatch',
    summary: 'run the dispatcher: JetStream object events -> Temporal workflow starts',
    usage: 'dispatch [--concurrency N] [--max-deliver N]',
    options: {
      concurrency: { type: 'number', default: 32, help: 'workflow starts in flight (also the consumer\'s max_ack_pending)' },
      'max-deliver': { type: 'number', default: 5, help: 'deliveries before a message is dead-lettered' },
    },
  },
  async (cfg, { opts }) => {
    const { natsConnect, temporalClient } = require('../io/clients') as typeof import('../io/clients');
    const { Dispatcher, DISPATCHER_DEFAULTS } = require('../dispatch/dispatcher') as typeof import('../dispatch/dispatcher');
    const { pipelineOptionsFromEnv } = require('../core/pipelines') as typeof import('../core/pipelines');
    const { ensureStreams } = require('../io/streams') as typeof import('../io/streams');
    const nc = await natsConnect(cfg, 'lookout-dispatcher');
    const { client, connection } = await temporalClient(cfg);
    try {
      await ensureStreams(nc, cfg);
      const d = new Dispatcher(nc, client, cfg, {
        ...DISPATCHER_DEFAULTS,
        concurrency: Number(opts.concurrency),
        maxDeliver: Number(opts['max-deliver']),
        pipelineOptions: pipelineOptionsFromEnv(),
        onSettled: (o) => {
          if (o.kind === 'invalid' || o.kind === 'dead') console.error(`dispatcher: dead-lettered: ${'reason' in o ? o.reason : o.error}`);
          else if (o.kind === 'retry') console.error(`dispatcher: will retry (delivery ${o.delivery}): ${o.error}`);
        },
      });
      const stop = () => {
        console.log('dispatcher: draining');
        void d.stop();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      const running = d.run();
      console.log(`dispatcher: consuming ${cfg.nats.stream} -> Temporal ${cfg.temporal.url} (${cfg.temporal.namespace})`);
      markReady();
      await running;
      console.log(`dispatcher: stopped ${JSON.stringify(d.counts)}`);
    } finally {
      await nc.drain().catch(() => {});
      await connection.close();
    }
  },
);

command(
  {
    name: 'watch',
    summary: 'watch a bucket that cannot push notifications and publish an event per new object version',
    usage: 'watch [--bucket NAME] [--interval-ms N]',
    options: {
      bucket: { type: 'string', arg: 'NAME', help: 'bucket to watch (default: $LOOKOUT_BUCKET)' },
      'interval-ms': { type: 'number', default: 500, help: 'poll interval' },
    },
  },
  async (cfg, { opts }) => {
    const { natsConnect, storageClient } = require('../io/clients') as typeof import('../io/clients');
    const { BucketWatcher, WATCHER_DEFAULTS } = require('../ingest/watcher') as typeof import('../ingest/watcher');
    const { ensureStreams } = require('../io/streams') as typeof import('../io/streams');
    const bucket = (opts.bucket as string | undefined) ?? cfg.gcs.bucket;
    const nc = await natsConnect(cfg, 'lookout-watcher');
    try {
      await ensureStreams(nc, cfg);
      const w = new BucketWatcher(nc, storageClient(cfg), cfg, bucket, { ...WATCHER_DEFAULTS, intervalMs: Number(opts['interval-ms']) });
      process.once('SIGTERM', () => w.stop());
      process.once('SIGINT', () => w.stop());
      const running = w.run();
      console.log(`watcher: gs://${bucket} -> ${cfg.nats.stream}`);
      markReady();
      await running;
      console.log(`watcher: stopped after publishing ${w.published} events`);
    } finally {
      await nc.drain().catch(() => {});
    }
  },
);


/** Uploads files with the official GCS client; returns object names. */
async function uploadFiles(
  cfg: import('../config').LookoutConfig,
  files: Array<{ file: string; contentType?: string }>,
  prefix: string,
  metadata: Record<string, string>,
): Promise<string[]> {
  const path = require('node:path') as typeof import('node:path');
  const { storageClient } = require('../io/clients') as typeof import('../io/clients');
  const bucket = storageClient(cfg).bucket(cfg.gcs.bucket);
  const names: string[] = [];
  const bar = new Progress(`uploading to gs://${cfg.gcs.bucket}/${prefix}`, files.length);
  for (const f of files) {
    const name = `${prefix}${path.basename(f.file)}`;
    await bucket.upload(f.file, { destination: name, resumable: false, contentType: f.contentType, metadata: { metadata } });
    names.push(name);
    bar.update(names.length);
  }
  bar.done();
  return names;
}

/** Polls the result view until `expected` rows of the run exist (or the timeout passes). */
async function waitForRows(cfg: import('../config').LookoutConfig, runTag: string, expected: number, timeoutMs: number): Promise<number> {
  const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { countForRun } = require('../io/query') as typeof import('../io/query');
  const bq = bigqueryClient(cfg);
  const bar = new Progress('waiting for result rows in BigQuery', expected);
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  for (;;) {
    n = await countForRun(bq, cfg, runTag);
    bar.update(n);
    if (n >= expected || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  bar.done();
  return n;
}

command(
  {
    name: 'upload',
    summary: 'upload files to the inbox bucket (any GCS client works the same; this one tags a run)',
    usage: 'upload FILE... [--prefix P] [--run TAG] [--pipeline NAME] [--wait]',
    positionals: { min: 1, max: 100000, name: 'FILE...' },
    options: {
      prefix: { type: 'string', default: 'uploads/', help: 'object name prefix' },
      run: { type: 'string', help: 'run tag written to object metadata lookout-run (and to the rows)' },
      pipeline: { type: 'string', help: 'pipeline for these objects (metadata lookout-pipeline; default $LOOKOUT_PIPELINE)' },
      wait: { type: 'boolean', help: 'wait for the rows and print them' },
      'timeout-s': { type: 'number', default: 300, help: 'with --wait: give up after this long' },
    },
  },
  async (cfg, { opts, positionals }) => {
    const fs = require('node:fs') as typeof import('node:fs');
    for (const f of positionals) if (!fs.existsSync(f)) throw new Error(`no such file: ${f}`);
    const run = (opts.run as string | undefined) ?? `upload-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`;
    const metadata: Record<string, string> = { 'lookout-run': run };
    if (opts.pipeline) metadata['lookout-pipeline'] = String(opts.pipeline);
    const names = await uploadFiles(cfg, positionals.map((file) => ({ file })), String(opts.prefix), metadata);
    console.log(`uploaded ${names.length} objects (run ${run})`);
    if (!opts.wait) return;
    const n = await waitForRows(cfg, run, names.length, Number(opts['timeout-s']) * 1000);
    await printRun(cfg, run);
    return n >= names.length ? 0 : 4;
  },
);

async function printRun(cfg: import('../config').LookoutConfig, run: string): Promise<import('../io/query').RowSummary[]> {
  const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { rowsForRun, formatRows } = require('../io/query') as typeof import('../io/query');
  const rows = await rowsForRun(bigqueryClient(cfg), cfg, run);
  console.log(formatRows(rows));
  return rows;
}

command(
  {
    name: 'results',
    summary: 'print result rows read back from BigQuery (through the de-duplicating view)',
    usage: 'results [--run TAG] [--status ok|failed] [--limit N] [--json]',
    options: {
      run: { type: 'string', help: 'only this run tag' },
      status: { type: 'string', arg: 'ok|failed', help: 'only rows with this status' },
      limit: { type: 'number', default: 50, help: 'rows at most' },
      json: { type: 'boolean', help: 'print full rows as JSON lines' },
    },
  },
  async (cfg, { opts }) => {
    const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
    const { query, latestView, formatRows } = require('../io/query') as typeof import('../io/query');
    const where: string[] = [];
    const limit = Math.max(1, Math.floor(Number(opts.limit)));
    const params: Record<string, unknown> = {};
    if (opts.run) {
      where.push('run_tag = @run');
      params.run = opts.run;
    }
    if (opts.status) {
      where.push('status = @status');
      params.status = opts.status;
    }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const bq = bigqueryClient(cfg);
    if (opts.json) {
      const rows = await query(bq, `SELECT * FROM ${latestView(cfg)} ${cond} ORDER BY recorded_at DESC LIMIT ${limit}`, params);
      for (const r of rows) console.log(JSON.stringify(r));
      return;
    }
    const rows = await query<import('../io/query').RowSummary>(
      bq,
      `SELECT name, generation, status, label, score, ARRAY_LENGTH(objects) AS n_objects,
         (SELECT STRING_AGG(CONCAT(l, ' x', CAST(c AS STRING)), ', ') FROM (SELECT o.label AS l, COUNT(*) AS c FROM UNNEST(objects) o GROUP BY o.label ORDER BY c DESC, l)) AS classes,
         error_class, error_message, inference_ms, end_to_end_ms, pool
       FROM ${latestView(cfg)} ${cond} ORDER BY recorded_at DESC LIMIT ${limit}`,
      params,
    );
    console.log(formatRows(rows));
  },
);

command(
  {
    name: 'demo',
    summary: 'the main job on the embedded stack: sample images, then CCTV anomaly detection on vtest.avi; prints the rows read back from BigQuery',
    usage: 'demo [--timeout-s N] [--no-cctv] [--every N]',
    description: `1. Starts the embedded stack (\`lookout up\`).
2. Uploads real sample photos and vtest.avi frames from Debian's opencv-doc, plus two bad objects (a truncated JPEG,
   a text file), with the official GCS client (pipeline "objects"), and prints their rows.
3. CCTV (pipeline "cctv-anomaly"): fits scene "vtest" on frames 0-499 of vtest.avi, uploads frames 500-794 as a
   video, which is split into frame triplets and analysed frame by frame; prints the most anomalous frames and
   where their annotated JPEGs are.
The stack stays up; \`lookout down\` stops it.`,
    options: {
      'timeout-s': { type: 'number', default: 900, help: 'give up waiting for rows after this long' },
      cctv: { type: 'boolean', default: true, help: 'run the CCTV part (--no-cctv: images only)' },
      every: { type: 'number', default: 5, help: 'CCTV: analyse every Nth frame' },
    },
  },
  async (cfg, { opts }) => {
    const path = require('node:path') as typeof import('node:path');
    const { up } = require('../infra/stack') as typeof import('../infra/stack');
    const { prepareSamples } = require('../demo/samples') as typeof import('../demo/samples');
    const stamp = new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14);
    console.log('1/3 starting the embedded stack');
    await up(cfg, { apps: true, log: (l) => console.log(`  ${l}`) });
    const samples = prepareSamples(path.join(cfg.home, 'samples'));
    const run = `demo-${stamp}`;
    console.log(`2/3 images: uploading ${samples.length} objects (run ${run})`);
    await uploadFiles(cfg, samples, `demo/${run}/`, { 'lookout-run': run });
    const n = await waitForRows(cfg, run, samples.length, Number(opts['timeout-s']) * 1000);
    console.log(`\nResults of run ${run}, read back from BigQuery (${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}_latest):\n`);
    const rows = await printRun(cfg, run);
    const ok = rows.filter((r) => r.status === 'ok').length;
    console.log(`\n${rows.length}/${samples.length} objects have a row: ${ok} ok, ${rows.length - ok} failed (the two bad objects are expected to fail).`);
    let code = n >= samples.length ? 0 : 4;
    if (opts.cctv) {
      const { runCctvDemo } = require('./cctv') as typeof import('./cctv');
      console.log('\n3/3 CCTV anomaly detection on vtest.avi');
      code = Math.max(code, await runCctvDemo(cfg, { stamp, every: Number(opts.every), timeoutMs: Number(opts['timeout-s']) * 1000 }));
    }
    console.log('\nThe stack is still up: `lookout results`, `lookout status`, `lookout env`; stop it with `lookout down`.');
    return code;
  },
);

command(
  {
    name: 'push-server',
    summary: 'HTTP endpoint for GCS Pub/Sub push notifications (POST /pubsub) and Eventarc CloudEvents (POST /cloudevents)',
    usage: 'push-server [--port N]',
    description: `Requests need "Authorization: Bearer <token>": a Google OIDC ID token whose audience is $LOOKOUT_PUSH_AUDIENCE
(what a push subscription or Eventarc trigger with a service account sends), or the shared secret $LOOKOUT_PUSH_TOKEN.
Without either, every request is rejected (401).`,
    options: { port: { type: 'number', help: 'listen port (default $LOOKOUT_PUSH_PORT or port base + 40)' }, host: { type: 'string', default: '127.0.0.1', help: 'listen address' } },
  },
  async (cfg, { opts }) => {
    const { natsConnect } = require('../io/clients') as typeof import('../io/clients');
    const { createPushServer, oidcVerifier, staticTokenVerifier, rejectAllVerifier } = require('../ingest/push') as typeof import('../ingest/push');
    const { ensureStreams } = require('../io/streams') as typeof import('../io/streams');
    const token = process.env.LOOKOUT_PUSH_TOKEN;
    const verify = cfg.push.audience ? await oidcVerifier(cfg.push.audience) : token ? staticTokenVerifier(token) : rejectAllVerifier();
    if (!cfg.push.audience && !token) console.error('push-server: neither LOOKOUT_PUSH_AUDIENCE nor LOOKOUT_PUSH_TOKEN is set: every request will be rejected');
    const nc = await natsConnect(cfg, 'lookout-push');
    await ensureStreams(nc, cfg);
    const server = createPushServer({ cfg, js: nc.jetstream(), verify, log: (l) => console.error(l) });
    const port = (opts.port as number | undefined) ?? cfg.push.port;
    await new Promise<void>((resolve) => server.listen(port, String(opts.host), resolve));
    console.log(`push-server: listening on http://${opts.host}:${port} (POST /pubsub, POST /cloudevents, GET /healthz)`);
    markReady();
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await nc.drain();
  },
);

command(
  {
    name: 'backfill',
    summary: 'publish an event for every object under gs://bucket/prefix (resumable, rate-limited)',
    usage: 'backfill gs://BUCKET/PREFIX [--rate N] [--restart] [--run TAG]',
    positionals: { min: 1, max: 1, name: 'gs://BUCKET/PREFIX' },
    options: {
      rate: { type: 'number', default: 200, help: 'events per second at most (0 = unbounded)' },
      'page-size': { type: 'number', default: 1000, help: 'objects listed per page (memory holds one page)' },
      restart: { type: 'boolean', help: 'ignore a saved checkpoint and start over' },
      run: { type: 'string', help: 'run tag for the rows of objects analysed by this backfill' },
      bulk: { type: 'number', help: 'bulk mode: N objects per analyzeBatch workflow, started directly in Temporal (no per-object events or workflows)' },
      inflight: { type: 'number', default: 4, help: 'bulk mode: batches running at once' },
      pipeline: { type: 'string', help: 'bulk mode: pipeline (default $LOOKOUT_PIPELINE; objects-method pipelines only)' },
    },
  },
  async (cfg, { opts, positionals }) => {
    const { natsConnect, storageClient } = require('../io/clients') as typeof import('../io/clients');
    const { backfill, parseGsUri } = require('../ingest/backfill') as typeof import('../ingest/backfill');
    const { ensureStreams } = require('../io/streams') as typeof import('../io/streams');
    const { bucket, prefix } = parseGsUri(positionals[0]);
    const nc = await natsConnect(cfg, 'lookout-backfill');
    let bulk: import('../ingest/backfill').BackfillOptions['bulk'];
    let closeTemporal = async () => {};
    if (opts.bulk !== undefined) {
      const size = Math.floor(Number(opts.bulk));
      // Each stage is called in chunks of bounded payload; the bound here keeps a batch workflow's whole history
      // (about 25 KB per object at ~15 boxes, several times that for crowded images) far from Temporal's 50 MB limit.
      if (!(size >= 1 && size <= 200)) throw new Error('--bulk takes a batch size from 1 to 200 (objects per analyzeBatch workflow)');
      const { temporalClient } = require('../io/clients') as typeof import('../io/clients');
      const { resolvePipeline, pipelineOptionsFromEnv, PIPELINES } = require('../core/pipelines') as typeof import('../core/pipelines');
      const name = (opts.pipeline as string | undefined) ?? cfg.pipeline;
      if (PIPELINES[name]?.method !== 'objects') throw new Error(`--bulk supports pipelines of the objects method (not ${name})`);
      const { client, connection } = await temporalClient(cfg);
      closeTemporal = () => connection.close();
      bulk = { size, inflight: Math.max(1, Number(opts.inflight)), client, pipeline: resolvePipeline(name, pipelineOptionsFromEnv()) };
    }
    const ac = new AbortController();
    process.once('SIGINT', () => {
      console.error('\nbackfill: stopping after this page (checkpoint kept; run again to resume)');
      ac.abort();
    });
    try {
      await ensureStreams(nc, cfg);
      const bar = new Progress(`backfill gs://${bucket}/${prefix}`);
      const t0 = Date.now();
      const r = await backfill(nc, storageClient(cfg), cfg, {
        bucket,
        prefix,
        rate: Number(opts.rate),
        pageSize: Number(opts['page-size']),
        restart: Boolean(opts.restart),
        runTag: opts.run as string | undefined,
        signal: ac.signal,
        bulk,
        onProgress: (p) => bar.update(p.published + p.duplicates, `published ${p.published}, already queued ${p.duplicates}, invalid ${p.invalid}, ${((p.published + p.duplicates) / Math.max(0.001, (Date.now() - t0) / 1000)).toFixed(0)}/s`),
      });
      bar.done();
      console.log(`backfill ${r.done ? 'complete' : 'interrupted'}: listed ${r.listed}, published ${r.published}, already in the stream ${r.duplicates}, invalid ${r.invalid}${r.resumedFromCheckpoint ? ' (resumed from checkpoint)' : ''}`);
      if (r.bulk) console.log(`bulk: ${r.bulk.batches} batch workflows finished, ${r.bulk.objects} objects (${r.bulk.ok} ok, ${r.bulk.failed} failed; rows in BigQuery)`);
      return r.done ? 0 : 130;
    } finally {
      await nc.drain().catch(() => {});
      await closeTemporal();
    }
  },
);

command(
  {
    name: 'deadletters',
    summary: 'list dead letters, or replay the dispatch failures among them',
    usage: 'deadletters [list|replay] [--kind invalid|dispatch|ingest] [--limit N]',
    positionals: { min: 0, max: 1, name: 'ACTION' },
    description: `Dead letters are kept in the JetStream stream $LOOKOUT_NATS_DEAD_STREAM (subjects <prefix>.invalid, .dispatch, .ingest).
replay starts the analysis of each 'dispatch' dead letter directly in Temporal (a republish with the same
Nats-Msg-Id would be dropped by the stream's duplicate window) and removes it from the dead-letter stream once started.`,
    options: { kind: { type: 'string', help: 'only this kind' }, limit: { type: 'number', default: 100, help: 'at most this many' } },
  },
  async (cfg, { opts, positionals }) => {
    const action = positionals[0] ?? 'list';
    if (action !== 'list' && action !== 'replay') throw new Error(`unknown action ${JSON.stringify(action)} (list or replay)`);
    const { natsConnect, temporalClient } = require('../io/clients') as typeof import('../io/clients');
    const { readDeadLetters, ensureStreams } = require('../io/streams') as typeof import('../io/streams');
    const nc = await natsConnect(cfg, 'lookout-deadletters');
    try {
      await ensureStreams(nc, cfg);
      const kind = (opts.kind as 'invalid' | 'dispatch' | 'ingest' | undefined) ?? (action === 'replay' ? 'dispatch' : undefined);
      const dls = await readDeadLetters(nc, cfg, { kind, limit: Number(opts.limit) });
      if (action === 'list') {
        for (const d of dls) console.log(`#${d.seq} ${d.at} ${d.kind.padEnd(8)} ${d.reason}  ${d.payload.slice(0, 100)}`);
        console.log(`${dls.length} dead letter(s)`);
        return;
      }
      const { validateObjectEvent } = require('../core/events') as typeof import('../core/events');
      const { analyzeInputFor, startAnalysis } = require('../dispatch/dispatcher') as typeof import('../dispatch/dispatcher');
      const { pipelineOptionsFromEnv } = require('../core/pipelines') as typeof import('../core/pipelines');
      const { client, connection } = await temporalClient(cfg);
      const jsm = await nc.jetstreamManager();
      let replayed = 0;
      try {
        for (const d of dls) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(d.payload);
          } catch {
            parsed = undefined;
          }
          const v = validateObjectEvent(parsed);
          if (!v.ok) {
            console.log(`#${d.seq}: cannot replay: ${v.reason}`);
            continue;
          }
          const r = await startAnalysis(client, cfg, analyzeInputFor({ ...v.value, source: 'replay' }, cfg, pipelineOptionsFromEnv()));
          await jsm.streams.deleteMessage(cfg.nats.deadStream, d.seq);
          replayed++;
          console.log(`#${d.seq}: ${r} ${v.value.bucket}/${v.value.name}#${v.value.generation}`);
        }
      } finally {
        await connection.close();
      }
      console.log(`replayed ${replayed} of ${dls.length}`);
    } finally {
      await nc.drain().catch(() => {});
    }
  },
);

command(
  {
    name: 'retry',
    summary: 'run failed analyses again (new run of the same workflow ID; its row replaces the failed one)',
    usage: 'retry [--run TAG] [--error-class C] [--workflow-id ID] [--limit N] [--dry-run]',
    description: `Selects failed rows from the de-duplicating view and starts each analysis again under the same workflow ID
(one object version keeps one row: the view shows the newest run). Objects deleted since are skipped.`,
    options: {
      run: { type: 'string', help: 'only failed rows of this run tag' },
      'error-class': { type: 'string', help: 'only this error class (e.g. StorageError)' },
      'workflow-id': { type: 'string', help: 'just this analysis' },
      limit: { type: 'number', default: 1000, help: 'at most this many' },
      'dry-run': { type: 'boolean', help: 'list what would be retried' },
    },
  },
  async (cfg, { opts }) => {
    const { bigqueryClient, storageClient, temporalClient } = require('../io/clients') as typeof import('../io/clients');
    const { query, latestView } = require('../io/query') as typeof import('../io/query');
    const { retryAnalysis } = require('../dispatch/retry') as typeof import('../dispatch/retry');
    const where = [`status = 'failed'`];
    // Integers inline (validated): the emulator rejects numeric query parameters.
    const limit = Math.max(1, Math.floor(Number(opts.limit)));
    const params: Record<string, unknown> = {};
    const filters: Array<[string, string, string]> = [['run', 'run_tag', 'run'], ['error-class', 'error_class', 'ec'], ['workflow-id', 'workflow_id', 'wf']];
    for (const [opt, col, param] of filters) {
      if (opts[opt] === undefined) continue;
      where.push(`${col} = @${param}`);
      params[param] = opts[opt];
    }
    const rows = await query<{ workflow_id: string; pipeline: string; bucket: string; name: string; generation: string; run_tag: string | null; error_class: string }>(
      bigqueryClient(cfg),
      `SELECT workflow_id, pipeline, bucket, name, generation, run_tag, error_class FROM ${latestView(cfg)} WHERE ${where.join(' AND ')} ORDER BY recorded_at LIMIT ${limit}`,
      params,
    );
    if (opts['dry-run']) {
      for (const r of rows) console.log(`${r.workflow_id}  ${r.error_class}`);
      console.log(`${rows.length} failed analyses would be retried`);
      return;
    }
    const { client, connection } = await temporalClient(cfg);
    const counts: Record<string, number> = {};
    try {
      for (const r of rows) {
        const outcome = await retryAnalysis(client, storageClient(cfg), cfg, r);
        counts[outcome] = (counts[outcome] ?? 0) + 1;
        console.log(`${r.workflow_id}: ${outcome}`);
      }
    } finally {
      await connection.close();
    }
    console.log(`retry: ${rows.length} selected ${JSON.stringify(counts)}`);
  },
);


command(
  {
    name: 'loadtest',
    summary: 'upload N objects (replicating a sample set) tagged with a run id, wait until each has a row, print the report',
    usage: 'loadtest [--objects N] [--concurrency C] [--rate R] [--source DIR] [--pipeline P] [--run ID]',
    description: `Uploads through the official GCS client into $LOOKOUT_BUCKET with metadata lookout-run=<run id>, waits with a
progress bar until every object is accounted for by a row, then prints \`lookout report --run <id>\`.
Ctrl-C stops uploading and waiting; the run can still be reported on as far as it got.`,
    options: {
      objects: { type: 'number', default: 200, help: 'objects to upload' },
      concurrency: { type: 'number', default: 8, help: 'uploads in flight' },
      rate: { type: 'number', default: 0, help: 'uploads per second at most (0 = unbounded)' },
      source: { type: 'string', arg: 'DIR', help: 'folder of sample images (default: the demo samples)' },
      pipeline: { type: 'string', help: 'pipeline (metadata lookout-pipeline)' },
      run: { type: 'string', help: 'run id (default: loadtest-<time>)' },
      'timeout-s': { type: 'number', default: 1800, help: 'give up waiting for rows after this long' },
      html: { type: 'string', arg: 'FILE', help: 'chart file (default: .lookout/reports/<run>.html)' },
    },
  },
  async (cfg, { opts }) => {
    const path = require('node:path') as typeof import('node:path');
    const { storageClient, bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
    const { listSampleFiles, uploadLoad, waitForRun } = require('../loadtest/loadtest') as typeof import('../loadtest/loadtest');
    const { prepareSamples } = require('../demo/samples') as typeof import('../demo/samples');
    const run = (opts.run as string | undefined) ?? `loadtest-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`;
    const files = opts.source ? listSampleFiles(String(opts.source)) : prepareSamples(path.join(cfg.home, 'samples')).filter((s) => s.expect === 'ok');
    const n = Number(opts.objects);
    const ac = new AbortController();
    process.once('SIGINT', () => {
      console.error('\nloadtest: interrupted; reporting on what finished');
      ac.abort();
    });
    const up = new Progress(`uploading (run ${run})`, n);
    const t0 = Date.now();
    const uploaded = await uploadLoad(storageClient(cfg), cfg, { runId: run, objects: n, concurrency: Number(opts.concurrency), rate: Number(opts.rate), pipeline: opts.pipeline as string | undefined, files, signal: ac.signal, onUpload: (d) => up.update(d) });
    up.done(`uploaded ${uploaded} objects in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const wait = new Progress('waiting for rows', uploaded);
    const rows = await waitForRun(bigqueryClient(cfg), cfg, run, uploaded, { timeoutMs: Number(opts['timeout-s']) * 1000, signal: ac.signal, onCount: (c) => wait.update(c) });
    wait.done(`${rows}/${uploaded} objects have a row`);
    await printReport(cfg, run, undefined, opts.html as string | undefined);
    return rows >= uploaded ? 0 : 4;
  },
);

async function printReport(cfg: import('../config').LookoutConfig, run: string, vs: string | undefined, htmlFile: string | undefined): Promise<void> {
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { buildReport, formatTable, reportHtml } = require('../loadtest/report') as typeof import('../loadtest/report');
  const r = await buildReport(bigqueryClient(cfg), cfg, run, vs);
  for (const s of r.sections) console.log(`\n${s.title}\n${formatTable(s.rows)}`);
  const file = htmlFile ?? path.join(cfg.projectRoot, '.lookout', 'reports', `${run}${vs ? `-vs-${vs}` : ''}.html`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, reportHtml(r));
  console.log(`\nchart: ${file}`);
}

command(
  {
    name: 'report',
    summary: 'print the SQL load report of a run (infra/sql) and write an HTML chart',
    usage: 'report --run ID [--vs ID] [--html FILE]',
    options: {
      run: { type: 'string', help: 'run id (row run_tag)' },
      vs: { type: 'string', help: 'a second run to compare with' },
      html: { type: 'string', arg: 'FILE', help: 'chart file (default: .lookout/reports/<run>.html)' },
    },
  },
  async (cfg, { opts }) => {
    if (!opts.run) throw new Error('--run is required (the id loadtest printed, or any run tag)');
    await printReport(cfg, String(opts.run), opts.vs as string | undefined, opts.html as string | undefined);
  },
);

command(
  {
    name: 'models',
    summary: 'list the model repository, or publish a model folder to a bucket repository',
    usage: 'models [list] | models publish NAME --to gs://BUCKET/models',
    positionals: { min: 0, max: 2, name: 'ACTION [NAME]' },
    options: { to: { type: 'string', arg: 'gs://…', help: 'bucket repository for publish' }, repo: { type: 'string', arg: 'DIR', help: 'local repository (default models/)' } },
  },
  async (cfg, { opts, positionals }) => {
    const path = require('node:path') as typeof import('node:path');
    const { listLocalModels, loadLocalModel, defaultModelRepo } = require('../runtime/manifest') as typeof import('../runtime/manifest');
    const repo = (opts.repo as string | undefined) ?? defaultModelRepo(cfg.projectRoot);
    const [action = 'list', name] = positionals;
    if (action === 'list') {
      for (const n of listLocalModels(repo)) {
        const m = loadLocalModel(repo, n);
        console.log(`${n.padEnd(16)} v${m.manifest.version}  ${m.manifest.task.padEnd(10)} ${m.manifest.inputs.map((i) => `${i.name}[${i.dims.join(',')}]`).join(' ')} -> ${m.manifest.outputs.map((o) => o.name).join(', ')}  ${path.relative(process.cwd(), m.modelPath)}`);
      }
      return;
    }
    if (action !== 'publish' || !name || !opts.to) throw new Error('usage: lookout models publish NAME --to gs://BUCKET/models');
    const { publishModel } = require('../runtime/remote') as typeof import('../runtime/remote');
    const { storageClient } = require('../io/clients') as typeof import('../io/clients');
    console.log(`published ${await publishModel(storageClient(cfg), repo, name, String(opts.to))}`);
  },
);

export { Progress };

// Commands of the cctv-anomaly pipeline.
require('./cctv');
