/**
 * Clients for the four services, built from the configuration. The same code
 * talks to the embedded emulators and to production services; only the
 * endpoint (and, for the emulators, the absence of credentials) differs.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { Storage } from '@google-cloud/storage';
import { PubSub } from '@google-cloud/pubsub';
import { Connection, Client } from '@temporalio/client';
import { OAuth2Client } from 'google-auth-library';
import { connect, type NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';

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
  if (cfg.pubsub.url) return new PubSub({ projectId: cfg.gcp.projectId, apiEndpoint: cfg.pubsub.url, emulatorMode: true });
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
      if (!ok) throw new Error(`Pub/Sub subscription ${cfg.pubsub.subscription} does not exist in project ${cfg.gcp.projectId} (create it on the bucket's notification topic)`);
      return;
    }
    const [hasTopic] = await topic.exists();
    if (!hasTopic) await topic.create().catch((err: { code?: number }) => (err.code === 6 ? undefined : Promise.reject(err)));
    const [hasSub] = await sub.exists();
    // ackDeadline: long enough for a JetStream publish under load; a lost ack means one redelivery, deduped by the stream.
    if (!hasSub) await topic.createSubscription(cfg.pubsub.subscription, { ackDeadlineSeconds: 30 }).catch((err: { code?: number }) => (err.code === 6 ? undefined : Promise.reject(err)));
  } finally {
    await ps.close();
  }
}

/** An auth client that adds a placeholder token: the emulator accepts any request. */
function emulatorAuth(): OAuth2Client {
  const c = new OAuth2Client();
  c.setCredentials({ access_token: 'bigquery-emulator', expiry_date: Date.now() + 10 * 365 * 24 * 3600 * 1000 });
  return c;
}

export function bigqueryClient(cfg: LookoutConfig): BigQuery {
  const local = cfg.bigquery.embedded || !/googleapis\.com/.test(cfg.bigquery.url);
  return new BigQuery({
    projectId: cfg.gcp.projectId,
    location: cfg.bigquery.location,
    ...(local ? { apiEndpoint: cfg.bigquery.url, authClient: emulatorAuth() } : {}),
    autoRetry: true,
    maxRetries: 5,
  });
}

export async function natsConnect(cfg: LookoutConfig, name: string): Promise<NatsConnection> {
  return connect({
    servers: cfg.nats.url.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: 5000,
  });
}

export async function temporalConnection(cfg: LookoutConfig): Promise<Connection> {
  return Connection.connect({ address: cfg.temporal.url, connectTimeout: 5000 });
}

export async function temporalClient(cfg: LookoutConfig): Promise<{ client: Client; connection: Connection }> {
  const connection = await temporalConnection(cfg);
  return { connection, client: new Client({ connection, namespace: cfg.temporal.namespace }) };
}
