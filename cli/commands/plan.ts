/** `lookout plan` */
import type { Command } from '../command';

export const planCommand: Command = {
  spec: {
    name: 'plan',
    summary:
      'capacity plan for N objects/day from measured per-object costs: worker cores, GPUs, Temporal actions, BigQuery and NATS volumes',
    usage: 'plan --objects-per-day N [--peak-factor F] [--gpu-share S] [--bulk N] [--json] [price options]',
    description: `The model of docs/scaling.md (infra/capacity.ts) over measured per-object costs: the CPU of each
process from the CPU ledger of the newest bench results file (benchmarks/<date>-<machine>.json written by
npm run bench; workload per-object, or bulk with --bulk N > 1; --workload and --measured choose), Temporal
actions, history and row sizes from bench/scale.ts (benchmarks/2026-12-01-scale.json), which is also the whole
fallback when no results file has a ledger. Costs are printed only for the prices you give (your own rates).
  lookout plan --objects-per-day 10000000
  lookout plan --objects-per-day 100M --gpu-share 1 --gpu-obj-per-s 400 --price-gpu-hour 2.5 --json`,
    options: {
      'objects-per-day': { type: 'string', arg: 'N', help: 'objects analysed per day (suffixes k, M, G allowed: 10M)' },
      'peak-factor': { type: 'number', default: 3, help: 'peak rate over the daily mean' },
      utilization: { type: 'number', default: 0.7, help: 'CPU share a pool is sized to use at peak' },
      'gpu-share': { type: 'number', default: 0, help: 'fraction of objects whose inference runs on the GPU pool' },
      'gpu-obj-per-s': {
        type: 'number',
        default: 400,
        help: 'objects/s one GPU sustains (ASSUMED: no GPU was measured; measure yours with npm run bench)',
      },
      'temporal-retention-days': { type: 'number', default: 7, help: 'workflow history retention of the namespace' },
      bulk: {
        type: 'number',
        default: 1,
        arg: 'N',
        help: 'objects per workflow: 1 = one workflow per object; N = bulk mode (backfill --bulk N) divides Temporal actions by N',
      },
      'stream-msg-per-s': {
        type: 'number',
        default: 5000,
        help: 'messages/s one R3 JetStream stream sustains (ASSUMED; nats bench --js)',
      },
      'bigquery-retention-days': { type: 'number', default: 365, help: 'days result rows are kept' },
      'price-million-actions': { type: 'number', arg: 'PRICE', help: 'Temporal Cloud price per million actions' },
      'price-temporal-gb-month': { type: 'number', arg: 'PRICE', help: 'Temporal Cloud storage price per GB-month' },
      'price-bq-streaming-gb': { type: 'number', arg: 'PRICE', help: 'BigQuery streaming insert price per GB' },
      'price-bq-storage-gb-month': { type: 'number', arg: 'PRICE', help: 'BigQuery storage price per GB-month' },
      'price-core-hour': { type: 'number', arg: 'PRICE', help: 'price of one CPU core-hour (mean load, not peak)' },
      'price-gpu-hour': { type: 'number', arg: 'PRICE', help: 'price of one GPU-hour' },
      workload: {
        type: 'string',
        arg: 'NAME',
        help: 'the bench workload whose CPU ledger gives the costs (per-object, bulk, raster, video objects, …; default per-object, bulk with --bulk > 1)',
      },
      measured: {
        type: 'string',
        arg: 'FILE.json',
        help: 'a bench results file to read the ledger from (default: the newest in benchmarks/ with one)',
      },
      json: { type: 'boolean', help: 'print the plan as JSON' },
    },
  },
  run: async (cfg, { opts }) => {
    const { costsFromLedger, MEASURED, plan, renderPlan, resultsFilesNewestFirst } =
      require('../../infra/capacity') as typeof import('../../infra/capacity');
    const fs = require('node:fs') as typeof import('node:fs');
    const path = require('node:path') as typeof import('node:path');
    const raw = opts['objects-per-day'];
    if (raw === undefined) throw new Error('--objects-per-day N is required (e.g. 1000000 or 1M)');
    const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(String(raw).replace(/_/g, ''));
    const n = m
      ? Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, g: 1e9 } as Record<string, number>)[m[2].toLowerCase()]
      : NaN;
    if (!(n > 0))
      throw new Error(
        `--objects-per-day takes a positive number (suffix k, M or G allowed), got ${JSON.stringify(raw)}`,
      );
    const num = (k: string) => (opts[k] === undefined ? undefined : Number(opts[k]));
    // The CPU per object from the newest bench run's ledger (or the file given), else the scale benchmark's.
    const workload =
      opts.workload === undefined ? (Number(opts.bulk) > 1 ? 'bulk' : 'per-object') : String(opts.workload);
    const dir = path.join(cfg.projectRoot, 'benchmarks');
    const files =
      opts.measured !== undefined
        ? [path.resolve(String(opts.measured))]
        : resultsFilesNewestFirst(fs.existsSync(dir) ? fs.readdirSync(dir) : []).map((n) => path.join(dir, n));
    let measured = MEASURED;
    for (const f of files) {
      const m = costsFromLedger(JSON.parse(fs.readFileSync(f, 'utf8')), workload, path.relative(cfg.projectRoot, f));
      if (m) {
        measured = m;
        break;
      }
      if (opts.measured !== undefined) throw new Error(`${f} has no CPU ledger for workload "${workload}"`);
    }
    const p = plan(
      {
        objectsPerDay: n,
        peakFactor: Number(opts['peak-factor']),
        targetUtilization: Number(opts.utilization),
        gpuShare: Number(opts['gpu-share']),
        gpuObjPerS: Number(opts['gpu-obj-per-s']),
        temporalRetentionDays: Number(opts['temporal-retention-days']),
        streamMsgPerS: Number(opts['stream-msg-per-s']),
        bigqueryRetentionDays: Number(opts['bigquery-retention-days']),
        objectsPerWorkflow: Number(opts.bulk),
        prices: {
          perMillionTemporalActions: num('price-million-actions'),
          perGbMonthTemporalStorage: num('price-temporal-gb-month'),
          perGbBigqueryStreaming: num('price-bq-streaming-gb'),
          perGbMonthBigqueryStorage: num('price-bq-storage-gb-month'),
          perCoreHour: num('price-core-hour'),
          perGpuHour: num('price-gpu-hour'),
        },
      },
      measured,
    );
    console.log(opts.json ? JSON.stringify(p, null, 2) : renderPlan(p));
  },
};
