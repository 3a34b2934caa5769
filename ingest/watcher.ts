/**
 * Bucket watcher, for buckets that cannot push notifications (fake-gcs-server
 * notifies only a Pub/Sub emulator). It polls the listing and publishes one
 * event per new object version, whoever wrote it.
 *
 * The cursor lives in NATS KV and is written only after the events it covers
 * are acknowledged by JetStream, so a restart never misses an object. Objects
 * can become visible slightly out of creation-time order, so besides the
 * watermark (newest timeCreated published) the cursor remembers what it has
 * published inside a look-back window behind it, and an object that shows up
 * late in that window is still published.
 *
 * Bounded whatever the bucket holds: the window is remembered as one digest per
 * time slot (count and XOR of a 64-bit hash of each object key), at most
 * MAX_SLOTS slots (121 for the default 2-minute window: ~4 KB), not as the list
 * of keys, which grew with the objects created in the window (1M objects in a
 * burst: ~60 MB, far over NATS's 1 MiB payload; the failed write then
 * republished everything on every poll). A slot whose digest no longer matches
 * the listing has gained (or lost) an object: its objects are published again;
 * the new ones are new, the others are dropped by the stream's Nats-Msg-Id
 * dedupe or, later, by the deterministic workflow ID. A poll holds one listing
 * page plus the window's slots in memory, and the cursor is written only when it
 * changed.
 */
