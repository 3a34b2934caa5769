import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  allProcs,
  clockTicks,
  formatLedgers,
  ledger,
  parseMachineStat,
  parseProcStat,
  parseStepMetrics,
  threadGroup,
  threadTicks,
  treeTicks,
  type ProcStat,
  type Snapshot,
} from '../../bench/ledger';
import { parseSchedstat, stepTotals, threadCpuNs, timeBlocking, timeSync } from '../../runtime/steps';

const onLinux = fs.existsSync('/proc/self/stat');

describe('parseProcStat', () => {
  it('reads a stat line whose command holds spaces and parentheses', () => {
    // proc(5) field order: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads ...
    const s = parseProcStat(
      '4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 12 3 20 0 9 0 12345 1000000 200 18446744073709551615',
    );
    expect(s).toEqual({
      pid: 4242,
      comm: 'my (odd) name',
      state: 'S',
      ppid: 17,
      utime: 250,
      stime: 75,
      cutime: 12,
      cstime: 3,
      threads: 9,
    });
  });

  it('refuses what is not a stat line', () => {
    expect(() => parseProcStat('hello')).toThrow(/not a \/proc stat line/);
    expect(() => parseProcStat('12 (x) S')).toThrow(/not a \/proc stat line/);
  });

  it.runIf(onLinux)('parses this very process from /proc/self/stat', () => {
    const s = parseProcStat(fs.readFileSync('/proc/self/stat', 'utf8'));
    expect(s.pid).toBe(process.pid);
    expect(s.ppid).toBe(process.ppid);
    expect(s.state).toMatch(/^[RSD]$/);
    expect(s.threads).toBeGreaterThanOrEqual(1);
    // Burn some CPU: the ticks it reports grow (at 100 ticks/s, 300 ms of work is ~30 ticks).
    const t0 = s.utime + s.stime;
    const end = Date.now() + 300;
    let x = 0;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const s1 = parseProcStat(fs.readFileSync('/proc/self/stat', 'utf8'));
    expect(s1.utime + s1.stime).toBeGreaterThan(t0);
  });
});

describe('treeTicks', () => {
  const p = (pid: number, ppid: number, utime: number, stime: number, cutime = 0, cstime = 0): ProcStat => ({
    pid,
    comm: 'x',
    state: 'S',
    ppid,
    utime,
    stime,
    cutime,
    cstime,
    threads: 1,
  });
  it('adds live descendants and the waited-for children of the root, not unrelated processes', () => {
    const procs = [p(10, 1, 100, 20, 5, 1), p(11, 10, 30, 3), p(12, 11, 7, 0), p(13, 1, 999, 999), p(14, 13, 50, 50)];
    expect(treeTicks(10, procs)).toBe(100 + 20 + 5 + 1 + 30 + 3 + 7);
    expect(treeTicks(11, procs)).toBe(30 + 3 + 7);
    expect(treeTicks(99, procs)).toBeNull();
  });

  it.runIf(onLinux)('finds this process among all of /proc', () => {
    const procs = allProcs();
    expect(procs.some((x) => x.pid === process.pid)).toBe(true);
    expect(treeTicks(process.pid, procs)).toBeGreaterThanOrEqual(0);
    const groups = threadTicks(process.pid)!;
    expect(Object.keys(groups)).toContain('main (JS + onnxruntime calls)');
  });
});

describe('parseMachineStat and clock ticks', () => {
  it('counts idle and iowait as not busy', () => {
    const m = parseMachineStat('cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n');
    expect(m.total).toBe(100 + 5 + 50 + 1000 + 20 + 3 + 2 + 1);
    expect(m.busy).toBe(100 + 5 + 50 + 3 + 2 + 1);
  });
  it('has a positive clock tick rate', () => {
    expect(clockTicks()).toBeGreaterThan(0);
  });
});

describe('thread groups', () => {
  it('names the groups from thread names', () => {
    expect(threadGroup('node', true)).toMatch(/^main/);
    expect(threadGroup('libuv-worker', false)).toMatch(/libuv/);
    expect(threadGroup('V8 DefaultWorke', false)).toMatch(/V8/);
    expect(threadGroup('tokio-runtime-w', false)).toMatch(/Temporal core/);
    expect(threadGroup('node', false)).toMatch(/onnxruntime/);
    expect(threadGroup('weird\u0007', false)).toBe('other threads (weird)');
  });
});

describe('parseStepMetrics', () => {
  it('reads the worker step counters of a Prometheus scrape', () => {
    const text = [
      '# HELP lookout_worker_step_seconds_total time spent',
      '# TYPE lookout_worker_step_seconds_total counter',
      'lookout_worker_step_seconds_total{step="inference",clock="cpu"} 12.5',
      'lookout_worker_step_seconds_total{step="inference",clock="wall"} 20',
      'lookout_worker_step_seconds_total{step="rows",clock="cpu"} 1e-3',
      'lookout_rows_total{pipeline="objects",status="ok"} 5',
    ].join('\n');
    expect(parseStepMetrics(text)).toEqual({ inference: { cpuS: 12.5, wallS: 20 }, rows: { cpuS: 0.001, wallS: 0 } });
  });
});

