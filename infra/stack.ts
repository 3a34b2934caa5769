/**
 * The embedded stack: NATS (JetStream), Temporal dev server, fake-gcs-server,
 * bigquery-emulator behind its BigQuery API front (infra/bigquery-api), then
 * Lookout's own long-running processes (watcher, dispatcher, CPU worker). Every
 * server whose endpoint is configured for a real service is skipped: nothing
 * local starts for it.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { PORT_OFFSETS, type LookoutConfig } from '../config';
import {
  bigqueryClient,
  ensurePubSub,
  natsConnect,
  pubsubClient,
  storageClient,
  temporalConnection,
} from '../io/clients';
import { query } from '../io/query';
import { ensureResultsTable, insertsHeldFile, rowJournalDir, tableRef } from '../io/results';
import { ensureStreams } from '../io/streams';
import {
  isAlive,
  portOpen,
  procPaths,
  readPid,
  startDetached,
  stopProc,
  tailLog,
  waitReady,
  type ProcSpec,
} from './procs';

export type ServerName = 'nats' | 'temporal' | 'gcs' | 'bigquery' | 'bigquery-api' | 'pubsub';
export const SERVERS: ServerName[] = ['nats', 'temporal', 'gcs', 'bigquery', 'bigquery-api', 'pubsub'];
export type AppName = 'watcher' | 'subscriber' | 'dispatcher' | 'worker-cpu';
/** Every app `down` stops; `up` starts one of the two ingest apps (appsFor). */
export const APPS: AppName[] = ['watcher', 'subscriber', 'dispatcher', 'worker-cpu'];

/** The apps `lookout up` starts: the ingest mode's app (LOOKOUT_INGEST: Pub/Sub subscriber or watcher), the dispatcher, a CPU worker. */
export function appsFor(cfg: LookoutConfig): AppName[] {
  return [cfg.ingest === 'pubsub' ? 'subscriber' : 'watcher', 'dispatcher', 'worker-cpu'];
}

/**
 * JetStream flush policy. `sync_interval: always` fsyncs every write before the
 * publish is acknowledged: slower than the 2-minute default, but an acknowledged
 * event survives a crash of the machine, which a bulk backfill relies on. The
 * event rate (tens to hundreds per second) is far below what fsync per write allows.
 */
export const NATS_SYNC_INTERVAL = 'always';

function tool(cfg: LookoutConfig, name: string): string {
  const p = path.join(cfg.toolsDir, name);
  if (!fs.existsSync(p)) {
    throw new Error(`${name} is not installed in ${cfg.toolsDir}; run infra/install.sh (or set LOOKOUT_TOOLS_DIR)`);
  }
  return p;
}

function hostPort(u: string): { host: string; port: number } {
  const url = new URL(u.includes('://') ? u : `tcp://${u}`);
  return { host: url.hostname, port: Number(url.port) };
}

export function isEmbedded(cfg: LookoutConfig, s: ServerName): boolean {
  return {
    nats: cfg.nats.embedded,
    temporal: cfg.temporal.embedded,
    gcs: cfg.gcs.embedded,
    bigquery: cfg.bigquery.embedded,
    'bigquery-api': cfg.bigquery.embedded,
    pubsub: cfg.pubsub.embedded,
  }[s];
}

/** bigquery-emulator's own REST endpoint (the stack's BigQuery endpoint, cfg.bigquery.url, is the API front). */
export function emulatorUrl(cfg: LookoutConfig): string {
  return `http://127.0.0.1:${cfg.portBase + PORT_OFFSETS.bigqueryEmulator}`;
}

