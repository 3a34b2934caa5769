/** `lookout status` */
import type { Command } from '../command';

export const statusCommand: Command = {
  spec: { name: 'status', summary: 'show each server and process with its health', usage: 'status [--json]', options: { json: { type: 'boolean', help: 'print JSON' } } },
  run: async (cfg, { opts }) => {
    const { status } = require('../../infra/stack') as typeof import('../../infra/stack');
    const lines = await status(cfg);
    if (opts.json) console.log(JSON.stringify(lines, null, 2));
    else {
      for (const l of lines) {
        console.log(`${l.name.padEnd(12)} ${l.state.padEnd(9)} ${l.pid ? `pid ${String(l.pid).padEnd(8)}` : ''.padEnd(12)} ${l.endpoint ?? ''}`);
        if (l.detail) console.log(l.detail.replace(/^/gm, '    '));
      }
    }
    return lines.every((l) => l.state === 'running' || l.state === 'external') ? 0 : 3;
  },
};
