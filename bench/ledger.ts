/**
 * The CPU ledger of a bench workload: CPU milliseconds per analysed object (chip, frame, image) of every
 * process of the embedded stack, and inside the worker by thread and by step. Snapshots are taken before and
 * after a workload; the ledger is their difference divided by the objects analysed.
 *
 * Sources (Linux /proc; on other systems every figure is null):
 *  - per process: utime + stime of `/proc/<pid>/stat` (clock ticks, `getconf CLK_TCK`, 100 on Linux), plus
 *    the same of its live descendants, plus its cutime + cstime (descendants that exited and were waited for);
 *    pids from the embedded stack's pid files (infra/procs.ts).
 *  - the worker's threads: `/proc/<pid>/task/<tid>/stat`, grouped by thread name: the JS main thread (which
 *    also runs onnxruntime's sessions: onnxruntime-node 1.x runs them synchronously on it), onnxruntime's
 *    other intra-op threads, libuv's pool (sharp/libvips work, fs, zlib), V8's helpers (GC, compiler), the
 *    Temporal SDK's Rust core (tokio).
 *  - the worker's steps: `lookout_worker_step_seconds_total` on its /metrics (runtime/steps.ts): main-thread
 *    CPU of synchronous sections, and wall time of sections that wait (labelled as such, never called CPU).
 *  - the machine: `/proc/stat` busy ticks of all cores, so that the CPU other programs took during the run (on
 *    a shared machine) is shown beside the stack's own.
 * Pure functions take text or numbers, so the arithmetic and the parsing are unit-tested (test/unit/ledger.test.ts).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** The fields of `/proc/<pid>/stat` the ledger uses (proc(5); times in clock ticks). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  threads: number;
}

/**
 * Parses one `/proc/<pid>/stat` line. The command name is in parentheses and may itself hold spaces and
 * parentheses, so the fields are counted from the last ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number(text.slice(0, open).trim());
  // After ")": field 3 (state) onwards; proc(5) numbers them from 1 with pid = 1, comm = 2.
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const field = (n: number) => Number(f[n - 3]);
  const out = {
    pid,
    comm: text.slice(open + 1, close),
    state: f[0],
    ppid: field(4),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
    threads: field(20),
  };
  if (![pid, out.ppid, out.utime, out.stime, out.cutime, out.cstime, out.threads].every(Number.isFinite))
    throw new Error(`not a /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
  return out;
}

/** Clock ticks per second of the /proc times (`getconf CLK_TCK`; 100 where getconf is missing). */
export function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function readStat(file: string): ProcStat | undefined {
  try {
    return parseProcStat(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every process's stat (a process that exits while listed is skipped). */
export function allProcs(): ProcStat[] {
  let names: string[];
  try {
    names = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  return names.map((n) => readStat(`/proc/${n}/stat`)).filter((s): s is ProcStat => !!s);
}

/**
 * CPU ticks of a process and its descendants: its own utime + stime + cutime + cstime (children that exited
 * and were waited for) plus the utime + stime of every live descendant.
 */
export function treeTicks(root: number, procs: ProcStat[]): number | null {
  const byParent = new Map<number, ProcStat[]>();
  let self: ProcStat | undefined;
  for (const p of procs) {
    if (p.pid === root) self = p;
    (byParent.get(p.ppid) ?? byParent.set(p.ppid, []).get(p.ppid)!).push(p);
  }
  if (!self) return null;
  let ticks = self.utime + self.stime + self.cutime + self.cstime;
  const todo = [...(byParent.get(root) ?? [])];
  while (todo.length > 0) {
    const p = todo.pop()!;
    ticks += p.utime + p.stime;
    todo.push(...(byParent.get(p.pid) ?? []));
  }
  return ticks;
}

/** The group a worker thread's CPU is booked to, from its name (Linux thread names are at most 15 characters). */
export function threadGroup(comm: string, isMain: boolean): string {
  if (isMain) return 'main (JS + onnxruntime calls)';
  if (/^libuv-worker/.test(comm)) return 'libuv pool (sharp, fs, zlib)';
  if (/^V8 /.test(comm)) return 'V8 helpers (GC, compiler)';
  if (/^tokio|^temporal|^core-/i.test(comm)) return 'Temporal core (Rust)';
  if (/^vips|^sharp/i.test(comm)) return 'libvips threads';
  // onnxruntime's intra-op pool threads carry no name of their own: they keep the process's ("node").
  if (/^node$/.test(comm)) return 'unnamed (onnxruntime intra-op pool)';
  return `other threads (${comm.replace(/[^\w .-]/g, '')})`;
}

/** Ticks per thread group of a process (`/proc/<pid>/task/*`); threads that exited are lost (their CPU stays in the process total). */
export function threadTicks(pid: number): Record<string, number> | null {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const out: Record<string, number> = {};
  for (const t of tids) {
    const s = readStat(`/proc/${pid}/task/${t}/stat`);
    if (!s) continue;
    const g = threadGroup(s.comm, s.pid === pid);
    out[g] = (out[g] ?? 0) + s.utime + s.stime;
  }
  return out;
}

/** Busy and total ticks of all cores from the first line of `/proc/stat` (idle and iowait are not busy). */
export function parseMachineStat(text: string): { busy: number; total: number } {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no aggregate cpu line in /proc/stat');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal [guest guest_nice, already inside user/nice]
  const total = v.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Worker step totals (seconds) from Prometheus text: `lookout_worker_step_seconds_total{step,clock}`. */
export function parseStepMetrics(text: string): Record<string, { cpuS: number; wallS: number }> {
  const out: Record<string, { cpuS: number; wallS: number }> = {};
  const re = /^lookout_worker_step_seconds_total\{([^}]*)\}\s+([0-9.eE+-]+)/gm;
  for (const m of text.matchAll(re)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (!labels.step || (labels.clock !== 'cpu' && labels.clock !== 'wall')) continue;
    const e = (out[labels.step] ??= { cpuS: 0, wallS: 0 });
    if (labels.clock === 'cpu') e.cpuS = Number(m[2]);
    else e.wallS = Number(m[2]);
  }
  return out;
}

export interface Snapshot {
  atMs: number;
  /** Pid and ticks of each named process (with its descendants); null where it does not run. */
  procs: Record<string, { pid: number; ticks: number } | null>;
  /** Ticks per thread group of the processes asked for. */
  threads: Record<string, { pid: number; groups: Record<string, number> } | null>;
  machine: { busy: number; total: number } | null;
  /** This process (the bench: uploads, queries), µs. */
  benchUs: number;
  steps: Record<string, { cpuS: number; wallS: number }> | null;
}

/** A snapshot of the named processes' CPU (pids from the stack's pid files), the worker's steps read from `stepsUrl`. */
export async function snapshot(
  pids: Record<string, number | undefined>,
  opts: { threadsOf?: string[]; stepsUrl?: string } = {},
): Promise<Snapshot> {
  let steps: Snapshot['steps'] = null;
  if (opts.stepsUrl) {
    try {
      const res = await fetch(opts.stepsUrl, { signal: AbortSignal.timeout(5000) });
      if (res.ok) steps = parseStepMetrics(await res.text());
    } catch {
      steps = null;
    }
  }
  const procs = allProcs();
  const cu = process.cpuUsage();
  let machine: Snapshot['machine'] = null;
  try {
    machine = parseMachineStat(fs.readFileSync('/proc/stat', 'utf8'));
  } catch {
    machine = null;
  }
  return {
    atMs: performance.now(),
    procs: Object.fromEntries(
      Object.entries(pids).map(([k, pid]) => {
        const ticks = pid ? treeTicks(pid, procs) : null;
        return [k, pid && ticks !== null ? { pid, ticks } : null];
      }),
    ),
    threads: Object.fromEntries(
      (opts.threadsOf ?? []).map((k) => {
        const groups = pids[k] ? threadTicks(pids[k]!) : null;
        return [k, pids[k] && groups ? { pid: pids[k]!, groups } : null];
      }),
    ),
    machine,
    benchUs: cu.user + cu.system,
    steps,
  };
}

export interface Ledger {
  /** What one object is: chip, frame, image. */
  unit: string;
  objects: number;
  wallS: number;
  /** CPU ms per object of each process (null: not running at both ends, or restarted in between). */
  perObjectMs: Record<string, number | null>;
  /** Sum of the processes' (the stack's and the bench's) ms per object. */
  stackMsPerObject: number;
  /** Busy CPU of the whole machine per object, and the part no process of the stack or the bench took (other programs). */
  machineMsPerObject: number | null;
  otherMsPerObject: number | null;
  /** Objects/s the machine's cores could give if the stack's CPU per object were the only limit. */
  cpuBoundPerSecond: number | null;
  /**
   * The worker processes' CPU per object (worker-cpu, worker-gpu: every thread) and the objects/s the cores could give
   * if only the worker ran on them — a production deployment with Temporal, BigQuery, NATS and GCS on other machines.
   * Derived from the ledger (no run measured it); absent in results written before it existed.
   */
  workerMsPerObject?: number | null;
  workerBoundPerSecond?: number | null;
  /** Cores of the machine (the ledger's share figures use them). */
  cores: number;
  /** Per thread group of the processes asked for (ms per object). */
  threads: Record<string, Record<string, number>>;
  /** Worker steps per object: `cpuMs` main-thread CPU of synchronous sections, `wallMs` elapsed (summed over concurrent calls). */
  steps: Record<string, { cpuMs: number; wallMs: number }> | null;
}

/** The ledger between two snapshots for `objects` analysed objects. */
export function ledger(
  before: Snapshot,
  after: Snapshot,
  objects: number,
  opts: { unit: string; clkTck: number; cores: number },
): Ledger {
  const n = Math.max(1, objects);
  const ms = (ticks: number) => (ticks * 1000) / opts.clkTck / n;
  const perObjectMs: Record<string, number | null> = {};
  for (const k of Object.keys(after.procs)) {
    const a = after.procs[k];
    const b = before.procs[k];
    // A process that restarted in between (another pid) has no figure rather than a wrong one.
    perObjectMs[k] = !a || !b || a.pid !== b.pid || a.ticks < b.ticks ? null : ms(a.ticks - b.ticks);
  }
  perObjectMs.bench = (after.benchUs - before.benchUs) / 1000 / n;
  const stack = Object.values(perObjectMs).reduce<number>((s, v) => s + (v ?? 0), 0);
  const machine = after.machine && before.machine ? ms(after.machine.busy - before.machine.busy) : null;
  const threads: Ledger['threads'] = {};
  for (const [k, t] of Object.entries(after.threads)) {
    const b = before.threads[k];
    if (!t || !b || t.pid !== b.pid) continue;
    threads[k] = {};
    // A thread group that appeared during the run (a thread started) counts from 0; one whose threads exited
    // loses their CPU (it stays in the process's total), hence never below 0.
    for (const [g, v] of Object.entries(t.groups)) threads[k][g] = Math.max(0, ms(v - (b.groups[g] ?? 0)));
  }
  let steps: Ledger['steps'] = null;
  if (after.steps && before.steps) {
    steps = {};
    for (const [s, v] of Object.entries(after.steps)) {
      const b = before.steps[s] ?? { cpuS: 0, wallS: 0 };
      steps[s] = { cpuMs: ((v.cpuS - b.cpuS) * 1000) / n, wallMs: ((v.wallS - b.wallS) * 1000) / n };
    }
  }
  const workers = Object.entries(perObjectMs).filter(([k, v]) => k.startsWith('worker') && v !== null);
  const workerMs = workers.length ? workers.reduce((a, [, v]) => a + (v ?? 0), 0) : null;
  return {
    unit: opts.unit,
    objects,
    wallS: (after.atMs - before.atMs) / 1000,
    perObjectMs,
    stackMsPerObject: stack,
    machineMsPerObject: machine,
    otherMsPerObject: machine === null ? null : Math.max(0, machine - stack),
    cpuBoundPerSecond: stack > 0 ? (opts.cores * 1000) / stack : null,
    workerMsPerObject: workerMs,
    workerBoundPerSecond: workerMs ? (opts.cores * 1000) / workerMs : null,
    cores: opts.cores,
    threads,
    steps,
  };
}

/** Process names in the stack's order, then anything else. */
const ORDER = [
  'nats',
  'nats-2',
  'nats-3',
  'temporal',
  'gcs',
  'bigquery',
  'bigquery-api',
  'pubsub',
  'watcher',
  'subscriber',
  'dispatcher',
  'worker-cpu',
  'bench',
];

/** Ledgers of several workloads as one text table: one row per process, one column per workload (ms per object). */
export function formatLedgers(ls: Record<string, Ledger>): string[] {
  const names = Object.keys(ls);
  if (names.length === 0) return [];
  const f = (x: number | null | undefined) =>
    x === null || x === undefined || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(1);
  const w = Math.max(12, ...names.map((n) => n.length));
  const col = (s: string) => s.padStart(w);
  const lines: string[] = [];
  lines.push(`${'CPU ms per object'.padEnd(44)}${names.map(col).join(' ')}`);
  lines.push(`${'(object)'.padEnd(44)}${names.map((n) => col(ls[n].unit)).join(' ')}`);
  lines.push(
    `${'objects, wall s'.padEnd(44)}${names.map((n) => col(`${ls[n].objects}, ${ls[n].wallS.toFixed(0)} s`)).join(' ')}`,
  );
  const procs = [...new Set(names.flatMap((n) => Object.keys(ls[n].perObjectMs)))].sort(
    (a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99),
  );
  for (const p of procs) {
    if (names.every((n) => !ls[n].perObjectMs[p])) continue;
    lines.push(`${p.padEnd(44)}${names.map((n) => col(f(ls[n].perObjectMs[p]))).join(' ')}`);
    if (p === 'worker-cpu') {
      const groups = [...new Set(names.flatMap((n) => Object.keys(ls[n].threads[p] ?? {})))].sort();
      for (const g of groups)
        lines.push(`${`  thread: ${g}`.padEnd(44)}${names.map((n) => col(f(ls[n].threads[p]?.[g]))).join(' ')}`);
      const steps = [...new Set(names.flatMap((n) => Object.keys(ls[n].steps ?? {})))];
      for (const s of steps) {
        lines.push(
          `${`  step ${s}, main-thread CPU`.padEnd(44)}${names.map((n) => col(f(ls[n].steps?.[s]?.cpuMs))).join(' ')}`,
        );
        lines.push(
          `${`  step ${s}, wall (not CPU)`.padEnd(44)}${names.map((n) => col(f(ls[n].steps?.[s]?.wallMs))).join(' ')}`,
        );
      }
    }
  }
  lines.push(`${'all of the above'.padEnd(44)}${names.map((n) => col(f(ls[n].stackMsPerObject))).join(' ')}`);
  lines.push(
    `${'other programs on the machine'.padEnd(44)}${names.map((n) => col(f(ls[n].otherMsPerObject))).join(' ')}`,
  );
  lines.push(
    `${'CPU-bound limit, objects/s (cores / above)'.padEnd(44)}${names.map((n) => col(f(ls[n].cpuBoundPerSecond))).join(' ')}`,
  );
  if (names.some((n) => ls[n].workerBoundPerSecond))
    lines.push(
      `${'  worker alone (servers elsewhere; derived)'.padEnd(44)}${names.map((n) => col(f(ls[n].workerBoundPerSecond))).join(' ')}`,
    );
  return lines;
}
