/**
 * Backfill: page through an existing archive (gs://bucket/prefix) and publish
 * one event per object at a bounded rate. One page is held in memory at a
 * time, so memory stays flat over a million-object listing. After each page
 * the page token is checkpointed in NATS KV, so an interrupted backfill
 * resumes where it stopped (a page may be republished; the stream's
 * Nats-Msg-Id and the workflow ID make that a no-op).
 */
import crypto from 'node:crypto';
import type { Storage } from '@google-cloud/storage';
import type { NatsConnection } from 'nats';
import type { LookoutConfig } from '../lib/config';
import { eventFromObjectResource } from '../lib/events';
import { cursorsKv, jsonCodec, publishDeadLetter, publishObjectEvent } from '../lib/streams';

export interface BackfillOptions {
  bucket: string;
  prefix: string;
  /** Events per second at most (0 = unbounded). */
  rate: number;
  pageSize: number;
  /** Ignore a saved checkpoint and start from the beginning. */
  restart: boolean;
  /** Extra metadata merged into each event (e.g. lookout-run for reports). */
  runTag?: string;
  onProgress?: (p: BackfillProgress) => void;
  signal?: AbortSignal;
}

export interface BackfillProgress {
  listed: number;
  published: number;
  duplicates: number;
  invalid: number;
  pages: number;
  resumedFromCheckpoint: boolean;
  done: boolean;
}

interface Checkpoint {
  pageToken: string | null;
  listed: number;
  published: number;
  duplicates: number;
  invalid: number;
  pages: number;
  done: boolean;
}

export function parseGsUri(uri: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!m) throw new Error(`not a gs:// URI: ${JSON.stringify(uri)} (expected gs://bucket/prefix)`);
  return { bucket: m[1], prefix: m[2] ?? '' };
}

export function checkpointKey(bucket: string, prefix: string): string {
  return `backfill.${crypto.createHash('sha256').update(`${bucket}/${prefix}`).digest('hex').slice(0, 32)}`;
}

/** A token bucket: at most `rate` acquisitions per second, smoothed. */
export class RateLimiter {
  private next = 0;
  constructor(private readonly rate: number) {}
  async acquire(): Promise<void> {
    if (this.rate <= 0) return;
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + 1000 / this.rate;
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  }
}

export async function backfill(nc: NatsConnection, storage: Storage, cfg: LookoutConfig, opts: BackfillOptions): Promise<BackfillProgress> {
  const kv = await cursorsKv(nc, cfg);
  const key = checkpointKey(opts.bucket, opts.prefix);
  let cp: Checkpoint = { pageToken: null, listed: 0, published: 0, duplicates: 0, invalid: 0, pages: 0, done: false };
  let resumed = false;
  if (!opts.restart) {
    const e = await kv.get(key);
    if (e && e.length > 0) {
      const saved = jsonCodec.decode(e.value) as Checkpoint;
      if (!saved.done) {
        cp = saved;
        resumed = true;
      }
    }
  }
  const js = nc.jetstream();
  const limiter = new RateLimiter(opts.rate);
  const progress = (): BackfillProgress => ({ listed: cp.listed, published: cp.published, duplicates: cp.duplicates, invalid: cp.invalid, pages: cp.pages, resumedFromCheckpoint: resumed, done: cp.done });
  const bucket = storage.bucket(opts.bucket);
  do {
    if (opts.signal?.aborted) break;
    const [files, next] = await bucket.getFiles({ prefix: opts.prefix || undefined, autoPaginate: false, maxResults: opts.pageSize, pageToken: cp.pageToken ?? undefined });
    for (const f of files) {
      cp.listed++;
      const md = f.metadata;
      const metadata = { ...(md.metadata as Record<string, string> | undefined), ...(opts.runTag ? { 'lookout-run': opts.runTag } : {}) };
      const v = eventFromObjectResource({ ...md, bucket: opts.bucket, name: f.name, metadata } as Parameters<typeof eventFromObjectResource>[0], 'backfill');
      if (!v.ok) {
        cp.invalid++;
        await publishDeadLetter(js, cfg, { kind: 'ingest', reason: v.reason, payload: JSON.stringify({ bucket: opts.bucket, name: f.name }) });
        continue;
      }
      await limiter.acquire();
      const r = await publishObjectEvent(js, cfg, v.value);
      if (r.duplicate) cp.duplicates++;
      else cp.published++;
      opts.onProgress?.(progress());
    }
    cp.pages++;
    cp.pageToken = (next as { pageToken?: string } | null)?.pageToken ?? null;
    cp.done = cp.pageToken === null;
    await kv.put(key, jsonCodec.encode(cp));
    opts.onProgress?.(progress());
  } while (cp.pageToken);
  return progress();
}