describe('ledger', () => {
  const snap = (at: number, procs: Snapshot['procs'], extra: Partial<Snapshot> = {}): Snapshot => ({
    atMs: at,
    procs,
    threads: {},
    machine: null,
    benchUs: 0,
    steps: null,
    ...extra,
  });
  it('divides each process’s CPU change by the objects, in ms', () => {
    const before = snap(
      0,
      { temporal: { pid: 5, ticks: 100 }, 'worker-cpu': { pid: 7, ticks: 1000 }, nats: null },
      {
        machine: { busy: 5000, total: 10000 },
        benchUs: 1_000_000,
        threads: { 'worker-cpu': { pid: 7, groups: { main: 800, libuv: 200 } } },
        steps: { inference: { cpuS: 1, wallS: 2 } },
      },
    );
    const after = snap(
      10_000,
      { temporal: { pid: 5, ticks: 300 }, 'worker-cpu': { pid: 7, ticks: 2000 }, nats: null },
      {
        machine: { busy: 6600, total: 12000 },
        benchUs: 1_500_000,
        threads: { 'worker-cpu': { pid: 7, groups: { main: 1600, libuv: 350, tokio: 50 } } },
        steps: { inference: { cpuS: 5, wallS: 8 }, rows: { cpuS: 0.1, wallS: 0.5 } },
      },
    );
    const l = ledger(before, after, 100, { unit: 'chip', clkTck: 100, cores: 2 });
    // 200 ticks at 100/s = 2000 ms over 100 objects = 20 ms each.
    expect(l.perObjectMs.temporal).toBeCloseTo(20);
    expect(l.perObjectMs['worker-cpu']).toBeCloseTo(100);
    expect(l.perObjectMs.nats).toBeNull();
    expect(l.perObjectMs.bench).toBeCloseTo(5); // 500 ms of the bench's own CPU
    expect(l.stackMsPerObject).toBeCloseTo(125);
    expect(l.machineMsPerObject).toBeCloseTo(160);
    expect(l.otherMsPerObject).toBeCloseTo(35);
    expect(l.cpuBoundPerSecond).toBeCloseTo(2000 / 125);
    // The worker alone (servers elsewhere), derived: its 100 ms per object on 2 cores.
    expect(l.workerMsPerObject).toBeCloseTo(100);
    expect(l.workerBoundPerSecond).toBeCloseTo(20);
    expect(l.wallS).toBe(10);
    expect(l.threads['worker-cpu']).toEqual({ main: 80, libuv: 15, tokio: 5 });
    expect(l.steps!.inference.cpuMs).toBeCloseTo(40);
    expect(l.steps!.inference.wallMs).toBeCloseTo(60);
    expect(l.steps!.rows.cpuMs).toBeCloseTo(1);
    const table = formatLedgers({ raster: l });
    expect(table.find((x) => x.startsWith('temporal'))).toMatch(/20\.0$/);
    expect(table.find((x) => x.includes('step inference, wall'))).toMatch(/60\.0$/);
    expect(table.find((x) => x.includes('worker alone (servers elsewhere; derived)'))).toMatch(/20\.0$/);
  });

  it('gives no figure for a process that restarted (another pid) in between', () => {
    const l = ledger(
      snap(0, { 'worker-cpu': { pid: 7, ticks: 5000 } }),
      snap(1000, { 'worker-cpu': { pid: 8, ticks: 6000 } }),
      10,
      { unit: 'image', clkTck: 100, cores: 2 },
    );
    expect(l.perObjectMs['worker-cpu']).toBeNull();
    expect(l.otherMsPerObject).toBeNull();
    expect(l.workerBoundPerSecond).toBeNull();
  });
});

describe('runtime/steps', () => {
  it('parses schedstat and books a synchronous section’s CPU and wall time', async () => {
    expect(parseSchedstat('123456789 2000 17\n')).toEqual({ runNs: 123456789, waitNs: 2000, slices: 17 });
    expect(() => parseSchedstat('x')).toThrow(/schedstat/);
    const before = stepTotals();
    timeSync('postprocess', () => {
      const end = Date.now() + 60;
      let x = 0;
      while (Date.now() < end) x += Math.sqrt(x + 1);
      return x;
    });
    await timeBlocking('inference', () => new Promise((r) => setTimeout(r, 30)));
    const after = stepTotals();
    expect(after.postprocess.calls).toBe(before.postprocess.calls + 1);
    expect(after.postprocess.wallS - before.postprocess.wallS).toBeGreaterThanOrEqual(0.059);
    expect(after.inference.wallS - before.inference.wallS).toBeGreaterThanOrEqual(0.025);
    if (Number.isFinite(threadCpuNs())) {
      // A busy loop of 60 ms is on CPU most of that time (less only if the machine preempted it).
      expect(after.postprocess.cpuS - before.postprocess.cpuS).toBeGreaterThan(0.01);
      // Waiting on a timer costs next to no CPU.
      expect(after.inference.cpuS - before.inference.cpuS).toBeLessThan(after.inference.wallS - before.inference.wallS);
    }
  });
});
