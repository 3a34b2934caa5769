import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQL_DIR } from '../../loadtest/report';
import { newestPerAnalysisSql } from '../../io/results';

// The report queries are self-contained so that they paste into the BigQuery console; each one repeats the
// newest-row-per-analysis rule of the _latest view for its run. This keeps every copy equal to the one rule.
const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

describe('infra/sql report queries', () => {
  const files = fs.readdirSync(SQL_DIR).filter((f) => f.endsWith('.sql'));

  it('are all there', () => {
    expect(files.sort()).toEqual([
      'compare.sql',
      'errors.sql',
      'queue_wait_by_pool.sql',
      'stages.sql',
      'summary.sql',
      'throughput.sql',
    ]);
  });

  for (const file of files) {
    it(`${file} reads the run's rows with the view's rule, and nothing else from the table`, () => {
      const sql = fs.readFileSync(path.join(SQL_DIR, file), 'utf8');
      const m = /WITH runs AS \(\n([\s\S]*?)\n\)/.exec(sql);
      expect(m, `${file} has no "WITH runs AS (" block`).not.toBeNull();
      const cond = file === 'compare.sql' ? 't.run_tag IN (@run, @vs)' : 't.run_tag = @run';
      expect(squash(m![1])).toBe(squash(newestPerAnalysisSql('`lookout.analyses`', cond)));
      // Everything after the block reads `runs`, never the table or the view directly.
      const rest = sql.slice(m!.index + m![0].length);
      expect(rest).not.toMatch(/`lookout\.analyses(_latest)?`/);
    });

    it(`${file} takes latencies from completed analyses only`, () => {
      // Failed rows have NULL totals (and older rows 0): every aggregate of a row-level latency keeps to status 'ok'.
      const sql = fs.readFileSync(path.join(SQL_DIR, file), 'utf8');
      const aggs = [...sql.matchAll(/\b(ARRAY_AGG|MAX|MIN|AVG)\(([^()]*(?:\([^()]*\))?[^()]*)\)/g)].filter(
        (m) => /\b(end_to_end_ms|pipeline_ms|inference_ms)\b/.test(m[2]) && !/\bst\./.test(m[2]),
      );
      for (const m of aggs) expect(m[0]).toMatch(/IF\(status = 'ok', (end_to_end_ms|pipeline_ms|inference_ms), NULL\)/);
    });
  }
});
