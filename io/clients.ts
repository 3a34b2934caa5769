/**
 * Clients for the four services, built from the configuration. The same code
 * talks to the embedded emulators and to production services; only the
 * endpoint (and, for the emulators, the absence of credentials) differs.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { Storage } from '@google-cloud/storage';
import { PubSub } from '@google-cloud/pubsub';
import { Connection, Client } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { OAuth2Client } from 'google-auth-library';
import fs from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';
import { redactedMessage } from '../core/redact';

/**
 * A connection to NATS or Temporal could not be opened. The message names the endpoint and the reason with
 * every configured secret redacted (libraries quote URLs, and some quote what they sent); the original error
 * is kept as `cause` for --debug, whose printing is redacted the same way by the CLI.
 */
export class ConnectError extends Error {
  constructor(
    readonly service: 'nats' | 'temporal',
    endpoint: string,
    cause: unknown,
  ) {
    super(redactedMessage(new Error(`cannot connect to ${service} at ${endpoint}`, { cause })), { cause });
    this.name = 'ConnectError';
  }
}

/** The NATS connect options of the configuration: seed servers, credentials and TLS. */
export function natsOptions(cfg: LookoutConfig, name: string): ConnectionOptions {
  const { auth, tls } = cfg.nats;
  const opts: ConnectionOptions = {
    servers: cfg.nats.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: 5000,
  };
  if (auth.user) Object.assign(opts, { user: auth.user, pass: auth.password });
  if (auth.token) opts.token = auth.token;
  if (auth.nkeySeed) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(auth.nkeySeed));
  if (auth.credsFile) opts.authenticator = credsAuthenticator(fs.readFileSync(auth.credsFile));
  if (tls) opts.tls = { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile };
  // tls:// URLs ask for TLS without a private CA or client certificate (the system's trusted roots).
  else if (cfg.nats.servers.some((u) => u.startsWith('tls:'))) opts.tls = {};
  return opts;
}

export function storageClient(cfg: LookoutConfig): Storage {
  if (cfg.gcs.embedded || !/googleapis\.com/.test(cfg.gcs.url)) {
    // Custom endpoint: the client skips authentication (fake-gcs-server needs none).
    return new Storage({ projectId: cfg.gcp.projectId, apiEndpoint: cfg.gcs.url, retryOptions: { maxRetries: 5 } });
  }
  return new Storage({ projectId: cfg.gcp.projectId, retryOptions: { maxRetries: 5 } });
}

/**
 * Pub/Sub: the emulator (embedded pstest or PUBSUB_EMULATOR_HOST) when configured, with no credentials and
 * plain gRPC; Google's endpoint with application default credentials otherwise. The host is passed explicitly
 * (config.ts is the only reader of the environment); the client treats a non-Google endpoint as an emulator.
 */
export function pubsubClient(cfg: LookoutConfig): PubSub {
  // The emulator gets an explicit placeholder auth client: without one, google-gax looks for application default
  // credentials before its first call and, finding none, probes the GCE metadata server (a MetadataLookupWarning
  // printed by every process, and a delay, where no metadata server exists). Emulator mode sends no credentials:
  // the client is only asked for its universe domain. (google-gax's own copy of google-auth-library declares the
  // type, hence the cast; the object is the same class.)
  if (cfg.pubsub.url) {
    const authClient = emulatorAuth('pubsub-emulator') as unknown as NonNullable<
      ConstructorParameters<typeof PubSub>[0]
    >['authClient'];
    return new PubSub({ projectId: cfg.gcp.projectId, apiEndpoint: cfg.pubsub.url, emulatorMode: true, authClient });
  }
  return new PubSub({ projectId: cfg.gcp.projectId });
}

/**
 * On an emulator (in memory: empty after every start) creates the notification topic and the pull
 * subscription; on real Pub/Sub they are the deployment's (a bucket notification config and a subscription
 * made with gcloud), and only their existence is checked.
 */
