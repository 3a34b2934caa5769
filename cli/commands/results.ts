/** `lookout results` */
import type { Command } from '../command';

export const resultsCommand: Command = {
  spec: {
    name: 'results',
    summary: 'print result rows read back from BigQuery (through the de-duplicating view)',
    usage: 'results [--run TAG] [--status ok|failed] [--limit N] [--json]',
    options: {
      run: { type: 'string', help: 'only this run tag' },
      status: { type: 'string', arg: 'ok|failed', help: 'only rows with this status' },
      limit: { type: 'number', default: 50, help: 'rows at most' },
      json: { type: 'boolean', help: 'print full rows as JSON lines' },
    },
  },
  run: async (cfg, { opts }) => {
    const { bigqueryClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { query, latestView, formatRows } = require('../../io/query') as typeof import('../../io/query');
    const where: string[] = [];
    const limit = Math.max(1, Math.floor(Number(opts.limit)));
    const params: Record<string, unknown> = {};
    if (opts.run) {
      where.push('run_tag = @run');
      params.run = opts.run;
    }
    if (opts.status) {
      where.push('status = @status');
      params.status = opts.status;
    }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const bq = bigqueryClient(cfg);
    if (opts.json) {
      const rows = await query(
        bq,
        `SELECT * FROM ${latestView(cfg)} ${cond} ORDER BY recorded_at DESC LIMIT ${limit}`,
        params,
      );
      for (const r of rows) console.log(JSON.stringify(r));
      return;
    }
    const rows = await query<import('../../io/query').RowSummary>(
      bq,
      `SELECT name, generation, status, label, score, ARRAY_LENGTH(objects) AS n_objects,
         (SELECT STRING_AGG(CONCAT(l, ' x', CAST(c AS STRING)), ', ') FROM (SELECT o.label AS l, COUNT(*) AS c FROM UNNEST(objects) o GROUP BY o.label ORDER BY c DESC, l)) AS classes,
         error_class, error_message, inference_ms, end_to_end_ms, pool
       FROM ${latestView(cfg)} ${cond} ORDER BY recorded_at DESC LIMIT ${limit}`,
      params,
    );
    console.log(formatRows(rows));
  },
};
