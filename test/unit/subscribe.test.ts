/** The Pub/Sub subscriber's handling of one notification, against a recording JetStream fake (the real servers: test/integration/pubsub-ingest.test.ts). */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { JetStreamClient } from 'nats';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { handleNotification } from '../../ingest/subscribe';

const cfg = loadConfig({});
const served = new Set([cfg.gcs.bucket]);

function fakeJs(opts: { fail?: boolean; duplicate?: boolean } = {}) {
  const published: Array<{ subject: string; body: Record<string, unknown> }> = [];
  const js = {
    async publish(subject: string, data: Uint8Array) {
      if (opts.fail) throw new Error('no responders');
      published.push({ subject, body: JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown> });
      return { seq: published.length, duplicate: !!opts.duplicate, stream: 'x' };
    },
  } as unknown as JetStreamClient;
  return { js, published };
}

const object = {
  kind: 'storage#object',
  bucket: cfg.gcs.bucket,
  name: 'a/b.jpg',
  generation: '17',
  size: '100',
  contentType: 'image/jpeg',
  timeCreated: '2026-12-01T06:00:00.123Z',
};
const msg = (data: unknown, eventType = 'OBJECT_FINALIZE') => ({
  id: '1',
  data: Buffer.from(typeof data === 'string' ? data : JSON.stringify(data)),
  attributes: { eventType },
});

describe('handleNotification', () => {
  it('publishes a finalized object of a served bucket as a pubsub event, stamped when published', async () => {
    const { js, published } = fakeJs();
    const before = Date.now();
    expect(await handleNotification(js, cfg, msg(object), served)).toEqual({ kind: 'published' });
    expect(published).toHaveLength(1);
    expect(published[0].subject.startsWith(`${cfg.nats.subjectPrefix}.`)).toBe(true);
    expect(published[0].body).toMatchObject({
      bucket: cfg.gcs.bucket,
      name: 'a/b.jpg',
      generation: '17',
      source: 'pubsub',
    });
    expect(Date.parse(String(published[0].body.publishedAt))).toBeGreaterThanOrEqual(before - 1);
  });

  it('a duplicate the stream dropped is reported as such', async () => {
    expect(await handleNotification(fakeJs({ duplicate: true }).js, cfg, msg(object), served)).toEqual({
      kind: 'duplicate',
    });
  });

  it('ignores other event types without publishing anything', async () => {
    const { js, published } = fakeJs();
    expect(await handleNotification(js, cfg, msg(object, 'OBJECT_DELETE'), served)).toEqual({
      kind: 'ignored',
      reason: 'event type OBJECT_DELETE',
    });
    expect(published).toHaveLength(0);
  });

  it('dead-letters data that is not JSON, an invalid event and a bucket not served', async () => {
    const { js, published } = fakeJs();
    expect(await handleNotification(js, cfg, msg('not json'), served)).toMatchObject({
      kind: 'deadLettered',
      reason: expect.stringContaining('not JSON'),
    });
    expect(await handleNotification(js, cfg, msg({ ...object, generation: undefined }), served)).toMatchObject({
      kind: 'deadLettered',
      reason: expect.stringContaining('generation'),
    });
    expect(await handleNotification(js, cfg, msg({ ...object, bucket: 'other-bucket' }), served)).toMatchObject({
      kind: 'deadLettered',
      reason: expect.stringContaining('not served'),
    });
    expect(published.map((p) => p.subject.startsWith(`${cfg.nats.deadPrefix}.`))).toEqual([true, true, true]);
  });

  it('nacks when the stream is unavailable (Pub/Sub redelivers)', async () => {
    expect(await handleNotification(fakeJs({ fail: true }).js, cfg, msg(object), served)).toEqual({
      kind: 'nacked',
      error: 'no responders',
    });
  });
});

describe('lookout subscribe', () => {
  it('--help prints its usage and options', () => {
    const out = execFileSync(
      process.execPath,
      [path.join(__dirname, '..', '..', 'bin', 'lookout'), 'subscribe', '--help'],
      { encoding: 'utf8' },
    );
    expect(out).toContain('subscribe [--subscription ID] [--max-messages N]');
    expect(out).toContain('--max-messages');
  });
});
