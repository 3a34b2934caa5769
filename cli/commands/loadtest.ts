/** `lookout loadtest` */
import type { Command } from '../command';
import { Progress } from '../args';
import { printReport } from '../runs';

export const loadtestCommand: Command = {
  spec: {
    name: 'loadtest',
    summary: 'upload N objects (replicating a sample set) tagged with a run id, wait until each has a row, print the report',
    usage: 'loadtest [--objects N] [--concurrency C] [--rate R] [--source DIR] [--pipeline P] [--run ID]',
    description: `Uploads through the official GCS client into $LOOKOUT_BUCKET with metadata lookout-run=<run id>, waits with a
progress bar until every object is accounted for by a row, then prints \`lookout report --run <id>\`.
Ctrl-C stops uploading and waiting; the run can still be reported on as far as it got.`,
    options: {
      objects: { type: 'number', default: 200, help: 'objects to upload' },
      concurrency: { type: 'number', default: 8, help: 'uploads in flight' },
      rate: { type: 'number', default: 0, help: 'uploads per second at most (0 = unbounded)' },
      source: { type: 'string', arg: 'DIR', help: 'folder of sample images (default: the demo samples)' },
      pipeline: { type: 'string', help: 'pipeline (metadata lookout-pipeline)' },
      run: { type: 'string', help: 'run id (default: loadtest-<time>)' },
      'timeout-s': { type: 'number', default: 1800, help: 'give up waiting for rows after this long' },
      html: { type: 'string', arg: 'FILE', help: 'chart file (default: .lookout/reports/<run>.html)' },
    },
  },
  run: async (cfg, { opts }) => {
    const path = require('node:path') as typeof import('node:path');
    const { storageClient, bigqueryClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { listSampleFiles, uploadLoad, waitForRun } = require('../../loadtest/loadtest') as typeof import('../../loadtest/loadtest');
    const { prepareSamples } = require('../../demo/samples') as typeof import('../../demo/samples');
    const run = (opts.run as string | undefined) ?? `loadtest-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`;
    const files = opts.source ? listSampleFiles(String(opts.source)) : prepareSamples(path.join(cfg.home, 'samples')).filter((s) => s.expect === 'ok');
    const n = Number(opts.objects);
    const ac = new AbortController();
    process.once('SIGINT', () => {
      console.error('\nloadtest: interrupted; reporting on what finished');
      ac.abort();
    });
    const up = new Progress(`uploading (run ${run})`, n);
    const t0 = Date.now();
    const uploaded = await uploadLoad(storageClient(cfg), cfg, { runId: run, objects: n, concurrency: Number(opts.concurrency), rate: Number(opts.rate), pipeline: opts.pipeline as string | undefined, files, signal: ac.signal, onUpload: (d) => up.update(d) });
    up.done(`uploaded ${uploaded} objects in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const wait = new Progress('waiting for rows', uploaded);
    const rows = await waitForRun(bigqueryClient(cfg), cfg, run, uploaded, { timeoutMs: Number(opts['timeout-s']) * 1000, signal: ac.signal, onCount: (c) => wait.update(c) });
    wait.done(`${rows}/${uploaded} objects have a row`);
    await printReport(cfg, run, undefined, opts.html as string | undefined);
    return rows >= uploaded ? 0 : 4;
  },
};
