/** Helpers shared by the commands that upload objects and read their rows back. */
import { Progress } from './args';

/** Uploads files with the official GCS client; returns object names. */
export async function uploadFiles(
  cfg: import('../config').LookoutConfig,
  files: Array<{ file: string; contentType?: string }>,
  prefix: string,
  metadata: Record<string, string>,
): Promise<string[]> {
  const path = require('node:path') as typeof import('node:path');
  const { storageClient } = require('../io/clients') as typeof import('../io/clients');
  const bucket = storageClient(cfg).bucket(cfg.gcs.bucket);
  const names: string[] = [];
  const bar = new Progress(`uploading to gs://${cfg.gcs.bucket}/${prefix}`, files.length);
  for (const f of files) {
    const name = `${prefix}${path.basename(f.file)}`;
    await bucket.upload(f.file, {
      destination: name,
      resumable: false,
      contentType: f.contentType,
      metadata: { metadata },
    });
    names.push(name);
    bar.update(names.length);
  }
  bar.done();
  return names;
}

/** Polls the result view until `expected` rows of the run exist (or the timeout passes). */
export async function waitForRows(
  cfg: import('../config').LookoutConfig,
  runTag: string,
  expected: number,
  timeoutMs: number,
): Promise<number> {
  const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { countForRun } = require('../io/query') as typeof import('../io/query');
  const bq = bigqueryClient(cfg);
  const bar = new Progress('waiting for result rows in BigQuery', expected);
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  for (;;) {
    n = await countForRun(bq, cfg, runTag);
    bar.update(n);
    if (n >= expected || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  bar.done();
  return n;
}

export async function printRun(
  cfg: import('../config').LookoutConfig,
  run: string,
): Promise<import('../io/query').RowSummary[]> {
  const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { rowsForRun, formatRows } = require('../io/query') as typeof import('../io/query');
  const rows = await rowsForRun(bigqueryClient(cfg), cfg, run);
  console.log(formatRows(rows));
  return rows;
}

export async function printReport(
  cfg: import('../config').LookoutConfig,
  run: string,
  vs: string | undefined,
  htmlFile: string | undefined,
): Promise<void> {
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { buildReport, formatTable, reportHtml } = require('../loadtest/report') as typeof import('../loadtest/report');
  const r = await buildReport(bigqueryClient(cfg), cfg, run, vs);
  for (const s of r.sections) console.log(`\n${s.title}\n${formatTable(s.rows)}`);
  const file = htmlFile ?? path.join(cfg.projectRoot, '.lookout', 'reports', `${run}${vs ? `-vs-${vs}` : ''}.html`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, reportHtml(r));
  console.log(`\nchart: ${file}`);
}
