/**
 * The production ingest path: an HTTP endpoint for
 *   POST /pubsub       GCS notifications delivered by a Pub/Sub push subscription
 *   POST /cloudevents  Eventarc CloudEvents (google.cloud.storage.object.v1.finalized), binary or structured mode
 * Requests must carry `Authorization: Bearer <token>`: a Google-signed OIDC ID
 * token for the configured audience (LOOKOUT_PUSH_AUDIENCE), or the static
 * shared token LOOKOUT_PUSH_TOKEN. Anything else is rejected with 401.
 *
 * Responses: 204 published (or a duplicate the stream dropped); 200 with
 * {"deadLettered": reason} for a malformed notification (acknowledged, so the
 * push subscription does not redeliver it forever, and kept in the dead-letter
 * stream); 204 for events that are not finalizations; 503 when the stream is
 * unavailable (the push subscription retries).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { OAuth2Client } from 'google-auth-library';
import type { JetStreamClient } from 'nats';
import type { LookoutConfig } from '../config';
import { validateObjectEvent, type EventSource } from '../core/events';
import { publishDeadLetter, publishObjectEvent } from '../io/streams';

export type TokenVerifier = (token: string) => Promise<{ ok: true; subject?: string } | { ok: false; reason: string }>;

/** Constant-time comparison against a shared secret. */
export function staticTokenVerifier(secret: string): TokenVerifier {
  const want = crypto.createHash('sha256').update(secret).digest();
  return async (token) => {
    const got = crypto.createHash('sha256').update(token).digest();
    return crypto.timingSafeEqual(want, got) ? { ok: true } : { ok: false, reason: 'token does not match' };
  };
}

/**
 * Google OIDC ID tokens (what Pub/Sub push and Eventarc send), checked for signature,
 * expiry, issuer and audience. `certs` lets tests supply their own signing keys;
 * in production they are Google's published certificates.
 */
export async function oidcVerifier(audience: string, certs?: () => Promise<Record<string, string>>): Promise<TokenVerifier> {
  const client = new OAuth2Client();
  return async (token) => {
    try {
      const ticket = certs
        ? await client.verifySignedJwtWithCertsAsync(token, await certs(), audience, ['https://accounts.google.com', 'accounts.google.com'])
        : await client.verifyIdToken({ idToken: token, audience });
      const p = ticket.getPayload();
      if (!p?.email_verified && p?.email) return { ok: false, reason: 'email not verified' };
      return { ok: true, subject: p?.email ?? p?.sub };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  };
}

export function rejectAllVerifier(): TokenVerifier {
  return async () => ({ ok: false, reason: 'no authentication configured: set LOOKOUT_PUSH_AUDIENCE (OIDC) or LOOKOUT_PUSH_TOKEN' });
}

const MAX_BODY = 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

type Extracted = { kind: 'event'; payload: unknown; source: EventSource } | { kind: 'ignore'; reason: string } | { kind: 'malformed'; reason: string };

/** Pub/Sub push envelope -> notification payload. */
export function fromPubSub(body: unknown): Extracted {
  const msg = (body as { message?: { attributes?: Record<string, string>; data?: string } })?.message;
  if (!msg || typeof msg !== 'object') return { kind: 'malformed', reason: 'not a Pub/Sub push envelope (no "message")' };
  const eventType = msg.attributes?.eventType;
  if (eventType && eventType !== 'OBJECT_FINALIZE') return { kind: 'ignore', reason: `event type ${eventType}` };
  if (typeof msg.data !== 'string') return { kind: 'malformed', reason: 'Pub/Sub message has no data' };
  try {
    return { kind: 'event', payload: JSON.parse(Buffer.from(msg.data, 'base64').toString('utf8')), source: 'push' };
  } catch {
    return { kind: 'malformed', reason: 'Pub/Sub message data is not base64 JSON (payload format must be JSON_API_V1)' };
  }
}

/** CloudEvent (binary: ce-* headers + data body; structured: application/cloudevents+json) -> object data. */
export function fromCloudEvent(headers: http.IncomingHttpHeaders, body: unknown): Extracted {
  const structured = String(headers['content-type'] ?? '').startsWith('application/cloudevents+json');
  const type = structured ? (body as { type?: string })?.type : headers['ce-type'];
  if (!type) return { kind: 'malformed', reason: 'not a CloudEvent (no type)' };
  if (type !== 'google.cloud.storage.object.v1.finalized') return { kind: 'ignore', reason: `event type ${type}` };
  const data = structured ? (body as { data?: unknown }).data : body;
  return { kind: 'event', payload: data, source: 'cloudevent' };
}

export interface PushServerDeps {
  cfg: LookoutConfig;
  js: JetStreamClient;
  verify: TokenVerifier;
  log?: (line: string) => void;
}

export function createPushServer(deps: PushServerDeps): http.Server {
  const log = deps.log ?? (() => {});
  return http.createServer((req, res) => {
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/healthz') return send(200, { ok: true });
      if (req.method !== 'POST' || (url.pathname !== '/pubsub' && url.pathname !== '/cloudevents')) return send(404, { error: 'POST /pubsub or /cloudevents' });
      const auth = req.headers.authorization ?? '';
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      if (!m) return send(401, { error: 'missing bearer token' });
      const v = await deps.verify(m[1]);
      if (!v.ok) {
        log(`push: rejected token: ${v.reason}`);
        return send(401, { error: 'invalid token' });
      }
      let raw: Buffer;
      try {
        raw = await readBody(req);
      } catch (err) {
        return send((err as { status?: number }).status ?? 400, { error: (err as Error).message });
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
      const ex: Extracted =
        body === undefined ? { kind: 'malformed', reason: 'body is not JSON' } : url.pathname === '/pubsub' ? fromPubSub(body) : fromCloudEvent(req.headers, body);
      try {
        if (ex.kind === 'ignore') return send(204);
        const valid = ex.kind === 'event' ? validateObjectEvent(ex.payload, { source: ex.source, publishedAt: new Date().toISOString() }) : ({ ok: false, reason: ex.reason } as const);
        if (!valid.ok) {
          await publishDeadLetter(deps.js, deps.cfg, { kind: 'ingest', reason: valid.reason, payload: raw.toString('utf8').slice(0, 65536) });
          return send(200, { deadLettered: valid.reason });
        }
        // Every event is stamped when Lookout publishes it, whatever the sender claimed.
        await publishObjectEvent(deps.js, deps.cfg, { ...valid.value, source: ex.kind === 'event' ? ex.source : 'push', publishedAt: new Date().toISOString() });
        return send(204);
      } catch (err) {
        log(`push: stream unavailable: ${(err as Error).message}`);
        return send(503, { error: 'event stream unavailable, retry later' });
      }
    })().catch((err) => {
      log(`push: ${(err as Error).message}`);
      if (!res.headersSent) send(500, { error: 'internal error' });
    });
  });
}
