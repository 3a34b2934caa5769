/** `lookout status` */
import type { Command } from '../command';

export const statusCommand: Command = {
  spec: {
    name: 'status',
    summary:
      'show each server and process with its health, and the pipeline: backlog, in flight, failures in the last hour, slowest stage',
    usage: 'status [--json] [--no-pipeline]',
    description: `The pipeline part reads the sources the /metrics gauges read: the dispatcher's JetStream consumer (events not yet
dispatched, events in flight), Temporal's task queues (backlog, pollers) and running workflows, the dead-letter stream, and
the results table (failed rows by error class and mean queue + run time per stage over the last hour).
--json prints {"services": [...], "pipeline": {...}}. Exit status 3 when a server or process is not running.`,
    options: {
      json: { type: 'boolean', help: 'print JSON' },
      'no-pipeline': { type: 'boolean', help: 'servers and processes only (no backlog, failures or stage times)' },
    },
  },
  run: async (cfg, { opts }) => {
    const { status } = require('../../infra/stack') as typeof import('../../infra/stack');
    const { pipelineStatus, formatPipelineStatus } =
      require('../pipeline-status') as typeof import('../pipeline-status');
    const lines = await status(cfg);
    const pipeline = opts['no-pipeline'] ? null : await pipelineStatus(cfg);
    if (opts.json) console.log(JSON.stringify({ services: lines, pipeline }, null, 2));
    else {
      for (const l of lines) {
        console.log(
          `${l.name.padEnd(12)} ${l.state.padEnd(9)} ${l.pid ? `pid ${String(l.pid).padEnd(8)}` : ''.padEnd(12)} ${l.endpoint ?? ''}`,
        );
        if (l.detail) console.log(l.detail.replace(/^/gm, '    '));
      }
      if (pipeline) {
        console.log('');
        for (const l of formatPipelineStatus(pipeline)) console.log(l);
      }
    }
    return lines.every((l) => l.state === 'running' || l.state === 'external') ? 0 : 3;
  },
};
