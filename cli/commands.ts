/** The commands of `lookout`. */
import { command, markReady } from './main';
import { envLines, type Pool } from '../lib/config';
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
    const { up } = await import('../infra/stack');
    await up(cfg, { apps: opts.apps as boolean, log: (l) => console.log(`  ${l}`) });
    console.log(`lookout is up. Endpoints: \`lookout env\`; health: \`lookout status\`; stop: \`lookout down\`.`);
  },
);

command(
  { name: 'down', summary: 'stop everything `lookout up` started (state is kept)', usage: 'down', options: {} },
  async (cfg) => {
    const { down } = await import('../infra/stack');
    await down(cfg, (l) => console.log(`  ${l}`));
    console.log('lookout is down.');
  },
);

command(
  { name: 'status', summary: 'show each server and process with its health', usage: 'status [--json]', options: { json: { type: 'boolean', help: 'print JSON' } } },
  async (cfg, { opts }) => {
    const { status } = await import('../infra/stack');
    const lines = await status(cfg);
    if (opts.json) console.log(JSON.stringify(lines, null, 2));
    else {
      for (const l of lines) {
        console.log(`${l.name.padEnd(11)} ${l.state.padEnd(9)} ${l.pid ? `pid ${String(l.pid).padEnd(8)}` : ''.padEnd(12)} ${l.endpoint ?? ''}`);
        if (l.detail) console.log(l.detail.replace(/^/gm, '    '));
      }
    }
    return lines.every((l) => l.state === 'running' || l.state === 'external') ? 0 : 3;
  },
);

command(
  {
    name: 'env',
    summary: 'print every endpoint and name a client needs, as KEY=VALUE lines',
    usage: 'env',
    description: `Point any standard client at the running system, e.g.:
  eval "$(lookout env)"; export STORAGE_EMULATOR_HOST   # then gsutil-like tools / client libraries
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
    },
  },
  async (cfg, { opts }) => {
    const pool = opts.pool as Pool;
    if (pool !== 'cpu' && pool !== 'gpu') throw new Error(`--pool must be cpu or gpu, got ${JSON.stringify(opts.pool)}`);
    const { PIPELINES } = await import('../lib/pipelines');
    const pipelines = opts.pipelines ? String(opts.pipelines).split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(PIPELINES);
    const { runWorker } = await import('../workers/worker');
    const batch = { ...(opts['max-batch'] !== undefined ? { maxBatchSize: Number(opts['max-batch']) } : {}), ...(opts['max-delay-ms'] !== undefined ? { maxQueueDelayMs: Number(opts['max-delay-ms']) } : {}) };
    await runWorker(
      cfg,
      { pool, pipelines, concurrency: Number(opts.concurrency), workflows: (opts.workflows as boolean | undefined) ?? pool === 'cpu', threads: opts.threads as number | undefined, batch },
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
    const { natsConnect, temporalClient } = await import('../lib/clients');
    const { Dispatcher, DISPATCHER_DEFAULTS } = await import('../dispatch/dispatcher');
    const { pipelineOptionsFromEnv } = await import('../lib/pipelines');
    const { ensureStreams } = await import('../lib/streams');
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
      'interval-ms': { type: 'number', default: 1000, help: 'poll interval' },
    },
  },
  async (cfg, { opts }) => {
    const { natsConnect, storageClient } = await import('../lib/clients');
    const { BucketWatcher, WATCHER_DEFAULTS } = await import('../ingest/watcher');
    const { ensureStreams } = await import('../lib/streams');
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
  cfg: import('../lib/config').LookoutConfig,
  files: Array<{ file: string; contentType?: string }>,
  prefix: string,
  metadata: Record<string, string>,
): Promise<string[]> {
  const path = await import('node:path');
  const { storageClient } = await import('../lib/clients');
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
async function waitForRows(cfg: import('../lib/config').LookoutConfig, runTag: string, expected: number, timeoutMs: number): Promise<number> {
  const { bigqueryClient } = await import('../lib/clients');
  const { countForRun } = await import('../lib/query');
  const bq = bigqueryClient(cfg);
  const bar = new Progress('waiting for result rows in BigQuery', expected);
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  for (;;) {
    n = await countForRun(bq, cfg, runTag);
    bar.update(n);
    if (n >= expected || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
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
    const fs = await import('node:fs');
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

async function printRun(cfg: import('../lib/config').LookoutConfig, run: string): Promise<import('../lib/query').RowSummary[]> {
  const { bigqueryClient } = await import('../lib/clients');
  const { rowsForRun, formatRows } = await import('../lib/query');
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
    const { bigqueryClient } = await import('../lib/clients');
    const { query, latestView, formatRows } = await import('../lib/query');
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: Number(opts.limit) };
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
      const rows = await query(bq, `SELECT * FROM ${latestView(cfg)} ${cond} ORDER BY recorded_at DESC LIMIT @limit`, params);
      for (const r of rows) console.log(JSON.stringify(r));
      return;
    }
    const rows = await query<import('../lib/query').RowSummary>(
      bq,
      `SELECT name, generation, status, label, score, ARRAY_LENGTH(objects) AS n_objects,
         (SELECT STRING_AGG(CONCAT(l, ' x', CAST(c AS STRING)), ', ') FROM (SELECT o.label AS l, COUNT(*) AS c FROM UNNEST(objects) o GROUP BY o.label ORDER BY c DESC, l)) AS classes,
         error_class, error_message, inference_ms, end_to_end_ms, pool
       FROM ${latestView(cfg)} ${cond} ORDER BY recorded_at DESC LIMIT @limit`,
      params,
    );
    console.log(formatRows(rows));
  },
);

command(
  {
    name: 'demo',
    summary: 'the main job on the embedded stack: bring it up, upload sample images, print the rows read back from BigQuery',
    usage: 'demo [--timeout-s N]',
    description: `Starts the embedded stack (\`lookout up\`), uploads real sample photos and vtest.avi frames from Debian's
opencv-doc plus two bad objects (a truncated JPEG, a text file) with the official GCS client, waits until every
object has its row, and prints the rows as read back from BigQuery. The stack stays up; \`lookout down\` stops it.`,
    options: { 'timeout-s': { type: 'number', default: 600, help: 'give up waiting for rows after this long' } },
  },
  async (cfg, { opts }) => {
    const path = await import('node:path');
    const { up } = await import('../infra/stack');
    const { prepareSamples } = await import('../lib/samples');
    console.log('1/3 starting the embedded stack');
    await up(cfg, { apps: true, log: (l) => console.log(`  ${l}`) });
    const samples = prepareSamples(path.join(cfg.home, 'samples'));
    const run = `demo-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`;
    console.log(`2/3 uploading ${samples.length} objects (run ${run})`);
    await uploadFiles(cfg, samples, `demo/${run}/`, { 'lookout-run': run });
    console.log('3/3 waiting for the analyses');
    const n = await waitForRows(cfg, run, samples.length, Number(opts['timeout-s']) * 1000);
    console.log(`\nResults of run ${run}, read back from BigQuery (${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}_latest):\n`);
    const rows = await printRun(cfg, run);
    const ok = rows.filter((r) => r.status === 'ok').length;
    console.log(`\n${rows.length}/${samples.length} objects have a row: ${ok} ok, ${rows.length - ok} failed (the two bad objects are expected to fail).`);
    console.log('The stack is still up: `lookout results`, `lookout status`, `lookout env`; stop it with `lookout down`.');
    return n >= samples.length ? 0 : 4;
  },
);

export { Progress };
