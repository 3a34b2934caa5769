/** `lookout subscribe` */
import type { Command } from '../command';
import { markReady } from '../command';

export const subscribeCommand: Command = {
  spec: {
    name: 'subscribe',
    summary:
      'read GCS object notifications from a Pub/Sub pull subscription and publish an event per new object version',
    usage: 'subscribe [--subscription ID] [--max-messages N]',
    description: `Event-driven ingest: the bucket's notifications (a GCS notification config on a topic, or fake-gcs-server's
on the embedded stack) are pulled from $LOOKOUT_PUBSUB_SUBSCRIPTION and put on the object stream. Pull works behind a
firewall, where push cannot arrive. PUBSUB_EMULATOR_HOST (or the embedded pstest) selects an emulator; otherwise real
Pub/Sub with application default credentials. Events for buckets other than $LOOKOUT_PUSH_BUCKETS are dead-lettered.`,
    options: {
      subscription: { type: 'string', arg: 'ID', help: 'pull subscription (default: $LOOKOUT_PUBSUB_SUBSCRIPTION)' },
      'max-messages': { type: 'number', default: 100, help: 'notifications handled at once (flow control)' },
    },
  },
  run: async (cfg, { opts }) => {
    const { ensurePubSub, natsConnect, pubsubClient } =
      require('../../io/clients') as typeof import('../../io/clients');
    const { PubSubSubscriber } = require('../../ingest/subscribe') as typeof import('../../ingest/subscribe');
    const { ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const name = (opts.subscription as string | undefined) ?? cfg.pubsub.subscription;
    const c = { ...cfg, pubsub: { ...cfg.pubsub, subscription: name } };
    const { observe } = require('../observability') as typeof import('../observability');
    const obs = await observe(cfg, 'subscriber', 'subscriber');
    await ensurePubSub(c);
    const nc = await natsConnect(cfg, 'lookout-subscriber');
    const ps = pubsubClient(cfg);
    try {
      await ensureStreams(nc, cfg);
      const s = new PubSubSubscriber(ps.subscription(name), nc.jetstream(), cfg, {
        maxMessages: Number(opts['max-messages']),
        log: (l) => obs.logger.warn(l),
      });
      process.once('SIGTERM', () => s.stop());
      process.once('SIGINT', () => s.stop());
      const running = s.run();
      obs.logger.info(
        `subscriber: ${cfg.pubsub.url ? `emulator ${cfg.pubsub.url}` : 'Pub/Sub'} subscription ${name} -> ${cfg.nats.stream}`,
      );
      markReady(cfg);
      await running;
      obs.logger.info(
        { published: s.counts.published },
        `subscriber: stopped after publishing ${s.counts.published} events (${s.counts.duplicate} duplicates, ${s.counts.deadLettered} dead-lettered)`,
      );
    } finally {
      await ps.close().catch(() => {});
      await nc.drain().catch(() => {});
      await obs.close();
    }
  },
};
