/** `lookout backfill` */
import type { Command } from '../command';
import { Progress } from '../args';

export const backfillCommand: Command = {
  spec: {
    name: 'backfill',
    summary:
      'publish an event for every object under gs://bucket/prefix (resumable, rate-limited), or for every Item of a STAC catalog (gs://bucket/…/catalog.json)',
    usage: 'backfill gs://BUCKET/PREFIX | gs://BUCKET/…/catalog.json [--rate N] [--restart] [--run TAG] [--json]',
    positionals: { min: 1, max: 1, name: 'gs://BUCKET/PREFIX' },
    options: {
      rate: { type: 'number', default: 200, help: 'events per second at most (0 = unbounded)' },
      'page-size': { type: 'number', default: 1000, help: 'objects listed per page (memory holds one page)' },
      restart: { type: 'boolean', help: 'ignore a saved checkpoint and start over' },
      run: { type: 'string', help: 'run tag for the rows of objects analysed by this backfill' },
      bulk: {
        type: 'number',
        help: 'bulk mode: N objects per analyzeBatch workflow, started directly in Temporal (no per-object events or workflows)',
      },
      inflight: { type: 'number', default: 4, help: 'bulk mode: batches running at once' },
      pipeline: {
        type: 'string',
        help: 'bulk mode: pipeline (default $LOOKOUT_PIPELINE; objects-method pipelines only)',
      },
      json: { type: 'boolean', help: 'print the result (counts) as one JSON line' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    const { natsConnect, storageClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { backfill, parseGsUri } = require('../../ingest/backfill') as typeof import('../../ingest/backfill');
    const { ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const { bucket, prefix } = parseGsUri(positionals[0]);
    const { isStacJsonName } = require('../../core/events') as typeof import('../../core/events');
    if (isStacJsonName(prefix)) {
      // A STAC catalog, collection, ItemCollection or Item (docs/stac.md): its Items, one event each.
      if (opts.bulk !== undefined)
        throw new Error('--bulk does not apply to a STAC catalog (its items go to the raster pipeline)');
      const { backfillStac } = require('../../ingest/stac-catalog') as typeof import('../../ingest/stac-catalog');
      const nc = await natsConnect(cfg, 'lookout-backfill');
      try {
        await ensureStreams(nc, cfg);
        const r = await backfillStac(nc, storageClient(cfg), cfg, {
          bucket,
          name: prefix,
          runTag: opts.run as string | undefined,
          rate: Number(opts.rate),
        });
        if (opts.json) console.log(JSON.stringify(r));
        else {
          console.log(
            `backfill STAC gs://${bucket}/${prefix}: ${r.catalogs} catalog file(s), ${r.items} item(s), published ${r.published}, already in the stream ${r.duplicates}, unreadable ${r.invalid}`,
          );
          for (const line of r.problems) console.log(`  unreadable: ${line}`);
        }
        return r.invalid > 0 && r.items === 0 ? 1 : 0;
      } finally {
        await nc.drain().catch(() => {});
      }
    }
    const nc = await natsConnect(cfg, 'lookout-backfill');
    let bulk: import('../../ingest/backfill').BackfillOptions['bulk'];
    let closeTemporal = async () => {};
    if (opts.bulk !== undefined) {
      const size = Math.floor(Number(opts.bulk));
      // Each stage is called in chunks of bounded payload; the bound here keeps a batch workflow's whole history
      // (about 25 KB per object at ~15 boxes, several times that for crowded images) far from Temporal's 50 MB limit.
      if (!(size >= 1 && size <= 200))
        throw new Error('--bulk takes a batch size from 1 to 200 (objects per analyzeBatch workflow)');
      const { temporalClient } = require('../../io/clients') as typeof import('../../io/clients');
      const { resolvePipeline } = require('../../core/pipelines') as typeof import('../../core/pipelines');
      const { methodOfPipeline } = require('../../methods/registry') as typeof import('../../methods/registry');
      const { WorkflowStarter } = require('../../io/starter') as typeof import('../../io/starter');
      const name = (opts.pipeline as string | undefined) ?? cfg.pipeline;
      if (methodOfPipeline(name).name !== 'objects')
        throw new Error(`--bulk supports pipelines of the objects method (not ${name})`);
      // As in dispatch: an open NATS connection would keep the process alive after a Temporal connect error.
      const { client, connection } = await temporalClient(cfg).catch(async (err: unknown) => {
        await nc.close();
        throw err;
      });
      closeTemporal = () => connection.close();
      bulk = {
        size,
        inflight: Math.max(1, Number(opts.inflight)),
        starter: new WorkflowStarter(client, cfg),
        pipeline: resolvePipeline(name, cfg.pipelines),
      };
    }
    const ac = new AbortController();
    process.once('SIGINT', () => {
      console.error('\nbackfill: stopping after this page (checkpoint kept; run again to resume)');
      ac.abort();
    });
    try {
      await ensureStreams(nc, cfg);
      const bar = new Progress(`backfill gs://${bucket}/${prefix}`);
      const t0 = Date.now();
      const r = await backfill(nc, storageClient(cfg), cfg, {
        bucket,
        prefix,
        rate: Number(opts.rate),
        pageSize: Number(opts['page-size']),
        restart: Boolean(opts.restart),
        runTag: opts.run as string | undefined,
        signal: ac.signal,
        bulk,
        onProgress: (p) =>
          bar.update(
            p.published + p.duplicates,
            `published ${p.published}, already queued ${p.duplicates}, invalid ${p.invalid}, ${((p.published + p.duplicates) / Math.max(0.001, (Date.now() - t0) / 1000)).toFixed(0)}/s`,
          ),
      });
      bar.done();
      if (opts.json) {
        console.log(JSON.stringify(r));
        return r.done ? 0 : 130;
      }
      console.log(
        `backfill ${r.done ? 'complete' : 'interrupted'}: listed ${r.listed}, published ${r.published}, already in the stream ${r.duplicates}, invalid ${r.invalid}${r.resumedFromCheckpoint ? ' (resumed from checkpoint)' : ''}`,
      );
      if (r.bulk)
        console.log(
          `bulk: ${r.bulk.batches} batch workflows finished, ${r.bulk.objects} objects (${r.bulk.ok} ok, ${r.bulk.failed} failed; rows in BigQuery)`,
        );
      return r.done ? 0 : 130;
    } finally {
      await nc.drain().catch(() => {});
      await closeTemporal();
    }
  },
};
