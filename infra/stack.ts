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
import { bigqueryClient, natsConnect, storageClient, temporalConnection } from '../io/clients';
import { query } from '../io/query';
import { ensureResultsTable, insertsHeldFile, rowJournalDir, tableRef } from '../io/results';
import { ensureStreams } from '../io/streams';
import { isAlive, portOpen, procPaths, readPid, startDetached, stopProc, tailLog, waitReady, type ProcSpec } from './procs';

export type ServerName = 'nats' | 'temporal' | 'gcs' | 'bigquery' | 'bigquery-api';
export const SERVERS: ServerName[] = ['nats', 'temporal', 'gcs', 'bigquery', 'bigquery-api'];
export type AppName = 'watcher' | 'dispatcher' | 'worker-cpu';
export const APPS: AppName[] = ['watcher', 'dispatcher', 'worker-cpu'];

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
  return { nats: cfg.nats.embedded, temporal: cfg.temporal.embedded, gcs: cfg.gcs.embedded, bigquery: cfg.bigquery.embedded, 'bigquery-api': cfg.bigquery.embedded }[s];
}

/** bigquery-emulator's own REST endpoint (the stack's BigQuery endpoint, cfg.bigquery.url, is the API front). */
export function emulatorUrl(cfg: LookoutConfig): string {
  return `http://127.0.0.1:${cfg.portBase + PORT_OFFSETS.bigqueryEmulator}`;
}

export function serverSpec(cfg: LookoutConfig, s: ServerName): ProcSpec {
  const data = path.join(cfg.home, 'data');
  const p = (k: keyof typeof PORT_OFFSETS) => String(cfg.portBase + PORT_OFFSETS[k]);
  switch (s) {
    case 'nats': {
      const conf = path.join(cfg.home, 'nats.conf');
      fs.mkdirSync(cfg.home, { recursive: true });
      fs.writeFileSync(
        conf,
        [
          `# written by lookout up`,
          `server_name: lookout_local`,
          `listen: 127.0.0.1:${p('nats')}`,
          `http: 127.0.0.1:${p('natsMonitor')}`,
          `jetstream {`,
          `  store_dir: ${JSON.stringify(path.join(data, 'nats'))}`,
          `  sync_interval: ${NATS_SYNC_INTERVAL}`,
          `  max_file_store: 8G`,
          `}`,
          '',
        ].join('\n'),
      );
      return { name: 'nats', command: tool(cfg, 'nats-server'), args: ['-c', conf] };
    }
    case 'temporal':
      fs.mkdirSync(path.join(data, 'temporal'), { recursive: true });
      return {
        name: 'temporal',
        command: tool(cfg, 'temporal'),
        args: [
          'server', 'start-dev',
          '--ip', '127.0.0.1',
          '--port', p('temporal'),
          '--ui-port', p('temporalUi'),
          '--db-filename', path.join(data, 'temporal', 'temporal.db'),
          '--namespace', cfg.temporal.namespace,
          '--log-level', 'warn',
        ],
      };
    case 'gcs':
      fs.mkdirSync(path.join(data, 'gcs'), { recursive: true });
      return {
        name: 'gcs',
        command: tool(cfg, 'fake-gcs-server'),
        args: [
          '-scheme', 'http',
          '-host', '127.0.0.1',
          '-port', p('gcs'),
          '-backend', 'filesystem',
          '-filesystem-root', path.join(data, 'gcs'),
          '-public-host', `127.0.0.1:${p('gcs')}`,
          '-external-url', `http://127.0.0.1:${p('gcs')}`,
          '-log-level', 'warn',
        ],
      };
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
        args: ['--require', 'tsx/cjs', path.join(cfg.projectRoot, 'infra', 'bigquery-api', 'main.ts'), '--upstream', emulatorUrl(cfg), '--host', '127.0.0.1', '--port', p('bigquery'), '--emulator-log', procPaths(cfg.home, 'bigquery').logFile, '--hold-inserts-while', insertsHeldFile(cfg)],
        cwd: cfg.projectRoot,
      };
  }
}

