/** `lookout report` */
import type { Command } from '../command';
import { printReport } from '../runs';

export const reportCommand: Command = {
  spec: {
    name: 'report',
    summary: 'print the SQL load report of a run (infra/sql) and write an HTML chart',
    usage: 'report --run ID [--vs ID] [--html FILE]',
    options: {
      run: { type: 'string', help: 'run id (row run_tag)' },
      vs: { type: 'string', help: 'a second run to compare with' },
      html: { type: 'string', arg: 'FILE', help: 'chart file (default: .lookout/reports/<run>.html)' },
    },
  },
  run: async (cfg, { opts }) => {
    if (!opts.run) throw new Error('--run is required (the id loadtest printed, or any run tag)');
    await printReport(cfg, String(opts.run), opts.vs as string | undefined, opts.html as string | undefined);
  },
};
