import { describe, expect, it } from 'vitest';
import { ConfigError, envLines, loadConfig } from '../../config';

describe('loadConfig', () => {
  it('defaults to the embedded stack on loopback', () => {
    const c = loadConfig({});
    expect(c.nats.embedded && c.temporal.embedded && c.gcs.embedded && c.bigquery.embedded).toBe(true);
    expect(c.nats.url).toBe('nats://127.0.0.1:17200');
    expect(c.temporal.url).toBe('127.0.0.1:17210');
    expect(c.gcs.url).toBe('http://127.0.0.1:17220');
    expect(c.bigquery.url).toBe('http://127.0.0.1:17230');
  });

  it('moves every port with LOOKOUT_PORT_BASE', () => {
    const c = loadConfig({ LOOKOUT_PORT_BASE: '27200' });
    expect(c.nats.url).toBe('nats://127.0.0.1:27200');
    expect(c.gcs.url).toBe('http://127.0.0.1:27220');
  });

  it('treats a configured endpoint as a real service (nothing local)', () => {
    const c = loadConfig({
      LOOKOUT_NATS_URL: 'nats://nats.prod:4222',
      LOOKOUT_GCS_ENDPOINT: 'https://storage.googleapis.com',
    });
    expect(c.nats.embedded).toBe(false);
    expect(c.gcs.embedded).toBe(false);
    expect(c.temporal.embedded).toBe(true);
  });

  it.each([
    ['LOOKOUT_NATS_URL', 'http://x:1'],
    ['LOOKOUT_GCS_ENDPOINT', 'not a url'],
    ['LOOKOUT_BUCKET', 'Bad_Bucket!'],
    ['LOOKOUT_PORT_BASE', '80'],
    ['LOOKOUT_BIGQUERY_DATASET', 'has-dash'],
    ['LOOKOUT_TEMPORAL_ADDRESS', 'no-port'],
    ['LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED', 'maybe'],
  ])('fails naming %s when it is %j', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}:`));
  });

  it('env lines name every endpoint a client needs', () => {
    const lines = envLines(loadConfig({}));
    const keys = lines.map((l) => /^export ([A-Z_]+)=/.exec(l)?.[1]);
    for (const k of [
      'STORAGE_EMULATOR_HOST',
      'LOOKOUT_BUCKET',
      'LOOKOUT_BIGQUERY_ENDPOINT',
      'LOOKOUT_BIGQUERY_DATASET',
      'LOOKOUT_BIGQUERY_TABLE',
      'LOOKOUT_NATS_URL',
      'LOOKOUT_NATS_STREAM',
      'LOOKOUT_TEMPORAL_ADDRESS',
      'LOOKOUT_TEMPORAL_NAMESPACE',
      'GOOGLE_CLOUD_PROJECT',
    ]) {
      expect(keys).toContain(k);
    }
  });
});