/** Protocol-level readiness, not just an open port. */
export async function serverReady(cfg: LookoutConfig, s: ServerName): Promise<boolean> {
  const get = async (u: string) => {
    const r = await fetch(u, { signal: AbortSignal.timeout(2000) });
    return r.ok;
  };
  switch (s) {
    case 'nats': {
      if (cfg.nats.embedded) return get(`http://127.0.0.1:${cfg.portBase + PORT_OFFSETS.natsMonitor}/healthz?js-enabled-only=true`);
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
      return get(`${cfg.bigquery.embedded ? emulatorUrl(cfg) : cfg.bigquery.url}/bigquery/v2/projects/${cfg.gcp.projectId}/datasets`);
    case 'bigquery-api':
      return get(`${cfg.bigquery.url}/bigquery/v2/projects/${cfg.gcp.projectId}/datasets`);
  }
}

const READY_TIMEOUT_MS: Record<ServerName, number> = { nats: 20_000, temporal: 90_000, gcs: 20_000, bigquery: 60_000, 'bigquery-api': 60_000 };

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
    dispatcher: ['dispatch'],
    'worker-cpu': ['worker', '--pool', 'cpu'],
  };
  return {
    name: app,
    command: process.execPath,
    args: [bin, ...args[app]],
    cwd: cfg.projectRoot,
    // The child reads the same configuration: pass the resolved endpoints explicitly.
    env: { LOOKOUT_HOME: cfg.home, LOOKOUT_PORT_BASE: String(cfg.portBase), LOOKOUT_TOOLS_DIR: cfg.toolsDir, LOOKOUT_READY_FILE: readyFile(cfg, app) },
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
    if (n > 0) log(`bigquery: loaded ${n} result rows from the row journal (${path.relative(process.cwd(), rowJournalDir(cfg))})`);
    fs.rmSync(insertsHeldFile(cfg), { force: true });
  }
  if (!opts.apps) return;
  for (const app of APPS) {
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
  const files = [legacyRowsFile(cfg), ...(fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.ndjson')).sort().map((f) => path.join(dir, f)) : [])].filter((f) => fs.existsSync(f));
  if (files.length === 0) return 0;
  const [c] = await query<{ n: number }>(bigqueryClient(cfg), `SELECT COUNT(*) AS n FROM ${tableRef(cfg)}`);
  if (Number(c?.n ?? 0) > 0) return 0; // the emulator still had them: nothing to do
  // Straight to the emulator: the front holds inserts back until this load is done.
  const table = bigqueryClient({ ...cfg, bigquery: { ...cfg.bigquery, url: emulatorUrl(cfg) } }).dataset(cfg.bigquery.dataset).table(cfg.bigquery.table);
  // A row may be journaled more than once (a retried write whose first copy never reached BigQuery, a refused
  // row followed by its stand-in): load only the last copy of each analysis_id, so the table gets one row each.
  const last = new Map<string, string>();
  for (const [fi, file] of files.entries()) {
    let ln = 0;
    for await (const line of readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
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
    SERVERS.map(async (s) => {
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
  const endpoints: Record<ServerName, string> = { nats: cfg.nats.url, temporal: cfg.temporal.url, gcs: cfg.gcs.url, bigquery: cfg.bigquery.embedded ? emulatorUrl(cfg) : cfg.bigquery.url, 'bigquery-api': cfg.bigquery.url };
  const lines: StatusLine[] = [];
  for (const s of SERVERS.filter((x) => x !== 'bigquery-api' || cfg.bigquery.embedded)) {
    const pid = readPid(cfg.home, s);
    const healthy = await serverReady(cfg, s).catch(() => false);
    if (!isEmbedded(cfg, s)) {
      lines.push({ name: s, kind: 'server', state: healthy ? 'external' : 'unhealthy', endpoint: endpoints[s] });
      continue;
    }
    const alive = isAlive(pid);
    lines.push({ name: s, kind: 'server', state: alive ? (healthy ? 'running' : 'unhealthy') : 'stopped', pid: alive ? pid : undefined, endpoint: endpoints[s], detail: alive && !healthy ? tailLog(cfg.home, s, 3) : undefined });
  }
  for (const a of APPS) {
    const pid = readPid(cfg.home, a);
    const alive = isAlive(pid);
    lines.push({ name: a, kind: 'app', state: alive ? (fs.existsSync(readyFile(cfg, a)) ? 'running' : 'unhealthy') : 'stopped', pid: alive ? pid : undefined });
  }
  return lines;
}
