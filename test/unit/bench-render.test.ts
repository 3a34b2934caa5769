/** The bench results file's stable top level (bench/render.ts ResultsFile) and its Markdown. */
import { describe, expect, it } from 'vitest';
import { ledger, type Snapshot } from '../../bench/ledger';
import { machineSlug, renderMarkdown, type BenchResult } from '../../bench/render';

describe('bench results file', () => {
  it('names the machine by cores and CPU model, file-name safe', () => {
    expect(machineSlug({ cores: 2, cpuModel: 'AMD EPYC' })).toBe('2cpu-amd-epyc');
    expect(machineSlug({ cores: 8, cpuModel: 'Intel(R) Xeon(R) CPU @ 2.20GHz' })).toBe('8cpu-intel-xeon');
    expect(machineSlug({ cores: 4 })).toBe('4cpu-unknown');
    expect(machineSlug({ cores: 4, cpu: 'Apple M2 Pro' })).toBe('4cpu-apple-m2-pro');
  });

  it('renders the headline workloads, the ledger and the latency line', () => {
    const snap = (t: number, w: number, tq: number): Snapshot => ({
      atMs: t,
      procs: { 'worker-cpu': { pid: 1, ticks: w }, temporal: { pid: 2, ticks: tq } },
      threads: {},
      machine: null,
      benchUs: 0,
      steps: null,
    });
    const l = ledger(snap(0, 0, 0), snap(60_000, 3000, 500), 1000, { unit: 'chip', clkTck: 100, cores: 2 });
    const r: BenchResult = {
      date: '2026-12-07',
      commit: 'abc1234',
      machine: {
        cores: 2,
        cpuModel: 'AMD EPYC',
        memoryTotalMb: 24000,
        platform: 'linux-x64',
        nodeVersion: 'v20.20.2',
        onnxruntimeVersion: '1.30.0',
      },
      workloads: {
        raster: {
          unit: 'chip',
          perSecond: 50,
          bare: 100,
          ratio: 0.5,
          ledger: l,
          bareCpuMsPerObject: 14,
          cpuRatio: 0.4,
        },
      },
      latency: {
        uploadToRowP50Ms: 120,
        uploadToRowP99Ms: 190,
        halfLoadRate: 4,
        serveP50Ms: null,
        serveP99Ms: null,
        streamP50Ms: null,
        streamP99Ms: null,
      },
      bare: [],
      bareLimitPerSecond: NaN,
      pipeline: [],
      bulk: [],
      ratioPipelineToBare: null,
      ratioBulkToBare: null,
      peakMemoryMb: { 'worker-cpu': 900 },
    };
    const md = renderMarkdown(r);
    expect(md).toContain('commit abc1234, 2026-12-07');
    expect(md).toMatch(/\| raster \| chip \| 50\.0 \| 100\.0 \| 0\.500 \| 35\.0 \| 14\.0 \| 0\.400 \|/);
    expect(md).toMatch(/worker-cpu\s+30\.0/);
    expect(md).toMatch(/temporal\s+5\.00/);
    expect(md).toContain('upload → row at half load p50 120 / p99 190 ms');
    expect(md).not.toContain('(a) Bare inference (NanoDet');
  });
});
