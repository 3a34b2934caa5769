/**
 * Lookout configuration: read from the environment once, validated, typed.
 *
 * Every endpoint left unset means "the embedded stack": a local server that
 * `lookout up` starts on loopback. Setting an endpoint means "a real service":
 * nothing local is started for it and the same code talks to it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import { STAGES, type PipelineOptions, type Pool, type StageName } from './core/pipelines';
import { redact } from './core/redact';

export type { Pool };

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    // A value quoted in the message may hold a secret (a password inside a URL): redact before it is shown.
    super(redact(`${variable}: ${message}`));
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
  nats: Endpoint & {
    stream: string;
    subjectPrefix: string;
    deadStream: string;
    deadPrefix: string;
    kvBucket: string;
    /** Seed servers (url is these joined by commas): the client learns the rest of a cluster from any one of them. */
    servers: string[];
    /** Nodes of the embedded JetStream cluster `lookout up` starts (1 = a single server). */
    cluster: number;
    /** Replicas of every stream and KV bucket Lookout creates (3 in a cluster, 1 on a single server). */
    replicas: number;
    auth: NatsAuth;
    tls: NatsTls | undefined;
  };
  temporal: Endpoint & {
    namespace: string;
    workflowQueue: string;
    uiPort: number;
    /** The envconfig profile the connection came from (TOML file and/or TEMPORAL_* variables), if any. */
    profile: string | undefined;
    /** What every Temporal connection (client and worker) is opened with, besides the address. */
    connection: TemporalConnectionOptions;
    /** Worker versioning: deployment name and build ID of this worker release (unset = unversioned workers). */
    deployment: { name: string; buildId: string } | undefined;
  };
  pipeline: string;
  /**
   * Pub/Sub: where GCS object notifications arrive. `url` is the emulator's host:port (the embedded pstest
   * server, or PUBSUB_EMULATOR_HOST); undefined = real Pub/Sub (Google's endpoint and credentials).
   */
  pubsub: { url: string | undefined; embedded: boolean; topic: string; subscription: string };
  /** How `lookout up` feeds the object stream: a Pub/Sub pull subscriber (event-driven) or the bucket watcher (polling). */
  ingest: 'pubsub' | 'watch';
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
  /** cctv-attributes: run the optional pose step (MoveNet keypoints of people; the pose and limbs attributes). */
  cctv: { pose: boolean };
  /** Video analyses: every Nth frame, frame analyses in flight per video. */
  video: {
    every: number | undefined;
    parallelism: number;
    segmentFrames: number;
    cacheMb: number;
    maxFramePixels: number;
    maxBytes: number;
  };
  worker: { imageCacheMb: number; modelRepo: string | undefined };
  /** Learning normal as footage flows (docs/cctv-alerts.md): the drift guard's minimum age, the normal set's bound. */
  refit: { minAgeS: number; maxFrames: number; keepObservations: boolean };
  /** Raster pipeline: chip side and overlap (pixels), chips per block side, blocks in flight per raster. */
  raster: {
    chipSize: number;
    chipOverlap: number;
    blockChips: number;
    parallelism: number;
    /** Pairing by place and time (docs/stac.md): find each acquisition's before image in the archive's rows. */
    pairing: boolean;
    /** Share of the smaller footprint's bounding box two acquisitions must have in common to be of one place. */
    pairOverlap: number;
  };
  /** Print stack traces of CLI errors. */
  debug: boolean;
  /** Set by `lookout up` for the processes it starts: the file a process writes when it is ready. */
  readyFile: string | undefined;
  /** Port of the /healthz + /readyz endpoint of long-running processes (Kubernetes probes); undefined = off. */
  healthPort: number | undefined;
  /** Logs, metrics and traces of the long-running processes (docs/operations.md "Observability"). */
  observability: {
    logLevel: LogLevelName;
    /** Address the /metrics servers listen on. */
    metricsHost: string;
    /** Port of each process's /metrics server: port base + PORT_OFFSETS.metrics<Process> unless overridden; 0 = off. */
    metricsPorts: Record<MetricsProcess, number>;
    /** OTLP/HTTP traces endpoint (collector base URL, e.g. http://127.0.0.1:4318); unset = spans are not exported. */
    otlpEndpoint: string | undefined;
  };
  /** `lookout ui`: where it listens, and the bearer token its writes (retry, feedback, upload) need beyond loopback. */
  ui: { port: number; host: string; token: string | undefined };
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
/** The long-running processes that serve /metrics. */
export const METRICS_PROCESSES = [
  'worker',
  'workerGpu',
  'dispatcher',
  'watcher',
  'push',
  'serve',
  'stream',
  'subscriber',
] as const;
export type MetricsProcess = (typeof METRICS_PROCESSES)[number];

/** NATS credentials: at most one of user/password, token, nkey seed or .creds file (checked by loadConfig). */
export interface NatsAuth {
  user?: string;
  password?: string;
  token?: string;
  /** An nkey seed (SU...), the secret half of an nkey pair. */
  nkeySeed?: string;
  /** Path of a .creds file (user JWT + nkey seed), as `nsc` writes them. */
  credsFile?: string;
}

/** TLS to NATS: a CA to trust (a private CA), a client certificate for mutual TLS, or just `required`. */
export interface NatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Temporal connection options from an envconfig profile (the shape @temporalio/client and worker connections take). */
export type TemporalConnectionOptions = Omit<ReturnType<typeof toClientOptions>['connectionOptions'], 'address'>;

