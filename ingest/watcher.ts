/**
 * Bucket watcher, for buckets that cannot push notifications (fake-gcs-server
 * notifies only a Pub/Sub emulator). It polls the listing and publishes one
 * event per new object version, whoever wrote it.
 *
 * The cursor lives in NATS KV and is written only after the events it covers
 * are acknowledged by JetStream, so a restart never misses an object. Objects
 * can become visible slightly out of creation-time order, so the cursor keeps
 * a watermark plus the keys seen inside a look-back window; a restart does not
 * republish them (and were it to, the stream's Nats-Msg-Id dedupe and the
 * workflow ID would still make it a no-op).
 */
import type { Storage } from '@google-cloud/storage';
import type { KV, NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';
import { bucketToken, eventFromObjectResource, objectKey } from '../core/events';
import { cursorsKv, jsonCodec, publishDeadLetter, publishObjectEvent } from '../io/streams';

export interface WatchCursor {
  /** Largest timeCreated (epoch ms) published so far. */
  watermark: number;
  /** Keys (bucket/name#generation) created within lookBackMs of the watermark that were published. */
  recent: string[];
}

export interface WatcherOptions {
  intervalMs: number;
  /** How far behind the watermark an object may still appear. */
  lookBackMs: number;
  pageSize: number;
}

export const WATCHER_DEFAULTS: WatcherOptions = { intervalMs: 500, lookBackMs: 120_000, pageSize: 1000 };

export function cursorKey(bucket: string): string {
  return `watch.${bucketToken(bucket)}`;
}

interface Listed {
  key: string;
  created: number;
  resource: Record<string, unknown>;
}

/** Pure step: which listed objects are new under the cursor, and the cursor after publishing them. */
export function planPoll(cursor: WatchCursor, listed: Listed[], lookBackMs: number): { fresh: Listed[]; next: WatchCursor } {
  const recent = new Set(cursor.recent);
  const floor = cursor.watermark - lookBackMs;
  const fresh = listed.filter((o) => o.created >= floor && !recent.has(o.key)).sort((a, b) => a.created - b.created);
  const watermark = Math.max(cursor.watermark, ...fresh.map((o) => o.created));
  const newFloor = watermark - lookBackMs;
  const keep = new Set<string>();
  for (const k of cursor.recent) keep.add(k);
  for (const o of fresh) keep.add(o.key);
  // Drop keys that fell out of the window: they can no longer be listed as fresh.
  const createdOf = new Map(listed.map((o) => [o.key, o.created]));
  const nextRecent = [...keep].filter((k) => (createdOf.get(k) ?? -Infinity) >= newFloor);
  return { fresh, next: { watermark, recent: nextRecent } };
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

  private async readCursor(kv: KV): Promise<WatchCursor> {
    const e = await kv.get(cursorKey(this.bucket));
    if (!e || e.length === 0) return { watermark: 0, recent: [] };
    return jsonCodec.decode(e.value) as WatchCursor;
  }

  private async list(): Promise<Listed[]> {
    const out: Listed[] = [];
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.storage.bucket(this.bucket).getFiles({ autoPaginate: false, maxResults: this.opts.pageSize, pageToken });
      for (const f of files) {
        const md = f.metadata;
        const created = Date.parse(String(md.timeCreated ?? ''));
        if (!Number.isFinite(created) || md.generation === undefined) continue;
        out.push({ key: objectKey({ bucket: this.bucket, name: f.name, generation: String(md.generation) }), created, resource: { ...md, bucket: this.bucket, name: f.name } });
      }
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
    return out;
  }

  /** One poll: publish new objects, then advance the cursor. Returns how many were published. */
  async pollOnce(kv: KV): Promise<number> {
    const cursor = await this.readCursor(kv);
    const listed = await this.list();
    const { fresh, next } = planPoll(cursor, listed, this.opts.lookBackMs);
    const js = this.nc.jetstream();
    for (const o of fresh) {
      const v = eventFromObjectResource(o.resource, 'watcher');
      if (!v.ok) {
        await publishDeadLetter(js, this.cfg, { kind: 'ingest', reason: v.reason, payload: JSON.stringify(o.resource) });
        continue;
      }
      await publishObjectEvent(js, this.cfg, v.value);
      this.published++;
    }
    if (fresh.length > 0 || next.recent.length !== cursor.recent.length) {
      await kv.put(cursorKey(this.bucket), jsonCodec.encode(next));
    }
    return fresh.length;
  }

  async run(onError: (err: unknown) => void = (e) => console.error('watcher:', e)): Promise<void> {
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
