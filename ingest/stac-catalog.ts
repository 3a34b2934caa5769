/**
 * `lookout backfill gs://BUCKET/…/catalog.json`: the Items of a STAC static catalog, collection or ItemCollection
 * already in a bucket, each published as an object event like any backfilled object (the dispatcher routes a
 * .json object to the raster pipeline, which reads the Item's band assets: media/stac.ts).
 *
 * - Catalog / Collection: `links` with rel `item` are Items, rel `child` are catalogs walked in turn (depth-first,
 *   each JSON read once, at most `maxDepth` deep). Hrefs resolve against the linking file's location.
 * - ItemCollection (a FeatureCollection of Items, as a STAC API search returns): its Items have no object of their
 *   own, so each is written to the results bucket as `stac-items/<bucket>/<collection path>/<id>.json` with its
 *   relative asset hrefs made absolute (gs://) — unchanged Items are not rewritten, so a second backfill publishes the
 *   same object generations and the stream's dedupe drops them.
 * - A single Item: published as it is.
 * A link or file that cannot be read is counted and reported, not fatal: the rest of the catalog goes on.
 */
import type { Storage } from '@google-cloud/storage';
import type { NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';
import { eventFromObjectResource } from '../core/events';
import { resolveAssetHref } from '../media/stac';
import { publishDeadLetter, publishObjectEvent } from '../io/streams';
import { RateLimiter } from './backfill';

export interface StacBackfillOptions {
  bucket: string;
  /** The catalog.json / collection.json / ItemCollection / Item object. */
  name: string;
  runTag?: string;
  rate: number;
  /** Deepest `child` link followed (default 16). */
  maxDepth?: number;
  onProgress?: (p: StacBackfillProgress) => void;
}

export interface StacBackfillProgress {
  /** Catalog / collection / ItemCollection files read. */
  catalogs: number;
  /** Items found (linked, or written from an ItemCollection). */
  items: number;
  published: number;
  duplicates: number;
  /** Links or files that could not be read (each named in `problems`). */
  invalid: number;
  problems: string[];
}

type Json = Record<string, unknown>;
const MAX_JSON_BYTES = 64 * 2 ** 20;

async function readJson(storage: Storage, bucket: string, name: string): Promise<Json> {
  const f = storage.bucket(bucket).file(name);
  const [meta] = await f.getMetadata();
  if (Number(meta.size ?? 0) > MAX_JSON_BYTES)
    throw new Error(`${Number(meta.size)} bytes, over the ${MAX_JSON_BYTES}-byte bound for a catalog file`);
  const [buf] = await f.download();
  const v = JSON.parse(buf.toString('utf8')) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  return v as Json;
}

/** An ItemCollection's Item as its own object: relative asset and link hrefs made absolute against the collection. */
export function standaloneItem(feature: Json, from: { bucket: string; name: string }): Json {
  const abs = (href: unknown, key: string): unknown => {
    if (typeof href !== 'string') return href;
    try {
      const at = resolveAssetHref(href, from, key);
      return `gs://${at.bucket}/${at.name}`;
    } catch {
      return href; // an http(s) href stays as it is (the Item's analysis says whether it can be read)
    }
  };
  const assets =
    typeof feature.assets === 'object' && feature.assets !== null ? (feature.assets as Record<string, Json>) : {};
  const links = Array.isArray(feature.links) ? (feature.links as Json[]) : [];
  return {
    ...feature,
    assets: Object.fromEntries(
      Object.entries(assets).map(([k, a]) => [
        k,
        typeof a === 'object' && a !== null ? { ...a, href: abs(a.href, k) } : a,
      ]),
    ),
    links: links.filter((l) => l && l.rel !== 'self').map((l) => ({ ...l, href: abs(l.href, String(l.rel)) })),
  };
}

export async function backfillStac(
  nc: NatsConnection,
  storage: Storage,
  cfg: LookoutConfig,
  opts: StacBackfillOptions,
): Promise<StacBackfillProgress> {
  const js = nc.jetstream();
  const limiter = new RateLimiter(opts.rate);
  const p: StacBackfillProgress = { catalogs: 0, items: 0, published: 0, duplicates: 0, invalid: 0, problems: [] };
  const seen = new Set<string>();
  const problem = async (what: string, err: unknown) => {
    p.invalid++;
    const reason = `${what}: ${(err as Error)?.message ?? String(err)}`;
    if (p.problems.length < 100) p.problems.push(reason);
    await publishDeadLetter(js, cfg, { kind: 'ingest', reason, payload: JSON.stringify({ stac: what }) });
  };

  const publishItem = async (bucket: string, name: string) => {
    const key = `${bucket}/${name}`;
    if (seen.has(`item:${key}`)) return;
    seen.add(`item:${key}`);
    p.items++;
    let md: Record<string, unknown>;
    try {
      [md] = (await storage.bucket(bucket).file(name).getMetadata()) as unknown as [Record<string, unknown>];
    } catch (err) {
      await problem(`item gs://${key}`, err);
      return;
    }
    const metadata = {
      ...(md.metadata as Record<string, string> | undefined),
      ...(opts.runTag ? { 'lookout-run': opts.runTag } : {}),
    };
    const v = eventFromObjectResource(
      { ...md, bucket, name, metadata } as Parameters<typeof eventFromObjectResource>[0],
      'backfill',
    );
    if (!v.ok) {
      await problem(`item gs://${key}`, new Error(v.reason));
      return;
    }
    await limiter.acquire();
    const r = await publishObjectEvent(js, cfg, v.value);
    if (r.duplicate) p.duplicates++;
    else p.published++;
    opts.onProgress?.(p);
  };

  /** Writes an ItemCollection's Item to the results bucket unless the same bytes are there already. */
  const materialise = async (
    feature: Json,
    from: { bucket: string; name: string },
  ): Promise<{ bucket: string; name: string }> => {
    const id = typeof feature.id === 'string' && feature.id.trim() ? feature.id.trim() : null;
    if (!id) throw new Error('an ItemCollection feature without an id');
    const name = `stac-items/${from.bucket}/${from.name.replace(/\.json$/i, '')}/${id.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`;
    const body = Buffer.from(JSON.stringify(standaloneItem(feature, from), null, 1));
    const f = storage.bucket(cfg.gcs.resultsBucket).file(name);
    const [exists] = await f.exists();
    if (exists) {
      const [cur] = await f.download();
      if (cur.equals(body)) return { bucket: cfg.gcs.resultsBucket, name };
    }
    await f.save(body, {
      resumable: false,
      contentType: 'application/geo+json',
      metadata: { metadata: { 'lookout-stac-from': `gs://${from.bucket}/${from.name}` } },
    });
    return { bucket: cfg.gcs.resultsBucket, name };
  };

  const walk = async (bucket: string, name: string, depth: number): Promise<void> => {
    const key = `${bucket}/${name}`;
    if (seen.has(`file:${key}`)) return;
    seen.add(`file:${key}`);
    let doc: Json;
    try {
      doc = await readJson(storage, bucket, name);
    } catch (err) {
      await problem(`gs://${key}`, err);
      return;
    }
    if (doc.type === 'Feature') return publishItem(bucket, name);
    p.catalogs++;
    if (doc.type === 'FeatureCollection') {
      const features = Array.isArray(doc.features) ? (doc.features as unknown[]) : [];
      for (const [i, f] of features.entries()) {
        try {
          if (typeof f !== 'object' || f === null || (f as Json).type !== 'Feature')
            throw new Error('not a GeoJSON Feature');
          const at = await materialise(f as Json, { bucket, name });
          await publishItem(at.bucket, at.name);
        } catch (err) {
          await problem(`gs://${key} feature ${i}`, err);
        }
      }
      return;
    }
    if (doc.type !== 'Catalog' && doc.type !== 'Collection') {
      await problem(
        `gs://${key}`,
        new Error(
          `"type" is ${JSON.stringify(doc.type ?? null)}: not a STAC Catalog, Collection, ItemCollection or Item`,
        ),
      );
      return;
    }
    const links = Array.isArray(doc.links) ? (doc.links as Json[]) : [];
    for (const l of links) {
      if (!l || (l.rel !== 'item' && l.rel !== 'child') || typeof l.href !== 'string') continue;
      let at: { bucket: string; name: string };
      try {
        at = resolveAssetHref(l.href, { bucket, name }, String(l.rel));
      } catch (err) {
        await problem(`gs://${key} link ${l.href}`, err);
        continue;
      }
      if (l.rel === 'item') await publishItem(at.bucket, at.name);
      else if (depth >= (opts.maxDepth ?? 16))
        await problem(`gs://${key} child ${l.href}`, new Error(`deeper than ${opts.maxDepth ?? 16} catalogs`));
      else await walk(at.bucket, at.name, depth + 1);
    }
  };

  await walk(opts.bucket, opts.name, 0);
  return p;
}