/** Offsets from portBase for every local server. Documented in docs/stack.md. */
export const PORT_OFFSETS = {
  nats: 0,
  natsMonitor: 1,
  /** Nodes 2 and 3 of an embedded NATS cluster (`lookout up --nats-cluster 3`): client, monitor. */
  nats2: 2,
  nats2Monitor: 3,
  nats3: 4,
  nats3Monitor: 5,
  /** Cluster (route) ports of nodes 1, 2, 3. */
  natsRoute1: 6,
  natsRoute2: 7,
  natsRoute3: 8,
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
  /** pstest, Google's Pub/Sub fake (gRPC): fake-gcs-server publishes object notifications to it. */
  pubsub: 44,
  /** /metrics of each long-running Lookout process (LOOKOUT_METRICS_PORT overrides them all for one process). */
  metricsWorker: 50,
  metricsWorkerGpu: 51,
  metricsDispatcher: 52,
  metricsWatcher: 53,
  metricsPush: 54,
  metricsServe: 55,
  metricsStream: 56,
  metricsSubscriber: 57,
  /** The Temporal SDK's own Prometheus exporter (Rust core) of the CPU / GPU worker; proxied into the worker's /metrics. */
  temporalSdkMetricsWorker: 60,
  temporalSdkMetricsWorkerGpu: 61,
  ui: 42,
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
 * Every environment variable Lookout reads, with its default and meaning. The table in docs/configuration.md is
 * generated from this list and a unit test keeps the two, and config.ts's reads, in step.
 */
export const ENV_VARS: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  {
    name: 'LOOKOUT_HOME',
    default: '.lookout/stack',
    meaning: 'state folder of the embedded stack (data, logs, pid files)',
  },
  {
    name: 'LOOKOUT_TOOLS_DIR',
    default: '~/.cache/lookout/bin',
    meaning: 'where infra/install.sh puts the Go-built servers',
  },
  {
    name: 'LOOKOUT_PORT_BASE',
    default: '17200',
    meaning: 'first port of the embedded stack; every local server sits at a fixed offset',
  },
  { name: 'LOOKOUT_GCP_PROJECT', default: '$GOOGLE_CLOUD_PROJECT or lookout-local', meaning: 'GCP project id' },
  { name: 'GOOGLE_CLOUD_PROJECT', default: '(unset)', meaning: 'fallback for LOOKOUT_GCP_PROJECT' },
  {
    name: 'LOOKOUT_GCS_ENDPOINT',
    default: '(embedded fake-gcs-server)',
    meaning: 'GCS endpoint; set = real service, nothing local starts',
  },
  {
    name: 'LOOKOUT_BIGQUERY_ENDPOINT',
    default: '(embedded bigquery-emulator)',
    meaning: 'BigQuery endpoint; set = real service',
  },
  { name: 'LOOKOUT_NATS_URL', default: '(embedded nats-server)', meaning: 'NATS server URL; set = real service' },
  {
    name: 'LOOKOUT_TEMPORAL_ADDRESS',
    default: '(embedded temporal dev server)',
    meaning: 'Temporal frontend host:port; set = real service',
  },
  { name: 'LOOKOUT_BUCKET', default: DEFAULTS.bucket, meaning: 'the inbox bucket that is watched and analysed' },
  {
    name: 'LOOKOUT_RESULTS_BUCKET',
    default: DEFAULTS.resultsBucket,
    meaning: 'derived objects: frames, features, annotated images, scene models',
  },
  { name: 'LOOKOUT_BIGQUERY_DATASET', default: DEFAULTS.dataset, meaning: 'dataset of the results table' },
  { name: 'LOOKOUT_BIGQUERY_TABLE', default: DEFAULTS.table, meaning: 'results table (the view is <table>_latest)' },
  { name: 'LOOKOUT_BIGQUERY_LOCATION', default: DEFAULTS.location, meaning: 'BigQuery location' },
  { name: 'LOOKOUT_NATS_STREAM', default: DEFAULTS.stream, meaning: 'JetStream stream of object events' },
  { name: 'LOOKOUT_NATS_SUBJECT_PREFIX', default: DEFAULTS.subjectPrefix, meaning: 'subject prefix of object events' },
  { name: 'LOOKOUT_NATS_DEAD_STREAM', default: DEFAULTS.deadStream, meaning: 'dead-letter stream' },
  { name: 'LOOKOUT_NATS_DEAD_PREFIX', default: DEFAULTS.deadPrefix, meaning: 'dead-letter subject prefix' },
  {
    name: 'LOOKOUT_NATS_KV_BUCKET',
    default: DEFAULTS.kvBucket,
    meaning: 'KV bucket of watcher cursors and backfill checkpoints',
  },
  { name: 'LOOKOUT_TEMPORAL_NAMESPACE', default: DEFAULTS.namespace, meaning: 'Temporal namespace' },
  { name: 'LOOKOUT_WORKFLOW_QUEUE', default: DEFAULTS.workflowQueue, meaning: 'task queue of the workflows' },
  {
    name: 'LOOKOUT_PIPELINE',
    default: DEFAULTS.pipeline,
    meaning: 'pipeline for objects whose metadata names none (lookout-pipeline)',
  },
  {
    name: 'LOOKOUT_GPU_STAGES',
    default: '(none)',
    meaning: 'comma-separated stages scheduled on the GPU pool (detect, extract, score)',
  },
  {
    name: 'LOOKOUT_GPU_FALLBACK_MS',
    default: '10000',
    meaning: 'how long a GPU stage waits for a GPU worker before it runs on the CPU pool',
  },
  {
    name: 'LOOKOUT_SCENE',
    default: '(unset: scene "default")',
    meaning: 'scene for CCTV analyses whose object names none (lookout-scene)',
  },
  {
    name: 'LOOKOUT_CCTV_POSE',
    default: 'false',
    meaning:
      'cctv-attributes: run the pose step (MoveNet on person crops at the appearance cadence) for the pose and limbs attributes; fit and analyse with the same setting',
  },
  {
    name: 'LOOKOUT_VIDEO_EVERY',
    default: "the method's (1; cctv-ocae 5)",
    meaning: 'video analyses take every Nth frame (object metadata lookout-video-every overrides)',
  },
  {
    name: 'LOOKOUT_VIDEO_PARALLELISM',
    default: '4',
    meaning: 'frame workflows in flight per video (methods that split videos into frames)',
  },
  {
    name: 'LOOKOUT_VIDEO_SEGMENT_FRAMES',
    default: '100',
    meaning: 'frames per segment activity (methods that analyse segments)',
  },
  {
    name: 'LOOKOUT_REFIT_MIN_AGE_S',
    default: '21600 (6 h)',
    meaning:
      "lookout refit: analysed footage joins a scene's normal model only once this old (seconds), so a slow change is seen before it becomes normal",
  },
  {
    name: 'LOOKOUT_REFIT_MAX_FRAMES',
    default: '3000',
    meaning:
      "lookout refit: frames of joined footage a scene's normal set keeps at most (a coreset; the first fit's come on top)",
  },
  {
    name: 'LOOKOUT_REFIT_KEEP_OBSERVATIONS',
    default: 'true',
    meaning:
      'cctv-attributes workers keep the observations of analysed footage for lookout refit (false: no learning online)',
  },
  {
    name: 'LOOKOUT_RASTER_CHIP_SIZE',
    default: '128',
    meaning: 'raster pipeline: chip side in pixels (object metadata lookout-chip-size overrides)',
  },
  {
    name: 'LOOKOUT_RASTER_CHIP_OVERLAP',
    default: '0',
    meaning: 'raster pipeline: overlap of neighbouring chips in pixels (metadata lookout-chip-overlap overrides)',
  },
  {
    name: 'LOOKOUT_RASTER_BLOCK_CHIPS',
    default: '8',
    meaning: 'raster pipeline: chips per side of the block one activity analyses (8: 64 chips)',
  },
  {
    name: 'LOOKOUT_RASTER_PARALLELISM',
    default: '2',
    meaning: 'raster pipeline: block activities in flight per raster',
  },
  {
    name: 'LOOKOUT_RASTER_PAIRING',
    default: 'true',
    meaning:
      'raster pipeline: pair each acquisition (STAC datetime or metadata lookout-datetime) with the previous one of the same place found in the results table, and re-pair when an older one arrives late (docs/stac.md)',
  },
  {
    name: 'LOOKOUT_RASTER_PAIR_OVERLAP',
    default: '0.9',
    meaning:
      'raster pipeline: share (0-1] of the smaller footprint bounding box two acquisitions must share to be paired (same tile key too, when both have one)',
  },
  {
    name: 'LOOKOUT_VIDEO_CACHE_MB',
    default: '2048',
    meaning: 'worker: videos kept on local disk between their segments (LRU)',
  },
  {
    name: 'LOOKOUT_VIDEO_MAX_BYTES',
    default: String(16 * 2 ** 30),
    meaning:
      'worker: larger videos fail as ObjectTooLarge (videos are streamed to local disk, not memory; LOOKOUT_MAX_OBJECT_BYTES bounds what is read into memory)',
  },
  {
    name: 'LOOKOUT_VIDEO_MAX_PIXELS',
    default: '40000000',
    meaning: 'videos with larger frames (8K is 33 Mpx) fail as TooManyPixels',
  },
  {
    name: 'LOOKOUT_IMAGE_CACHE_MB',
    default: '256',
    meaning: 'worker: decoded images kept between the stages of an object (LRU)',
  },
  {
    name: 'LOOKOUT_MODEL_REPO',
    default: 'models/',
    meaning: 'worker: model repository, a folder or gs://bucket/prefix',
  },
  { name: 'LOOKOUT_PUSH_PORT', default: 'port base + 40', meaning: 'push-server listen port' },
  {
    name: 'LOOKOUT_PUSH_AUDIENCE',
    default: '(unset)',
    meaning: 'push-server: accept Google OIDC tokens for this audience',
  },
  { name: 'LOOKOUT_PUSH_TOKEN', default: '(unset)', meaning: 'push-server: accept this shared bearer secret' },
  {
    name: 'LOOKOUT_PUSH_SERVICE_ACCOUNTS',
    default: '(none; required with LOOKOUT_PUSH_AUDIENCE)',
    meaning: 'push-server: service-account emails whose OIDC tokens are accepted',
  },
  {
    name: 'LOOKOUT_PUSH_BUCKETS',
    default: '$LOOKOUT_BUCKET',
    meaning: 'push-server: buckets whose events are accepted (others: 403)',
  },
  {
    name: 'LOOKOUT_DECODE_PIXEL_BUDGET',
    default: '200000000',
    meaning: 'worker: pixels all image decodes in flight may hold together',
  },
  {
    name: 'LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED',
    default: 'false',
    meaning: 'push-server: accept requests without a token; refused unless it listens on loopback',
  },
  {
    name: 'LOOKOUT_SERVE_TOKEN',
    default: '(unset)',
    meaning: 'lookout serve: bearer secret callers must send; required when --host is beyond loopback',
  },
  {
    name: 'LOOKOUT_MAX_OBJECT_BYTES',
    default: String(256 * 1024 * 1024),
    meaning: 'larger objects fail as ObjectTooLarge before download',
  },
  {
    name: 'LOOKOUT_MAX_PIXELS',
    default: '100000000',
    meaning: 'larger images fail as TooManyPixels (decompression-bomb guard)',
  },
  { name: 'LOOKOUT_DEBUG', default: 'false', meaning: 'print stack traces of CLI errors' },
  {
    name: 'PUBSUB_EMULATOR_HOST',
    default: '(embedded pstest when GCS is embedded)',
    meaning: 'Pub/Sub emulator host:port; unset with a real GCS = real Pub/Sub',
  },
  {
    name: 'LOOKOUT_PUBSUB_TOPIC',
    default: 'lookout-objects',
    meaning: "topic of the bucket's object notifications (created on the embedded stack)",
  },
  {
    name: 'LOOKOUT_PUBSUB_SUBSCRIPTION',
    default: 'lookout-ingest',
    meaning: 'pull subscription `lookout subscribe` reads (created on an emulator)',
  },
  {
    name: 'LOOKOUT_INGEST',
    default: 'pubsub (embedded GCS) / watch',
    meaning: '`lookout up` feeds the stream with the Pub/Sub subscriber (pubsub) or the polling watcher (watch)',
  },
  {
    name: 'LOOKOUT_GROUP_STAGES',
    default: 'true',
    meaning: 'dispatcher: consecutive stages on one queue run as one activity (one Temporal round trip)',
  },
  {
    name: 'LOOKOUT_LOCAL_RECORD',
    default: 'true',
    meaning: "dispatcher: the row is written by a local activity of the workflow's worker",
  },
  {
    name: 'LOOKOUT_LOCAL_STAGES',
    default: 'false',
    meaning:
      "dispatcher: a CPU stage group runs as a local activity of the workflow's worker (no activity task; fewer history events)",
  },
  {
    name: 'LOOKOUT_READY_FILE',
    default: '(set by lookout up)',
    meaning: 'a process started by `lookout up` writes its pid here when ready',
  },
  {
    name: 'LOOKOUT_NATS_CLUSTER',
    default: '1',
    meaning: 'nodes of the embedded NATS JetStream cluster (1 or 3; `lookout up --nats-cluster 3` sets it)',
  },
  {
    name: 'LOOKOUT_NATS_REPLICAS',
    default: '3 in a cluster (embedded 3 nodes, or 3+ seed URLs), else 1',
    meaning: 'replicas of the streams and the KV bucket',
  },
  { name: 'LOOKOUT_NATS_USER', default: '(unset)', meaning: 'NATS user (with LOOKOUT_NATS_PASSWORD)' },
  { name: 'LOOKOUT_NATS_PASSWORD', default: '(unset)', meaning: 'NATS password (secret: never printed)' },
  { name: 'LOOKOUT_NATS_TOKEN', default: '(unset)', meaning: 'NATS auth token (secret)' },
  { name: 'LOOKOUT_NATS_NKEY_SEED', default: '(unset)', meaning: 'NATS nkey seed, SU… (secret)' },
  { name: 'LOOKOUT_NATS_CREDS', default: '(unset)', meaning: 'path of a NATS .creds file (user JWT + nkey seed)' },
  {
    name: 'LOOKOUT_NATS_TLS_CA',
    default: '(unset)',
    meaning: "PEM file of the CA that signed the NATS servers' certificates",
  },
  { name: 'LOOKOUT_NATS_TLS_CERT', default: '(unset)', meaning: 'client certificate (PEM) for NATS mutual TLS' },
  { name: 'LOOKOUT_NATS_TLS_KEY', default: '(unset)', meaning: 'client key (PEM) for NATS mutual TLS' },
  {
    name: 'LOOKOUT_TEMPORAL_PROFILE',
    default: '$TEMPORAL_PROFILE',
    meaning: 'Temporal envconfig profile (TOML file at $TEMPORAL_CONFIG_FILE)',
  },
  {
    name: 'TEMPORAL_PROFILE',
    default: '(unset)',
    meaning: "fallback for LOOKOUT_TEMPORAL_PROFILE (the Temporal CLI's variable)",
  },
  {
    name: 'TEMPORAL_CONFIG_FILE',
    default: '(unset: no file is read)',
    meaning: 'Temporal envconfig TOML file of connection profiles',
  },
  {
    name: 'TEMPORAL_ADDRESS',
    default: '(unset)',
    meaning: 'Temporal address (envconfig); LOOKOUT_TEMPORAL_ADDRESS wins',
  },
  {
    name: 'TEMPORAL_API_KEY',
    default: '(unset)',
    meaning: 'Temporal Cloud API key (secret; envconfig; turns TLS on). Also TEMPORAL_TLS*, TEMPORAL_GRPC_META_*',
  },
  {
    name: 'LOOKOUT_WORKER_DEPLOYMENT',
    default: '(unset: unversioned)',
    meaning: 'worker versioning: Worker Deployment name',
  },
  {
    name: 'LOOKOUT_WORKER_BUILD_ID',
    default: '(unset)',
    meaning: 'worker versioning: build ID of this release (with LOOKOUT_WORKER_DEPLOYMENT)',
  },
  {
    name: 'LOOKOUT_HEALTH_PORT',
    default: '(unset: off)',
    meaning:
      'long-running processes (worker, dispatch, watch, push-server, serve) answer GET /healthz and /readyz on this port (Kubernetes probes; 0 = any free port)',
  },
  {
    name: 'LOOKOUT_LOG_LEVEL',
    default: 'info',
    meaning: 'log level of the long-running processes: trace, debug, info, warn, error, fatal or silent',
  },
  { name: 'LOOKOUT_METRICS_HOST', default: '127.0.0.1', meaning: 'address the /metrics servers listen on' },
  {
    name: 'LOOKOUT_METRICS_PORT',
    default: '(port base + 50..57, per process)',
    meaning: "this process's /metrics port (0 = no metrics server)",
  },
  {
    name: 'LOOKOUT_OTLP_ENDPOINT',
    default: '(unset: no export)',
    meaning: 'OTLP/HTTP collector base URL; traces go to <url>/v1/traces',
  },
  { name: 'LOOKOUT_UI_PORT', default: 'port base + 42', meaning: '`lookout ui` listen port' },
  {
    name: 'LOOKOUT_UI_HOST',
    default: '127.0.0.1',
    meaning: '`lookout ui` listen address (beyond loopback, writes need LOOKOUT_UI_TOKEN)',
  },
  {
    name: 'LOOKOUT_UI_TOKEN',
    default: '(unset)',
    meaning: '`lookout ui`: bearer token for writes (retry, feedback, upload); required when bound beyond loopback',
  },
];

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string, pattern?: RegExp, hint?: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim();
  if (pattern && !pattern.test(v))
    throw new ConfigError(name, `invalid value ${JSON.stringify(raw)}${hint ? ` (${hint})` : ''}`);
  return v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(name, `expected an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

/** A share in (0, 1]. */
function share(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 1)
    throw new ConfigError(name, `expected a share in (0, 1], got ${JSON.stringify(raw)}`);
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
  for (const s of raw
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!(STAGES as readonly string[]).includes(s))
      throw new ConfigError(name, `unknown stage "${s}" (stages: ${STAGES.join(', ')})`);
    out.push(s as StageName);
  }
  return out;
}

/** A comma-separated list; each item must match `pattern`. */
function list(env: Env, name: string, fallback: string[], pattern: RegExp, hint: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const items = raw
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const it of items)
    if (!pattern.test(it)) throw new ConfigError(name, `invalid item ${JSON.stringify(it)} (${hint})`);
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
  if (!protocols.includes(u.protocol))
    throw new ConfigError(name, `unsupported scheme ${u.protocol} (expected ${protocols.join(' or ')})`);
  return raw.replace(/\/+$/, '');
}

/** LOOKOUT_NATS_URL: one URL or a comma-separated list of seed servers of one cluster. */
function natsServers(env: Env, name: string): string[] | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const items = raw
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  return items.map((item) => url({ [name]: item }, name, ['nats:', 'tls:', 'ws:', 'wss:'])!);
}

/** A file the configuration names (a certificate, a .creds file): it must exist now, not fail at the first connect. */
function file(env: Env, name: string): string | undefined {
  const raw = str(env, name, '');
  if (!raw) return undefined;
  const p = path.resolve(raw);
  if (!fs.existsSync(p)) throw new ConfigError(name, `no such file: ${p}`);
  return p;
}

function natsAuth(env: Env): NatsAuth {
  const auth: NatsAuth = {
    user: env.LOOKOUT_NATS_USER || undefined,
    password: env.LOOKOUT_NATS_PASSWORD || undefined,
    token: env.LOOKOUT_NATS_TOKEN || undefined,
    nkeySeed: env.LOOKOUT_NATS_NKEY_SEED?.trim() || undefined,
    credsFile: file(env, 'LOOKOUT_NATS_CREDS'),
  };
  if (auth.password && !auth.user) throw new ConfigError('LOOKOUT_NATS_USER', 'required with LOOKOUT_NATS_PASSWORD');
  const kinds = [
    auth.user && 'LOOKOUT_NATS_USER',
    auth.token && 'LOOKOUT_NATS_TOKEN',
    auth.nkeySeed && 'LOOKOUT_NATS_NKEY_SEED',
    auth.credsFile && 'LOOKOUT_NATS_CREDS',
  ].filter(Boolean);
  // A server accepts one method per connection; silently preferring one would hide a misconfiguration.
  if (kinds.length > 1)
    throw new ConfigError(kinds[1] as string, `set only one NATS authentication method (found ${kinds.join(', ')})`);
  // Never quote the seed itself: it is the secret.
  if (auth.nkeySeed && !/^SU[A-Z2-7]{50,}$/.test(auth.nkeySeed))
    throw new ConfigError('LOOKOUT_NATS_NKEY_SEED', 'not a user nkey seed (expected SU followed by base32 letters)');
  return auth;
}

function natsTls(env: Env): NatsTls | undefined {
  const tls: NatsTls = {
    caFile: file(env, 'LOOKOUT_NATS_TLS_CA'),
    certFile: file(env, 'LOOKOUT_NATS_TLS_CERT'),
    keyFile: file(env, 'LOOKOUT_NATS_TLS_KEY'),
  };
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile))
    throw new ConfigError(
      tls.certFile ? 'LOOKOUT_NATS_TLS_KEY' : 'LOOKOUT_NATS_TLS_CERT',
      'a client certificate needs both LOOKOUT_NATS_TLS_CERT and LOOKOUT_NATS_TLS_KEY',
    );
  return tls.caFile || tls.certFile ? tls : undefined;
}

/**
 * The Temporal connection profile, through @temporalio/envconfig: the same TOML profiles and TEMPORAL_* variables
 * the Temporal CLI and SDKs read (address, namespace, API key, TLS client certificates, gRPC metadata). The TOML file
 * is read only when named (TEMPORAL_CONFIG_FILE or a profile): a file the Temporal CLI left in the home folder
 * must not silently move the embedded stack onto another server.
 */
function temporalProfile(env: Env): { name: string | undefined; profile: ClientConfigProfile } {
  const name = env.LOOKOUT_TEMPORAL_PROFILE || env.TEMPORAL_PROFILE || undefined;
  const fileNamed = Boolean(env.TEMPORAL_CONFIG_FILE) || name !== undefined;
  const vars = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  );
  // TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_* are read by envconfig from `vars`.
  try {
    return {
      name,
      profile: loadClientConfigProfile({ profile: name, disableFile: !fileNamed, overrideEnvVars: vars }),
    };
  } catch (err) {
    throw new ConfigError(
      env.TEMPORAL_CONFIG_FILE ? 'TEMPORAL_CONFIG_FILE' : 'LOOKOUT_TEMPORAL_PROFILE',
      `cannot load the Temporal profile${name ? ` "${name}"` : ''}: ${(err as Error).message}`,
    );
  }
}

/**
 * Every secret value in the configuration, for core/redact's registry: whatever is printed or stored
 * afterwards has them replaced. Includes the Temporal profile's API key and client key even when they came
 * from a TOML file rather than the environment.
 */
export function secretValues(cfg: LookoutConfig): Array<string> {
  const out = [
    cfg.nats.auth.password,
    cfg.nats.auth.token,
    cfg.nats.auth.nkeySeed,
    cfg.temporal.connection.apiKey,
    cfg.push.token,
    cfg.ui.token,
  ];
  for (const u of cfg.nats.servers) out.push(decodeURIComponent(new URL(u).password));
  const tls = cfg.temporal.connection.tls;
  if (tls && typeof tls === 'object' && tls.clientCertPair)
    out.push(Buffer.from(tls.clientCertPair.key).toString('utf8'));
  if (cfg.nats.auth.credsFile) out.push(...credsSecrets(fs.readFileSync(cfg.nats.auth.credsFile, 'utf8')));
  return out.filter((v): v is string => typeof v === 'string' && v.length > 0);
}

/** The nkey seed and JWT inside a .creds file (the BEGIN/END marker lines are not secret). */
function credsSecrets(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----') && !l.startsWith('*'));
}

const BUCKET_RE = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const BQ_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,1023}$/;
const STREAM_RE = /^[A-Za-z0-9_-]{1,128}$/;
const SUBJECT_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const EMAIL_RE = /^[^@\s,]+@[^@\s,]+\.[^@\s,]+$/;
/** Pub/Sub topic and subscription ids: a letter, then 2-254 letters, digits and - _ . ~ + % (not starting with "goog"). */
const PUBSUB_NAME_RE = /^(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/;

export function findProjectRoot(): string {
  return __dirname;
}

/** Each process's /metrics port: its offset from the port base, or LOOKOUT_METRICS_PORT for all (one process per environment). */
function metricsPorts(env: Env, portBase: number): Record<MetricsProcess, number> {
  const offset: Record<MetricsProcess, keyof typeof PORT_OFFSETS> = {
    worker: 'metricsWorker',
    workerGpu: 'metricsWorkerGpu',
    dispatcher: 'metricsDispatcher',
    watcher: 'metricsWatcher',
    push: 'metricsPush',
    serve: 'metricsServe',
    stream: 'metricsStream',
    subscriber: 'metricsSubscriber',
  };
  const override = env.LOOKOUT_METRICS_PORT ? int(env, 'LOOKOUT_METRICS_PORT', 0, 0, 65535) : undefined;
  return Object.fromEntries(
    METRICS_PROCESSES.map((p) => [p, override ?? portBase + PORT_OFFSETS[offset[p]]]),
  ) as Record<MetricsProcess, number>;
}

/** Reads and validates the configuration; throws ConfigError naming the variable at fault. */
export function loadConfig(env: Env = process.env): LookoutConfig {
  const projectRoot = findProjectRoot();
  const home = path.resolve(projectRoot, str(env, 'LOOKOUT_HOME', path.join(projectRoot, '.lookout', 'stack')));
  const toolsDir = path.resolve(str(env, 'LOOKOUT_TOOLS_DIR', path.join(os.homedir(), '.cache', 'lookout', 'bin')));
  const portBase = int(env, 'LOOKOUT_PORT_BASE', DEFAULTS.portBase, 1024, 65000);
  const port = (k: keyof typeof PORT_OFFSETS) => portBase + PORT_OFFSETS[k];

  const projectId = str(
    env,
    'LOOKOUT_GCP_PROJECT',
    env.GOOGLE_CLOUD_PROJECT || DEFAULTS.projectId,
    /^[a-z][a-z0-9-]{4,61}[a-z0-9]$/,
    'a GCP project id',
  );

  const gcsUrl = url(env, 'LOOKOUT_GCS_ENDPOINT', ['http:', 'https:']);
  const bqUrl = url(env, 'LOOKOUT_BIGQUERY_ENDPOINT', ['http:', 'https:']);
  const natsUrls = natsServers(env, 'LOOKOUT_NATS_URL');
  const natsCluster = int(env, 'LOOKOUT_NATS_CLUSTER', 1, 1, 3);
  // Two nodes cannot elect a leader once one is gone: the embedded cluster is 1 or 3 nodes (the port plan holds 3).
  if (natsCluster === 2)
    throw new ConfigError(
      'LOOKOUT_NATS_CLUSTER',
      'expected 1 or 3 (a 2-node JetStream cluster loses its quorum with either node)',
    );
  const natsEmbeddedUrls = [PORT_OFFSETS.nats, PORT_OFFSETS.nats2, PORT_OFFSETS.nats3]
    .slice(0, natsCluster)
    .map((o) => `nats://127.0.0.1:${portBase + o}`);
  const natsList = natsUrls ?? natsEmbeddedUrls;
  const natsReplicas = int(env, 'LOOKOUT_NATS_REPLICAS', natsList.length >= 3 ? 3 : 1, 1, 5);
  const tp = temporalProfile(env);
  const temporalAddr = str(
    env,
    'LOOKOUT_TEMPORAL_ADDRESS',
    env.TEMPORAL_ADDRESS || tp.profile.address || '',
    /^[A-Za-z0-9.-]+:\d{1,5}$/,
    'host:port',
  );
  const temporalOpts = toClientOptions(tp.profile);
  const workerDeployment = str(
    env,
    'LOOKOUT_WORKER_DEPLOYMENT',
    '',
    /^[A-Za-z0-9._-]{1,255}$/,
    'letters, digits, ., _ and -',
  );
  const workerBuildId = str(
    env,
    'LOOKOUT_WORKER_BUILD_ID',
    '',
    /^[A-Za-z0-9._+-]{1,255}$/,
    'letters, digits, ., _, + and -',
  );
  if (Boolean(workerDeployment) !== Boolean(workerBuildId))
    throw new ConfigError(
      workerDeployment ? 'LOOKOUT_WORKER_BUILD_ID' : 'LOOKOUT_WORKER_DEPLOYMENT',
      'worker versioning needs both LOOKOUT_WORKER_DEPLOYMENT and LOOKOUT_WORKER_BUILD_ID',
    );
  const pubsubHost = str(env, 'PUBSUB_EMULATOR_HOST', '', /^[A-Za-z0-9.-]+:\d{1,5}$/, 'host:port');

  const bucket = str(env, 'LOOKOUT_BUCKET', DEFAULTS.bucket, BUCKET_RE, 'a GCS bucket name');
  const auth = str(env, 'LOOKOUT_PUSH_AUDIENCE', '');
  const serviceAccounts = list(env, 'LOOKOUT_PUSH_SERVICE_ACCOUNTS', [], EMAIL_RE, 'a service-account email').map((e) =>
    e.toLowerCase(),
  );
  // Any Google-signed ID token for the audience would do otherwise: anyone can mint one with their own service account.
  if (auth && serviceAccounts.length === 0)
    throw new ConfigError(
      'LOOKOUT_PUSH_SERVICE_ACCOUNTS',
      'required when LOOKOUT_PUSH_AUDIENCE is set: the comma-separated service-account emails of the push subscription or Eventarc trigger',
    );

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
      url: natsList.join(','),
      embedded: natsUrls === undefined,
      servers: natsList,
      cluster: natsUrls === undefined ? natsCluster : 1,
      replicas: natsReplicas,
      auth: natsAuth(env),
      tls: natsTls(env),
      stream: str(env, 'LOOKOUT_NATS_STREAM', DEFAULTS.stream, STREAM_RE, 'letters, digits, - and _'),
      subjectPrefix: str(
        env,
        'LOOKOUT_NATS_SUBJECT_PREFIX',
        DEFAULTS.subjectPrefix,
        SUBJECT_RE,
        'dot-separated tokens',
      ),
      deadStream: str(env, 'LOOKOUT_NATS_DEAD_STREAM', DEFAULTS.deadStream, STREAM_RE, 'letters, digits, - and _'),
      deadPrefix: str(env, 'LOOKOUT_NATS_DEAD_PREFIX', DEFAULTS.deadPrefix, SUBJECT_RE, 'dot-separated tokens'),
      kvBucket: str(env, 'LOOKOUT_NATS_KV_BUCKET', DEFAULTS.kvBucket, /^[A-Za-z0-9_-]+$/),
    },
    temporal: {
      url: temporalAddr || `127.0.0.1:${port('temporal')}`,
      embedded: temporalAddr === '',
      namespace: str(
        env,
        'LOOKOUT_TEMPORAL_NAMESPACE',
        tp.profile.namespace ?? DEFAULTS.namespace,
        /^[A-Za-z0-9._-]{1,255}$/,
      ),
      workflowQueue: str(env, 'LOOKOUT_WORKFLOW_QUEUE', DEFAULTS.workflowQueue, /^[A-Za-z0-9._-]{1,200}$/),
      uiPort: port('temporalUi'),
      profile: tp.name,
      connection: {
        apiKey: env.TEMPORAL_API_KEY || temporalOpts.connectionOptions.apiKey,
        tls: temporalOpts.connectionOptions.tls,
        metadata: temporalOpts.connectionOptions.metadata,
      },
      deployment: workerDeployment ? { name: workerDeployment, buildId: workerBuildId } : undefined,
    },
    pipeline: str(env, 'LOOKOUT_PIPELINE', DEFAULTS.pipeline, NAME_RE, 'lowercase letters, digits and -'),
    pipelines: {
      gpuStages: gpuStages(env, 'LOOKOUT_GPU_STAGES'),
      gpuFallbackMs: int(env, 'LOOKOUT_GPU_FALLBACK_MS', 10_000, 100, 3_600_000),
      groupStages: bool(env, 'LOOKOUT_GROUP_STAGES', true),
      localRecord: bool(env, 'LOOKOUT_LOCAL_RECORD', true),
      localStages: bool(env, 'LOOKOUT_LOCAL_STAGES', false),
    },
    scene:
      str(env, 'LOOKOUT_SCENE', '', /^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, - or _') || undefined,
    cctv: { pose: bool(env, 'LOOKOUT_CCTV_POSE', false) },
    video: {
      every: env.LOOKOUT_VIDEO_EVERY ? int(env, 'LOOKOUT_VIDEO_EVERY', 1, 1, 100_000) : undefined,
      parallelism: int(env, 'LOOKOUT_VIDEO_PARALLELISM', 4, 1, 1000),
      segmentFrames: int(env, 'LOOKOUT_VIDEO_SEGMENT_FRAMES', 100, 1, 100_000),
      cacheMb: int(env, 'LOOKOUT_VIDEO_CACHE_MB', 2048, 0, 10_000_000),
      // A decoded video frame is held as RGB (3 bytes a pixel) while it is analysed: 40 Mpx is 120 MB a frame.
      maxFramePixels: int(env, 'LOOKOUT_VIDEO_MAX_PIXELS', 40_000_000, 1, 2_000_000_000),
      // An hour of 1 Mbit/s camera footage is ~450 MB: videos get their own bound, on disk.
      maxBytes: int(env, 'LOOKOUT_VIDEO_MAX_BYTES', 16 * 2 ** 30, 1, Number.MAX_SAFE_INTEGER),
    },
    refit: {
      minAgeS: int(env, 'LOOKOUT_REFIT_MIN_AGE_S', 21_600, 0, 10 * 365 * 86_400),
      maxFrames: int(env, 'LOOKOUT_REFIT_MAX_FRAMES', 3000, 1, 10_000_000),
      keepObservations: bool(env, 'LOOKOUT_REFIT_KEEP_OBSERVATIONS', true),
    },
    raster: {
      chipSize: int(env, 'LOOKOUT_RASTER_CHIP_SIZE', 128, 8, 4096),
      chipOverlap: int(env, 'LOOKOUT_RASTER_CHIP_OVERLAP', 0, 0, 4095),
      blockChips: int(env, 'LOOKOUT_RASTER_BLOCK_CHIPS', 8, 1, 64),
      parallelism: int(env, 'LOOKOUT_RASTER_PARALLELISM', 2, 1, 256),
      pairing: bool(env, 'LOOKOUT_RASTER_PAIRING', true),
      pairOverlap: share(env, 'LOOKOUT_RASTER_PAIR_OVERLAP', 0.9),
    },
    worker: {
      imageCacheMb: int(env, 'LOOKOUT_IMAGE_CACHE_MB', 256, 0, 1_000_000),
      modelRepo: str(env, 'LOOKOUT_MODEL_REPO', '') || undefined,
    },
    pubsub: {
      url: pubsubHost || (gcsUrl === undefined ? `127.0.0.1:${port('pubsub')}` : undefined),
      embedded: !pubsubHost && gcsUrl === undefined,
      topic: str(env, 'LOOKOUT_PUBSUB_TOPIC', 'lookout-objects', PUBSUB_NAME_RE, 'a Pub/Sub topic id'),
      subscription: str(
        env,
        'LOOKOUT_PUBSUB_SUBSCRIPTION',
        'lookout-ingest',
        PUBSUB_NAME_RE,
        'a Pub/Sub subscription id',
      ),
    },
    ingest: str(
      env,
      'LOOKOUT_INGEST',
      gcsUrl === undefined ? 'pubsub' : 'watch',
      /^(pubsub|watch)$/,
      'pubsub or watch',
    ) as 'pubsub' | 'watch',
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
      decodePixelBudget: int(
        env,
        'LOOKOUT_DECODE_PIXEL_BUDGET',
        DEFAULTS.decodePixelBudget,
        1,
        Number.MAX_SAFE_INTEGER,
      ),
    },
    debug: bool(env, 'LOOKOUT_DEBUG', false),
    readyFile: env.LOOKOUT_READY_FILE || undefined,
    healthPort: env.LOOKOUT_HEALTH_PORT ? int(env, 'LOOKOUT_HEALTH_PORT', 0, 0, 65535) : undefined,
    observability: {
      logLevel: str(
        env,
        'LOOKOUT_LOG_LEVEL',
        'info',
        new RegExp(`^(${LOG_LEVELS.join('|')})$`),
        LOG_LEVELS.join(', '),
      ) as LogLevelName,
      metricsHost: str(env, 'LOOKOUT_METRICS_HOST', '127.0.0.1', /^[A-Za-z0-9.:-]+$/, 'an address'),
      metricsPorts: metricsPorts(env, portBase),
      otlpEndpoint: url(env, 'LOOKOUT_OTLP_ENDPOINT', ['http:', 'https:']),
    },
    ui: {
      port: int(env, 'LOOKOUT_UI_PORT', port('ui'), 0, 65535),
      host: str(env, 'LOOKOUT_UI_HOST', '127.0.0.1'),
      token: env.LOOKOUT_UI_TOKEN || undefined,
    },
  };
  return cfg;
}