export function serverSpec(cfg: LookoutConfig, s: ServerName): ProcSpec {
  const data = path.join(cfg.home, 'data');
  const p = (k: keyof typeof PORT_OFFSETS) => String(cfg.portBase + PORT_OFFSETS[k]);
  switch (s) {
    case 'nats':
      return natsNodeSpec(cfg, 1);
    case 'temporal':
      fs.mkdirSync(path.join(data, 'temporal'), { recursive: true });
      return {
        name: 'temporal',
        command: tool(cfg, 'temporal'),
        args: [
          'server',
          'start-dev',
          '--ip',
          '127.0.0.1',
          '--port',
          p('temporal'),
          '--ui-port',
          p('temporalUi'),
          '--db-filename',
          path.join(data, 'temporal', 'temporal.db'),
          // SQLite in write-ahead-log mode with synchronous=NORMAL (the dev server's own default is a rollback journal
          // with synchronous=FULL: a journal file created, fsynced and deleted per transaction). Committed state
          // still survives the process being killed (the WAL is on disk, replayed at the next start), so workflows
          // persist across `lookout down` / `up` as before; only an OS crash or power loss can lose the last
          // transactions, never corrupt the store. Chosen by the CPU ledger: docs/performance.md, issue 27.
          '--sqlite-pragma',
          'journal_mode=wal',
          '--sqlite-pragma',
          'synchronous=normal',
          '--namespace',
          cfg.temporal.namespace,
          '--log-level',
          'warn',
        ],
      };
    case 'gcs':
      fs.mkdirSync(path.join(data, 'gcs'), { recursive: true });
      return {
        name: 'gcs',
        command: tool(cfg, 'fake-gcs-server'),
        args: [
          '-scheme',
          'http',
          '-host',
          '127.0.0.1',
          '-port',
          p('gcs'),
          '-backend',
          'filesystem',
          '-filesystem-root',
          path.join(data, 'gcs'),
          '-public-host',
          `127.0.0.1:${p('gcs')}`,
          '-external-url',
          `http://127.0.0.1:${p('gcs')}`,
          '-log-level',
          'warn',
          // Object notifications of the inbox bucket (finalize only, as a GCS notification config would send)
          // to the Pub/Sub emulator, for `lookout subscribe`. Other buckets (results, bench archives) notify nothing.
          ...(cfg.pubsub.url
            ? [
                '-event.pubsub-project-id',
                cfg.gcp.projectId,
                '-event.pubsub-topic',
                cfg.pubsub.topic,
                '-event.bucket',
                cfg.gcs.bucket,
                '-event.list',
                'finalize',
              ]
            : []),
        ],
        ...(cfg.pubsub.url ? { env: { PUBSUB_EMULATOR_HOST: cfg.pubsub.url } } : {}),
      };
    case 'pubsub':
      return { name: 'pubsub', command: tool(cfg, 'pstest'), args: ['-host', '127.0.0.1', '-port', p('pubsub')] };
    case 'bigquery':
      fs.mkdirSync(path.join(data, 'bigquery'), { recursive: true });
      return {
        name: 'bigquery',
        command: tool(cfg, 'bigquery-emulator'),
        args: [
          `--project=${cfg.gcp.projectId}`,
          `--host=127.0.0.1`,
          `--port=${p('bigqueryEmulator')}`,
          `--grpc-port=${p('bigqueryGrpc')}`,
          // In memory: bigquery-emulator v0.6.6 cannot reload its own --database file (its catalogue comes back
          // empty and the tables unreachable). `lookout down` exports the rows and `up` loads them back instead.
          `--log-level=warn`,
        ],
      };
    case 'bigquery-api':
      // What clients reach at cfg.bigquery.url: the official clients cannot read some of the emulator's
      // answers (see infra/bigquery-api/wire.ts); this front rewrites those and passes the rest through.
      return {
        name: 'bigquery-api',
        command: process.execPath,
        args: [
          '--require',
          'tsx/cjs',
          path.join(cfg.projectRoot, 'infra', 'bigquery-api', 'main.ts'),
          '--upstream',
          emulatorUrl(cfg),
          '--host',
          '127.0.0.1',
          '--port',
          p('bigquery'),
          '--emulator-log',
          procPaths(cfg.home, 'bigquery').logFile,
          '--hold-inserts-while',
          insertsHeldFile(cfg),
        ],
        cwd: cfg.projectRoot,
      };
  }
}

