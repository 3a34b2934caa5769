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
  push: {
    port: number;
    /** OIDC audience the push subscription / Eventarc trigger is configured with; unset = no OIDC. */
    audience: string | undefined;
    /** Service-account emails whose OIDC tokens are accepted (required with an audience). */
    serviceAccounts: string[];
    /** Buckets whose events the endpoint accepts; an event naming any other bucket is refused (403). */
    buckets: string[];
    /** Shared secret accepted as a bearer token instead of OIDC (for senders that cannot mint ID tokens). */
    token: string | undefined;
    allowUnauthenticated: boolean;
  };
  limits: { maxObjectBytes: number; maxPixels: number; decodePixelBudget: number };
}

/** Offsets from portBase for every local server. Documented in README. */
export const PORT_OFFSETS = {
  nats: 0,
  natsMonitor: 1,
  temporal: 10,
  temporalUi: 11,
  gcs: 20,
  bigquery: 30,
  bigqueryGrpc: 31,
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
  /**
   * 200 megapixels: what all decodes in flight in one worker may hold together (two of the largest images
   * admitted). 12 concurrent 100-megapixel PNGs peaked at 0.96 GB RSS with it against 1.54 GB without
   * (3.2 GB without, 1.26 GB with, at UV_THREADPOOL_SIZE=12); bench/decode-budget.ts. An image over it decodes alone.
   */
  decodePixelBudget: 200_000_000,
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

/** A comma-separated list; each item must match `pattern`. */
function list(env: Env, name: string, fallback: string[], pattern: RegExp, hint: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const items = raw.split(',').map((x) => x.trim()).filter(Boolean);
  for (const it of items) if (!pattern.test(it)) throw new ConfigError(name, `invalid item ${JSON.stringify(it)} (${hint})`);
  return items;
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
const EMAIL_RE = /^[^@\s,]+@[^@\s,]+\.[^@\s,]+$/;

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
  const serviceAccounts = list(env, 'LOOKOUT_PUSH_SERVICE_ACCOUNTS', [], EMAIL_RE, 'a service-account email').map((e) => e.toLowerCase());
  // Any Google-signed ID token for the audience would do otherwise: anyone can mint one with their own service account.
  if (auth && serviceAccounts.length === 0) throw new ConfigError('LOOKOUT_PUSH_SERVICE_ACCOUNTS', 'required when LOOKOUT_PUSH_AUDIENCE is set: the comma-separated service-account emails of the push subscription or Eventarc trigger');

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
      serviceAccounts,
      buckets: list(env, 'LOOKOUT_PUSH_BUCKETS', [bucket], BUCKET_RE, 'a GCS bucket name'),
      token: env.LOOKOUT_PUSH_TOKEN || undefined,
      allowUnauthenticated: bool(env, 'LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED', false),
    },
    limits: {
      maxObjectBytes: int(env, 'LOOKOUT_MAX_OBJECT_BYTES', DEFAULTS.maxObjectBytes, 1, Number.MAX_SAFE_INTEGER),
      maxPixels: int(env, 'LOOKOUT_MAX_PIXELS', DEFAULTS.maxPixels, 1, 2_000_000_000),
      decodePixelBudget: int(env, 'LOOKOUT_DECODE_PIXEL_BUDGET', DEFAULTS.decodePixelBudget, 1, Number.MAX_SAFE_INTEGER),
    },
  };
  return cfg;
}

/** The KEY=VALUE lines that `lookout env` prints: what any standard client needs. */
export function envLines(cfg: LookoutConfig): string[] {
  const gcsHost = cfg.gcs.url;
  return [
    `GOOGLE_CLOUD_PROJECT=${cfg.gcp.projectId}`,
    ...(cfg.gcs.embedded ? [`STORAGE_EMULATOR_HOST=${gcsHost}`] : []),
    `LOOKOUT_GCS_ENDPOINT=${gcsHost}`,
    `LOOKOUT_BUCKET=${cfg.gcs.bucket}`,
    `LOOKOUT_RESULTS_BUCKET=${cfg.gcs.resultsBucket}`,
    ...(cfg.bigquery.embedded ? [`BIGQUERY_EMULATOR_HOST=${cfg.bigquery.url}`] : []),
    `LOOKOUT_BIGQUERY_ENDPOINT=${cfg.bigquery.url}`,
    `LOOKOUT_BIGQUERY_DATASET=${cfg.bigquery.dataset}`,
    `LOOKOUT_BIGQUERY_TABLE=${cfg.bigquery.table}`,
    `LOOKOUT_BIGQUERY_TABLE_ID=${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}`,
    `LOOKOUT_BIGQUERY_VIEW_ID=${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}_latest`,
    `LOOKOUT_NATS_URL=${cfg.nats.url}`,
    `LOOKOUT_NATS_STREAM=${cfg.nats.stream}`,
    `LOOKOUT_NATS_SUBJECT=${cfg.nats.subjectPrefix}.>`,
    `LOOKOUT_NATS_DEAD_STREAM=${cfg.nats.deadStream}`,
    `LOOKOUT_TEMPORAL_ADDRESS=${cfg.temporal.url}`,
    `LOOKOUT_TEMPORAL_NAMESPACE=${cfg.temporal.namespace}`,
    ...(cfg.temporal.embedded ? [`LOOKOUT_TEMPORAL_UI=http://127.0.0.1:${cfg.temporal.uiPort}`] : []),
    `LOOKOUT_WORKFLOW_QUEUE=${cfg.temporal.workflowQueue}`,
    `LOOKOUT_PIPELINE=${cfg.pipeline}`,
  ];
}
