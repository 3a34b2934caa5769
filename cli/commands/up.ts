/** `lookout up` */
import type { Command } from '../command';

export const upCommand: Command = {
  spec: {
    name: 'up',
    summary: 'start the embedded stack (NATS, Temporal, GCS and BigQuery emulators) and Lookout\'s watcher, dispatcher and CPU worker',
    usage: 'up [--no-apps]',
    description: `Starts, on loopback, every server whose endpoint is not configured, waits until each is ready,
creates bucket, dataset/table/view, streams and KV, then starts the long-running Lookout processes.
Already-running parts are reused. State lives in $LOOKOUT_HOME (default .lookout/stack). Stop with \`lookout down\`.`,
    options: { apps: { type: 'boolean', default: true, help: 'also start watcher, dispatcher and a CPU worker (--no-apps: servers only)' } },
  },
  run: async (cfg, { opts }) => {
    const { up } = require('../../infra/stack') as typeof import('../../infra/stack');
    await up(cfg, { apps: opts.apps as boolean, log: (l) => console.log(`  ${l}`) });
    console.log(`lookout is up. Endpoints: \`lookout env\`; health: \`lookout status\`; stop: \`lookout down\`.`);
  },
};
