/**
 * Load test: upload N objects (replicating a sample set) through the official
 * GCS client, each tagged with a run id, with bounded concurrency and an
 * optional rate; then wait until every object is accounted for by a row.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import type { Storage } from '@google-cloud/storage';
import type { LookoutConfig } from '../config';
import { countForRun } from '../io/query';
import { RateLimiter } from '../ingest/backfill';

export interface LoadtestOptions {
  runId: string;
  objects: number;
  concurrency: number;
  /** Uploads per second at most (0 = as fast as the concurrency allows). */
  rate: number;
  pipeline?: string;
  /** More object metadata on every upload (e.g. lookout-backbone: the engine variant of a raster phase). */
  metadata?: Record<string, string>;
  /** Sample files (replicated round-robin). */
  files: Array<{ file: string; contentType: string }>;
  prefix?: string;
  /** Default: the inbox bucket (watched); another bucket is not analysed until a backfill says so. */
  bucket?: string;
  signal?: AbortSignal;
  onUpload?: (done: number) => void;
}

export function listSampleFiles(dir: string): Array<{ file: string; contentType: string }> {
  const types: Record<string, string> = {
    '.jpg': 'image/jpeg',
    '.jpeg': 'image/jpeg',
    '.png': 'image/png',
    '.webp': 'image/webp',
    '.tif': 'image/tiff',
    '.tiff': 'image/tiff',
  };
  if (!fs.existsSync(dir)) throw new Error(`sample folder ${dir} does not exist`);
  const out = fs
    .readdirSync(dir)
    .filter((f) => types[path.extname(f).toLowerCase()])
    .sort()
    .map((f) => ({ file: path.join(dir, f), contentType: types[path.extname(f).toLowerCase()] }));
  if (out.length === 0) throw new Error(`no images (.jpg, .png, .webp, .tif) in ${dir}`);
  return out;
}

/** Uploads and returns how many were uploaded (fewer if aborted). */
export async function uploadLoad(storage: Storage, cfg: LookoutConfig, opts: LoadtestOptions): Promise<number> {
  const bucket = storage.bucket(opts.bucket ?? cfg.gcs.bucket);
  const datas = opts.files.map((f) => ({ ...f, data: fs.readFileSync(f.file) }));
  const limiter = new RateLimiter(opts.rate);
  const prefix = opts.prefix ?? `loadtest/${opts.runId}/`;
  const metadata: Record<string, string> = { ...opts.metadata, 'lookout-run': opts.runId };
  if (opts.pipeline) metadata['lookout-pipeline'] = opts.pipeline;
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      if (opts.signal?.aborted) return;
      const i = next++;
      if (i >= opts.objects) return;
      await limiter.acquire();
      const s = datas[i % datas.length];
      const name = `${prefix}${String(i).padStart(7, '0')}-${path.basename(s.file)}`;
      await bucket.file(name).save(s.data, { resumable: false, contentType: s.contentType, metadata: { metadata } });
      done++;
      opts.onUpload?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  return done;
}

/** Polls until `expected` rows of the run exist, the timeout passes or the signal aborts; returns the count. */
export async function waitForRun(
  bq: BigQuery,
  cfg: LookoutConfig,
  runId: string,
  expected: number,
  opts: { timeoutMs: number; signal?: AbortSignal; onCount?: (n: number) => void },
): Promise<number> {
  const deadline = Date.now() + opts.timeoutMs;
  let n = 0;
  for (;;) {
    n = await countForRun(bq, cfg, runId);
    opts.onCount?.(n);
    if (n >= expected || Date.now() > deadline || opts.signal?.aborted) return n;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