export async function ensurePubSub(cfg: LookoutConfig): Promise<void> {
  const ps = pubsubClient(cfg);
  try {
    const topic = ps.topic(cfg.pubsub.topic);
    const sub = ps.subscription(cfg.pubsub.subscription);
    if (!cfg.pubsub.url) {
      const [ok] = await sub.exists();
      if (!ok)
        throw new Error(
          `Pub/Sub subscription ${cfg.pubsub.subscription} does not exist in project ${cfg.gcp.projectId} (create it on the bucket's notification topic)`,
        );
      return;
    }
    const [hasTopic] = await topic.exists();
    if (!hasTopic)
      await topic.create().catch((err: { code?: number }) => (err.code === 6 ? undefined : Promise.reject(err)));
    const [hasSub] = await sub.exists();
    // ackDeadline: long enough for a JetStream publish under load; a lost ack means one redelivery, deduped by the stream.
    if (!hasSub)
      await topic
        .createSubscription(cfg.pubsub.subscription, { ackDeadlineSeconds: 30 })
        .catch((err: { code?: number }) => (err.code === 6 ? undefined : Promise.reject(err)));
  } finally {
    await ps.close();
  }
}

/** An auth client that adds a placeholder token: the emulators accept any request. */
function emulatorAuth(token = 'bigquery-emulator'): OAuth2Client {
  const c = new OAuth2Client();
  c.setCredentials({ access_token: token, expiry_date: Date.now() + 10 * 365 * 24 * 3600 * 1000 });
  return c;
}

/**
 * `autoRetry: false` for the result-row writer: the client's own retry re-sends an insert whose first
 * request may have landed, inside the same activity attempt, where no one looks for the first copy. The
 * writer leaves every retry to Temporal, whose retried attempt looks its rows up first (io/results.ts).
 */
export function bigqueryClient(cfg: LookoutConfig, opts: { autoRetry?: boolean } = {}): BigQuery {
  const local = cfg.bigquery.embedded || !/googleapis\.com/.test(cfg.bigquery.url);
  return new BigQuery({
    projectId: cfg.gcp.projectId,
    location: cfg.bigquery.location,
    ...(local ? { apiEndpoint: cfg.bigquery.url, authClient: emulatorAuth() } : {}),
    autoRetry: opts.autoRetry ?? true,
    maxRetries: 5,
  });
}

export async function natsConnect(cfg: LookoutConfig, name: string): Promise<NatsConnection> {
  try {
    return await connect(natsOptions(cfg, name));
  } catch (err) {
    throw new ConnectError('nats', cfg.nats.url, err);
  }
}

/**
 * Options every Temporal connection is opened with, client and worker alike: the address, and the envconfig
 * profile's API key, TLS (client certificate pair, CA, server name) and gRPC metadata.
 */
export function temporalConnectOptions(
  cfg: LookoutConfig,
): { address: string } & LookoutConfig['temporal']['connection'] {
  const { apiKey, tls, metadata } = cfg.temporal.connection;
  // An API key travels as a bearer token: never without TLS, which envconfig turns on with it (Temporal Cloud).
  return {
    address: cfg.temporal.url,
    ...(apiKey ? { apiKey } : {}),
    ...(tls !== undefined ? { tls } : apiKey ? { tls: true } : {}),
    ...(metadata ? { metadata } : {}),
  };
}

export async function temporalConnection(cfg: LookoutConfig): Promise<Connection> {
  try {
    return await Connection.connect({ ...temporalConnectOptions(cfg), connectTimeout: 5000 });
  } catch (err) {
    throw new ConnectError('temporal', cfg.temporal.url, err);
  }
}

export async function temporalClient(cfg: LookoutConfig): Promise<{ client: Client; connection: Connection }> {
  const connection = await temporalConnection(cfg);
  // The interceptor opens a StartWorkflow span under the caller's active span (the dispatcher's) and passes
  // its context to the workflow in the start request's headers: the object's trace continues in the worker.
  return {
    connection,
    client: new Client({
      connection,
      namespace: cfg.temporal.namespace,
      interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    }),
  };
}
