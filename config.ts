/**
 * Lookout configuration: read from the environment once, validated, typed.
 *
 * Every endpoint left unset means "the embedded stack": a local server that
 * `lookout up` starts on loopback. Setting an endpoint means "a real service":
 * nothing local is started for it and the same code talks to it.
 */
import os from 'node:os';
import path from 'node:path';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type Pool = 'cpu' | 'gpu';

export interface Endpoint {
  /** URL or host:port clients use. */
  url: string;
  /** True when Lookout starts and owns this server (embedded stack). */
  embedded: boolean;
}

export interface LookoutConfig {
  projectRoot: string;
  /** State folder of this profile: data, logs and pid files of the embedded stack. */
  home: string;
  /** Where the Go-built servers live. */
  toolsDir: string;
  /** First port of the embedded stack; every local server sits at a fixed offset from it. */
  portBase: number;
  gcp: { projectId: string };
  gcs: Endpoint & { bucket: string; resultsBucket: string };
  bigquery: Endpoint & { dataset: string; table: string; location: string };
  nats: Endpoint & { stream: string; subjectPrefix: string; deadStream: string; deadPrefix: string; kvBucket: string };
  temporal: Endpoint & { namespace: string; workflowQueue: string; uiPort: number };
  pipeline: string;
  push: { port: number; audience: string | undefined; allowUnauthenticated: boolean };
  limits: { maxObjectBytes: number; maxPixels: number };
}

/** Offsets from portBase for every local server. Documented in README. */
export const PORT_OFFSETS = {
  nats: 0,
  natsMonitor: 1,
  temporal: 10,
  temporalUi: 11,
  gcs: 20,
  /** The BigQuery REST endpoint clients use: infra/bigquery-api in front of bigquery-emulator. */
  bigquery: 30,
  bigqueryGrpc: 31,
  /** bigquery-emulator's own REST port, reached only through the endpoint above. */
  bigqueryEmulator: 32,
  push: 40,
  serve: 41,
} as const;

/** Defaults, each documented: these are what `lookout env` prints on a fresh machine. */
export const DEFAULTS = {
  /** Embedded stack ports start here (NATS 17200, Temporal 17210, GCS 17220, BigQuery 17230, push 17240). */
  portBase: 17200,
  projectId: 'lookout-local',
  bucket: 'lookout-inbox',
  /** Derived objects (video frames, features, annotated results, scene models) go here, not into the inbox: writing them to the watched bucket would notify again for each. */
  resultsBucket: 'lookout-results',
  dataset: 'lookout',
  table: 'analyses',
  location: 'US',
  stream: 'LOOKOUT_OBJECTS',
  subjectPrefix: 'lookout.objects',
  deadStream: 'LOOKOUT_DEAD',
  deadPrefix: 'lookout.dead',
  kvBucket: 'lookout_cursors',
  namespace: 'default',
  workflowQueue: 'lookout-workflows',
  pipeline: 'objects',
  /** 256 MiB: larger objects fail as TooLarge before download. */
  maxObjectBytes: 256 * 1024 * 1024,
  /** 100 megapixels: larger images fail as TooManyPixels (decompression-bomb guard). */
  maxPixels: 100_000_000,
} as const;

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string, pattern?: RegExp, hint?: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim();
  if (pattern && !pattern.test(v)) throw new ConfigError(name, `invalid value ${JSON.stringify(raw)}${hint ? ` (${hint})` : ''}`);
  return v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `expected an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a URL: ${JSON.stringify(raw)} (expected e.g. ${protocols[0]}//host:port)`);
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(name, `unsupported scheme ${u.protocol} (expected ${protocols.join(' or ')})`);
  return raw.replace(/\/+$/, '');
}

const BUCKET_RE = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const BQ_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,1023}$/;
const STREAM_RE = /^[A-Za-z0-9_-]{1,128}$/;
const SUBJECT_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function findProjectRoot(): string {
  return __dirname;
}

