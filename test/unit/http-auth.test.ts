/**
 * Every HTTP endpoint Lookout serves beyond loopback requires authentication: `lookout serve` needs
 * LOOKOUT_SERVE_TOKEN there (and checks it on every request when set), and the push server's
 * LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED works on loopback only.
 */
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { JetStreamClient } from 'nats';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { bearerMatches, isLoopbackHost, UnauthenticatedExposureError } from '../../ingest/http-auth';
import { assertPushExposure, createPushServer, verifierFromConfig } from '../../ingest/push';
import { assertServeExposure, createServeApi, type ServeDeps } from '../../ingest/serve';

async function listen(s: http.Server): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('loopback', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])('%s is loopback', (h) =>
    expect(isLoopbackHost(h)).toBe(true),
  );
  it.each(['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.com', '128.0.0.1', '::ffff:10.0.0.1', ''])(
    '%s is not',
    (h) => expect(isLoopbackHost(h)).toBe(false),
  );
});

describe('bearerMatches', () => {
  it('accepts exactly the secret, as a Bearer token', () => {
    expect(bearerMatches('Bearer s3cret', 's3cret')).toBe(true);
    expect(bearerMatches('bearer s3cret', 's3cret')).toBe(true);
    for (const h of [
      undefined,
      '',
      's3cret',
      'Basic s3cret',
      'Bearer s3cre',
      'Bearer s3cretX',
      'Bearer  ',
      'Bearer s3cret extra',
    ])
      expect(bearerMatches(h, 's3cret')).toBe(false);
  });
});

describe('lookout serve: authentication', () => {
  const cfg = loadConfig({});
  // Nothing may reach the stack when auth fails: these fakes throw if called.
  const never = () => {
    throw new Error('reached the stack without authentication');
  };
  const deps = (token?: string): ServeDeps => ({
    cfg,
    starter: { startAnalysis: never, analysisStatus: never, analysisResult: never } as unknown as ServeDeps['starter'],
    storage: { bucket: never } as unknown as ServeDeps['storage'],
    defaultScene: 'lobby',
    timeoutMs: 1000,
    token,
  });

  it('refuses to listen beyond loopback without LOOKOUT_SERVE_TOKEN; allows it with one, and loopback without', () => {
    expect(() => assertServeExposure('0.0.0.0', undefined)).toThrow(UnauthenticatedExposureError);
    expect(() => assertServeExposure('10.1.2.3', undefined)).toThrow(/LOOKOUT_SERVE_TOKEN/);
    expect(() => assertServeExposure('0.0.0.0', 't')).not.toThrow();
    expect(() => assertServeExposure('127.0.0.1', undefined)).not.toThrow();
  });

  it('with a token: 401 without it or with another, /healthz open, the right token reaches the API', async () => {
    const server = createServeApi(deps('right-token'));
    const base = await listen(server);
    try {
      const post = (auth?: string) =>
        fetch(`${base}/v1/frames`, { method: 'POST', headers: auth ? { authorization: auth } : {}, body: 'not json' });
      for (const auth of [undefined, 'Bearer wrong-token', 'right-token', 'Basic cmlnaHQtdG9rZW4=']) {
        const r = await post(auth);
        expect(r.status).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }
      expect((await fetch(`${base}/openapi.json`)).status).toBe(401);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      // Past the check, the body is judged (400), still without touching the stack.
      expect((await post('Bearer right-token')).status).toBe(400);
    } finally {
      server.close();
    }
  });
});

describe('push server: LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED', () => {
  const notification = {
    message: {
      attributes: { eventType: 'OBJECT_FINALIZE', bucketId: 'lookout-inbox', objectId: 'a.jpg' },
      data: Buffer.from(
        JSON.stringify({
          bucket: 'lookout-inbox',
          name: 'a.jpg',
          generation: '1',
          size: '10',
          contentType: 'image/jpeg',
          timeCreated: new Date().toISOString(),
        }),
      ).toString('base64'),
      messageId: '1',
    },
  };
  const serverWith = (env: Record<string, string>) => {
    const cfg = loadConfig({ LOOKOUT_BUCKET: 'lookout-inbox', ...env });
    const published: string[] = [];
    const js = {
      publish: async (subject: string) => (published.push(subject), { seq: published.length, duplicate: false }),
    } as unknown as JetStreamClient;
    return { cfg, published, server: createPushServer({ cfg, js, verify: verifierFromConfig(cfg) }) };
  };
  const post = (base: string, auth?: string) =>
    fetch(`${base}/pubsub`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(notification),
    });

  it('unset: a request without a token is refused (401) and nothing is published', async () => {
    const { server, published } = serverWith({});
    const base = await listen(server);
    try {
      expect((await post(base)).status).toBe(401);
      expect(published).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('set: a request without a token is accepted on loopback; a wrong token is still refused', async () => {
    const { server, published } = serverWith({
      LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED: 'true',
      LOOKOUT_PUSH_TOKEN: 'secret',
    });
    const base = await listen(server);
    try {
      expect((await post(base)).status).toBe(204);
      expect(published).toHaveLength(1);
      expect((await post(base, 'Bearer not-the-secret')).status).toBe(401);
      expect((await post(base, 'Bearer secret')).status).toBe(204);
    } finally {
      server.close();
    }
  });

  it('set: listening beyond loopback is refused before the server starts', () => {
    const { cfg } = serverWith({ LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED: 'true' });
    expect(() => assertPushExposure(cfg, '0.0.0.0')).toThrow(UnauthenticatedExposureError);
    expect(() => assertPushExposure(cfg, '127.0.0.1')).not.toThrow();
    expect(() => assertPushExposure(loadConfig({}), '0.0.0.0')).not.toThrow(); // tokens are always required then
  });
});

describe('the commands refuse to listen beyond loopback without authentication', () => {
  const bin = path.join(__dirname, '..', '..', 'bin', 'lookout');
  const run = (args: string[], env: Record<string, string>) => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOOKOUT_'))) as Record<
      string,
      string
    >;
    return spawnSync('node', [bin, ...args], {
      env: { ...base, LOOKOUT_HOME: os.tmpdir(), ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
  };
  it('lookout serve --host 0.0.0.0 without LOOKOUT_SERVE_TOKEN exits 1 naming the variable', () => {
    const r = run(['serve', '--host', '0.0.0.0'], {});
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/beyond loopback.*LOOKOUT_SERVE_TOKEN/);
  });
  it('lookout push-server --host 0.0.0.0 with LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED exits 1', () => {
    const r = run(['push-server', '--host', '0.0.0.0'], { LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED: 'true' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED.*beyond loopback/);
  });
});
