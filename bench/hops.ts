/**
 * Per-hop latency breakdown of an upload's way to its row, from the row's own timestamps (all taken on one
 * machine in the embedded stack, so one clock): where the time between the object's creation and its row
 * went. Pure functions: bench/bench.ts queries the rows, these turn them into percentiles and compare runs.
 *
 * Hops, in order (each the difference of two consecutive timestamps, so they add up to `toRecord`):
 *   event           object created in GCS -> its event on the JetStream stream (watcher poll or notification)
 *   dispatch        on the stream -> the dispatcher asks Temporal to start the workflow
 *   workflowStart   dispatcher's request -> the workflow's run started (Temporal's start)
 *   <stage>.sched   previous step done -> the stage's activity scheduled (a workflow task round trip)
 *   <stage>.queue   scheduled -> a worker started it (activity task queue wait)
 *   <stage>.run     started -> completed (the stage's own work)
 *   record          last stage completed -> the row built by the record activity (a workflow task round
 *                   trip, the record activity's queue wait)
 */
import { mean, percentile } from './metrics';

export const STAGES = ['detect', 'extract', 'score'] as const;

/** One row's timestamps as offsets (ms) from the object's creation; a stage's are undefined when it did not run. */
export interface HopRow {
  published: number | null;
  dispatched: number | null;
  workflowStarted: number | null;
  recorded: number | null;
  stages: Partial<Record<(typeof STAGES)[number], { scheduled: number; started: number; completed: number }>>;
}

export type HopName =
  | 'event'
  | 'dispatch'
  | 'workflowStart'
  | `${(typeof STAGES)[number]}.${'sched' | 'queue' | 'run'}`
  | 'record'
  | 'toRecord';

/** The hops of one row (ms); a hop whose two ends are not both known is left out. */
export function rowHops(r: HopRow): Partial<Record<HopName, number>> {
  const out: Partial<Record<HopName, number>> = {};
  const diff = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined ? undefined : b - a;
  const set = (k: HopName, v: number | undefined) => {
    if (v !== undefined && Number.isFinite(v)) out[k] = v;
  };
  set('event', diff(0, r.published));
  set('dispatch', diff(r.published, r.dispatched));
  set('workflowStart', diff(r.dispatched, r.workflowStarted));
  let prev = r.workflowStarted;
  for (const s of STAGES) {
    const t = r.stages[s];
    if (!t) continue;
    set(`${s}.sched`, diff(prev, t.scheduled));
    set(`${s}.queue`, diff(t.scheduled, t.started));
    set(`${s}.run`, diff(t.started, t.completed));
    prev = t.completed;
  }
  set('record', diff(prev, r.recorded));
  set('toRecord', diff(0, r.recorded));
  return out;
}

export interface HopStats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

/** p50/p99/mean of every hop over the rows, in hop order. */
export function hopBreakdown(rows: HopRow[]): Partial<Record<HopName, HopStats>> {
  const acc = new Map<HopName, number[]>();
  for (const r of rows)
    for (const [k, v] of Object.entries(rowHops(r)) as Array<[HopName, number]>)
      (acc.get(k) ?? acc.set(k, []).get(k)!).push(v);
  const out: Partial<Record<HopName, HopStats>> = {};
  for (const [k, xs] of acc)
    out[k] = { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), mean: mean(xs) };
  return out;
}

/** The breakdown as aligned text lines (one hop a line), optionally beside an earlier run's. */
export function formatHops(
  h: Partial<Record<HopName, HopStats>>,
  before?: Partial<Record<HopName, HopStats>>,
): string[] {
  const f = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));
  const lines = [
    `${'hop'.padEnd(16)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'mean ms'.padStart(9)}${before ? `   ${'before p50'.padStart(10)} ${'before p99'.padStart(10)}` : ''}`,
  ];
  const keys = new Set<HopName>([...(Object.keys(before ?? {}) as HopName[]), ...(Object.keys(h) as HopName[])]);
  const order = (k: HopName) =>
    k === 'toRecord'
      ? 99
      : k === 'record'
        ? 98
        : ['event', 'dispatch', 'workflowStart'].indexOf(k) >= 0
          ? ['event', 'dispatch', 'workflowStart'].indexOf(k)
          : 10 +
            STAGES.indexOf(k.split('.')[0] as (typeof STAGES)[number]) * 3 +
            ['sched', 'queue', 'run'].indexOf(k.split('.')[1]);
  for (const k of [...keys].sort((a, b) => order(a) - order(b))) {
    const s = h[k];
    const b = before?.[k];
    lines.push(
      `${k.padEnd(16)} ${f(s?.p50).padStart(9)} ${f(s?.p99).padStart(9)} ${f(s?.mean).padStart(9)}${before ? `   ${f(b?.p50).padStart(10)} ${f(b?.p99).padStart(10)}` : ''}`,
    );
  }
  return lines;
}

/** Headline figures of a bench result (as written by bench.ts), for `--vs`. */
export interface Headline {
  label: string;
  value: number | null;
  /** Higher is better (throughput) or lower is better (latency). */
  better: 'higher' | 'lower';
}

interface ResultLike {
  bareLimitPerSecond?: number;
  pipeline?: Array<{
    label: string;
    perSecond: number;
    e2eP50: number;
    e2eP99: number;
    recordP50?: number;
    recordP99?: number;
  }>;
  ratioPipelineToBare?: number | null;
  ratioBulkToBare?: number | null;
}

export function headlines(r: ResultLike): Headline[] {
  const out: Headline[] = [{ label: 'bare inference img/s', value: r.bareLimitPerSecond ?? null, better: 'higher' }];
  for (const p of r.pipeline ?? []) {
    if (p.label.endsWith('saturation')) out.push({ label: `${p.label} obj/s`, value: p.perSecond, better: 'higher' });
    out.push(
      { label: `${p.label} e2e p50 ms`, value: p.e2eP50, better: 'lower' },
      { label: `${p.label} e2e p99 ms`, value: p.e2eP99, better: 'lower' },
    );
    if (p.recordP50 !== undefined)
      out.push(
        { label: `${p.label} upload->row p50 ms`, value: p.recordP50, better: 'lower' },
        { label: `${p.label} upload->row p99 ms`, value: p.recordP99 ?? null, better: 'lower' },
      );
  }
  out.push(
    { label: 'ratio pipeline/bare', value: r.ratioPipelineToBare ?? null, better: 'higher' },
    { label: 'ratio bulk/bare', value: r.ratioBulkToBare ?? null, better: 'higher' },
  );
  return out;
}

/** `--vs`: this run's headline figures beside an earlier run's, with the change; figures either run lacks are left out. */
export function compareResults(
  now: ResultLike,
  before: ResultLike,
): Array<{ label: string; before: number; now: number; change: number; better: boolean }> {
  const b = new Map(headlines(before).map((h) => [h.label, h.value]));
  const out = [];
  for (const h of headlines(now)) {
    const was = b.get(h.label);
    if (h.value === null || was === null || was === undefined || !Number.isFinite(h.value) || !Number.isFinite(was))
      continue;
    out.push({
      label: h.label,
      before: was,
      now: h.value,
      change: was === 0 ? NaN : (h.value - was) / was,
      better: h.better === 'higher' ? h.value > was : h.value < was,
    });
  }
  return out;
}
