/** `lookout push-server` */
import type { Command } from '../command';
import { markReady } from '../command';

export const pushServerCommand: Command = {
  spec: {
    name: 'push-server',
    summary:
      'HTTP endpoint for GCS Pub/Sub push notifications (POST /pubsub) and Eventarc CloudEvents (POST /cloudevents)',
    usage: 'push-server [--port N]',
    description: `Requests need "Authorization: Bearer <token>": a Google OIDC ID token whose audience is $LOOKOUT_PUSH_AUDIENCE
and whose email is one of $LOOKOUT_PUSH_SERVICE_ACCOUNTS (what a push subscription or Eventarc trigger with a service
account sends), or the shared secret $LOOKOUT_PUSH_TOKEN. Without either, every request is rejected (401).
Events for buckets other than $LOOKOUT_PUSH_BUCKETS (default $LOOKOUT_BUCKET) are refused with 403.
$LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED=true accepts requests without a token, and only on a loopback --host.`,
    options: {
      port: { type: 'number', help: 'listen port (default $LOOKOUT_PUSH_PORT or port base + 40)' },
      host: { type: 'string', default: '127.0.0.1', help: 'listen address' },
    },
  },
  run: async (cfg, { opts }) => {
    const { natsConnect } = require('../../io/clients') as typeof import('../../io/clients');
    const { assertPushExposure, createPushServer, verifierFromConfig } =
      require('../../ingest/push') as typeof import('../../ingest/push');
    assertPushExposure(cfg, String(opts.host));
    const { ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const { observe } = require('../observability') as typeof import('../observability');
    const obs = await observe(cfg, 'push-server', 'push');
    const verify = verifierFromConfig(cfg);
    if (cfg.push.allowUnauthenticated)
      obs.logger.warn(
        'push-server: LOOKOUT_PUSH_ALLOW_UNAUTHENTICATED: requests without a token are accepted (loopback only)',
      );
    else if (!cfg.push.audience && !cfg.push.token)
      obs.logger.warn(
        'push-server: neither LOOKOUT_PUSH_AUDIENCE nor LOOKOUT_PUSH_TOKEN is set: every request will be rejected',
      );
    const nc = await natsConnect(cfg, 'lookout-push');
    await ensureStreams(nc, cfg);
    const server = createPushServer({ cfg, js: nc.jetstream(), verify, log: (l) => obs.logger.warn(l) });
    const port = (opts.port as number | undefined) ?? cfg.push.port;
    await new Promise<void>((resolve) => server.listen(port, String(opts.host), resolve));
    obs.logger.info(
      `push-server: listening on http://${opts.host}:${port} (POST /pubsub, POST /cloudevents, GET /healthz)`,
    );
    markReady(cfg);
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await nc.drain();
    await obs.close();
  },
};
