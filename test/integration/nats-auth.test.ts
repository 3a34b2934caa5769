/**
 * NATS credentials and TLS against real nats-server processes configured with them (issue 16 / 14), and the
 * redaction of secrets from Lookout's own output: `lookout env`, the error of a refused connection, the output
 * of a process that ran. The certificates come from a throwaway CA made with openssl under .lookout/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { ConnectError, natsConnect } from '../../io/clients';
import { ensureStreams, publishObjectEvent } from '../../io/streams';
import { cfg } from './helpers';

const dir = path.join(cfg.projectRoot, '.lookout', 'tls-test');
const PORT_PLAIN = cfg.portBase + 70;
const PORT_TLS = cfg.portBase + 72;
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const API_KEY = `tc-api-key-${Math.random().toString(36).slice(2)}`;
const PUSH_TOKEN = `push-${Math.random().toString(36).slice(2)}-token`;
const servers: ChildProcess[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all valid for a day. */
function makeCerts(): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=lookout-test-ca',
  );
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  fs.writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${who}.key`,
      '-out',
      `${who}.csr`,
      '-subj',
      `/CN=lookout-test-${who}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${who}.pem`,
      '-days',
      '1',
      '-extfile',
      `${who}.ext`,
    );
  }
  // A second CA that signed nothing here: trusting it must not be enough.
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'other-ca.key',
    '-out',
    'other-ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=other-ca',
  );
}

async function startServer(name: string, port: number, extra: string[]): Promise<void> {
  const conf = path.join(dir, `${name}.conf`);
  fs.writeFileSync(
    conf,
    [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${port}`,
      `http: 127.0.0.1:${port + 1}`,
      `jetstream { store_dir: ${JSON.stringify(path.join(dir, name))} }`,
      ...extra,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const p = spawn(path.join(cfg.toolsDir, 'nats-server'), ['-c', conf], { stdio: 'ignore' });
  servers.push(p);
  const t0 = Date.now();
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port + 1}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (p.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`nats-server ${name} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs the lookout binary with extra environment; resolves with its exit code and whole output. Asynchronous:
 * a synchronous spawn would stall the test runner's own messaging for as long as the command runs.
 */
function lookout(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 90_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(cfg.projectRoot, 'bin', 'lookout'), ...args], {
      cwd: cfg.projectRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

beforeAll(async () => {
  makeCerts();
  await startServer('plain-auth', PORT_PLAIN, [
    `authorization {`,
    `  user: lookout`,
    `  password: ${JSON.stringify(PASSWORD)}`,
    `}`,
  ]);
  await startServer('mtls', PORT_TLS, [
    `tls {`,
    `  cert_file: ${JSON.stringify(path.join(dir, 'server.pem'))}`,
    `  key_file: ${JSON.stringify(path.join(dir, 'server.key'))}`,
    `  ca_file: ${JSON.stringify(path.join(dir, 'ca.pem'))}`,
    `  verify: true`,
    `}`,
  ]);
}, 120_000);

afterAll(() => {
  for (const p of servers) p.kill('SIGTERM');
});

const plainEnv = (password: string | undefined): Record<string, string> => ({
  LOOKOUT_NATS_URL: `nats://127.0.0.1:${PORT_PLAIN}`,
  LOOKOUT_NATS_USER: 'lookout',
  ...(password ? { LOOKOUT_NATS_PASSWORD: password } : {}),
});
const tlsEnv = (files: { ca?: string; cert?: boolean }): Record<string, string> => ({
  LOOKOUT_NATS_URL: `tls://127.0.0.1:${PORT_TLS}`,
  ...(files.ca ? { LOOKOUT_NATS_TLS_CA: path.join(dir, files.ca) } : {}),
  ...(files.cert
    ? { LOOKOUT_NATS_TLS_CERT: path.join(dir, 'client.pem'), LOOKOUT_NATS_TLS_KEY: path.join(dir, 'client.key') }
    : {}),
});

