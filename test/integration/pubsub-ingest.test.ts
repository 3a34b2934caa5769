/**
 * Event-driven ingest on the real servers: fake-gcs-server publishes the inbox's object notifications to
 * pstest (Google's Pub/Sub fake, built by infra/install.sh), and Lookout's pull subscriber (`lookout
 * subscribe`, started by `lookout up` in place of the watcher) puts them on the object stream.
 */
import { describe, expect, it } from 'vitest';
import { pubsubClient } from '../../io/clients';
import { readDeadLetters } from '../../io/streams';
import { appsFor } from '../../infra/stack';
import { isAlive, readPid } from '../../infra/procs';
import { cfg, sampleFrame, uniqueRun, upload, waitForRows, withNats } from './helpers';

/** Polls the dead-letter stream until a dead letter matching `match` is there (or fails after timeoutMs). */
async function waitForDeadLetter(match: (payload: string) => boolean, timeoutMs = 30_000) {
  return withNats(async (nc) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = (await readDeadLetters(nc, cfg, { kind: 'ingest' })).filter((d) => match(d.payload));
      if (found.length > 0 || Date.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 250));
    }
  });
}

describe('Pub/Sub ingest (fake-gcs-server -> pstest -> lookout subscribe)', () => {
  it('the embedded stack runs the subscriber, not the watcher', () => {
    expect(cfg.ingest).toBe('pubsub');
    expect(appsFor(cfg)).toEqual(['subscriber', 'dispatcher', 'worker-cpu']);
    expect(isAlive(readPid(cfg.home, 'subscriber'))).toBe(true);
    expect(isAlive(readPid(cfg.home, 'watcher'))).toBe(false);
  });

  it('an upload to the inbox becomes a row whose event came through Pub/Sub', async () => {
    const run = uniqueRun('pubsub');
    const name = `${run}/frame.jpg`;
    const generation = await upload(cfg.gcs.bucket, name, sampleFrame(120), 'image/jpeg', { 'lookout-run': run });
    const [row] = await waitForRows<{
      name: string;
      generation: string;
      event_source: string;
      status: string;
      published_offset_ms: number;
    }>('run_tag = @run', { run }, 1);
    expect(row).toMatchObject({ name, generation, event_source: 'pubsub', status: 'ok' });
    // The event reached the stream from the notification, not from a poll: well under the watcher's interval on an idle stack.
    expect(Number(row.published_offset_ms)).toBeGreaterThanOrEqual(0);
  });

  it('a malformed notification and one for a bucket not served are dead-lettered with their reasons', async () => {
    const marker = uniqueRun('bad-notification');
    const ps = pubsubClient(cfg);
    try {
      const topic = ps.topic(cfg.pubsub.topic);
      // No generation: the event cannot name an object version.
      await topic.publishMessage({
        json: {
          kind: 'storage#object',
          bucket: cfg.gcs.bucket,
          name: `${marker}/a.jpg`,
          size: '10',
          timeCreated: new Date().toISOString(),
        },
        attributes: { eventType: 'OBJECT_FINALIZE' },
      });
      await topic.publishMessage({
        json: {
          kind: 'storage#object',
          bucket: 'someone-elses-bucket',
          name: `${marker}/b.jpg`,
          generation: '1',
          size: '10',
          timeCreated: new Date().toISOString(),
        },
        attributes: { eventType: 'OBJECT_FINALIZE' },
      });
    } finally {
      await ps.close();
    }
    const malformed = await waitForDeadLetter((p) => p.includes(`${marker}/a.jpg`));
    expect(malformed).toHaveLength(1);
    expect(malformed[0].reason).toContain('generation');
    const foreign = await waitForDeadLetter((p) => p.includes(`${marker}/b.jpg`));
    expect(foreign).toHaveLength(1);
    expect(foreign[0].reason).toContain('not served');
  });
});
