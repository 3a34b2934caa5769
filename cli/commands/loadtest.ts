/** `lookout loadtest` */
import type { Command } from '../command';
import { Progress } from '../args';
import { printReport } from '../runs';

export const loadtestCommand: Command = {
  spec: {
    name: 'loadtest',
    summary:
      'upload N objects (replicating a sample set) tagged with a run id, wait until each has a row, print the report',
    usage:
      'loadtest [--objects N] [--concurrency C] [--rate R] [--source DIR] [--pipeline P] [--variants LIST] [--run ID]',
    description: `Uploads through the official GCS client into $LOOKOUT_BUCKET with metadata lookout-run=<run id>, waits with a
progress bar until every object is accounted for by a row, then prints \`lookout report --run <id>\`.
Ctrl-C stops uploading and waiting; the run can still be reported on as far as it got.
With --pipeline raster (a folder of GeoTIFFs as --source): N rasters per engine variant of the backbone
(--variants, default mobilenetv2; e.g. mobilenetv2,mobilenetv2-int8,mobilenetv2-fp16, set per raster by metadata
lookout-backbone), one variant after another, each waited for (its summary rows) before the next; then the
raster report infra/sql/raster/loadtest.sql: per variant chips/s, raster latency and per-stage chip percentiles.`,
    options: {
      objects: { type: 'number', default: 200, help: 'objects to upload' },
      concurrency: { type: 'number', default: 8, help: 'uploads in flight' },
      rate: { type: 'number', default: 0, help: 'uploads per second at most (0 = unbounded)' },
      source: { type: 'string', arg: 'DIR', help: 'folder of sample images (default: the demo samples)' },
      pipeline: { type: 'string', help: 'pipeline (metadata lookout-pipeline)' },
      variants: {
        type: 'string',
        arg: 'LIST',
        help: 'raster pipeline: backbone variants run one after another (metadata lookout-backbone; default mobilenetv2)',
      },
      run: { type: 'string', help: 'run id (default: loadtest-<time>)' },
      'timeout-s': { type: 'number', default: 1800, help: 'give up waiting for rows after this long' },
      html: { type: 'string', arg: 'FILE', help: 'chart file (default: .lookout/reports/<run>.html)' },
    },
  },
  run: async (cfg, { opts }) => {
    const path = require('node:path') as typeof import('node:path');
    const { storageClient, bigqueryClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { listSampleFiles, uploadLoad, waitForRun } =
      require('../../loadtest/loadtest') as typeof import('../../loadtest/loadtest');
    const { prepareSamples } = require('../../demo/samples') as typeof import('../../demo/samples');
    const run =
      (opts.run as string | undefined) ??
      `loadtest-${new Date()
        .toISOString()
        .replace(/[-:.TZ]/g, '')
        .slice(0, 14)}`;
    const files = opts.source
      ? listSampleFiles(String(opts.source))
      : prepareSamples(path.join(cfg.home, 'samples')).filter((s) => s.expect === 'ok');
    const n = Number(opts.objects);
    const ac = new AbortController();
    process.once('SIGINT', () => {
      console.error('\nloadtest: interrupted; reporting on what finished');
      ac.abort();
    });
    const raster = opts.pipeline === 'raster';
    if (opts.variants !== undefined && !raster)
      throw new Error('--variants is for --pipeline raster (engine variants of the raster backbone)');
    // Raster phases: one per backbone variant, one after another, so that each variant's chips/s is its own.
    const variants = raster
      ? String(opts.variants ?? 'mobilenetv2')
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean)
      : [null];
    const storage = storageClient(cfg);
    const bq = bigqueryClient(cfg);
    let uploaded = 0;
    let rows = 0;
    for (const variant of variants) {
      if (ac.signal.aborted) break;
      const label = variant ? ` ${variant}` : '';
      const up = new Progress(`uploading${label} (run ${run})`, n);
      const t0 = Date.now();
      const done = await uploadLoad(storage, cfg, {
        runId: run,
        objects: n,
        concurrency: Number(opts.concurrency),
        rate: Number(opts.rate),
        pipeline: opts.pipeline as string | undefined,
        files,
        signal: ac.signal,
        onUpload: (d) => up.update(d),
        ...(variant ? { metadata: { 'lookout-backbone': variant }, prefix: `loadtest/${run}/${variant}/` } : {}),
      });
      up.done(
        `uploaded ${done} ${raster ? 'rasters' : 'objects'}${label} in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
      );
      uploaded += done;
      const wait = new Progress(`waiting for ${raster ? 'summary rows' : 'rows'}${label}`, uploaded);
      // Rasters are counted by their summary (or failed) rows: a chip row does not account for a raster.
      rows = await waitForRun(bq, cfg, run, uploaded, {
        timeoutMs: Number(opts['timeout-s']) * 1000,
        signal: ac.signal,
        onCount: (c) => wait.update(c),
      });
      wait.done(`${rows}/${uploaded} ${raster ? 'rasters' : 'objects'} have a row`);
      if (rows < uploaded) break;
    }
    if (raster) {
      const { loadSql, formatTable } = require('../../loadtest/report') as typeof import('../../loadtest/report');
      const { query } = require('../../io/query') as typeof import('../../io/query');
      console.log(`\nraster load study, run ${run} (infra/sql/raster/loadtest.sql):\n`);
      console.log(formatTable(await query<Record<string, unknown>>(bq, loadSql(cfg, 'raster/loadtest'), { run })));
    } else {
      await printReport(cfg, run, undefined, opts.html as string | undefined);
    }
    return rows >= uploaded ? 0 : 4;
  },
};