async function connectError(env: Record<string, string>): Promise<ConnectError> {
  const c = loadConfig({ ...process.env, ...env });
  try {
    const nc = await natsConnect(c, 'test-refused');
    await nc.close();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error('the connection was accepted');
}

describe('NATS user/password', () => {
  it('the right password connects and JetStream works (streams created, an event stored)', async () => {
    const c = loadConfig({ ...process.env, ...plainEnv(PASSWORD) });
    const nc = await natsConnect(c, 'test-auth');
    try {
      await ensureStreams(nc, c);
      const r = await publishObjectEvent(nc.jetstream(), c, {
        bucket: 'b-auth',
        name: 'x.jpg',
        generation: '1',
        size: '1',
        contentType: 'image/jpeg',
        eventType: 'OBJECT_FINALIZE',
        timeCreated: new Date().toISOString(),
        source: 'backfill',
        publishedAt: new Date().toISOString(),
      });
      expect(r.seq).toBeGreaterThan(0);
    } finally {
      await nc.close();
    }
  });

  it('a wrong or missing password is refused with a clear error that quotes no password', async () => {
    const wrong = `${PASSWORD}-wrong`;
    const e = await connectError(plainEnv(wrong));
    expect(e.message).toMatch(/cannot connect to nats at nats:\/\/127\.0\.0\.1:\d+.*(AUTHORIZATION|Authorization)/i);
    expect(e.message).not.toContain(wrong);
    expect(e.message).not.toContain(PASSWORD);
    expect((await connectError(plainEnv(undefined))).message).toMatch(/AUTHORIZATION|Authorization/i);
  });
});

describe('NATS TLS (private CA, client certificate)', () => {
  it('connects with the CA and a client certificate', async () => {
    const c = loadConfig({ ...process.env, ...tlsEnv({ ca: 'ca.pem', cert: true }) });
    const nc = await natsConnect(c, 'test-tls');
    try {
      expect(nc.info?.tls_required).toBe(true);
      await ensureStreams(nc, c);
    } finally {
      await nc.close();
    }
  });

  it('is refused without a client certificate, and when the server is signed by an untrusted CA', async () => {
    expect((await connectError(tlsEnv({ ca: 'ca.pem' }))).message).toMatch(/cannot connect to nats/);
    expect((await connectError(tlsEnv({ ca: 'other-ca.pem', cert: true }))).message).toMatch(/cannot connect to nats/);
  });
});

describe('no secret in Lookout output', () => {
  const secrets = [PASSWORD, API_KEY, PUSH_TOKEN];
  const secretEnv = { ...plainEnv(PASSWORD), TEMPORAL_API_KEY: API_KEY, LOOKOUT_PUSH_TOKEN: PUSH_TOKEN };

  it('`lookout env` names the secrets without printing them', async () => {
    const r = await lookout(['env'], secretEnv);
    expect(r.code).toBe(0);
    expect(r.out).toContain('# LOOKOUT_NATS_PASSWORD is set');
    expect(r.out).toContain('# TEMPORAL_API_KEY is set');
    for (const s of secrets) expect(r.out).not.toContain(s);
  });

  it('a refused NATS connection: the dispatcher fails with a message naming NATS, not the password', async () => {
    const r = await lookout(['dispatch'], { ...secretEnv, LOOKOUT_NATS_PASSWORD: `${PASSWORD}-x` });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/cannot connect to nats/);
    expect(r.out).not.toContain(`${PASSWORD}-x`);
    for (const s of secrets) expect(r.out).not.toContain(s);
  });

  it('a refused Temporal connection (API key over TLS to the plaintext dev server): no key in the output', async () => {
    // The NATS password is right: the dispatcher gets as far as Temporal, where the TLS handshake fails.
    const r = await lookout(['dispatch'], secretEnv);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/cannot connect to temporal/);
    for (const s of secrets) expect(r.out).not.toContain(s);
  });

  it('a process that runs (backfill through the password-protected NATS) prints no secret, even under LOOKOUT_DEBUG', async () => {
    const r = await lookout(['backfill', `gs://${cfg.gcs.bucket}/no-such-prefix-${Date.now()}/`], {
      ...secretEnv,
      LOOKOUT_DEBUG: 'true',
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/listed 0/);
    for (const s of secrets) expect(r.out).not.toContain(s);
  });
});
