/** `lookout dispatch` */
import type { Command } from '../command';
import { markReady } from '../command';

export const dispatchCommand: Command = {
  spec: {
    name: 'dispatch',
    summary: 'run the dispatcher: JetStream object events -> Temporal workflow starts',
    usage: 'dispatch [--concurrency N] [--max-deliver N]',
    options: {
      concurrency: {
        type: 'number',
        default: 32,
        help: "workflow starts in flight (also the consumer's max_ack_pending)",
      },
      'max-deliver': {
        type: 'number',
        default: 5,
        help: 'failures of the event itself before it is dead-lettered (a Temporal outage is waited out, not counted)',
      },
    },
  },
  run: async (cfg, { opts }) => {
    const { natsConnect, temporalClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { Dispatcher, DISPATCHER_DEFAULTS } =
      require('../../dispatch/dispatcher') as typeof import('../../dispatch/dispatcher');
    const { ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const { observe } = require('../observability') as typeof import('../observability');
    const { watchJetStream, watchTaskQueues } = require('../../io/metrics') as typeof import('../../io/metrics');
    const { PIPELINES, taskQueueFor } = require('../../core/pipelines') as typeof import('../../core/pipelines');
    const obs = await observe(cfg, 'dispatcher', 'dispatcher');
    const log = obs.logger;
    const nc = await natsConnect(cfg, 'lookout-dispatcher');
    // An open NATS connection keeps the process alive: close it when Temporal cannot be reached, so the
    // command exits with the error instead of hanging.
    const { client, connection } = await temporalClient(cfg).catch(async (err: unknown) => {
      await nc.close();
      throw err;
    });
    try {
      await ensureStreams(nc, cfg);
      // Read when Prometheus scrapes: the stream's backlog for this consumer, dead letters kept, and every task queue's backlog.
      watchJetStream(
        nc,
        [{ stream: cfg.nats.stream, consumer: DISPATCHER_DEFAULTS.durable }],
        [cfg.nats.stream, cfg.nats.deadStream],
      );
      watchTaskQueues(client, cfg.temporal.namespace, [
        { name: cfg.temporal.workflowQueue, type: 'workflow' },
        ...[...PIPELINES.keys()].flatMap((p) =>
          (['cpu', 'gpu'] as const).map((pool) => ({ name: taskQueueFor(p, pool), type: 'activity' as const })),
        ),
      ]);
      const d = new Dispatcher(nc, client, cfg, {
        ...DISPATCHER_DEFAULTS,
        concurrency: Number(opts.concurrency),
        maxDeliver: Number(opts['max-deliver']),
        pipelineOptions: cfg.pipelines,
        onSettled: (o) => {
          if (o.kind === 'invalid' || o.kind === 'dead')
            log.warn({ outcome: o.kind }, `dispatcher: dead-lettered: ${'reason' in o ? o.reason : o.error}`);
          else if (o.kind === 'retry')
            log.warn(
              { outcome: o.kind, delivery: o.delivery },
              `dispatcher: will retry (delivery ${o.delivery}): ${o.error}`,
            );
          // One line per object: with its key, workflow id and trace id (from the scope and span of the dispatch).
          else if (o.kind === 'started')
            log.info({ outcome: o.kind, workflowId: o.workflowId }, 'dispatcher: workflow started');
          // A redelivered event whose workflow already started (the ack was lost: a crash between start and ack):
          // harmless, and the evidence the chaos suite reads to prove such a crash happened (keep the wording).
          else if (o.kind === 'duplicate')
            log.info(
              { outcome: o.kind, workflowId: o.workflowId },
              `dispatcher: already started, acked again: ${o.workflowId}`,
            );
        },
      });
      const stop = () => {
        log.info('dispatcher: draining');
        void d.stop();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      const running = d.run();
      log.info(`dispatcher: consuming ${cfg.nats.stream} -> Temporal ${cfg.temporal.url} (${cfg.temporal.namespace})`);
      markReady(cfg);
      await running;
      log.info({ counts: d.counts }, 'dispatcher: stopped');
    } finally {
      await nc.drain().catch(() => {});
      await connection.close();
      await obs.close();
    }
  },
};
