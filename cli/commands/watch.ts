/** `lookout watch` */
import type { Command } from '../command';
import { markReady } from '../command';

export const watchCommand: Command = {
  spec: {
    name: 'watch',
    summary: 'watch a bucket that cannot push notifications and publish an event per new object version',
    usage: 'watch [--bucket NAME] [--interval-ms N]',
    options: {
      bucket: { type: 'string', arg: 'NAME', help: 'bucket to watch (default: $LOOKOUT_BUCKET)' },
      'interval-ms': { type: 'number', default: 500, help: 'poll interval' },
    },
  },
  run: async (cfg, { opts }) => {
    const { natsConnect, storageClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { BucketWatcher, WATCHER_DEFAULTS } =
      require('../../ingest/watcher') as typeof import('../../ingest/watcher');
    const { ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const bucket = (opts.bucket as string | undefined) ?? cfg.gcs.bucket;
    const { observe } = require('../observability') as typeof import('../observability');
    const obs = await observe(cfg, 'watcher', 'watcher');
    const nc = await natsConnect(cfg, 'lookout-watcher');
    try {
      await ensureStreams(nc, cfg);
      const w = new BucketWatcher(nc, storageClient(cfg), cfg, bucket, {
        ...WATCHER_DEFAULTS,
        intervalMs: Number(opts['interval-ms']),
      });
      process.once('SIGTERM', () => w.stop());
      process.once('SIGINT', () => w.stop());
      const running = w.run((err) => obs.logger.error({ err }, 'watcher: listing or publishing failed; retrying'));
      obs.logger.info(`watcher: gs://${bucket} -> ${cfg.nats.stream}`);
      markReady(cfg);
      await running;
      obs.logger.info({ published: w.published }, `watcher: stopped after publishing ${w.published} events`);
    } finally {
      await nc.drain().catch(() => {});
      await obs.close();
    }
  },
};
