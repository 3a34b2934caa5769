/**
 * The worker's own CPU ledger: where a worker's time goes, by step (decode, preprocessing, inference,
 * postprocessing / method, row building). The bench (bench/ledger.ts) reads the totals from the worker's
 * /metrics (`lookout_worker_step_seconds`) before and after a workload and divides by the objects analysed.
 *
 * Two clocks, kept apart because they mean different things:
 *  - `cpu`: CPU time of the calling thread (the JS main thread) spent inside a *synchronous* section, from
 *    /proc/thread-self/schedstat (nanoseconds on CPU, Linux). Exact for the section and never inflated by other
 *    processes' load or by other threads (onnxruntime's, libvips') running meanwhile.
 *  - `wall`: elapsed time of a section, summed over calls. For an *async* section (a range read, an
 *    onnxruntime run on its own threads) this is the only clock there is; concurrent calls overlap, so their
 *    sum can exceed the run's wall time (it is "busy time seen by the callers", not CPU).
 * Where /proc is missing (macOS) the `cpu` clock stays 0 and only `wall` is kept.
 */
import fs from 'node:fs';

/**
 * decode, preprocess (the detector's tensor), inference (every model run), postprocess (detector decoding, raster
 * indices), rows; and the video methods' own parts: track (tracker and per-object observations), crops (appearance
 * crops resized into the embedder's tensor), score (attribute scoring: the appearance kNN, calibration, smoothing,
 * alert episodes, reasons), annotate (annotated frames, alert pictures and clips: the main thread's share; sharp's
 * and ffmpeg's work is on their threads and processes).
 */
export const STEPS = [
  'decode',
  'preprocess',
  'inference',
  'postprocess',
  'track',
  'crops',
  'score',
  'annotate',
  'rows',
] as const;
export type Step = (typeof STEPS)[number];

interface Totals {
  cpuNs: number;
  wallNs: number;
  calls: number;
}

const totals: Record<Step, Totals> = Object.fromEntries(
  STEPS.map((s) => [s, { cpuNs: 0, wallNs: 0, calls: 0 }]),
) as Record<Step, Totals>;

let fd: number | undefined | null;
const buf = Buffer.alloc(128);

/** The calling thread's time on CPU (ns) from /proc/thread-self/schedstat; NaN where it cannot be read. */
export function threadCpuNs(): number {
  if (fd === null) return NaN;
  try {
    // Opened once (per JS thread: each worker thread loads its own copy of this module); pread at 0 re-reads it.
    fd ??= fs.openSync('/proc/thread-self/schedstat', 'r');
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return parseSchedstat(buf.toString('latin1', 0, n)).runNs;
  } catch {
    fd = null;
    return NaN;
  }
}

/** `/proc/<pid>/schedstat`: time on CPU (ns), time waiting on a run queue (ns), time slices. */
export function parseSchedstat(text: string): { runNs: number; waitNs: number; slices: number } {
  const [run, wait, slices] = text.trim().split(/\s+/).map(Number);
  if (![run, wait, slices].every(Number.isFinite))
    throw new Error(`not a schedstat line: ${JSON.stringify(text.slice(0, 80))}`);
  return { runNs: run, waitNs: wait, slices };
}

/** Runs a synchronous section and books its main-thread CPU and wall time to `step`. */
export function timeSync<T>(step: Step, fn: () => T): T {
  const c0 = threadCpuNs();
  const w0 = process.hrtime.bigint();
  try {
    return fn();
  } finally {
    const t = totals[step];
    t.wallNs += Number(process.hrtime.bigint() - w0);
    const c1 = threadCpuNs();
    if (Number.isFinite(c0) && Number.isFinite(c1)) t.cpuNs += c1 - c0;
    t.calls++;
  }
}

/** Runs an async section and books its wall time to `step` (no CPU: other work interleaves while it waits). */
export async function timeAsync<T>(step: Step, fn: () => Promise<T>): Promise<T> {
  const w0 = process.hrtime.bigint();
  try {
    return await fn();
  } finally {
    const t = totals[step];
    t.wallNs += Number(process.hrtime.bigint() - w0);
    t.calls++;
  }
}

/**
 * An async section that holds the main thread most of the time it runs (onnxruntime-node 1.x runs a session
 * synchronously inside a setImmediate): books wall time and the main thread's CPU across the await. The CPU
 * can include a little other work that ran on the main thread before the run began; it never includes
 * onnxruntime's other intra-op threads (the bench's per-thread figures show those).
 */
export async function timeBlocking<T>(step: Step, fn: () => Promise<T>): Promise<T> {
  // Overlapping calls (two models of one pipeline) book the CPU of the union of their spans once.
  const t = totals[step];
  const w0 = process.hrtime.bigint();
  // onnxruntime-node starts the run in a setImmediate: the CPU clock starts in the check phase too, so that the
  // synchronous work other callers do before it (the next chips' preprocessing) is not booked to inference.
  await new Promise<void>((r) => setImmediate(r));
  if (blocking.open++ === 0) blocking.c0 = threadCpuNs();
  try {
    return await fn();
  } finally {
    t.wallNs += Number(process.hrtime.bigint() - w0);
    t.calls++;
    if (--blocking.open === 0) {
      const c1 = threadCpuNs();
      if (Number.isFinite(blocking.c0) && Number.isFinite(c1)) t.cpuNs += c1 - blocking.c0;
    }
  }
}
const blocking = { open: 0, c0: NaN };

/** Books wall time measured elsewhere (e.g. a batch's run, once for the batch). */
export function addWall(step: Step, ms: number): void {
  totals[step].wallNs += ms * 1e6;
  totals[step].calls++;
}

/** Totals since the process started, in seconds. */
export function stepTotals(): Record<Step, { cpuS: number; wallS: number; calls: number }> {
  return Object.fromEntries(
    STEPS.map((s) => [s, { cpuS: totals[s].cpuNs / 1e9, wallS: totals[s].wallNs / 1e9, calls: totals[s].calls }]),
  ) as Record<Step, { cpuS: number; wallS: number; calls: number }>;
}
