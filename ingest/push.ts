/**
 * The production ingest path: an HTTP endpoint for
 *   POST /pubsub       GCS notifications delivered by a Pub/Sub push subscription
 *   POST /cloudevents  Eventarc CloudEvents (google.cloud.storage.object.v1.finalized), binary or structured mode
 *
 * Authentication: requests must carry `Authorization: Bearer <token>`, either
 *  - a Google-signed OIDC ID token (what a push subscription or Eventarc trigger with a service account
 *    sends), checked for signature (Google's published certificates), issuer (accounts.google.com),
 *    audience (LOOKOUT_PUSH_AUDIENCE), expiry and issue time (60 s of clock skew), and that its email is
 *    one of LOOKOUT_PUSH_SERVICE_ACCOUNTS with email_verified true. The allow-list is what makes the check
 *    mean anything: anyone with a GCP project can mint a Google-signed token for any audience; or
 *  - the shared secret LOOKOUT_PUSH_TOKEN.
 * Anything else is 401; the token itself is never logged.
 *
 * Admission: an authenticated event for a bucket not in LOOKOUT_PUSH_BUCKETS (default: LOOKOUT_BUCKET) is
 * refused with 403, counted and logged. 403 rather than an acknowledging 2xx on purpose: Pub/Sub keeps
 * redelivering it (with backoff, up to the subscription's retention), so a bucket added to the list later
 * does not lose the events sent before; and rather than 400, because the request is well-formed: the
 * sender is just not allowed to submit for that bucket.
 *
 * Responses: 204 published (or a duplicate the stream dropped); 200 with {"deadLettered": reason} for a
 * malformed notification (acknowledged, so the push subscription does not redeliver it forever, and kept
 * in the dead-letter stream); 204 for events that are not finalizations; 401 bad token; 403 bucket not
 * served; 413 body over 1 MiB; 503 when the stream (or Google's certificates) is unavailable (the push
 * subscription retries).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { OAuth2Client } from 'google-auth-library';
import type { JetStreamClient } from 'nats';
import type { LookoutConfig } from '../config';
import { validateObjectEvent, type EventSource } from '../core/events';
import { publishDeadLetter, publishObjectEvent } from '../io/streams';
import { isLoopbackHost, UnauthenticatedExposureError } from './http-auth';

/** ok, or why not; `unavailable` when the token could not be checked at all (certificates unreachable): 503, not 401. */
export type TokenCheck = { ok: true; subject?: string } | { ok: false; reason: string; unavailable?: boolean };
export type TokenVerifier = (token: string) => Promise<TokenCheck>;

/** Constant-time comparison against a shared secret. */
export function staticTokenVerifier(secret: string): TokenVerifier {
  const want = crypto.createHash('sha256').update(secret).digest();
  return async (token) => {
    const got = crypto.createHash('sha256').update(token).digest();
    return crypto.timingSafeEqual(want, got) ? { ok: true } : { ok: false, reason: 'token does not match' };
  };
}

/** The issuers of Google ID tokens. OAuth2Client's default list also has its universe domain (googleapis.com), which no ID token carries. */
export const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

/** Clock skew allowed on exp and iat. google-auth-library allows 300 s; a push is delivered seconds after the token is minted. */
export const OIDC_CLOCK_SKEW_S = 60;

export interface OidcVerifierOptions {
  audience: string;
  /** Emails of the service accounts allowed to push (compared case-insensitively). Must not be empty. */
  serviceAccounts: readonly string[];
  /** Where the signing certificates ({kid: PEM}) are fetched; default Google's. Tests serve their own on loopback. */
  certsUrl?: string;
  clockSkewS?: number;
}

