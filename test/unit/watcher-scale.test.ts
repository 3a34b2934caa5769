/**
 * The bucket watcher over a bucket of 1,000,000 objects, through a fake lister that generates the listing
 * page by page (no real uploads) and a KV store that refuses values over NATS's default max_payload
 * (1 MiB), as nats-server does.
 */
import type { Storage } from '@google-cloud/storage';
import type { KV, NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { BucketWatcher, cursorKey, EMPTY_CURSOR, PollPlan, WATCHER_DEFAULTS } from '../../ingest/watcher';

const cfg = loadConfig({});
const BUCKET = 'lookout-inbox';
const MAX_PAYLOAD = 1024 * 1024;
const PAGE = 1000;

interface Obj {
  name: string;
  generation: string;
  created: number;
}

/** A bucket whose listing is generated on demand, in name order, one page at a time. */
class FakeBucket {
  extra: Obj[] = [];
  constructor(
    readonly count: number,
    readonly createdOf: (i: number) => number,
  ) {}
  size(): number {
    return this.count + this.extra.length;
  }
  at(i: number): Obj {
    if (i < this.count)
      return {
        name: `cam/${String(i).padStart(7, '0')}.jpg`,
        generation: String(1_700_000_000_000_000 + i),
        created: this.createdOf(i),
      };
    return this.extra[i - this.count];
  }
  storage(): Storage {
    return {
      bucket: () => ({
        getFiles: async (q: { maxResults: number; pageToken?: string }) => {
          // A real listing page is a network round trip: let the event loop (and vitest's RPC) run.
          await new Promise((r) => setImmediate(r));
          const from = q.pageToken ? Number(q.pageToken) : 0;
          const to = Math.min(this.size(), from + q.maxResults);
          const files = [];
          for (let i = from; i < to; i++) {
            const o = this.at(i);
            files.push({
              name: o.name,
              metadata: {
                bucket: BUCKET,
                name: o.name,
                generation: o.generation,
                size: '1000',
                contentType: 'image/jpeg',
                timeCreated: new Date(o.created).toISOString(),
              },
            });
          }
          return [files, to < this.size() ? { pageToken: String(to) } : null];
        },
      }),
    } as unknown as Storage;
  }
}

function fakeNats() {
  const published = new Map<string, number>();
  let total = 0;
  const nc = {
    jetstream: () => ({
      publish: async (_subject: string, _data: Uint8Array, opts: { msgID: string }) => {
        // A real publish waits on the network; this one lets the event loop (and vitest's RPC) breathe now and then.
        if (++total % 1000 === 0) await new Promise((r) => setImmediate(r));
        published.set(opts.msgID, (published.get(opts.msgID) ?? 0) + 1);
        return { seq: total, duplicate: false };
      },
    }),
  } as unknown as NatsConnection;
  return { nc, published, total: () => total };
}

function fakeKv() {
  const store = new Map<string, Uint8Array>();
  const puts: number[] = [];
  const kv = {
    get: async (k: string) => {
      const v = store.get(k);
      return v ? { value: v, length: v.length } : null;
    },
    put: async (k: string, v: Uint8Array) => {
      // nats-server: "maximum payload exceeded" (the value travels as one message).
      if (v.length > MAX_PAYLOAD) throw new Error('MAX_PAYLOAD_EXCEEDED');
      puts.push(v.length);
      store.set(k, v);
      return puts.length;
    },
  } as unknown as KV;
  return { kv, puts };
}

const T0 = Date.parse('2026-11-01T00:00:00Z');

describe('BucketWatcher over 1,000,000 objects', () => {
  it('a bucket it has caught up with: a quiet poll publishes and writes nothing; a new and a late object are published once', async () => {
    // One object a second over ~11.6 days, listed in name order (creation order shuffled against it).
    const bucket = new FakeBucket(1_000_000, (i) => T0 + ((i * 7919) % 1_000_000) * 1000);
    const { nc, published, total } = fakeNats();
    const { kv, puts } = fakeKv();
    // Caught up: the cursor a first poll leaves (computed without publishing the million events again;
    // the next test publishes a million through pollOnce).
    const plan = new PollPlan(EMPTY_CURSOR, WATCHER_DEFAULTS.lookBackMs);
    for (let i = 0; i < bucket.count; i++) {
      if (i % 50_000 === 0) await new Promise((r) => setImmediate(r));
      const o = bucket.at(i);
      plan.add({ key: `${BUCKET}/${o.name}#${o.generation}`, created: o.created });
    }
    await kv.put(cursorKey(BUCKET), new TextEncoder().encode(JSON.stringify(plan.next())));
    expect(puts[0]).toBeLessThan(64 * 1024);
    const w = new BucketWatcher(nc, bucket.storage(), cfg, BUCKET, { ...WATCHER_DEFAULTS, pageSize: PAGE });
    expect(await w.pollOnce(kv)).toBe(0);
    expect(total()).toBe(0);
    expect(puts).toHaveLength(1); // unchanged cursor: not rewritten
    // A new object, and one that shows up late (created behind the watermark, inside the look-back window).
    const newest = T0 + 999_999 * 1000;
    bucket.extra.push({ name: 'zz/new.jpg', generation: '1800000000000001', created: newest + 5000 });
    bucket.extra.push({ name: 'zz/late.jpg', generation: '1800000000000002', created: newest - 30_000 + 400 });
    await w.pollOnce(kv);
    expect(published.get(`${BUCKET}/zz/new.jpg#1800000000000001`)).toBe(1);
    expect(published.get(`${BUCKET}/zz/late.jpg#1800000000000002`)).toBe(1);
    // Besides those two, at most the one object that shares the late one's second was published again
    // (its event is dropped by the stream's Nats-Msg-Id dedupe, or its start by the workflow id).
    expect(total()).toBeLessThanOrEqual(3);
    expect(puts).toHaveLength(2);
    expect(puts[1]).toBeLessThan(64 * 1024);
    const after = total();
    expect(await w.pollOnce(kv)).toBe(0);
    expect(total()).toBe(after);
    expect(puts).toHaveLength(2);
  }, 120_000);

  it('keeps the cursor bounded when all 1,000,000 objects were created inside the look-back window', async () => {
    // A burst: 1,000,000 objects within 60 s, every one of them inside the 120 s look-back window (the old
    // cursor listed each one's key: ~60 MB, which NATS refused, so every poll published everything again).
    const bucket = new FakeBucket(1_000_000, (i) => T0 + ((i * 7919) % 1_000_000) * 0.06);
    const { nc, total } = fakeNats();
    const { kv, puts } = fakeKv();
    const plan = new PollPlan(EMPTY_CURSOR, WATCHER_DEFAULTS.lookBackMs);
    let toPublish = 0;
    for (let i = 0; i < bucket.count; i++) {
      if (i % 50_000 === 0) await new Promise((r) => setImmediate(r));
      const o = bucket.at(i);
      if (plan.add({ key: `${BUCKET}/${o.name}#${o.generation}`, created: o.created }) === 'publish') toPublish++;
    }
    expect(toPublish).toBe(1_000_000); // a first poll publishes every one
    const cursor = plan.next();
    expect(cursor.slots.reduce((n, [, c]) => n + c, 0)).toBe(1_000_000); // ... and remembers every one, in 60 slots
    await kv.put(cursorKey(BUCKET), new TextEncoder().encode(JSON.stringify(cursor)));
    expect(puts[0]).toBeLessThan(64 * 1024);
    // Quiet from now on: nothing published, nothing written.
    const w = new BucketWatcher(nc, bucket.storage(), cfg, BUCKET, { ...WATCHER_DEFAULTS, pageSize: PAGE });
    expect(await w.pollOnce(kv)).toBe(0);
    expect(await w.pollOnce(kv)).toBe(0);
    expect(total()).toBe(0);
    expect(puts).toHaveLength(1);
  }, 120_000);
});
