/** `lookout ui` */
import type { Command } from '../command';
import { markReady } from '../command';

export const uiCommand: Command = {
  spec: {
    name: 'ui',
    summary:
      'review web application: runs, alerts (confirm/dismiss), live streams, satellite map, failures (retry), upload',
    usage: 'ui [--port N] [--host ADDR]',
    description: `Serves the review UI (ui/public) and its JSON API on http://<host>:<port>/. It reads through the same code as
\`lookout report\`, \`lookout retry\` and \`lookout upload\`; alert verdicts go to the BigQuery table <table>_feedback,
which \`lookout fit --with-dismissed\` reads. On loopback (the default) anyone on this machine may write; bound beyond
loopback, LOOKOUT_UI_TOKEN must be set and every write (retry, feedback, upload) needs Authorization: Bearer <token>
(the page has a field for it).`,
    options: {
      port: { type: 'number', help: 'listen port (default $LOOKOUT_UI_PORT, port base + 42)' },
      host: { type: 'string', help: 'listen address (default $LOOKOUT_UI_HOST, 127.0.0.1)' },
    },
  },
  run: async (cfg, { opts }) => {
    const { startUi } = require('../../ui/server') as typeof import('../../ui/server');
    const ui = await startUi(cfg, { port: opts.port as number | undefined, host: opts.host as string | undefined });
    console.log(`ui: ${ui.url}/${cfg.ui.token ? ' (writes need the bearer token)' : ''}`);
    markReady(cfg);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await ui.close();
  },
};