/** Reads and validates the configuration; throws ConfigError naming the variable at fault. */
export function loadConfig(env: Env = process.env): LookoutConfig {
  const projectRoot = findProjectRoot();
  const home = path.resolve(projectRoot, str(env, 'LOOKOUT_HOME', path.join(projectRoot, '.lookout', 'stack')));
  const toolsDir = path.resolve(str(env, 'LOOKOUT_TOOLS_DIR', path.join(os.homedir(), '.cache', 'lookout', 'bin')));
  const portBase = int(env, 'LOOKOUT_PORT_BASE', DEFAULTS.portBase, 1024, 65000);
  const port = (k: keyof typeof PORT_OFFSETS) => portBase + PORT_OFFSETS[k];

  const projectId = str(env, 'LOOKOUT_GCP_PROJECT', env.GOOGLE_CLOUD_PROJECT || DEFAULTS.projectId, /^[a-z][a-z0-9-]{4,61}[a-z0-9]$/, 'a GCP project id');

  const gcsUrl = url(env, 'LOOKOUT_GCS_ENDPOINT', ['http:', 'https:']);
  const bqUrl = url(env, 'LOOKOUT_BIGQUERY_ENDPOINT', ['http:', 'https:']);
  const natsUrl = url(env, 'LOOKOUT_NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:']);
  const temporalAddr = str(env, 'LOOKOUT_TEMPORAL_ADDRESS', '', /^[A-Za-z0-9.-]+:\d{1,5}$/, 'host:port');

  const bucket = str(env, 'LOOKOUT_BUCKET', DEFAULTS.bucket, BUCKET_RE, 'a GCS bucket name');
  const auth = str(env, 'LOOKOUT_PUSH_AUDIENCE', '');

  const cfg: LookoutConfig = {
    projectRoot,
    home,
    toolsDir,
    portBase,
    gcp: { projectId },
    gcs: {
      url: gcsUrl ?? `http://127.0.0.1:${port('gcs')}`,
      embedded: gcsUrl === undefined,
      bucket,
      resultsBucket: str(env, 'LOOKOUT_RESULTS_BUCKET', DEFAULTS.resultsBucket, BUCKET_RE, 'a GCS bucket name'),
    },
    bigquery: {
      url: bqUrl ?? `http://127.0.0.1:${port('bigquery')}`,
      embedded: bqUrl === undefined,
      dataset: str(env, 'LOOKOUT_BIGQUERY_DATASET', DEFAULTS.dataset, BQ_NAME_RE, 'letters, digits and underscores'),
      table: str(env, 'LOOKOUT_BIGQUERY_TABLE', DEFAULTS.table, BQ_NAME_RE, 'letters, digits and underscores'),
      location: str(env, 'LOOKOUT_BIGQUERY_LOCATION', DEFAULTS.location, /^[A-Za-z0-9-]+$/),
    },
    nats: {
      url: natsUrl ?? `nats://127.0.0.1:${port('nats')}`,
      embedded: natsUrl === undefined,
      stream: str(env, 'LOOKOUT_NATS_STREAM', DEFAULTS.stream, STREAM_RE, 'letters, digits, - and _'),
      subjectPrefix: str(env, 'LOOKOUT_NATS_SUBJECT_PREFIX', DEFAULTS.subjectPrefix, SUBJECT_RE, 'dot-separated tokens'),
      deadStream: str(env, 'LOOKOUT_NATS_DEAD_STREAM', DEFAULTS.deadStream, STREAM_RE, 'letters, digits, - and _'),
      deadPrefix: str(env, 'LOOKOUT_NATS_DEAD_PREFIX', DEFAULTS.deadPrefix, SUBJECT_RE, 'dot-separated tokens'),
      kvBucket: str(env, 'LOOKOUT_NATS_KV_BUCKET', DEFAULTS.kvBucket, /^[A-Za-z0-9_-]+$/),
    },
    temporal: {
      url: temporalAddr || `127.0.0.1:${port('temporal')}`,
      embedded: temporalAddr === '',
      namespace: str(env, 'LOOKOUT_TEMPORAL_NAMESPACE', DEFAULTS.namespace, /^[A-Za-z0-9._-]{1,255}$/),
      workflowQueue: str(env, 'LOOKOUT_WORKFLOW_QUEUE', DEFAULTS.workflowQueue, /^[A-Za-z0-9._-]{1,200}$/),
      uiPort: port('temporalUi'),
    },
    pipeline: str(env, 'LOOKOUT_PIPELINE', DEFAULTS.pipeline, NAME_RE, 'lowercase letters, digits and -'),
    push: {
      port: int(env, 'LOOKOUT_PUSH_PORT', port('push'), 0, 65535),
      audience: auth || undefined,
      allowUnauthenticated: bool(env, 'LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED', false),
    },
    limits: {
      maxObjectBytes: int(env, 'LOOKOUT_MAX_OBJECT_BYTES', DEFAULTS.maxObjectBytes, 1, Number.MAX_SAFE_INTEGER),
      maxPixels: int(env, 'LOOKOUT_MAX_PIXELS', DEFAULTS.maxPixels, 1, 2_000_000_000),
    },
  };
  return cfg;
}