/** Process names of the embedded NATS nodes: `nats` alone, or `nats`, `nats-2`, `nats-3` in a cluster. */
export function natsNodeNames(cfg: LookoutConfig): string[] {
  return ['nats', 'nats-2', 'nats-3'].slice(0, cfg.nats.cluster);
}

/** Every NATS node name `down` and `status` look for, whatever the cluster size of this invocation. */
const ALL_NATS_NODES = ['nats', 'nats-2', 'nats-3'];

const NATS_NODE_PORTS = [
  { client: PORT_OFFSETS.nats, monitor: PORT_OFFSETS.natsMonitor, route: PORT_OFFSETS.natsRoute1 },
  { client: PORT_OFFSETS.nats2, monitor: PORT_OFFSETS.nats2Monitor, route: PORT_OFFSETS.natsRoute2 },
  { client: PORT_OFFSETS.nats3, monitor: PORT_OFFSETS.nats3Monitor, route: PORT_OFFSETS.natsRoute3 },
];

/** Monitoring endpoint (healthz, jsz) of embedded NATS node `n` (1-based). */
export function natsMonitorUrl(cfg: LookoutConfig, n: number): string {
  return `http://127.0.0.1:${cfg.portBase + NATS_NODE_PORTS[n - 1].monitor}`;
}

/** The server_name of embedded NATS node `n`, as JetStream reports stream leaders. */
export function natsServerName(cfg: LookoutConfig, n: number): string {
  return cfg.nats.cluster === 1 ? 'lookout_local' : `lookout_n${n}`;
}

/**
 * nats-server configuration of embedded node `n` (1-based). A single server keeps its historical name and
 * store; a cluster's nodes each get a store of their own and routes to all three (a node ignores its own).
 * A configured NATS user/password or token is required by the embedded server too, so the credentials path
 * is exercised locally exactly as against a production cluster.
 */