/**
 * The configuration with an embedded NATS cluster of `nodes` (`lookout up --nats-cluster 3`): seed list and,
 * unless LOOKOUT_NATS_REPLICAS chose otherwise, replicas follow the cluster size.
 */
export function withNatsCluster(cfg: LookoutConfig, nodes: number, env: Env = process.env): LookoutConfig {
  if (!cfg.nats.embedded)
    throw new ConfigError(
      'LOOKOUT_NATS_URL',
      'is set: --nats-cluster starts an embedded cluster, which a configured NATS endpoint replaces',
    );
  return loadConfig({ ...env, LOOKOUT_NATS_CLUSTER: String(nodes) });
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
  return [...envPairs(cfg).map(([k, v]) => `export ${k}=${shellQuote(v)}`), ...secretNotes(cfg)];
}

/**
 * Comment lines naming the secrets that are configured without printing them: `lookout env` output is
 * pasted into shells, tickets and CI logs, so secrets stay where the operator put them (a secret store, the
 * environment of the service).
 */
export function secretNotes(cfg: LookoutConfig): string[] {
  const set: Array<[string, unknown]> = [
    ['LOOKOUT_NATS_PASSWORD', cfg.nats.auth.password],
    ['LOOKOUT_NATS_TOKEN', cfg.nats.auth.token],
    ['LOOKOUT_NATS_NKEY_SEED', cfg.nats.auth.nkeySeed],
    ['TEMPORAL_API_KEY', cfg.temporal.connection.apiKey],
    ['LOOKOUT_PUSH_TOKEN', cfg.push.token],
  ];
  return set.filter(([, v]) => v).map(([k]) => `# ${k} is set (a secret: not printed)`);
}

