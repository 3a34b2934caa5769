/** `lookout dispatch` */
import type { Command } from '../command';
import { markReady } from '../command';

export const dispatchCommand: Command = {
  spec: {
    name: 'dispatch',
    summary: 'run the dispatcher: JetStream object events -> Temporal workflow starts',
    usage: 'dispatch [--concurrency N] [--max-deliver N]',
    options: {
      concurrency: { type: 'number', default: 32, help: 'workflow starts in flight (also the consumer\'s max_ack_pending)' },
      'max-deliver': { type: 'number', default: 5, help: 'failures of the event itself before it is dead-lettered (a Temporal outage is waited out, not counted)' },
    },
  },
  run: async (cfg, { opts }) => {
    const { natsConnect, temporalClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { Dispatcher, DISPATCHER_DEFAULTS } = require('../../dispatch/dispatcher') as typeof import('../../dispatch/dispatcher');
    const { ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const nc = await natsConnect(cfg, 'lookout-dispatcher');
    const { client, connection } = await temporalClient(cfg);
    try {
      await ensureStreams(nc, cfg);
      const d = new Dispatcher(nc, client, cfg, {
        ...DISPATCHER_DEFAULTS,
        concurrency: Number(opts.concurrency),
        maxDeliver: Number(opts['max-deliver']),
        pipelineOptions: cfg.pipelines,
        onSettled: (o) => {
          if (o.kind === 'invalid' || o.kind === 'dead') console.error(`dispatcher: dead-lettered: ${'reason' in o ? o.reason : o.error}`);
          else if (o.kind === 'retry') console.error(`dispatcher: will retry (delivery ${o.delivery}): ${o.error}`);
          // A redelivered event whose workflow already started (the ack was lost: a crash between start and ack):
          // harmless, and the evidence the chaos suite reads to prove such a crash happened.
          else if (o.kind === 'duplicate') console.error(`dispatcher: already started, acked again: ${o.workflowId}`);
        },
      });
      const stop = () => {
        console.log('dispatcher: draining');
        void d.stop();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      const running = d.run();
      console.log(`dispatcher: consuming ${cfg.nats.stream} -> Temporal ${cfg.temporal.url} (${cfg.temporal.namespace})`);
      markReady(cfg);
      await running;
      console.log(`dispatcher: stopped ${JSON.stringify(d.counts)}`);
    } finally {
      await nc.drain().catch(() => {});
      await connection.close();
    }
  },
};