export function natsNodeSpec(cfg: LookoutConfig, n: number): ProcSpec {
  const data = path.join(cfg.home, 'data');
  const at = (off: number) => cfg.portBase + off;
  const ports = NATS_NODE_PORTS[n - 1];
  const clustered = cfg.nats.cluster > 1;
  const name = n === 1 ? 'nats' : `nats-${n}`;
  const conf = path.join(cfg.home, `${name}.conf`);
  const { auth } = cfg.nats;
  const authorization = auth.user
    ? [
        `authorization {`,
        `  user: ${JSON.stringify(auth.user)}`,
        `  password: ${JSON.stringify(auth.password ?? '')}`,
        `}`,
      ]
    : auth.token
      ? [`authorization {`, `  token: ${JSON.stringify(auth.token)}`, `}`]
      : [];
  fs.mkdirSync(cfg.home, { recursive: true });
  fs.writeFileSync(
    conf,
    [
      `# written by lookout up`,
      `server_name: ${natsServerName(cfg, n)}`,
      `listen: 127.0.0.1:${at(ports.client)}`,
      `http: 127.0.0.1:${at(ports.monitor)}`,
      `jetstream {`,
      `  store_dir: ${JSON.stringify(clustered ? path.join(data, 'nats-cluster', `n${n}`) : path.join(data, 'nats'))}`,
      `  sync_interval: ${NATS_SYNC_INTERVAL}`,
      `  max_file_store: 8G`,
      `}`,
      ...(clustered
        ? [
            `cluster {`,
            `  name: lookout`,
            `  listen: 127.0.0.1:${at(ports.route)}`,
            `  routes: [${NATS_NODE_PORTS.slice(0, cfg.nats.cluster)
              .map((p) => `nats-route://127.0.0.1:${at(p.route)}`)
              .join(', ')}]`,
            `}`,
          ]
        : []),
      ...authorization,
      '',
    ].join('\n'),
    // It may hold the NATS password: readable by its owner only.
    { mode: 0o600 },
  );
  fs.chmodSync(conf, 0o600);
  return { name, command: tool(cfg, 'nats-server'), args: ['-c', conf] };
}

/**
 * Ready when every node answers healthz and, in a cluster, JetStream has a meta leader (before that, creating
 * a stream fails): `/jsz` reports `meta_cluster.leader`.
 */
export async function natsClusterReady(cfg: LookoutConfig): Promise<boolean> {
  for (let n = 1; n <= cfg.nats.cluster; n++) {
    const r = await fetch(`${natsMonitorUrl(cfg, n)}/healthz?js-enabled-only=true`, {
      signal: AbortSignal.timeout(2000),
    });
    if (!r.ok) return false;
  }
  if (cfg.nats.cluster === 1) return true;
  const jsz = (await (await fetch(`${natsMonitorUrl(cfg, 1)}/jsz`, { signal: AbortSignal.timeout(2000) })).json()) as {
    meta_cluster?: { leader?: string; cluster_size?: number };
  };
  return Boolean(jsz.meta_cluster?.leader) && (jsz.meta_cluster?.cluster_size ?? 0) >= cfg.nats.cluster;
}

/** Starts the embedded NATS node(s) not already running; resolves once the whole cluster is ready. */
export async function upNats(cfg: LookoutConfig, log: (l: string) => void): Promise<void> {
  const t0 = Date.now();
  const started: number[] = [];
  for (let n = 1; n <= cfg.nats.cluster; n++) {
    const spec = natsNodeSpec(cfg, n);
    const running = readPid(cfg.home, spec.name);
    if (isAlive(running)) continue;
    started.push(startDetached(cfg.home, spec));
  }
  if (started.length === 0 && (await natsClusterReady(cfg).catch(() => false))) {
    log(`nats: already running (${cfg.nats.cluster} node${cfg.nats.cluster > 1 ? 's' : ''})`);
    return;
  }
  await waitReady(
    cfg.home,
    'nats',
    () => natsClusterReady(cfg),
    READY_TIMEOUT_MS.nats,
    started[0] ?? readPid(cfg.home, 'nats'),
  );
  log(
    `nats: ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (${cfg.nats.cluster > 1 ? `JetStream cluster of ${cfg.nats.cluster}, replicas ${cfg.nats.replicas}` : 'single server'})`,
  );
}

/** Protocol-level readiness, not just an open port. */
export async function serverReady(cfg: LookoutConfig, s: ServerName): Promise<boolean> {
  const get = async (u: string) => {
    const r = await fetch(u, { signal: AbortSignal.timeout(2000) });
    return r.ok;
  };
  switch (s) {
    case 'nats': {
      if (cfg.nats.embedded) return natsClusterReady(cfg);
      const nc = await natsConnect(cfg, 'lookout-health');
      try {
        await (await nc.jetstreamManager()).getAccountInfo();
        return true;
      } finally {
        await nc.close();
      }
    }
    case 'temporal': {
      const { host, port } = hostPort(cfg.temporal.url);
      if (!(await portOpen(host, port))) return false;
      const conn = await temporalConnection(cfg);
      try {
        await conn.workflowService.describeNamespace({ namespace: cfg.temporal.namespace });
        return true;
      } finally {
        await conn.close();
      }
    }
    case 'gcs':
      return get(`${cfg.gcs.url}/storage/v1/b?project=${cfg.gcp.projectId}`);
    case 'bigquery':
      return get(
        `${cfg.bigquery.embedded ? emulatorUrl(cfg) : cfg.bigquery.url}/bigquery/v2/projects/${cfg.gcp.projectId}/datasets`,
      );
    case 'bigquery-api':
      return get(`${cfg.bigquery.url}/bigquery/v2/projects/${cfg.gcp.projectId}/datasets`);
    case 'pubsub': {
      // A gRPC call, not just an open port: list the project's topics.
      const ps = pubsubClient(cfg);
      try {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>(
          (_, reject) => (timer = setTimeout(() => reject(new Error('pstest did not answer in 2 s')), 2000)),
        );
        await Promise.race([ps.getTopics({ pageSize: 1, autoPaginate: false }), late]).finally(() =>
          clearTimeout(timer),
        );
        return true;
      } finally {
        await ps.close();
      }
    }
  }
}

// Generous: on a busy 2-core machine six servers start at once, and a clean-clone CI run once saw nats-server
// print its first log line 19.5 s after it was spawned (ready 1.2 s later), past the 20 s this used to allow.
const READY_TIMEOUT_MS: Record<ServerName, number> = {
  nats: 60_000,
  temporal: 90_000,
  gcs: 60_000,
  bigquery: 60_000,
  'bigquery-api': 60_000,
  pubsub: 60_000,
};

export interface UpOptions {
  /** Also start watcher, dispatcher and a CPU worker. */
  apps: boolean;
  log?: (line: string) => void;
}

/** Creates bucket, dataset/table/view, streams and KV (idempotent; also run against real services). */
export async function provision(cfg: LookoutConfig): Promise<void> {
  const storage = storageClient(cfg);
  for (const b of new Set([cfg.gcs.bucket, cfg.gcs.resultsBucket])) {
    const [exists] = await storage.bucket(b).exists();
    if (!exists) {
      try {
        await storage.createBucket(b);
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
  }
  await ensureResultsTable(bigqueryClient(cfg), cfg);
  // The notification topic and pull subscription (on an emulator; real Pub/Sub's are the deployment's).
  if (cfg.pubsub.url) await ensurePubSub(cfg);
  const nc = await natsConnect(cfg, 'lookout-provision');
  try {
    await ensureStreams(nc, cfg);
  } finally {
    await nc.close();
  }
}

export function appSpec(cfg: LookoutConfig, app: AppName): ProcSpec {
  const bin = path.join(cfg.projectRoot, 'bin', 'lookout');
  const args: Record<AppName, string[]> = {
    watcher: ['watch'],
    subscriber: ['subscribe'],
    dispatcher: ['dispatch'],
    'worker-cpu': ['worker', '--pool', 'cpu'],
  };
  return {
    name: app,
    command: process.execPath,
    args: [bin, ...args[app]],
    cwd: cfg.projectRoot,
    // The child reads the same configuration: pass the resolved endpoints explicitly.
    env: {
      LOOKOUT_HOME: cfg.home,
      LOOKOUT_PORT_BASE: String(cfg.portBase),
      LOOKOUT_TOOLS_DIR: cfg.toolsDir,
      LOOKOUT_READY_FILE: readyFile(cfg, app),
      ...(cfg.nats.embedded ? { LOOKOUT_NATS_CLUSTER: String(cfg.nats.cluster) } : {}),
    },
  };
}

/** Marker a Lookout process writes once it is serving (see cli `markReady`). */
export function readyFile(cfg: LookoutConfig, name: string): string {
  return path.join(cfg.home, 'run', `${name}.ready`);
}

export async function up(cfg: LookoutConfig, opts: UpOptions): Promise<void> {
  const log = opts.log ?? (() => {});
  fs.mkdirSync(cfg.home, { recursive: true });
  await Promise.all(
    SERVERS.map(async (s) => {
      if (!isEmbedded(cfg, s)) {
        log(`${s}: configured endpoint, not started locally`);
        return;
      }
      if (s === 'nats') return upNats(cfg, log);
      const running = readPid(cfg.home, s);
      if (isAlive(running) && (await serverReady(cfg, s).catch(() => false))) {
        log(`${s}: already running (pid ${running})`);
        return;
      }
      if (isAlive(running)) await stopProc(cfg.home, s);
      if (s === 'bigquery') {
        // A fresh emulator is empty until the journal is loaded below: hold the writers' inserts until then.
        fs.mkdirSync(path.dirname(insertsHeldFile(cfg)), { recursive: true });
        fs.writeFileSync(insertsHeldFile(cfg), `${new Date().toISOString()}\n`);
      }
      const pid = startDetached(cfg.home, serverSpec(cfg, s));
      const t0 = Date.now();
      await waitReady(cfg.home, s, () => serverReady(cfg, s), READY_TIMEOUT_MS[s], pid);
      log(`${s}: ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (pid ${pid})`);
    }),
  );
  await provision(cfg);
  log('provisioned: bucket, BigQuery dataset/table/view, JetStream streams and KV');
  if (cfg.bigquery.embedded) {
    const n = await importRows(cfg, log);
    if (n > 0)
      log(
        `bigquery: loaded ${n} result rows from the row journal (${path.relative(process.cwd(), rowJournalDir(cfg))})`,
      );
    fs.rmSync(insertsHeldFile(cfg), { force: true });
  }
  if (!opts.apps) return;
  for (const app of appsFor(cfg)) {
    const running = readPid(cfg.home, app);
    if (isAlive(running)) {
      log(`${app}: already running (pid ${running})`);
      continue;
    }
    fs.rmSync(readyFile(cfg, app), { force: true });
    const pid = startDetached(cfg.home, appSpec(cfg, app));
    const t0 = Date.now();
    await waitReady(cfg.home, app, async () => fs.existsSync(readyFile(cfg, app)), 120_000, pid);
    log(`${app}: ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (pid ${pid})`);
  }
}

/** Saved by `lookout down` before the row journal existed; still loaded. */
function legacyRowsFile(cfg: LookoutConfig): string {
  return path.join(cfg.home, 'data', 'bigquery', 'rows.ndjson');
}

/**
 * Loads the rows of earlier sessions (the workers' row journals, and a rows.ndjson from older versions) into
 * the freshly started, empty emulator, streaming the files 500 rows per insert. Returns the count.
 */
export async function importRows(cfg: LookoutConfig, log: (l: string) => void = () => {}): Promise<number> {
  const dir = rowJournalDir(cfg);
  const files = [
    legacyRowsFile(cfg),
    ...(fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.endsWith('.ndjson'))
          .sort()
          .map((f) => path.join(dir, f))
      : []),
  ].filter((f) => fs.existsSync(f));
  if (files.length === 0) return 0;
  // Straight to the emulator: the front holds inserts and queries back until this load is done.
  const emulator = bigqueryClient({ ...cfg, bigquery: { ...cfg.bigquery, url: emulatorUrl(cfg) } });
  const [c] = await query<{ n: number }>(emulator, `SELECT COUNT(*) AS n FROM ${tableRef(cfg)}`);
  if (Number(c?.n ?? 0) > 0) return 0; // the emulator still had them: nothing to do
  const table = emulator.dataset(cfg.bigquery.dataset).table(cfg.bigquery.table);
  // A row may be journaled more than once (a retried write whose first copy never reached BigQuery, a refused
  // row followed by its stand-in): load only the last copy of each analysis_id, so the table gets one row each.
  const last = new Map<string, string>();
  for (const [fi, file] of files.entries()) {
    let ln = 0;
    for await (const line of readline.createInterface({
      input: fs.createReadStream(file, 'utf8'),
      crlfDelay: Infinity,
    })) {
      ln++;
      try {
        last.set(String((JSON.parse(line) as { analysis_id?: unknown }).analysis_id), `${fi}:${ln}`);
      } catch {
        /* a line cut short: skipped again below */
      }
    }
  }
  let n = 0;
  let batch: Array<{ json: Record<string, unknown> }> = [];
  const flush = async () => {
    if (batch.length === 0) return;
    try {
      await table.insert(batch, { raw: true, skipInvalidRows: true });
    } catch (err) {
      // The journal is written ahead of the insert, so it also holds rows BigQuery refused (they were replaced
      // by RowRejected stand-ins, which follow them): skip those again, load the rest.
      if ((err as { name?: string }).name !== 'PartialFailureError') throw err;
      n -= ((err as { errors?: unknown[] }).errors ?? []).length;
    }
    n += batch.length;
    batch = [];
    if (n % 10_000 === 0) log(`bigquery: loading saved rows… ${n}`);
  };
  for (const [fi, file] of files.entries()) {
    const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let ln = 0;
    for await (const line of lines) {
      ln++;
      if (!line.trim()) continue;
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a line cut short by a crash mid-append: its row was re-sent by the retried activity
      }
      if (last.get(String(json.analysis_id)) !== `${fi}:${ln}`) continue;
      batch.push({ json });
      if (batch.length >= 500) await flush();
    }
  }
  await flush();
  return n;
}

export async function down(cfg: LookoutConfig, log: (l: string) => void = () => {}): Promise<void> {
  // Apps first (they drain into the servers), then servers.
  for (const app of APPS) {
    const r = await stopProc(cfg.home, app, 30_000);
    fs.rmSync(readyFile(cfg, app), { force: true });
    if (r === 'stopped') log(`${app}: stopped`);
  }
  await Promise.all(
    [...SERVERS, ...ALL_NATS_NODES.filter((n) => n !== 'nats')].map(async (s) => {
      const r = await stopProc(cfg.home, s);
      if (r === 'stopped') log(`${s}: stopped`);
    }),
  );
}

export interface StatusLine {
  name: string;
  kind: 'server' | 'app';
  state: 'running' | 'stopped' | 'external' | 'unhealthy';
  pid?: number;
  endpoint?: string;
  detail?: string;
}

export async function status(cfg: LookoutConfig): Promise<StatusLine[]> {
  const endpoints: Record<ServerName, string> = {
    nats: cfg.nats.url,
    temporal: cfg.temporal.url,
    gcs: cfg.gcs.url,
    bigquery: cfg.bigquery.embedded ? emulatorUrl(cfg) : cfg.bigquery.url,
    'bigquery-api': cfg.bigquery.url,
    pubsub: cfg.pubsub.url ?? 'pubsub.googleapis.com',
  };
  const lines: StatusLine[] = [];
  for (const s of SERVERS.filter(
    (x) =>
      (x !== 'bigquery-api' || cfg.bigquery.embedded) &&
      (x !== 'pubsub' || cfg.ingest === 'pubsub' || cfg.pubsub.embedded),
  )) {
    const pid = readPid(cfg.home, s);
    const healthy = await serverReady(cfg, s).catch(() => false);
    if (!isEmbedded(cfg, s)) {
      lines.push({ name: s, kind: 'server', state: healthy ? 'external' : 'unhealthy', endpoint: endpoints[s] });
      continue;
    }
    const alive = isAlive(pid);
    lines.push({
      name: s,
      kind: 'server',
      state: alive ? (healthy ? 'running' : 'unhealthy') : 'stopped',
      pid: alive ? pid : undefined,
      endpoint: endpoints[s],
      detail: alive && !healthy ? tailLog(cfg.home, s, 3) : undefined,
    });
  }
  // Nodes 2 and 3 of an embedded NATS cluster (their health is part of the `nats` line above).
  for (const n of natsNodeNames(cfg).slice(1)) {
    const pid = readPid(cfg.home, n);
    lines.push({
      name: n,
      kind: 'server',
      state: isAlive(pid) ? 'running' : 'stopped',
      pid: isAlive(pid) ? pid : undefined,
    });
  }
  for (const a of APPS) {
    const pid = readPid(cfg.home, a);
    const alive = isAlive(pid);
    // The ingest app of the other mode is listed only while it runs.
    if (!alive && !appsFor(cfg).includes(a)) continue;
    lines.push({
      name: a,
      kind: 'app',
      state: alive ? (fs.existsSync(readyFile(cfg, a)) ? 'running' : 'unhealthy') : 'stopped',
      pid: alive ? pid : undefined,
    });
  }
  return lines;
}
