/**
 * Lookout configuration: read from the environment once, validated, typed.
 *
 * Every endpoint left unset means "the embedded stack": a local server that
 * `lookout up` starts on loopback. Setting an endpoint means "a real service":
 * nothing local is started for it and the same code talks to it.
 */
import os from 'node:os';
import path from 'node:path';
import { STAGES, type PipelineOptions, type Pool, type StageName } from './core/pipelines';

export type { Pool };

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

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
  /** `lookout serve`: bearer secret its callers must send (required when it listens beyond loopback). */
  serve: { token: string | undefined };
  limits: { maxObjectBytes: number; maxPixels: number; decodePixelBudget: number };
  /** Where stages run: which go to the GPU pool, and how long they wait for a GPU worker. */
  pipelines: PipelineOptions;
  /** Scene for CCTV analyses whose object names none (metadata `lookout-scene`). */
  scene: string | undefined;
  /** Video analyses: every Nth frame, frame analyses in flight per video. */
  video: { every: number | undefined; parallelism: number; segmentFrames: number; cacheMb: number };
  worker: { imageCacheMb: number; modelRepo: string | undefined };
  /** Print stack traces of CLI errors. */
  debug: boolean;
  /** Set by `lookout up` for the processes it starts: the file a process writes when it is ready. */
  readyFile: string | undefined;
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
  /**
   * 200 megapixels: what all decodes in flight in one worker may hold together (two of the largest images
   * admitted). 12 concurrent 100-megapixel PNGs peaked at 0.96 GB RSS with it against 1.54 GB without
   * (3.2 GB without, 1.26 GB with, at UV_THREADPOOL_SIZE=12); bench/decode-budget.ts. An image over it decodes alone.
   */
  decodePixelBudget: 200_000_000,
} as const;

/**
 * Every environment variable Lookout reads, with its default and meaning. The README's table is
 * generated from this list and a unit test keeps the two, and config.ts's reads, in step.
 */
