/** The capacity model (infra/capacity.ts) and `lookout plan`: formulas, measured inputs in step with the benchmark. */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import { costsFromLedger, MEASURED, plan, renderPlan, resultsFilesNewestFirst } from '../../infra/capacity';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'lookout');

describe('capacity model', () => {
  it('uses the per-object costs the scale benchmark measured (benchmarks/*-scale.json)', () => {
    const b = JSON.parse(fs.readFileSync(path.join(ROOT, MEASURED.source), 'utf8'));
    const one = b.runs.find((r: { workers: number }) => r.workers === 1);
    const cpu = one.cpuSecondsPerObject;
    const close = (a: number, e: number) => expect(a).toBeCloseTo(e, 4);
    close(MEASURED.workerCpuS, (cpu['worker-cpu'] ?? 0) + (cpu['worker-cpu-2'] ?? 0));
    close(MEASURED.dispatcherCpuS, cpu.dispatcher);
    close(MEASURED.ingestCpuS, cpu.watcher);
    close(MEASURED.temporalCpuS, cpu.temporal);
    close(MEASURED.natsCpuS, cpu.nats);
    close(MEASURED.temporalActions, b.perObject.temporal.actions);
    close(MEASURED.temporalHistoryBytes, b.perObject.temporal.historyProtoBytes);
    close(MEASURED.jetstreamBytesPerEvent, b.perObject.jetstream.bytesPerEvent);
    close(MEASURED.bigqueryRowBytes, b.perObject.bigquery.rowJsonBytes);
    close(MEASURED.objPerS.workers1, one.objPerS);
    close(MEASURED.objPerS.workers2, b.runs.find((r: { workers: number }) => r.workers === 2).objPerS);
    for (const v of [
      MEASURED.workerCpuS,
      MEASURED.temporalActions,
      MEASURED.temporalHistoryBytes,
      MEASURED.jetstreamBytesPerEvent,
      MEASURED.bigqueryRowBytes,
    ])
      expect(v).toBeGreaterThan(0);
  });

  it('scales linearly with the daily count, and applies peak factor and utilization as the formulas say', () => {
    const a = plan({ objectsPerDay: 1e6 });
    const b = plan({ objectsPerDay: 1e7 });
    expect(b.workers.cpuCores / a.workers.cpuCores).toBeCloseTo(10, 6);
    expect(b.temporal.actionsPerDay).toBeCloseTo(1e7 * MEASURED.temporalActions, 3);
    expect(b.bigquery.storageBytes).toBeCloseTo(1e7 * MEASURED.bigqueryRowBytes * 365, 0);
    // R = N / 86400 * peak; cores = R * cpuS / u
    const c = plan({ objectsPerDay: 8.64e6, peakFactor: 2, targetUtilization: 0.5 });
    expect(c.rates.peakObjPerS).toBeCloseTo(200, 9);
    expect(c.workers.cpuCores).toBeCloseTo((200 * MEASURED.workerCpuS) / 0.5, 9);
    expect(c.nats.streamStorageBytes).toBeCloseTo(8.64e6 * MEASURED.jetstreamBytesPerEvent * 7 * 3, 0);
  });

  it('moves inference to GPUs by share, rounds GPUs up, and adds NATS streams in threes of nodes', () => {
    const g = plan({ objectsPerDay: 1e8, gpuShare: 1, gpuObjPerS: 400 });
    expect(g.workers.cpuCores).toBe(0);
    expect(g.workers.gpus).toBe(Math.ceil(((1e8 / 86400) * 3) / 400 / 0.7));
    const n = plan({ objectsPerDay: 1e8, streamMsgPerS: 1000 });
    expect(n.nats.streams).toBe(Math.ceil(((1e8 / 86400) * 3) / 1000));
    expect(n.nats.nodes).toBe(3 * n.nats.streams);
    expect(plan({ objectsPerDay: 1e6 }).nats.nodes).toBe(3);
  });

  it('bulk mode divides Temporal actions by the objects per workflow, nothing else', () => {
    const one = plan({ objectsPerDay: 1e8 });
    const bulk = plan({ objectsPerDay: 1e8, objectsPerWorkflow: 50 });
    expect(bulk.temporal.actionsPerDay).toBeCloseTo(one.temporal.actionsPerDay / 50, 3);
    expect(bulk.temporal.peakActionsPerS).toBeCloseTo(one.temporal.peakActionsPerS / 50, 6);
    expect(bulk.workers.cpuCores).toBe(one.workers.cpuCores);
    expect(() => plan({ objectsPerDay: 1e6, objectsPerWorkflow: 0 })).toThrow(RangeError);
  });

  it('prices only what it is given, and refuses nonsense inputs', () => {
    expect(plan({ objectsPerDay: 1e6 }).costsPerMonth).toEqual({});
    const p = plan({ objectsPerDay: 1e6, prices: { perMillionTemporalActions: 50 } });
    expect(Object.keys(p.costsPerMonth)).toEqual(['temporalActions']);
    expect(p.costsPerMonth.temporalActions).toBeCloseTo(((1e6 * MEASURED.temporalActions * 30) / 1e6) * 50, 6);
    expect(() => plan({ objectsPerDay: 0 })).toThrow(RangeError);
    expect(() => plan({ objectsPerDay: 1e6, targetUtilization: 1.5 })).toThrow(RangeError);
    expect(renderPlan(plan({ objectsPerDay: 1e6 }))).toContain('1.00 M objects/day');
  });
});