/** A POSIX shell word that stands for `v` exactly: single-quoted, each ' written as '\''. */
export function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/**
 * What `lookout env` prints: `export KEY='VALUE'` lines, every value single-quoted, so that
 * `eval "$(lookout env)"` sets each variable to its exact value (a subject ending in `>`, a path with spaces
 * or quotes) and exports it to the clients started from that shell. The same lines read as a dotenv file.
 */
export function envLines(cfg: LookoutConfig): string[] {
  return envPairs(cfg).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
}

/** The variables any standard client needs, as [name, value] pairs (the emulator hosts only for the embedded stack). */
export function envPairs(cfg: LookoutConfig): Array<[string, string]> {
  const { gcp, gcs, bigquery: bq, nats, temporal } = cfg;
  const pairs: Array<[string, string] | false> = [
    ['GOOGLE_CLOUD_PROJECT', gcp.projectId],
    gcs.embedded && ['STORAGE_EMULATOR_HOST', gcs.url],
    ['LOOKOUT_GCS_ENDPOINT', gcs.url],
    ['LOOKOUT_BUCKET', gcs.bucket],
    ['LOOKOUT_RESULTS_BUCKET', gcs.resultsBucket],
    bq.embedded && ['BIGQUERY_EMULATOR_HOST', bq.url],
    ['LOOKOUT_BIGQUERY_ENDPOINT', bq.url],
    ['LOOKOUT_BIGQUERY_DATASET', bq.dataset],
    ['LOOKOUT_BIGQUERY_TABLE', bq.table],
    ['LOOKOUT_BIGQUERY_TABLE_ID', `${gcp.projectId}.${bq.dataset}.${bq.table}`],
    ['LOOKOUT_BIGQUERY_VIEW_ID', `${gcp.projectId}.${bq.dataset}.${bq.table}_latest`],
    ['LOOKOUT_NATS_URL', nats.url],
    ['LOOKOUT_NATS_STREAM', nats.stream],
    ['LOOKOUT_NATS_SUBJECT', `${nats.subjectPrefix}.>`],
    ['LOOKOUT_NATS_DEAD_STREAM', nats.deadStream],
    ['LOOKOUT_TEMPORAL_ADDRESS', temporal.url],
    ['LOOKOUT_TEMPORAL_NAMESPACE', temporal.namespace],
    temporal.embedded && ['LOOKOUT_TEMPORAL_UI', `http://127.0.0.1:${temporal.uiPort}`],
    ['LOOKOUT_WORKFLOW_QUEUE', temporal.workflowQueue],
    ['LOOKOUT_PIPELINE', cfg.pipeline],
  ];
  return pairs.filter((p): p is [string, string] => p !== false);
}
