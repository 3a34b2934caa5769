/**
 * The push endpoint's authentication and admission, on a real HTTP server with the real verifier
 * (google-auth-library's OAuth2Client.verifyIdToken). Nothing reaches the internet: a locally generated RSA
 * key pair stands in for Google's, and the verifier fetches its certificates from a loopback server that
 * serves them the way https://www.googleapis.com/oauth2/v1/certs does ({kid: PEM}, with Cache-Control).
 * Only the event stream is a fake (it records what would be published).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JetStreamClient } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config';
import {
  createPushServer,
  oidcVerifier,
  staticTokenVerifier,
  verifierFromConfig,
  type PushServer,
  type TokenVerifier,
} from '../../ingest/push';

const AUDIENCE = 'https://lookout.example/pubsub';
const SA = 'pubsub-push@proj.iam.gserviceaccount.com';
const KID = 'test-key-1';
const cfg = loadConfig({
  LOOKOUT_BUCKET: 'lookout-inbox',
  LOOKOUT_PUSH_BUCKETS: 'lookout-inbox,lookout-side',
  LOOKOUT_PUSH_AUDIENCE: AUDIENCE,
  LOOKOUT_PUSH_SERVICE_ACCOUNTS: `${SA}, other@proj.iam.gserviceaccount.com`,
});

const google = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const attacker = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

function token(
  claims: Record<string, unknown> = {},
  opts: { header?: Record<string, unknown>; key?: crypto.KeyObject; signature?: string } = {},
): string {
  const header = { alg: 'RS256', kid: KID, typ: 'JWT', ...opts.header };
  const payload = {
    iss: 'https://accounts.google.com',
    aud: AUDIENCE,
    azp: '1234',
    iat: nowS() - 10,
    exp: nowS() + 3590,
    sub: '1234',
    email: SA,
    email_verified: true,
    ...claims,
  };
  const body = `${b64(header)}.${b64(payload)}`;
  const sig =
    opts.signature ?? crypto.sign('sha256', Buffer.from(body), opts.key ?? google.privateKey).toString('base64url');
  return `${body}.${sig}`;
}

function notification(bucket = 'lookout-inbox', name = 'cam1/a.jpg') {
  const obj = {
    kind: 'storage#object',
    bucket,
    name,
    generation: '1712345678901234',
    size: '1024',
    contentType: 'image/jpeg',
    timeCreated: new Date().toISOString(),
  };
  return {
    message: {
      attributes: { eventType: 'OBJECT_FINALIZE', payloadFormat: 'JSON_API_V1' },
      data: Buffer.from(JSON.stringify(obj)).toString('base64'),
      messageId: '1',
    },
    subscription: 'projects/p/subscriptions/s',
  };
}

let certServer: http.Server;
let certsUrl: string;
let certFetches = 0;
let server: PushServer;
let base: string;
const published: Array<{ subject: string; body: Record<string, unknown> }> = [];
const logs: string[] = [];

async function listen(s: http.Server): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  certServer = http.createServer((_req, res) => {
    certFetches++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' });
    res.end(JSON.stringify({ [KID]: google.publicKey.export({ type: 'spki', format: 'pem' }).toString() }));
  });
  certsUrl = `${await listen(certServer)}/oauth2/v1/certs`;
  const js = {
    publish: async (subject: string, data: Uint8Array) => {
      published.push({ subject, body: JSON.parse(new TextDecoder().decode(data)) });
      return { seq: published.length, duplicate: false };
    },
  } as unknown as JetStreamClient;
  server = createPushServer({
    cfg,
    js,
    verify: oidcVerifier({ audience: AUDIENCE, serviceAccounts: cfg.push.serviceAccounts, certsUrl }),
    log: (l) => logs.push(l),
  });
  base = await listen(server);
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await new Promise((r) => certServer.close(r));
});

async function post(
  body: unknown,
  auth?: string,
  path = '/pubsub',
): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth !== undefined ? { authorization: auth } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

describe('push endpoint: tokens', () => {
  it('accepts a Google-signed token of an allowed service account for the audience, and publishes the event', async () => {
    const before = published.length;
    expect((await post(notification(), `Bearer ${token()}`)).status).toBe(204);
    expect(published.length).toBe(before + 1);
    expect(published.at(-1)!.body.name).toBe('cam1/a.jpg');
    // Either accepted issuer spelling, and the allow-list is case-insensitive (Google lower-cases emails).
    expect(
      (await post(notification(), `Bearer ${token({ iss: 'accounts.google.com', email: SA.toUpperCase() })}`)).status,
    ).toBe(204);
    expect(certFetches).toBe(1); // cached per Cache-Control, not fetched per request
  });

  const now = nowS();
  const rejected: Array<[string, string | undefined]> = [
    ['missing', undefined],
    ['not a bearer token', `Basic ${Buffer.from('a:b').toString('base64')}`],
    ['malformed: not a JWT', 'Bearer not-a-jwt'],
    ['malformed: three segments of junk', 'Bearer a.b.c'],
    ['expired an hour ago', `Bearer ${token({ iat: now - 7200, exp: now - 3600 })}`],
    // google-auth-library alone allows 5 minutes of skew; Lookout allows less.
    ['expired two minutes ago', `Bearer ${token({ iat: now - 3720, exp: now - 120 })}`],
    ['issued in the future', `Bearer ${token({ iat: now + 600, exp: now + 4200 })}`],
    ['wrong audience', `Bearer ${token({ aud: 'https://someone.else/push' })}`],
    ['wrong issuer', `Bearer ${token({ iss: 'https://evil.example' })}`],
    // OAuth2Client's default issuers include its universe domain; an ID token from Google never has it.
    ['issuer googleapis.com', `Bearer ${token({ iss: 'googleapis.com' })}`],
    ['wrong service account', `Bearer ${token({ email: 'someone@other-project.iam.gserviceaccount.com' })}`],
    ['no email', `Bearer ${token({ email: undefined })}`],
    ['email not verified', `Bearer ${token({ email_verified: false })}`],
    ['bad signature (another key, same kid)', `Bearer ${token({}, { key: attacker.privateKey })}`],
    [
      'payload altered after signing',
      `Bearer ${(() => {
        const [h, , s] = token().split('.');
        return `${h}.${b64({ iss: 'https://accounts.google.com', aud: AUDIENCE, iat: now, exp: now + 600, email: SA, email_verified: true, sub: 'x' })}.${s}`;
      })()}`,
    ],
    ['unsigned (alg none)', `Bearer ${token({}, { header: { alg: 'none' }, signature: '' })}`],
    [
      'HS256 keyed with the public key',
      `Bearer ${(() => {
        const body = `${b64({ alg: 'HS256', kid: KID, typ: 'JWT' })}.${b64({ iss: 'https://accounts.google.com', aud: AUDIENCE, iat: now, exp: now + 600, email: SA, email_verified: true })}`;
        return `${body}.${crypto
          .createHmac('sha256', google.publicKey.export({ type: 'spki', format: 'pem' }))
          .update(body)
          .digest('base64url')}`;
      })()}`,
    ],
    ['unknown key id', `Bearer ${token({}, { header: { kid: 'nope' } })}`],
    ['the shared-secret form when only OIDC is configured', 'Bearer some-shared-secret'],
  ];
  it.each(rejected)('rejects a request whose token is %s with 401, publishing nothing', async (_kind, auth) => {
    const before = published.length;
    const r = await post(notification(), auth);
    expect(r.status).toBe(401);
    expect(published.length).toBe(before);
  });

  it('never writes the token itself to the log', async () => {
    const bad = token({}, { key: attacker.privateKey });
    await post(notification(), `Bearer ${bad}`);
    const sig = bad.split('.')[2];
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join('\n')).not.toContain(sig);
    expect(logs.join('\n')).not.toContain(bad.split('.')[1]);
  });

  it('counts rejections by reason', () => {
    expect(server.counts.unauthorized).toBeGreaterThanOrEqual(rejected.length);
    expect(server.counts.accepted).toBeGreaterThanOrEqual(2);
  });
});

describe('push endpoint: admission', () => {
  it('rejects an event for a bucket that is not configured with 403, counted and logged, and publishes nothing', async () => {
    const before = published.length;
    const foreign = server.counts.foreignBucket;
    const r = await post(notification('someone-elses-bucket'), `Bearer ${token()}`);
    expect(r.status).toBe(403);
    expect(String(r.json?.error)).toContain('someone-elses-bucket');
    expect(published.length).toBe(before);
    expect(server.counts.foreignBucket).toBe(foreign + 1);
    expect(logs.some((l) => l.includes('someone-elses-bucket'))).toBe(true);
    // A configured second bucket is accepted.
    expect((await post(notification('lookout-side'), `Bearer ${token()}`)).status).toBe(204);
  });

  it('rejects a CloudEvent for an unconfigured bucket too', async () => {
    const obj = {
      bucket: 'someone-elses-bucket',
      name: 'x.jpg',
      generation: '5',
      size: '3',
      timeCreated: new Date().toISOString(),
    };
    const r = await fetch(`${base}/cloudevents`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token()}`,
        'content-type': 'application/json',
        'ce-type': 'google.cloud.storage.object.v1.finalized',
        'ce-id': '1',
        'ce-source': '//storage.googleapis.com/projects/_/buckets/someone-elses-bucket',
        'ce-specversion': '1.0',
      },
      body: JSON.stringify(obj),
    });
    expect(r.status).toBe(403);
  });

  it('answers an over-size body with 413 (the client reads the answer; the socket is not just destroyed)', async () => {
    const big = JSON.stringify({ message: { data: 'A'.repeat(3 * 1024 * 1024) } });
    const r = await post(big, `Bearer ${token()}`);
    expect(r.status).toBe(413);
    expect(server.counts.tooLarge).toBeGreaterThanOrEqual(1);
  });

  it('answers an over-size chunked body (no Content-Length) with 413 as well', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${base}/pubsub`,
        { method: 'POST', headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let sent = 0;
      const pump = () => {
        while (sent < 4 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
  });
});

describe('verifier configuration', () => {
  it('an OIDC audience without an allow-list of service accounts is a configuration error', () => {
    expect(() => loadConfig({ LOOKOUT_PUSH_AUDIENCE: AUDIENCE })).toThrow(ConfigError);
    expect(() => loadConfig({ LOOKOUT_PUSH_AUDIENCE: AUDIENCE })).toThrow(/LOOKOUT_PUSH_SERVICE_ACCOUNTS/);
    expect(() =>
      loadConfig({ LOOKOUT_PUSH_AUDIENCE: AUDIENCE, LOOKOUT_PUSH_SERVICE_ACCOUNTS: 'not-an-email' }),
    ).toThrow(/LOOKOUT_PUSH_SERVICE_ACCOUNTS/);
    expect(() => loadConfig({ LOOKOUT_PUSH_BUCKETS: 'Bad Bucket!' })).toThrow(/LOOKOUT_PUSH_BUCKETS/);
  });

  it('by default only the configured bucket is accepted', () => {
    expect(loadConfig({ LOOKOUT_BUCKET: 'my-inbox' }).push.buckets).toEqual(['my-inbox']);
  });

  it('with neither OIDC nor a shared token configured, every token is rejected', async () => {
    const v: TokenVerifier = verifierFromConfig(loadConfig({}));
    expect((await v(token())).ok).toBe(false);
  });

  it('the shared-secret verifier accepts only its secret', async () => {
    const v = staticTokenVerifier('s3cret-s3cret-s3cret');
    expect((await v('s3cret-s3cret-s3cret')).ok).toBe(true);
    expect((await v('s3cret-s3cret-s3creT')).ok).toBe(false);
  });
});