export const ENV_VARS: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'LOOKOUT_HOME', default: '.lookout/stack', meaning: 'state folder of the embedded stack (data, logs, pid files)' },
  { name: 'LOOKOUT_TOOLS_DIR', default: '~/.cache/lookout/bin', meaning: 'where infra/install.sh puts the Go-built servers' },
  { name: 'LOOKOUT_PORT_BASE', default: '17200', meaning: 'first port of the embedded stack; every local server sits at a fixed offset' },
  { name: 'LOOKOUT_GCP_PROJECT', default: '$GOOGLE_CLOUD_PROJECT or lookout-local', meaning: 'GCP project id' },
  { name: 'GOOGLE_CLOUD_PROJECT', default: '(unset)', meaning: 'fallback for LOOKOUT_GCP_PROJECT' },
  { name: 'LOOKOUT_GCS_ENDPOINT', default: '(embedded fake-gcs-server)', meaning: 'GCS endpoint; set = real service, nothing local starts' },
  { name: 'LOOKOUT_BIGQUERY_ENDPOINT', default: '(embedded bigquery-emulator)', meaning: 'BigQuery endpoint; set = real service' },
  { name: 'LOOKOUT_NATS_URL', default: '(embedded nats-server)', meaning: 'NATS server URL; set = real service' },
  { name: 'LOOKOUT_TEMPORAL_ADDRESS', default: '(embedded temporal dev server)', meaning: 'Temporal frontend host:port; set = real service' },
  { name: 'LOOKOUT_BUCKET', default: DEFAULTS.bucket, meaning: 'the inbox bucket that is watched and analysed' },
  { name: 'LOOKOUT_RESULTS_BUCKET', default: DEFAULTS.resultsBucket, meaning: 'derived objects: frames, features, annotated images, scene models' },
  { name: 'LOOKOUT_BIGQUERY_DATASET', default: DEFAULTS.dataset, meaning: 'dataset of the results table' },
  { name: 'LOOKOUT_BIGQUERY_TABLE', default: DEFAULTS.table, meaning: 'results table (the view is <table>_latest)' },
  { name: 'LOOKOUT_BIGQUERY_LOCATION', default: DEFAULTS.location, meaning: 'BigQuery location' },
  { name: 'LOOKOUT_NATS_STREAM', default: DEFAULTS.stream, meaning: 'JetStream stream of object events' },
  { name: 'LOOKOUT_NATS_SUBJECT_PREFIX', default: DEFAULTS.subjectPrefix, meaning: 'subject prefix of object events' },
  { name: 'LOOKOUT_NATS_DEAD_STREAM', default: DEFAULTS.deadStream, meaning: 'dead-letter stream' },
  { name: 'LOOKOUT_NATS_DEAD_PREFIX', default: DEFAULTS.deadPrefix, meaning: 'dead-letter subject prefix' },
  { name: 'LOOKOUT_NATS_KV_BUCKET', default: DEFAULTS.kvBucket, meaning: 'KV bucket of watcher cursors and backfill checkpoints' },
  { name: 'LOOKOUT_TEMPORAL_NAMESPACE', default: DEFAULTS.namespace, meaning: 'Temporal namespace' },
  { name: 'LOOKOUT_WORKFLOW_QUEUE', default: DEFAULTS.workflowQueue, meaning: 'task queue of the workflows' },
  { name: 'LOOKOUT_PIPELINE', default: DEFAULTS.pipeline, meaning: 'pipeline for objects whose metadata names none (lookout-pipeline)' },
  { name: 'LOOKOUT_GPU_STAGES', default: '(none)', meaning: 'comma-separated stages scheduled on the GPU pool (detect, extract, score)' },
  { name: 'LOOKOUT_GPU_FALLBACK_MS', default: '10000', meaning: 'how long a GPU stage waits for a GPU worker before it runs on the CPU pool' },
  { name: 'LOOKOUT_SCENE', default: '(unset: scene "default")', meaning: 'scene for CCTV analyses whose object names none (lookout-scene)' },
  { name: 'LOOKOUT_VIDEO_EVERY', default: "the method's (1; cctv-ocae 5)", meaning: 'video analyses take every Nth frame (object metadata lookout-video-every overrides)' },
  { name: 'LOOKOUT_VIDEO_PARALLELISM', default: '4', meaning: 'frame workflows in flight per video (methods that split videos into frames)' },
  { name: 'LOOKOUT_VIDEO_SEGMENT_FRAMES', default: '100', meaning: 'frames per segment activity (methods that analyse segments)' },
  { name: 'LOOKOUT_VIDEO_CACHE_MB', default: '2048', meaning: 'worker: videos kept on local disk between their segments (LRU)' },
  { name: 'LOOKOUT_IMAGE_CACHE_MB', default: '256', meaning: 'worker: decoded images kept between the stages of an object (LRU)' },
  { name: 'LOOKOUT_MODEL_REPO', default: 'models/', meaning: 'worker: model repository, a folder or gs://bucket/prefix' },
  { name: 'LOOKOUT_PUSH_PORT', default: 'port base + 40', meaning: 'push-server listen port' },
  { name: 'LOOKOUT_PUSH_AUDIENCE', default: '(unset)', meaning: 'push-server: accept Google OIDC tokens for this audience' },
  { name: 'LOOKOUT_PUSH_TOKEN', default: '(unset)', meaning: 'push-server: accept this shared bearer secret' },
  { name: 'LOOKOUT_PUSH_SERVICE_ACCOUNTS', default: '(none; required with LOOKOUT_PUSH_AUDIENCE)', meaning: 'push-server: service-account emails whose OIDC tokens are accepted' },
  { name: 'LOOKOUT_PUSH_BUCKETS', default: '$LOOKOUT_BUCKET', meaning: 'push-server: buckets whose events are accepted (others: 403)' },
  { name: 'LOOKOUT_DECODE_PIXEL_BUDGET', default: '200000000', meaning: 'worker: pixels all image decodes in flight may hold together' },
  { name: 'LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED', default: 'false', meaning: 'push-server: accept requests without a token; refused unless it listens on loopback' },
  { name: 'LOOKOUT_SERVE_TOKEN', default: '(unset)', meaning: 'lookout serve: bearer secret callers must send; required when --host is beyond loopback' },
  { name: 'LOOKOUT_MAX_OBJECT_BYTES', default: String(256 * 1024 * 1024), meaning: 'larger objects fail as ObjectTooLarge before download' },
  { name: 'LOOKOUT_MAX_PIXELS', default: '100000000', meaning: 'larger images fail as TooManyPixels (decompression-bomb guard)' },
  { name: 'LOOKOUT_DEBUG', default: 'false', meaning: 'print stack traces of CLI errors' },
  { name: 'LOOKOUT_READY_FILE', default: '(set by lookout up)', meaning: 'a process started by `lookout up` writes its pid here when ready' },
];

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