/** A URL without its user:password@ part (credentials are configured separately and never printed). */
function withoutUserinfo(u: string): string {
  return u.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
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
    ['LOOKOUT_NATS_URL', nats.servers.map(withoutUserinfo).join(',')],
    ...(nats.auth.user ? [['LOOKOUT_NATS_USER', nats.auth.user] as [string, string]] : []),
    ...(nats.auth.credsFile ? [['LOOKOUT_NATS_CREDS', nats.auth.credsFile] as [string, string]] : []),
    ...(nats.tls?.caFile ? [['LOOKOUT_NATS_TLS_CA', nats.tls.caFile] as [string, string]] : []),
    ['LOOKOUT_NATS_STREAM', nats.stream],
    ['LOOKOUT_NATS_SUBJECT', `${nats.subjectPrefix}.>`],
    ['LOOKOUT_NATS_DEAD_STREAM', nats.deadStream],
    ['LOOKOUT_TEMPORAL_ADDRESS', temporal.url],
    ['LOOKOUT_TEMPORAL_NAMESPACE', temporal.namespace],
    ...(temporal.profile ? [['LOOKOUT_TEMPORAL_PROFILE', temporal.profile] as [string, string]] : []),
    !!cfg.pubsub.url && ['PUBSUB_EMULATOR_HOST', cfg.pubsub.url],
    ['LOOKOUT_PUBSUB_TOPIC', cfg.pubsub.topic],
    ['LOOKOUT_PUBSUB_SUBSCRIPTION', cfg.pubsub.subscription],
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

/** The table of environment variables in docs/configuration.md (kept in step with ENV_VARS by a unit test). */
export function envVarsMarkdown(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| variable | default | meaning |',
    '|---|---|---|',
    ...ENV_VARS.map((v) => `| \`${v.name}\` | ${esc(v.default)} | ${esc(v.meaning)} |`),
  ].join('\n');
}