import type { Storage } from '@google-cloud/storage';
import type { KV, NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';
import { bucketToken, eventFromObjectResource, objectKey } from '../core/events';
import { cursorsKv, publishDeadLetter, publishObjectEvent } from '../io/streams';
import { log } from '../io/log';

/** Cursor as stored in KV (version 2). */
export interface WatchCursor {
  v: 2;
  /** Largest timeCreated (epoch ms) published so far. */
  watermark: number;
  /** Width of a slot (ms). */
  slotMs: number;
  /** [slot index (floor(created / slotMs)), objects published in it, XOR of their key hashes as hex], by slot. */
  slots: Array<[number, number, string]>;
}

/** Version 1 (before slots): the keys published within the window. Still read, so an upgrade republishes nothing. */
export interface LegacyWatchCursor {
  watermark: number;
  recent: string[];
}

export interface WatcherOptions {
  intervalMs: number;
  /** How far behind the watermark an object may still appear. */
  lookBackMs: number;
  pageSize: number;
}

export const WATCHER_DEFAULTS: WatcherOptions = { intervalMs: 500, lookBackMs: 120_000, pageSize: 1000 };

/** Slots in a cursor at most (a wider window gets wider slots): 2,000 slots encode to ~70 KB, far below 1 MiB. */
export const MAX_SLOTS = 2000;

export function cursorKey(bucket: string): string {
  return `watch.${bucketToken(bucket)}`;
}

export interface Listed {
  key: string;
  created: number;
  resource: Record<string, unknown>;
}

export const EMPTY_CURSOR: WatchCursor = { v: 2, watermark: 0, slotMs: 1000, slots: [] };

export function slotMsFor(lookBackMs: number): number {
  return Math.max(1000, Math.ceil(lookBackMs / (MAX_SLOTS - 2)));
}

/**
 * 64-bit hash of an object key, as two 32-bit halves: cyrb53's mixing (bryc, public domain) with both lanes
 * kept. Not cryptographic, and it need not be: it tells "this slot's objects changed" from "they did not";
 * it is ~10x faster than crypto's md5 here, which matters at a million keys per poll.
 */
export function keyHash(key: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

class Digest {
  n = 0;
  a = 0;
  b = 0;
  add([x, y]: [number, number]): void {
    this.n++;
    this.a = (this.a ^ x) >>> 0;
    this.b = (this.b ^ y) >>> 0;
  }
  hex(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }
}

/**
 * One poll's decisions, fed the listing one object at a time (pure: no I/O). `add` says whether an object
 * is to be published now; after the listing, `finish` names the slots to publish again and the next cursor.
 */
export class PollPlan {
  private readonly old: WatchCursor | undefined;
  private readonly legacy: { watermark: number; recent: Set<string> } | undefined;
  private readonly slotMs: number;
  private readonly oldWatermark: number;
  /** First slot of the old window (objects below it were published long ago). */
  private readonly oldFloor: number;
  /** Digests of the listing for slots of the old window, objects at or behind the old watermark only. */
  private readonly seenOld = new Map<number, Digest>();
  /** Digests of the listing for the slots the next cursor may keep. */
  private readonly seen = new Map<number, Digest>();
  private watermark: number;

  constructor(
    cursor: WatchCursor | LegacyWatchCursor,
    private readonly lookBackMs: number,
  ) {
    this.slotMs = slotMsFor(lookBackMs);
    if ('recent' in cursor) {
      this.legacy = { watermark: cursor.watermark, recent: new Set(cursor.recent) };
    } else if (cursor.slotMs === this.slotMs) {
      this.old = cursor;
    } else {
      // The window was resized: compare nothing, republish the old window once (dedupe makes it harmless).
      this.old = { ...cursor, slots: [] };
    }
    this.oldWatermark = cursor.watermark;
    this.oldFloor = cursor.watermark > 0 ? Math.floor((cursor.watermark - lookBackMs) / this.slotMs) : -Infinity;
    this.watermark = cursor.watermark;
  }

  private slotOf(created: number): number {
    return Math.floor(created / this.slotMs);
  }

  /** 'publish' now, or 'known' (published by an earlier poll, or to be judged by its slot's digest). */
  add(o: Pick<Listed, 'key' | 'created'>): 'publish' | 'known' {
    const slot = this.slotOf(o.created);
    let hash: [number, number] | undefined;
    let verdict: 'publish' | 'known' = 'known';
    if (o.created > this.oldWatermark) verdict = 'publish';
    else if (slot >= this.oldFloor) {
      if (this.legacy) {
        if (o.created >= this.legacy.watermark - this.lookBackMs && !this.legacy.recent.has(o.key)) verdict = 'publish';
      } else {
        let d = this.seenOld.get(slot);
        if (!d) this.seenOld.set(slot, (d = new Digest()));
        d.add((hash ??= keyHash(o.key)));
      }
    }
    if (o.created > this.watermark) this.watermark = o.created;
    const floor = this.slotOf(this.watermark - this.lookBackMs);
    if (slot >= floor) {
      let d = this.seen.get(slot);
      if (!d) this.seen.set(slot, (d = new Digest()));
      d.add((hash ??= keyHash(o.key)));
    }
    // The watermark only rises: slots that fell out of the window can go (bounded memory).
    if (this.seen.size > 2 * MAX_SLOTS) for (const k of this.seen.keys()) if (k < floor) this.seen.delete(k);
    return verdict;
  }

  /** Slots of the old window whose objects changed since the last poll (their objects are to be published again). */
  changedSlots(): Set<number> {
    const changed = new Set<number>();
    if (!this.old) return changed;
    const before = new Map(this.old.slots.map(([slot, n, x]) => [slot, `${n}:${x}`]));
    for (const [slot, d] of this.seenOld) if (before.get(slot) !== `${d.n}:${d.hex()}`) changed.add(slot);
    for (const [slot] of before) if (slot >= this.oldFloor && !this.seenOld.has(slot)) changed.add(slot);
    return changed;
  }

  /** Whether an object of the listing is in a changed slot, at or behind the old watermark (the rest were published by add). */
  inChangedSlot(o: Pick<Listed, 'created'>, changed: ReadonlySet<number>): boolean {
    return o.created <= this.oldWatermark && changed.has(this.slotOf(o.created));
  }

  next(): WatchCursor {
    const floor = this.slotOf(this.watermark - this.lookBackMs);
    const slots: WatchCursor['slots'] = [...this.seen]
      .filter(([slot]) => slot >= floor)
      .sort((a, b) => a[0] - b[0])
      .map(([slot, d]) => [slot, d.n, d.hex()]);
    return { v: 2, watermark: this.watermark, slotMs: this.slotMs, slots };
  }
}

/**
 * Pure form of a poll over a listing held in memory (tests, small buckets): what to publish, and the
 * cursor after publishing it.
 */
export function planPoll(
  cursor: WatchCursor | LegacyWatchCursor,
  listed: readonly Listed[],
  lookBackMs: number,
): { fresh: Listed[]; next: WatchCursor } {
  const plan = new PollPlan(cursor, lookBackMs);
  const fresh = listed.filter((o) => plan.add(o) === 'publish');
  const changed = plan.changedSlots();
  if (changed.size > 0) fresh.push(...listed.filter((o) => plan.inChangedSlot(o, changed)));
  return { fresh: fresh.sort((a, b) => a.created - b.created), next: plan.next() };
}

export class BucketWatcher {
  private stopped = false;
  private wake: (() => void) | undefined;
  published = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly storage: Storage,
    private readonly cfg: LookoutConfig,
    private readonly bucket: string,
    private readonly opts: WatcherOptions = WATCHER_DEFAULTS,
  ) {}

  private async readCursor(kv: KV): Promise<{ cursor: WatchCursor | LegacyWatchCursor; raw: string }> {
    const e = await kv.get(cursorKey(this.bucket));
    if (!e || e.length === 0) return { cursor: EMPTY_CURSOR, raw: '' };
    const raw = new TextDecoder().decode(e.value);
    return { cursor: JSON.parse(raw) as WatchCursor | LegacyWatchCursor, raw };
  }

  /** The listing, one page at a time (a page is all a poll holds). */
  private async *pages(): AsyncGenerator<Listed[]> {
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.storage
        .bucket(this.bucket)
        .getFiles({ autoPaginate: false, maxResults: this.opts.pageSize, pageToken });
      const out: Listed[] = [];
      for (const f of files) {
        const md = f.metadata;
        const created = Date.parse(String(md.timeCreated ?? ''));
        if (!Number.isFinite(created) || md.generation === undefined) continue;
        out.push({
          key: objectKey({ bucket: this.bucket, name: f.name, generation: String(md.generation) }),
          created,
          resource: { ...md, bucket: this.bucket, name: f.name },
        });
      }
      yield out;
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
  }

  private async publish(o: Listed): Promise<void> {
    const js = this.nc.jetstream();
    const v = eventFromObjectResource(o.resource, 'watcher');
    if (!v.ok) {
      await publishDeadLetter(js, this.cfg, { kind: 'ingest', reason: v.reason, payload: JSON.stringify(o.resource) });
      return;
    }
    await publishObjectEvent(js, this.cfg, v.value);
    this.published++;
  }

  /** One poll: publish new objects page by page, then advance the cursor. Returns how many were published. */
  async pollOnce(kv: KV): Promise<number> {
    const { cursor, raw } = await this.readCursor(kv);
    const plan = new PollPlan(cursor, this.opts.lookBackMs);
    let n = 0;
    for await (const page of this.pages()) {
      for (const o of page) {
        if (plan.add(o) !== 'publish') continue;
        await this.publish(o);
        n++;
      }
    }
    // Rare (an object showed up late, or one was deleted, inside the window): a second pass publishes the slots that changed.
    const changed = plan.changedSlots();
    if (changed.size > 0) {
      for await (const page of this.pages()) {
        for (const o of page) {
          if (!plan.inChangedSlot(o, changed)) continue;
          await this.publish(o);
          n++;
        }
      }
    }
    const next = JSON.stringify(plan.next());
    // Unchanged (nothing new): no write. The cursor is small whatever the bucket holds, so the write cannot fail for size.
    if (next !== raw) await kv.put(cursorKey(this.bucket), new TextEncoder().encode(next));
    return n;
  }

  async run(
    onError: (err: unknown) => void = (err) => log().error({ err }, 'watcher: listing or publishing failed; retrying'),
  ): Promise<void> {
    const kv = await cursorsKv(this.nc, this.cfg);
    while (!this.stopped) {
      try {
        await this.pollOnce(kv);
      } catch (err) {
        onError(err);
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.opts.intervalMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}
