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
import type { LookoutConfig } from '../config';
import type { BatchInput } from '../activities/types';
import type { PipelineSpec } from '../core/pipelines';
import { eventFromObjectResource, type ObjectEvent } from '../core/events';
import type { WorkflowStarter } from '../io/starter';
import { cursorsKv, jsonCodec, publishDeadLetter, publishObjectEvent } from '../io/streams';

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
  /**
   * Bulk mode: instead of one event (and one workflow) per object, start one analyzeBatch workflow per
   * `size` objects directly in Temporal, at most `inflight` at a time; `onStarted` sees each batch's workflow id.
   */
  bulk?: {
    size: number;
    inflight: number;
    starter: Pick<WorkflowStarter, 'startBatch'>;
    pipeline: PipelineSpec;
    onStarted?: (workflowId: string) => void;
  };
}

export interface BackfillProgress {
  listed: number;
  published: number;
  duplicates: number;
  invalid: number;
  pages: number;
  resumedFromCheckpoint: boolean;
  done: boolean;
  /**
   * Bulk mode: batch workflows finished by this pass and their objects (a batch already run starts nothing:
   * its objects count as `duplicates`). A batch workflow that ended without a result (terminated, timed out)
   * counts all its objects as failed: `lookout retry` re-runs those without a row.
   */
  bulk?: { batches: number; objects: number; ok: number; failed: number };
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

export async function backfill(
  nc: NatsConnection,
  storage: Storage,
  cfg: LookoutConfig,
  opts: BackfillOptions,
): Promise<BackfillProgress> {
  const kv = await cursorsKv(nc, cfg);
  const key = checkpointKey(opts.bucket, opts.prefix);
  const batches = opts.bulk ? new BulkStarter(opts.bulk, opts.runTag) : undefined;
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
  const progress = (): BackfillProgress => ({
    listed: cp.listed,
    published: cp.published,
    duplicates: cp.duplicates,
    invalid: cp.invalid,
    pages: cp.pages,
    resumedFromCheckpoint: resumed,
    done: cp.done,
    ...(batches ? { bulk: { ...batches.totals } } : {}),
  });
  // Bulk mode: objects count as published (or duplicates) when their batch is started (or found already run).
  const count = (r: { started: number; duplicate: number }) => {
    cp.published += r.started;
    cp.duplicates += r.duplicate;
  };
  const bucket = storage.bucket(opts.bucket);
  do {
    if (opts.signal?.aborted) break;
    const [files, next] = await bucket.getFiles({
      prefix: opts.prefix || undefined,
      autoPaginate: false,
      maxResults: opts.pageSize,
      pageToken: cp.pageToken ?? undefined,
    });
    for (const f of files) {
      cp.listed++;
      const md = f.metadata;
      const metadata = {
        ...(md.metadata as Record<string, string> | undefined),
        ...(opts.runTag ? { 'lookout-run': opts.runTag } : {}),
      };
      const v = eventFromObjectResource(
        { ...md, bucket: opts.bucket, name: f.name, metadata } as Parameters<typeof eventFromObjectResource>[0],
        'backfill',
      );
      if (!v.ok) {
        cp.invalid++;
        await publishDeadLetter(js, cfg, {
          kind: 'ingest',
          reason: v.reason,
          payload: JSON.stringify({ bucket: opts.bucket, name: f.name }),
        });
        continue;
      }
      await limiter.acquire();
      if (batches) {
        count(await batches.add(v.value));
      } else {
        const r = await publishObjectEvent(js, cfg, v.value);
        if (r.duplicate) cp.duplicates++;
        else cp.published++;
      }
      opts.onProgress?.(progress());
    }
    if (batches) count(await batches.flush());
    cp.pages++;
    cp.pageToken = (next as { pageToken?: string } | null)?.pageToken ?? null;
    cp.done = cp.pageToken === null;
    await kv.put(key, jsonCodec.encode(cp));
    opts.onProgress?.(progress());
  } while (cp.pageToken);
  if (batches) await batches.drain();
  return progress();
}

/** Gathers objects into batches and starts one analyzeBatch workflow per batch, a bounded number at a time. */
export class BulkStarter {
  private pending: ObjectEvent[] = [];
  private running: Array<Promise<void>> = [];
  /** Totals over the batches finished (counters, not results: memory stays flat however large the archive). */
  readonly totals = { batches: 0, objects: 0, ok: 0, failed: 0 };

  constructor(
    private readonly bulk: NonNullable<BackfillOptions['bulk']>,
    private readonly runTag?: string,
  ) {}

  /** Queues an object; when that fills a batch, starts it and says how many objects were started or had already run. */
  async add(ev: ObjectEvent): Promise<{ started: number; duplicate: number }> {
    this.pending.push(ev);
    if (this.pending.length >= this.bulk.size) return this.flush();
    return { started: 0, duplicate: 0 };
  }

  /** Starts a batch of the queued objects (if any). */
  async flush(): Promise<{ started: number; duplicate: number }> {
    if (this.pending.length === 0) return { started: 0, duplicate: 0 };
    const evs = this.pending.splice(0);
    while (this.running.length >= this.bulk.inflight) await this.running.shift();
    const now = new Date().toISOString();
    const input: BatchInput = {
      pipeline: this.bulk.pipeline,
      objects: evs.map((e) => ({
        bucket: e.bucket,
        name: e.name,
        generation: e.generation,
        size: Number(e.size),
        contentType: e.contentType,
        timeCreated: e.timeCreated,
        md5Hash: e.md5Hash,
        crc32c: e.crc32c,
        metadata: e.metadata,
      })),
      trace: { source: 'backfill', publishedAt: now, dispatchedAt: now },
      runTag: this.runTag,
    };
    const r = await this.bulk.starter.startBatch(input);
    if (r.outcome === 'duplicate') return { started: 0, duplicate: evs.length };
    this.bulk.onStarted?.(r.workflowId);
    this.running.push(
      r.result.then(
        (res) => {
          this.totals.batches++;
          this.totals.objects += res.objects;
          this.totals.ok += res.ok;
          this.totals.failed += res.failed;
        },
        // A batch workflow that ends without a result (terminated, timed out) is counted, not thrown: the others go on.
        () => {
          this.totals.batches++;
          this.totals.objects += evs.length;
          this.totals.failed += evs.length;
        },
      ),
    );
    return { started: evs.length, duplicate: 0 };
  }

  async drain(): Promise<void> {
    await this.flush();
    await Promise.all(this.running);
    this.running = [];
  }
}
