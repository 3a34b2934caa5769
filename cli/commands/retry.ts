/** `lookout retry` */
import type { Command } from '../command';

export const retryCommand: Command = {
  spec: {
    name: 'retry',
    summary: 'run failed analyses again (new run of the same workflow ID; its row replaces the failed one)',
    usage: 'retry [--run TAG] [--error-class C] [--workflow-id ID] [--limit N] [--dry-run]',
    description: `Selects failed rows from the de-duplicating view and starts each analysis again under the same workflow ID
(one object version keeps one row: the view shows the newest run). Objects deleted since are skipped.`,
    options: {
      run: { type: 'string', help: 'only failed rows of this run tag' },
      'error-class': { type: 'string', help: 'only this error class (e.g. StorageError)' },
      'workflow-id': { type: 'string', help: 'just this analysis' },
      limit: { type: 'number', default: 1000, help: 'at most this many' },
      'dry-run': { type: 'boolean', help: 'list what would be retried' },
    },
  },
  run: async (cfg, { opts }) => {
    const { bigqueryClient, storageClient, temporalClient } =
      require('../../io/clients') as typeof import('../../io/clients');
    const { failedAnalyses } = require('../../io/query') as typeof import('../../io/query');
    const { retryAnalysis, retryAnalyses } = require('../../dispatch/retry') as typeof import('../../dispatch/retry');
    const rows = await failedAnalyses(
      bigqueryClient(cfg),
      cfg,
      {
        run: opts.run as string | undefined,
        errorClass: opts['error-class'] as string | undefined,
        workflowId: opts['workflow-id'] as string | undefined,
      },
      Number(opts.limit),
    );
    if (opts['dry-run']) {
      for (const r of rows) console.log(`${r.workflow_id}  ${r.error_class}`);
      console.log(`${rows.length} failed analyses would be retried`);
      return;
    }
    const { client, connection } = await temporalClient(cfg);
    const storage = storageClient(cfg);
    let report;
    try {
      // Row by row: a row that fails is reported, the rest go on.
      report = await retryAnalyses(
        rows,
        (r) => retryAnalysis(client, storage, cfg, r),
        (r) => console.log(`${r.id}: ${r.outcome}${r.detail ? ` ${r.detail}` : ''}`),
      );
    } finally {
      await connection.close();
    }
    console.log(
      `retry: ${rows.length} selected ${JSON.stringify(report.counts)}${report.stoppedAt ? ` (stopped at ${report.stoppedAt}: Temporal unreachable)` : ''}`,
    );
    return report.counts.failed ? 1 : 0;
  },
};
