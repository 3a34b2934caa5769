/** Issue 16 / 14: NATS seed lists, replicas and credentials, Temporal envconfig profiles, worker versioning, redaction. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nkeys } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, envLines, loadConfig, secretValues, withNatsCluster } from '../../config';
import { clearSecrets, REDACTED, redact, redactedMessage, registerSecrets } from '../../core/redact';
import { natsOptions, temporalConnectOptions } from '../../io/clients';
import { workerDeploymentOptions } from '../../workers/worker';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-secrets-'));
const seed = new TextDecoder().decode(nkeys.createUser().getSeed());

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

afterEach(() => clearSecrets());

describe('NATS seed lists, cluster and replicas', () => {
  it('takes a comma-separated seed list; 3 seeds mean 3 replicas', () => {
    const c = loadConfig({ LOOKOUT_NATS_URL: 'nats://a.prod:4222, nats://b.prod:4222,tls://c.prod:4222' });
    expect(c.nats.servers).toEqual(['nats://a.prod:4222', 'nats://b.prod:4222', 'tls://c.prod:4222']);
    expect(c.nats.embedded).toBe(false);
    expect(c.nats.replicas).toBe(3);
    expect(natsOptions(c, 'x').servers).toEqual(c.nats.servers);
    // A tls:// seed asks for TLS even without a private CA.
    expect(natsOptions(c, 'x').tls).toEqual({});
  });

  it('one seed means 1 replica; LOOKOUT_NATS_REPLICAS overrides', () => {
    expect(loadConfig({ LOOKOUT_NATS_URL: 'nats://a:4222' }).nats.replicas).toBe(1);
    expect(loadConfig({ LOOKOUT_NATS_URL: 'nats://a:4222', LOOKOUT_NATS_REPLICAS: '3' }).nats.replicas).toBe(3);
  });

  it('names the variable and the bad item of a seed list', () => {
    const e = configError({ LOOKOUT_NATS_URL: 'nats://a:4222,http://b:80' });
    expect(e.variable).toBe('LOOKOUT_NATS_URL');
    expect(e.message).toContain('http:');
  });

  it('the embedded cluster of 3 listens on three loopback ports with 3 replicas; 2 nodes are refused', () => {
    const c = loadConfig({ LOOKOUT_NATS_CLUSTER: '3', LOOKOUT_PORT_BASE: '27200' });
    expect(c.nats.embedded).toBe(true);
    expect(c.nats.servers).toEqual(['nats://127.0.0.1:27200', 'nats://127.0.0.1:27202', 'nats://127.0.0.1:27204']);
    expect(c.nats.replicas).toBe(3);
    expect(loadConfig({}).nats.replicas).toBe(1);
    expect(configError({ LOOKOUT_NATS_CLUSTER: '2' }).variable).toBe('LOOKOUT_NATS_CLUSTER');
    // `lookout env` hands the whole seed list to clients started from that shell.
    expect(envLines(c)).toContain(
      "export LOOKOUT_NATS_URL='nats://127.0.0.1:27200,nats://127.0.0.1:27202,nats://127.0.0.1:27204'",
    );
  });

  it('withNatsCluster (`lookout up --nats-cluster 3`) turns the embedded single server into a cluster, not a configured one', () => {
    const c = withNatsCluster(loadConfig({}), 3, {});
    expect([c.nats.cluster, c.nats.replicas, c.nats.servers.length]).toEqual([3, 3, 3]);
    expect(() =>
      withNatsCluster(loadConfig({ LOOKOUT_NATS_URL: 'nats://x:4222' }), 3, { LOOKOUT_NATS_URL: 'nats://x:4222' }),
    ).toThrow(ConfigError);
  });
});

describe('NATS credentials and TLS', () => {
  it('user/password, token, nkey seed and .creds file become connect options', () => {
    const up = natsOptions(loadConfig({ LOOKOUT_NATS_USER: 'lookout', LOOKOUT_NATS_PASSWORD: 'pw-0123456789' }), 'x');
    expect([up.user, up.pass]).toEqual(['lookout', 'pw-0123456789']);
    expect(natsOptions(loadConfig({ LOOKOUT_NATS_TOKEN: 'tok-0123456789' }), 'x').token).toBe('tok-0123456789');
    expect(typeof natsOptions(loadConfig({ LOOKOUT_NATS_NKEY_SEED: seed }), 'x').authenticator).toBe('function');
    const creds = path.join(tmp, 'u.creds');
    fs.writeFileSync(
      creds,
      `-----BEGIN NATS USER JWT-----\neyJhbGciOiJlZDI1NTE5LW5rZXkiLCJ0eXAiOiJKV1QifQ.e30.sig\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
    );
    const c = loadConfig({ LOOKOUT_NATS_CREDS: creds });
    expect(typeof natsOptions(c, 'x').authenticator).toBe('function');
    // The seed inside the .creds file is a secret to redact even though it never was in the environment.
    expect(secretValues(c)).toContain(seed);
  });

  it('refuses two authentication methods, a password without a user, and a malformed seed (without quoting it)', () => {
    expect(
      configError({ LOOKOUT_NATS_USER: 'u', LOOKOUT_NATS_PASSWORD: 'p1234', LOOKOUT_NATS_TOKEN: 't1234' }).message,
    ).toMatch(/only one NATS authentication method/);
    expect(configError({ LOOKOUT_NATS_PASSWORD: 'p1234' }).variable).toBe('LOOKOUT_NATS_USER');
    const bad = 'SUnot-a-seed-but-secret-anyway';
    const e = configError({ LOOKOUT_NATS_NKEY_SEED: bad });
    expect(e.variable).toBe('LOOKOUT_NATS_NKEY_SEED');
    expect(e.message).not.toContain(bad);
  });

  it('TLS files must exist, and a client certificate needs its key', () => {
    const ca = path.join(tmp, 'ca.pem');
    fs.writeFileSync(ca, 'x');
    expect(configError({ LOOKOUT_NATS_TLS_CA: path.join(tmp, 'missing.pem') }).variable).toBe('LOOKOUT_NATS_TLS_CA');
    expect(configError({ LOOKOUT_NATS_TLS_CERT: ca }).variable).toBe('LOOKOUT_NATS_TLS_KEY');
    const o = natsOptions(
      loadConfig({ LOOKOUT_NATS_TLS_CA: ca, LOOKOUT_NATS_TLS_CERT: ca, LOOKOUT_NATS_TLS_KEY: ca }),
      'x',
    );
    expect(o.tls).toEqual({ caFile: ca, certFile: ca, keyFile: ca });
  });

  it('a password inside a URL never reaches an error message or `lookout env`', () => {
    const e = configError({ LOOKOUT_NATS_URL: 'nats://u:hunter2-secret@a:4222,http://b' });
    expect(e.message).not.toContain('hunter2-secret');
    const c = loadConfig({ LOOKOUT_NATS_URL: 'nats://u:hunter2-secret@a:4222' });
    expect(envLines(c).join('\n')).not.toContain('hunter2-secret');
    expect(secretValues(c)).toContain('hunter2-secret');
  });
});

describe('Temporal connection profiles (@temporalio/envconfig)', () => {
  it('TEMPORAL_ADDRESS and TEMPORAL_API_KEY: a real service, API key over TLS', () => {
    const c = loadConfig({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'key-0123456789abcdef',
    });
    expect(c.temporal.embedded).toBe(false);
    expect(c.temporal.url).toBe('ns.acct.tmprl.cloud:7233');
    expect(c.temporal.namespace).toBe('ns.acct');
    const o = temporalConnectOptions(c);
    expect(o.apiKey).toBe('key-0123456789abcdef');
    expect(o.tls).toBe(true);
  });

  it('reads a named TOML profile (address, namespace, API key, client certificate); LOOKOUT_ variables win', () => {
    const crt = path.join(tmp, 'client.pem');
    const key = path.join(tmp, 'client.key');
    fs.writeFileSync(crt, 'CERT');
    fs.writeFileSync(key, 'PRIVATE-KEY-0123456789abcdef');
    const toml = path.join(tmp, 'temporal.toml');
    fs.writeFileSync(
      toml,
      `[profile.prod]\naddress = "prod.example:7233"\nnamespace = "lookout-prod"\napi_key = "toml-key-0123456789"\n[profile.prod.tls]\nclient_cert_path = "${crt}"\nclient_key_path = "${key}"\nserver_name = "prod.example"\n`,
    );
    const c = loadConfig({ TEMPORAL_CONFIG_FILE: toml, LOOKOUT_TEMPORAL_PROFILE: 'prod' });
    expect(c.temporal.url).toBe('prod.example:7233');
    expect(c.temporal.namespace).toBe('lookout-prod');
    expect(c.temporal.profile).toBe('prod');
    const o = temporalConnectOptions(c);
    expect(o.apiKey).toBe('toml-key-0123456789');
    expect(o.tls).toMatchObject({ serverNameOverride: 'prod.example' });
    expect(Buffer.from((o.tls as { clientCertPair: { key: Uint8Array } }).clientCertPair.key).toString()).toBe(
      'PRIVATE-KEY-0123456789abcdef',
    );
    // The key from the file, never in the environment, is still a secret to redact.
    expect(secretValues(c)).toEqual(expect.arrayContaining(['toml-key-0123456789', 'PRIVATE-KEY-0123456789abcdef']));
    const o2 = loadConfig({
      TEMPORAL_CONFIG_FILE: toml,
      LOOKOUT_TEMPORAL_PROFILE: 'prod',
      LOOKOUT_TEMPORAL_ADDRESS: 'other:7233',
      LOOKOUT_TEMPORAL_NAMESPACE: 'n2',
    });
    expect([o2.temporal.url, o2.temporal.namespace]).toEqual(['other:7233', 'n2']);
    expect(configError({ TEMPORAL_CONFIG_FILE: toml, LOOKOUT_TEMPORAL_PROFILE: 'nope' }).message).toMatch(
      /Profile 'nope' not found/,
    );
  });

  it('without a named file or profile no TOML is read and the embedded dev server is used', () => {
    const c = loadConfig({ HOME: tmp });
    expect(c.temporal.embedded).toBe(true);
    expect(temporalConnectOptions(c)).toEqual({ address: c.temporal.url });
  });

  it('worker versioning needs deployment and build ID; workflows are pinned', () => {
    expect(configError({ LOOKOUT_WORKER_DEPLOYMENT: 'lookout' }).variable).toBe('LOOKOUT_WORKER_BUILD_ID');
    expect(workerDeploymentOptions(loadConfig({}))).toEqual({});
    expect(
      workerDeploymentOptions(
        loadConfig({ LOOKOUT_WORKER_DEPLOYMENT: 'lookout', LOOKOUT_WORKER_BUILD_ID: '2026.12.01-abc' }),
      ),
    ).toEqual({
      workerDeploymentOptions: {
        version: { deploymentName: 'lookout', buildId: '2026.12.01-abc' },
        useWorkerVersioning: true,
        defaultVersioningBehavior: 'PINNED',
      },
    });
  });
});

describe('redaction', () => {
  it('replaces registered secrets, their URL-encoded form and any URL password', () => {
    registerSecrets(['p@ss word!42', 'abc', undefined]);
    expect(redact('login p@ss word!42 / p%40ss%20word!42')).toBe(`login ${REDACTED} / ${REDACTED}`);
    // Too short to register: "abc" would garble every text.
    expect(redact('abc')).toBe('abc');
    expect(redact('dial nats://bob:unregistered@h:4222 failed')).toBe(`dial nats://bob:${REDACTED}@h:4222 failed`);
  });

  it('redacts the messages of causes too', () => {
    registerSecrets(['tok-0123456789']);
    const e = new Error('connect failed', { cause: new Error('server said: bad token tok-0123456789') });
    const m = redactedMessage(e);
    expect(m).toContain('bad token');
    expect(m).not.toContain('tok-0123456789');
  });

  it('`lookout env` lines name configured secrets without their values', () => {
    const c = loadConfig({
      LOOKOUT_NATS_USER: 'lookout',
      LOOKOUT_NATS_PASSWORD: 'pw-0123456789',
      TEMPORAL_API_KEY: 'key-0123456789',
      TEMPORAL_ADDRESS: 'x.tmprl.cloud:7233',
      LOOKOUT_PUSH_TOKEN: 'push-0123456789',
    });
    const out = envLines(c).join('\n');
    for (const s of ['pw-0123456789', 'key-0123456789', 'push-0123456789']) expect(out).not.toContain(s);
    expect(out).toContain('# LOOKOUT_NATS_PASSWORD is set');
    expect(out).toContain('# TEMPORAL_API_KEY is set');
    expect(out).toContain("export LOOKOUT_NATS_USER='lookout'");
  });
});
