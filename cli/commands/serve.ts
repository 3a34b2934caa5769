/** `lookout serve` */
import type { Command } from '../command';
import { markReady } from '../command';

export const serveCommand: Command = {
  spec: {
    name: 'serve',
    summary:
      'synchronous HTTP API for one frame triplet: POST /v1/frames {"key": ...} -> frame score and abnormal boxes',
    usage: 'serve [--port N] [--scene NAME]',
    description: `The client uploads KEY, KEY_d3 (frame t-3) and KEY_p3 (frame t+3) to the bucket, then:
  curl -s -X POST localhost:<port>/v1/frames -d '{"key":"cam1/f0100.jpg","scene":"vtest"}'
Answers 200 {status, frameScore, threshold, abnormal:[boxes], objects, annotated}; 400 for a bad request or a
missing neighbour frame; 404 when KEY does not exist; 422 when the object is not a usable image; 503 when the
stack is unavailable; 401 without the bearer token when $LOOKOUT_SERVE_TOKEN is set. Listening beyond loopback
(--host 0.0.0.0, a LAN address) is refused unless $LOOKOUT_SERVE_TOKEN is set. The analysis runs through Temporal on the workers and is recorded in BigQuery as usual.`,
    options: {
      port: { type: 'number', help: 'listen port (default: port base + 41)' },
      host: { type: 'string', default: '127.0.0.1', help: 'listen address' },
      scene: { type: 'string', default: 'default', help: 'scene when the request names none' },
      'timeout-s': { type: 'number', default: 60, help: 'answer 504 after this long' },
    },
  },
  run: async (cfg, { opts }) => {
    const { temporalClient, storageClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { assertServeExposure, createServeApi } =
      require('../../ingest/serve') as typeof import('../../ingest/serve');
    assertServeExposure(String(opts.host), cfg.serve.token);
    const { PORT_OFFSETS } = require('../../config') as typeof import('../../config');
    const { observe } = require('../observability') as typeof import('../observability');
    const obs = await observe(cfg, 'serve', 'serve');
    const { client, connection } = await temporalClient(cfg);
    const { WorkflowStarter } = require('../../io/starter') as typeof import('../../io/starter');
    const server = createServeApi({
      cfg,
      starter: new WorkflowStarter(client, cfg),
      storage: storageClient(cfg),
      defaultScene: String(opts.scene),
      timeoutMs: Number(opts['timeout-s']) * 1000,
      token: cfg.serve.token,
    });
    const port = (opts.port as number | undefined) ?? cfg.portBase + PORT_OFFSETS.serve;
    await new Promise<void>((resolve) => server.listen(port, String(opts.host), resolve));
    obs.logger.info(`serve: http://${opts.host}:${port}/v1/frames (POST {"key": "...", "scene": "..."})`);
    markReady(cfg);
    await new Promise<void>((resolve) => {
      // Stop taking requests, let those in flight answer, drop idle keep-alive connections (they would hold close() open).
      const stop = () => {
        server.close(() => resolve());
        server.closeIdleConnections();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await connection.close();
    await obs.close();
  },
};