describe('lookout plan', () => {
  it('prints JSON with --json (suffix M accepted) and fails clearly on a bad count', () => {
    const out = JSON.parse(
      execFileSync('node', [BIN, 'plan', '--objects-per-day', '10M', '--json'], { encoding: 'utf8' }),
    );
    expect(out.inputs.objectsPerDay).toBe(1e7);
    // The costs come from the newest bench ledger (or the scale benchmark without one): the plan is the model over them.
    expect(out.workers.cpuCores).toBeCloseTo(plan({ objectsPerDay: 1e7 }, out.measured).workers.cpuCores, 6);
    const bad = spawnSync('node', [BIN, 'plan', '--objects-per-day', 'lots'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--objects-per-day takes a positive number');
    const text = execFileSync('node', [BIN, 'plan', '--objects-per-day', '1000000'], { encoding: 'utf8' });
    expect(text).toMatch(/Workers +CPU pool: [\d.]+ cores/);
  });
});

describe("plans from a bench run's CPU ledger", () => {
  const results = {
    date: '2026-12-07',
    machine: { cores: 2, cpuModel: 'AMD EPYC' },
    workloads: {
      'per-object': {
        unit: 'image',
        perSecond: 9,
        ledger: {
          perObjectMs: {
            'worker-cpu': 120,
            dispatcher: 4,
            watcher: 1.5,
            temporal: 60,
            nats: 2,
            bigquery: 30,
            bench: 5,
          },
        },
      },
      bulk: { unit: 'image', perSecond: 20, ledger: null },
    },
  };

  it("takes each process's CPU per object from the ledger and the rest from the scale benchmark", () => {
    const m = costsFromLedger(results, 'per-object', 'benchmarks/x.json')!;
    expect(m.workerCpuS).toBeCloseTo(0.12);
    expect(m.dispatcherCpuS).toBeCloseTo(0.004);
    expect(m.ingestCpuS).toBeCloseTo(0.0015);
    expect(m.temporalCpuS).toBeCloseTo(0.06);
    expect(m.natsCpuS).toBeCloseTo(0.002);
    expect(m.temporalActions).toBe(MEASURED.temporalActions);
    expect(m.source).toContain('benchmarks/x.json');
    expect(costsFromLedger(results, 'bulk', 'x')).toBeNull();
    expect(costsFromLedger(results, 'raster', 'x')).toBeNull();
  });

  it('orders results files newest first, a full run before a quick one of the same day', () => {
    expect(
      resultsFilesNewestFirst([
        'README.md',
        '2026-12-01-scale.json',
        '2026-12-07-2cpu-amd-epyc-quick.json',
        '2026-12-07-2cpu-amd-epyc.json',
        '2026-12-03-quick.json',
      ]),
    ).toEqual([
      '2026-12-07-2cpu-amd-epyc.json',
      '2026-12-07-2cpu-amd-epyc-quick.json',
      '2026-12-03-quick.json',
      '2026-12-01-scale.json',
    ]);
  });

  it('lookout plan --measured FILE plans with that ledger, and refuses a file without one for the workload', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-'));
    const file = path.join(dir, '2026-12-07-test.json');
    fs.writeFileSync(file, JSON.stringify(results));
    const out = JSON.parse(
      execFileSync('node', [BIN, 'plan', '--objects-per-day', '1M', '--measured', file, '--json'], {
        encoding: 'utf8',
      }),
    );
    expect(out.measured.workerCpuS).toBeCloseTo(0.12);
    expect(out.workers.cpuCores).toBeCloseTo(
      plan({ objectsPerDay: 1e6 }, costsFromLedger(results, 'per-object', 'x')!).workers.cpuCores,
      6,
    );
    const bad = spawnSync('node', [BIN, 'plan', '--objects-per-day', '1M', '--measured', file, '--workload', 'bulk'], {
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('has no CPU ledger for workload "bulk"');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