function gpuStages(env: Env, name: string): StageName[] {
  const raw = env[name];
  if (!raw) return [];
  const out: StageName[] = [];
  for (const s of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(STAGES as readonly string[]).includes(s)) throw new ConfigError(name, `unknown stage "${s}" (stages: ${STAGES.join(', ')})`);
    out.push(s as StageName);
  }
  return out;
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
    pipelines: { gpuStages: gpuStages(env, 'LOOKOUT_GPU_STAGES'), gpuFallbackMs: int(env, 'LOOKOUT_GPU_FALLBACK_MS', 10_000, 100, 3_600_000) },
    scene: str(env, 'LOOKOUT_SCENE', '', /^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, - or _') || undefined,
    video: {
      every: env.LOOKOUT_VIDEO_EVERY ? int(env, 'LOOKOUT_VIDEO_EVERY', 1, 1, 100_000) : undefined,
      parallelism: int(env, 'LOOKOUT_VIDEO_PARALLELISM', 4, 1, 1000),
      segmentFrames: int(env, 'LOOKOUT_VIDEO_SEGMENT_FRAMES', 100, 1, 100_000),
      cacheMb: int(env, 'LOOKOUT_VIDEO_CACHE_MB', 2048, 0, 10_000_000),
    },
    worker: { imageCacheMb: int(env, 'LOOKOUT_IMAGE_CACHE_MB', 256, 0, 1_000_000), modelRepo: str(env, 'LOOKOUT_MODEL_REPO', '') || undefined },
    push: {
      port: int(env, 'LOOKOUT_PUSH_PORT', port('push'), 0, 65535),
      audience: auth || undefined,
      serviceAccounts,
      buckets: list(env, 'LOOKOUT_PUSH_BUCKETS', [bucket], BUCKET_RE, 'a GCS bucket name'),
      token: env.LOOKOUT_PUSH_TOKEN || undefined,
      allowUnauthenticated: bool(env, 'LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED', false),
    },
    serve: { token: env.LOOKOUT_SERVE_TOKEN || undefined },
    limits: {
      maxObjectBytes: int(env, 'LOOKOUT_MAX_OBJECT_BYTES', DEFAULTS.maxObjectBytes, 1, Number.MAX_SAFE_INTEGER),
      maxPixels: int(env, 'LOOKOUT_MAX_PIXELS', DEFAULTS.maxPixels, 1, 2_000_000_000),
      decodePixelBudget: int(env, 'LOOKOUT_DECODE_PIXEL_BUDGET', DEFAULTS.decodePixelBudget, 1, Number.MAX_SAFE_INTEGER),
    },
    debug: bool(env, 'LOOKOUT_DEBUG', false),
    readyFile: env.LOOKOUT_READY_FILE || undefined,
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

/**
 * The environment for a child process this one starts (the embedded servers, `lookout up`'s
 * processes): this process's environment plus `extra`. The one other place that touches process.env.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

/** The README's table of environment variables (kept in step with ENV_VARS by a unit test). */
export function envVarsMarkdown(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return ['| variable | default | meaning |', '|---|---|---|', ...ENV_VARS.map((v) => `| \`${v.name}\` | ${esc(v.default)} | ${esc(v.meaning)} |`)].join('\n');
}
