/** `lookout up` */
import type { Command } from '../command';
import { withNatsCluster } from '../../config';

export const upCommand: Command = {
  spec: {
    name: 'up',
    summary:
      "start the embedded stack (NATS, Temporal, GCS and BigQuery emulators) and Lookout's watcher, dispatcher and CPU worker",
    usage: 'up [--no-apps] [--nats-cluster 3]',
    description: `Starts, on loopback, every server whose endpoint is not configured, waits until each is ready,
creates bucket, dataset/table/view, streams and KV, then starts the long-running Lookout processes.
Already-running parts are reused. State lives in $LOOKOUT_HOME (default .lookout/stack). Stop with \`lookout down\`.
--nats-cluster 3 starts three nats-server nodes as one JetStream cluster (streams and KV with 3 replicas) instead
of one server; other commands find it through \`eval "$(lookout env)"\` (LOOKOUT_NATS_URL lists the three seeds)
or LOOKOUT_NATS_CLUSTER=3.`,
    options: {
      apps: {
        type: 'boolean',
        default: true,
        help: 'also start watcher, dispatcher and a CPU worker (--no-apps: servers only)',
      },
      'nats-cluster': {
        type: 'number',
        help: 'nodes of the embedded NATS JetStream cluster: 1 or 3 (default $LOOKOUT_NATS_CLUSTER or 1)',
      },
    },
  },
  run: async (cfg, { opts }) => {
    const { up } = require('../../infra/stack') as typeof import('../../infra/stack');
    const nodes = opts['nats-cluster'] as number | undefined;
    const c = nodes === undefined || nodes === cfg.nats.cluster ? cfg : withNatsCluster(cfg, nodes);
    await up(c, { apps: opts.apps as boolean, log: (l) => console.log(`  ${l}`) });
    console.log(`lookout is up. Endpoints: \`lookout env\`; health: \`lookout status\`; stop: \`lookout down\`.`);
  },
};