function decodeSegment(seg: string | undefined): Record<string, unknown> | undefined {
  if (!seg || !/^[A-Za-z0-9_-]+$/.test(seg)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What went wrong, in words that are safe to log: google-auth-library's messages quote the whole token. */
function verifyFailure(err: unknown): TokenCheck & { ok: false } {
  const m = (err as Error)?.message ?? '';
  if (m.startsWith('Failed to retrieve verification certificates'))
    return { ok: false, reason: 'Google signing certificates unavailable', unavailable: true };
  const known: Array<[string, string]> = [
    ['Invalid token signature', 'bad signature'],
    ['No pem found', 'unknown signing key (kid)'],
    ['Token used too late', 'expired'],
    ['Token used too early', 'issued in the future'],
    ['Expiration time too far in future', 'lifetime too long'],
    ['Invalid issuer', 'wrong issuer'],
    ['Wrong recipient', 'wrong audience'],
    ['Wrong number of segments', 'malformed token'],
    ["Can't parse", 'malformed token'],
    ['No issue time', 'no iat'],
    ['No expiration time', 'no exp'],
    ['iat field', 'invalid iat'],
    ['exp field', 'invalid exp'],
  ];
  for (const [prefix, reason] of known) if (m.startsWith(prefix)) return { ok: false, reason };
  return { ok: false, reason: 'invalid token' };
}

/**
 * Google OIDC ID tokens (what Pub/Sub push and Eventarc send): OAuth2Client.verifyIdToken checks the
 * signature against Google's certificates (fetched and cached per their Cache-Control), issuer, audience
 * and lifetime; Lookout adds the algorithm (RS256 only: "none" and HMAC are refused before any key is
 * used), a tighter clock skew, and the service-account allow-list.
 */
export function oidcVerifier(opts: OidcVerifierOptions): TokenVerifier {
  const allowed = new Set(opts.serviceAccounts.map((e) => e.toLowerCase()));
  if (allowed.size === 0) throw new Error('oidcVerifier: serviceAccounts must name at least one service-account email');
  const skew = opts.clockSkewS ?? OIDC_CLOCK_SKEW_S;
  const client = new OAuth2Client({
    issuers: GOOGLE_ISSUERS,
    ...(opts.certsUrl ? { endpoints: { oauth2FederatedSignonPemCertsUrl: opts.certsUrl } } : {}),
  });
  return async (token) => {
    const parts = token.split('.');
    const header = parts.length === 3 ? decodeSegment(parts[0]) : undefined;
    if (!header || !decodeSegment(parts[1])) return { ok: false, reason: 'malformed token' };
    if (header.alg !== 'RS256')
      return {
        ok: false,
        reason:
          header.alg === 'none'
            ? 'unsigned token (alg none)'
            : `algorithm ${JSON.stringify(String(header.alg).slice(0, 16))} not accepted (RS256 only)`,
      };
    let payload;
    try {
      payload = (await client.verifyIdToken({ idToken: token, audience: opts.audience })).getPayload();
    } catch (err) {
      return verifyFailure(err);
    }
    if (!payload) return { ok: false, reason: 'malformed token' };
    const now = Date.now() / 1000;
    if (payload.exp + skew < now) return { ok: false, reason: 'expired' };
    if (payload.iat - skew > now) return { ok: false, reason: 'issued in the future' };
    const email = typeof payload.email === 'string' ? payload.email.toLowerCase() : undefined;
    if (!email) return { ok: false, reason: 'token has no email (the push subscription needs a service account)' };
    if (!allowed.has(email))
      return {
        ok: false,
        reason: `service account ${JSON.stringify(email.slice(0, 120))} is not in LOOKOUT_PUSH_SERVICE_ACCOUNTS`,
      };
    if (payload.email_verified !== true) return { ok: false, reason: 'email not verified' };
    return { ok: true, subject: email };
  };
}

export function rejectAllVerifier(): TokenVerifier {
  return async () => ({
    ok: false,
    reason:
      'no authentication configured: set LOOKOUT_PUSH_AUDIENCE and LOOKOUT_PUSH_SERVICE_ACCOUNTS (OIDC) or LOOKOUT_PUSH_TOKEN',
  });
}

/** Accepts what any of the verifiers accepts; otherwise the first one's reason (or "unavailable" if any could not check). */
export function anyVerifier(...vs: TokenVerifier[]): TokenVerifier {
  return async (token) => {
    let first: TokenCheck | undefined;
    for (const v of vs) {
      const r = await v(token);
      if (r.ok) return r;
      if (!first || (!r.ok && r.unavailable)) first = r;
    }
    return first ?? { ok: false, reason: 'no verifier' };
  };
}

/** The verifier the configuration asks for: OIDC, the shared secret, both, or (neither configured) none passes. */
/**
 * Refuses to serve pushes without authentication beyond loopback: LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED is for
 * tests on this machine, and must never open the endpoint to a network.
 */
export function assertPushExposure(cfg: LookoutConfig, host: string): void {
  if (cfg.push.allowUnauthenticated && !isLoopbackHost(host)) {
    throw new UnauthenticatedExposureError(
      `push-server: LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED is set and --host ${host} is beyond loopback: anyone on that network could inject events. Unset it, or listen on 127.0.0.1`,
    );
  }
}

export function verifierFromConfig(cfg: LookoutConfig): TokenVerifier {
  const vs: TokenVerifier[] = [];
  if (cfg.push.audience)
    vs.push(oidcVerifier({ audience: cfg.push.audience, serviceAccounts: cfg.push.serviceAccounts }));
  if (cfg.push.token) vs.push(staticTokenVerifier(cfg.push.token));
  return vs.length === 0 ? rejectAllVerifier() : anyVerifier(...vs);
}

export const MAX_BODY = 1024 * 1024;

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body over ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads the body up to `max` bytes. Over the limit (declared by Content-Length, or counted for a chunked
 * body) it stops keeping data and rejects with BodyTooLargeError; the rest of the body is read and
 * discarded, so the client, still sending, can read the 413 (destroying the socket gave it ECONNRESET).
 */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      req.resume();
      return reject(new BodyTooLargeError(max));
    }
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      n += c.length;
      if (n > max) {
        req.off('data', onData);
        chunks.length = 0;
        req.resume();
        reject(new BodyTooLargeError(max));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

type Extracted =
  | { kind: 'event'; payload: unknown; source: EventSource }
  | { kind: 'ignore'; reason: string }
  | { kind: 'malformed'; reason: string };

/** Pub/Sub push envelope -> notification payload. */
export function fromPubSub(body: unknown): Extracted {
  const msg = (body as { message?: { attributes?: Record<string, string>; data?: string } })?.message;
  if (!msg || typeof msg !== 'object')
    return { kind: 'malformed', reason: 'not a Pub/Sub push envelope (no "message")' };
  const eventType = msg.attributes?.eventType;
  if (eventType && eventType !== 'OBJECT_FINALIZE') return { kind: 'ignore', reason: `event type ${eventType}` };
  if (typeof msg.data !== 'string') return { kind: 'malformed', reason: 'Pub/Sub message has no data' };
  try {
    return { kind: 'event', payload: JSON.parse(Buffer.from(msg.data, 'base64').toString('utf8')), source: 'push' };
  } catch {
    return {
      kind: 'malformed',
      reason: 'Pub/Sub message data is not base64 JSON (payload format must be JSON_API_V1)',
    };
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

/** Requests by outcome since the server started. */
export interface PushCounts {
  accepted: number;
  duplicate: number;
  ignored: number;
  deadLettered: number;
  unauthorized: number;
  foreignBucket: number;
  tooLarge: number;
  unavailable: number;
}

export type PushServer = http.Server & { counts: PushCounts };

export function createPushServer(deps: PushServerDeps): PushServer {
  const log = deps.log ?? (() => {});
  const counts: PushCounts = {
    accepted: 0,
    duplicate: 0,
    ignored: 0,
    deadLettered: 0,
    unauthorized: 0,
    foreignBucket: 0,
    tooLarge: 0,
    unavailable: 0,
  };
  const buckets = new Set(deps.cfg.push.buckets);
  const server = http.createServer((req, res) => {
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/healthz') return send(200, { ok: true });
      if (req.method !== 'POST' || (url.pathname !== '/pubsub' && url.pathname !== '/cloudevents'))
        return send(404, { error: 'POST /pubsub or /cloudevents' });
      const auth = req.headers.authorization ?? '';
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      // LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED (loopback only, see assertPushExposure): a request without a token
      // passes; one that carries a token still has it checked.
      const v: TokenCheck = m
        ? await deps.verify(m[1])
        : deps.cfg.push.allowUnauthenticated && !auth
          ? { ok: true, subject: 'unauthenticated (loopback)' }
          : { ok: false, reason: 'missing bearer token' };
      if (!v.ok) {
        if (v.unavailable) {
          counts.unavailable++;
          log(`push: cannot check tokens: ${v.reason}`);
          return send(503, { error: 'token verification unavailable, retry later' });
        }
        counts.unauthorized++;
        log(`push: rejected token from ${req.socket.remoteAddress}: ${v.reason}`);
        return send(401, { error: 'invalid token' }, { 'www-authenticate': 'Bearer' });
      }
      let raw: Buffer;
      try {
        raw = await readBody(req, MAX_BODY);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          counts.tooLarge++;
          return send(413, { error: err.message }, { connection: 'close' });
        }
        return send(400, { error: (err as Error).message });
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
      const ex: Extracted =
        body === undefined
          ? { kind: 'malformed', reason: 'body is not JSON' }
          : url.pathname === '/pubsub'
            ? fromPubSub(body)
            : fromCloudEvent(req.headers, body);
      try {
        if (ex.kind === 'ignore') {
          counts.ignored++;
          return send(204);
        }
        const valid =
          ex.kind === 'event'
            ? validateObjectEvent(ex.payload, { source: ex.source, publishedAt: new Date().toISOString() })
            : ({ ok: false, reason: ex.reason } as const);
        if (!valid.ok) {
          await publishDeadLetter(deps.js, deps.cfg, {
            kind: 'ingest',
            reason: valid.reason,
            payload: raw.toString('utf8').slice(0, 65536),
          });
          counts.deadLettered++;
          return send(200, { deadLettered: valid.reason });
        }
        if (!buckets.has(valid.value.bucket)) {
          counts.foreignBucket++;
          log(
            `push: refused an event for bucket ${JSON.stringify(valid.value.bucket)} (not in LOOKOUT_PUSH_BUCKETS) from ${v.subject ?? 'shared-token sender'}`,
          );
          return send(403, { error: `bucket ${JSON.stringify(valid.value.bucket)} is not served by this endpoint` });
        }
        // Every event is stamped when Lookout publishes it, whatever the sender claimed.
        const r = await publishObjectEvent(deps.js, deps.cfg, {
          ...valid.value,
          source: ex.kind === 'event' ? ex.source : 'push',
          publishedAt: new Date().toISOString(),
        });
        if (r.duplicate) counts.duplicate++;
        else counts.accepted++;
        return send(204);
      } catch (err) {
        counts.unavailable++;
        log(`push: stream unavailable: ${(err as Error).message}`);
        return send(503, { error: 'event stream unavailable, retry later' });
      }
    })().catch((err) => {
      log(`push: ${(err as Error).message}`);
      if (!res.headersSent) send(500, { error: 'internal error' });
    });
  });
  return Object.assign(server, { counts });
}
