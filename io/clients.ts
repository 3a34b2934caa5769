/**
 * Clients for the four services, built from the configuration. The same code
 * talks to the embedded emulators and to production services; only the
 * endpoint (and, for the emulators, the absence of credentials) differs.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { Storage } from '@google-cloud/storage';
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

/** An auth client that adds a placeholder token: the emulator accepts any request. */
function emulatorAuth(): OAuth2Client {
  const c = new OAuth2Client();
  c.setCredentials({ access_token: 'bigquery-emulator', expiry_date: Date.now() + 10 * 365 * 24 * 3600 * 1000 });
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
