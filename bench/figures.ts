/**
 * `npm run docs:figures`: writes docs/figures.md, the one page that states Lookout's headline figures, from the
 * newest result files the measuring scripts wrote — never from numbers typed by hand:
 *   benchmarks/<YYYY-MM-DD>-<name>.json   `npm run bench -- --out …` (bench/bench.ts). The newest file in the
 *                                         ledger form ({date, machine, commit, workloads: {name: {ratio, perSecond,
 *                                         bare, …}}, latency}) wins; without one, the newest in the older form
 *                                         (bench/render.ts BenchResult: bare, pipeline, bulk, video, videoExtra).
 *   docs/eval/<YYYY-MM-DD>-summary.json   `npm run eval -- --record` (bench/eval.ts); records kept before the JSON
 *                                         was, only as the summary.md that eval.ts renders, are read from its table.
 * Every row carries the machine and the date of its file and links the file. test/unit/figures.test.ts
 * re-renders the page and fails when the committed one differs (hand-edited, or not regenerated).
 */
import fs from 'node:fs';
import path from 'node:path';
import { benchArgs } from './args';
import type { EvaluationOutcome, Figure } from './eval';
import type { BenchResult } from './render';

const ROOT = path.resolve(__dirname, '..');
const DATED = /^(\d{4}-\d{2}-\d{2})-(.+)\.json$/;

/** One line of the headline table. `file` is relative to the repository root. */
export interface Headline {
  workload: string;
  figure: string;
  goal: string;
  met?: boolean;
  machine: string;
  date: string;
  file: string;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const f = (x: number | undefined, d = 1) => (x === undefined ? '–' : x.toFixed(d));

/**
 * Goals of the bench workloads (issue 27, the newest to set them; ratios are to bare inference of the same model
 * in the same run). Keyed by the ledger form's workload names and this file's names for the older form.
 */
export const BENCH_GOALS: Record<string, { ratio?: number; p50Ms?: number; p99Ms?: number; fps?: number }> = {
  'per-object': { ratio: 0.5 },
  bulk: { ratio: 0.9 },
  raster: { ratio: 0.8 },
  // issue 27: "one 4096² GeoTIFF, and 100 rasters by `lookout backfill`" share the raster goal
  'raster backfill': { ratio: 0.8 },
  'video-objects': { ratio: 0.9 },
  'video-cctv': { ratio: 0.6, fps: 10 },
  // the names npm run bench gives these workloads in its results file (bench/bench.ts)
  'video objects': { ratio: 0.9 },
  'video cctv-anomaly': { ratio: 0.6, fps: 10 },
  latency: { p50Ms: 100, p99Ms: 200 },
  serve: { p50Ms: 150 },
  stream: { p99Ms: 2000 },
};
const SOURCE = 'issue 27';

/** The machine as one short phrase, from either form: a string already, or {cpu, cores, memoryGb, loadavgAtStart}. */
export function machineText(m: unknown): string {
  if (typeof m === 'string') return m;
  if (!isObj(m)) return 'unknown machine';
  const cpu =
    typeof m.cpu === 'string'
      ? m.cpu
          .replace(/\(R\)|\(TM\)/g, '')
          .replace(/\s+Processor$/, '')
          .trim()
      : 'unknown CPU';
  // A run on a busy machine says so: its ratios compare with nothing measured on an idle one.
  const load =
    Array.isArray(m.loadavgAtStart) && typeof m.loadavgAtStart[0] === 'number'
      ? `load average ${m.loadavgAtStart[0]} at start`
      : '';
  return [
    cpu,
    num(m.cores) !== undefined ? `${m.cores} cores` : '',
    num(m.memoryGb) !== undefined ? `${m.memoryGb} GiB` : '',
    load,
  ]
    .filter(Boolean)
    .join(', ');
}

/** Dated result files in `dir`, newest first (by date, then name descending, so the choice is stable). */
function dated(dir: string, suffix: RegExp): Array<{ file: string; date: string }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((name) => ({ name, m: suffix.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map((x) => ({ file: path.join(dir, x.name), date: x.m[1] }))
    .sort((a, b) => (a.file < b.file ? 1 : a.file > b.file ? -1 : 0));
}

const isLedger = (j: unknown): j is Json & { workloads: Json } => isObj(j) && isObj(j.workloads);
const isOlder = (j: unknown): j is BenchResult =>
  isObj(j) && typeof j.bareLimitPerSecond === 'number' && Array.isArray(j.pipeline);

/**
 * The newest bench result: ledger form first, else the older form; undefined when there is none. Of the ledger-form
 * files of the newest date, the one with the most workloads (a whole run, not a `--raster-only` probe of that day).
 */
export function latestBench(dir: string): { file: string; date: string; json: Json } | undefined {
  const files = dated(dir, DATED).map((d) => ({ ...d, json: JSON.parse(fs.readFileSync(d.file, 'utf8')) as unknown }));
  const ledgers = files.filter((d): d is typeof d & { json: Json & { workloads: Json } } => isLedger(d.json));
  const newest = ledgers[0]?.date;
  const width = (d: (typeof ledgers)[number]) => Object.keys(d.json.workloads).length;
  const whole = ledgers
    .filter((d) => d.date === newest)
    .reduce<(typeof ledgers)[number] | undefined>(
      (best, d) => (best === undefined || width(d) > width(best) ? d : best),
      undefined,
    );
  const pick = whole ?? files.find((d) => isOlder(d.json));
  return (
    pick && {
      file: pick.file,
      date: isObj(pick.json) && typeof pick.json.date === 'string' ? pick.json.date.slice(0, 10) : pick.date,
      json: pick.json as Json,
    }
  );
}

const ratioGoal = (key: string, ratio: number | undefined) => {
  const g = BENCH_GOALS[key]?.ratio;
  return g === undefined
    ? { goal: '' }
    : { goal: `≥ ${g} × bare (${SOURCE})`, ...(ratio !== undefined ? { met: ratio >= g } : {}) };
};
const ms = (x: number) => (x >= 1000 ? `${x / 1000} s` : `${x} ms`);
const msGoal = (key: string, p50?: number, p99?: number) => {
  const g = BENCH_GOALS[key] ?? {};
  const parts = [
    g.p50Ms !== undefined ? `p50 ≤ ${ms(g.p50Ms)}` : '',
    g.p99Ms !== undefined ? `p99 ≤ ${ms(g.p99Ms)}` : '',
  ].filter(Boolean);
  if (!parts.length) return { goal: '' };
  const checks = [
    g.p50Ms !== undefined && p50 !== undefined ? p50 <= g.p50Ms : undefined,
    g.p99Ms !== undefined && p99 !== undefined ? p99 <= g.p99Ms : undefined,
  ].filter((x) => x !== undefined);
  return { goal: `${parts.join(', ')} (${SOURCE})`, ...(checks.length ? { met: checks.every(Boolean) } : {}) };
};

/** Headline rows of a bench result in the ledger form. */
function ledgerRows(j: Json): Array<Omit<Headline, 'machine' | 'date' | 'file'>> {
  const rows: Array<Omit<Headline, 'machine' | 'date' | 'file'>> = [];
  for (const [name, w] of Object.entries(j.workloads as Json)) {
    if (!isObj(w)) continue;
    const ratio = num(w.ratio);
    rows.push({
      workload: name,
      figure: `${f(num(w.perSecond))}/s, **${f(ratio, 3)}** × bare (${f(num(w.bare))}/s)`,
      ...ratioGoal(name, ratio),
    });
  }
  const lat = j.latency;
  if (
    isObj(lat) &&
    (num(lat.uploadToRowP50Ms ?? lat.p50Ms ?? lat.p50) !== undefined ||
      num(lat.uploadToRowP99Ms ?? lat.p99Ms ?? lat.p99) !== undefined)
  ) {
    const p50 = num(lat.uploadToRowP50Ms ?? lat.p50Ms ?? lat.p50);
    const p99 = num(lat.uploadToRowP99Ms ?? lat.p99Ms ?? lat.p99);
    rows.push({
      workload: 'upload → row at half load',
      figure: `p50 **${f(p50, 0)}** / p99 ${f(p99, 0)} ms`,
      ...msGoal('latency', p50, p99),
    });
  }
  if (isObj(lat) && num(lat.serveP50Ms) !== undefined) {
    const p50 = num(lat.serveP50Ms);
    rows.push({
      workload: 'frame API (`lookout serve`)',
      figure: `p50 **${f(p50, 0)}** / p99 ${f(num(lat.serveP99Ms), 0)} ms`,
      ...msGoal('serve', p50),
    });
  }
  if (isObj(lat) && num(lat.streamP99Ms) !== undefined) {
    const p50 = num(lat.streamP50Ms);
    const p99 = num(lat.streamP99Ms);
    rows.push({
      workload: 'live camera (`lookout stream`)',
      figure: `capture → row p50 ${f(p50 !== undefined ? p50 / 1000 : undefined)} / p99 **${f(p99 !== undefined ? p99 / 1000 : undefined)}** s`,
      ...msGoal('stream', p50, p99),
    });
  }
  return rows;
}

/** Headline rows of a bench result in the older form (bench/render.ts BenchResult plus video and videoExtra). */
function olderRows(j: BenchResult & Json): Array<Omit<Headline, 'machine' | 'date' | 'file'>> {
  const bare = j.bareLimitPerSecond;
  const rows: Array<Omit<Headline, 'machine' | 'date' | 'file'>> = [
    {
      workload: 'bare inference (NanoDet, batch ≤ 8)',
      figure: `${f(bare)} img/s`,
      goal: 'the reference for the ratios',
    },
  ];
  const sat = j.pipeline.find((p) => p.label === 'batching-on-saturation');
  if (sat)
    rows.push({
      workload: 'per-object images at saturation',
      figure: `${f(sat.perSecond)} obj/s, **${f(sat.perSecond / bare, 3)}** × bare`,
      ...ratioGoal('per-object', sat.perSecond / bare),
    });
  if (j.bulk.length) {
    const best = j.bulk.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    rows.push({
      workload: `bulk images (\`backfill --bulk\`, ${best.objects} objects)`,
      figure: `${f(best.perSecond)} obj/s, **${f(best.perSecond / bare, 3)}** × bare`,
      ...ratioGoal('bulk', best.perSecond / bare),
    });
  }
  const half = j.pipeline.find((p) => p.label === 'batching-on-half') as
    (BenchResult['pipeline'][number] & { recordP50?: number; recordP99?: number }) | undefined;
  if (half) {
    const p50 = half.recordP50 ?? half.e2eP50;
    const p99 = half.recordP99 ?? half.e2eP99;
    rows.push({
      workload: 'upload → row at half load',
      figure: `p50 **${f(p50, 0)}** / p99 ${f(p99, 0)} ms`,
      ...msGoal('latency', p50, p99),
    });
  }
  const video = Array.isArray(j.video) ? (j.video as Json[]) : [];
  for (const [pipeline, key] of [
    ['objects', 'video-objects'],
    ['cctv-anomaly', 'video-cctv'],
  ] as const) {
    const v = video.find((x) => x.pipeline === pipeline);
    const fps = num(v?.framesPerSecond);
    if (fps === undefined) continue;
    const r = ratioGoal(key, fps / bare);
    const camera = BENCH_GOALS[key].fps;
    rows.push({
      workload: `video, \`${pipeline}\` (vtest.avi, ${num(v?.frames) ?? '?'} frames)`,
      figure: `${f(fps)} frames/s, **${f(fps / bare, 3)}** × bare`,
      goal: [r.goal, camera !== undefined ? `≥ ${camera} frames/s (issue 12: a 10 fps camera)` : '']
        .filter(Boolean)
        .join('; '),
      met: camera !== undefined ? r.met !== false && fps >= camera : r.met,
    });
  }
  const extra = isObj(j.videoExtra) ? j.videoExtra : {};
  if (isObj(extra.serve)) {
    const p50 = num(extra.serve.p50Ms);
    const p99 = num(extra.serve.p99Ms);
    rows.push({
      workload: `frame API (\`lookout serve\`, ${num(extra.serve.requests) ?? '?'} requests one at a time)`,
      figure: `p50 **${f(p50, 0)}** / p99 ${f(p99, 0)} ms`,
      ...msGoal('serve', p50, p99),
    });
  }
  if (isObj(extra.stream)) {
    const p50 = num(extra.stream.p50Ms);
    const p99 = num(extra.stream.p99Ms);
    rows.push({
      workload: `live camera (\`lookout stream\`, ${num(extra.stream.seconds) ?? '?'} s, \`${String(extra.stream.pipeline)}\`)`,
      figure: `capture → row p50 ${f(p50 !== undefined ? p50 / 1000 : undefined)} / p99 **${f(p99 !== undefined ? p99 / 1000 : undefined)}** s`,
      ...msGoal('stream', p50, p99),
    });
  }
  return rows;
}

export function benchHeadlines(b: { file: string; date: string; json: Json }, root = ROOT): Headline[] {
  const where = { machine: machineText(b.json.machine), date: b.date, file: path.relative(root, b.file) };
  const rows = isLedger(b.json) ? ledgerRows(b.json) : olderRows(b.json as BenchResult & Json);
  return rows.map((r) => ({ ...r, ...where }));
}

/** An evaluation summary as bench/eval.ts writes it (summary.json). */
export interface EvalSummary {
  machine: string;
  quick: boolean;
  createdAt: string;
  outcomes: Array<Pick<EvaluationOutcome, 'name' | 'ok' | 'figures'> & { error?: string }>;
}

/**
 * Reads back the table of a summary.md that bench/eval.ts renderSummary wrote (records kept before summary.json
 * was): `| evaluation | figure | value | goal | met |` rows, the machine and the time from its "Machine: …" line.
 */
export function parseSummaryMarkdown(md: string): EvalSummary {
  const head = /Machine: (.+?)\. Written (\d{4}-\d{2}-\d{2}T[\d:.]+Z)\./.exec(md);
  if (!head) throw new Error('not a summary written by bench/eval.ts: no "Machine: … Written …." line');
  const outcomes: EvalSummary['outcomes'] = [];
  for (const line of md.split('\n')) {
    // renderSummary writes the cells unescaped and never with a '|' inside
    const cells =
      line.startsWith('|') && line.endsWith('|')
        ? line
            .slice(1, -1)
            .split('|')
            .map((c) => c.trim())
        : [];
    if (cells.length !== 5 || cells[0] === 'evaluation' || /^[-:]+$/.test(cells[0])) continue;
    const [name, label, value, goal, met] = cells;
    let o = outcomes.find((x) => x.name === name);
    if (!o) outcomes.push((o = { name, ok: true, figures: [] }));
    if (label.startsWith('**failed**')) {
      o.ok = false;
      o.error = label.replace(/^\*\*failed\*\*:\s*/, '');
      continue;
    }
    const g = /^(>=|<=) ([\d.]+) \((.+)\)$/.exec(goal);
    const fig: Figure = { label, value: value === 'n/a' ? null : Number(value) };
    if (g) fig.goal = { op: g[1] as '>=' | '<=', value: Number(g[2]), source: g[3] };
    if (met) fig.met = met === 'yes';
    o.figures.push(fig);
  }
  if (!outcomes.length) throw new Error('summary.md holds no figure rows');
  return { machine: head[1], quick: /QUICK/.test(md.split('\n')[0]), createdAt: head[2], outcomes };
}

/** The newest evaluation summary in `dir`: `<date>-summary.json`, else `<date>-summary.md`. */
export function latestEval(dir: string): { file: string; date: string; summary: EvalSummary } | undefined {
  const files = dated(dir, /^(\d{4}-\d{2}-\d{2})-summary\.(json|md)$/);
  const newest = files[0]?.date;
  const pick = files.find((x) => x.date === newest && x.file.endsWith('.json')) ?? files[0];
  if (!pick) return undefined;
  const text = fs.readFileSync(pick.file, 'utf8');
  return {
    file: pick.file,
    date: pick.date,
    summary: pick.file.endsWith('.json') ? (JSON.parse(text) as EvalSummary) : parseSummaryMarkdown(text),
  };
}

/** A short machine phrase from eval.ts's machine line ("AMD EPYC, 2 cores, 24 GiB RAM, linux …"). */
const shortEvalMachine = (m: string) => m.split(', ').slice(0, 3).join(', ').replace(/ RAM$/, '');
const goalText = (g: NonNullable<Figure['goal']>) => `${g.op === '>=' ? '≥' : '≤'} ${g.value} (${g.source})`;

export function evalHeadlines(e: { file: string; date: string; summary: EvalSummary }, root = ROOT): Headline[] {
  const where = { machine: shortEvalMachine(e.summary.machine), date: e.date, file: path.relative(root, e.file) };
  return e.summary.outcomes.flatMap((o) =>
    o.ok
      ? o.figures
          .filter((x) => x.goal)
          .map((x) => ({
            workload: `${o.name}: ${x.label}`,
            figure: `**${x.value === null ? 'n/a' : x.value.toFixed(3)}**`,
            goal: goalText(x.goal!),
            ...(x.met !== undefined ? { met: x.met } : {}),
            ...where,
          }))
      : [{ workload: o.name, figure: `**failed**: ${o.error ?? 'no figures'}`, goal: '', ...where }],
  );
}

const cell = (s: string) => s.replace(/\|/g, '\\|');
/** A link from docs/figures.md to a file given relative to the repository root. */
const link = (file: string) =>
  `[${path.basename(file)}](${path.posix.relative('docs', file.split(path.sep).join('/'))})`;
const metText = (m: boolean | undefined) => (m === undefined ? '' : m ? 'yes' : '**no**');

/** The episode-level CCTV evaluation (bench/eval-cctv-attributes.ts --split test) and its split's read count. */
const CCTV_RESULTS = path.join('docs', 'eval', 'cctv-attributes', 'results.json');
const CCTV_READS = path.join('docs', 'eval', 'cctv-attributes', 'split-reads.json');

interface CctvResults {
  command?: string;
  machine: string;
  createdAt: string;
  split: string;
  ranges: { seed: number };
  auc: Record<string, { auc: number | null }>;
  normalFramesFlagged: { new: number; of: number };
  alertEpisodes: {
    overall: {
      anomalyEpisodes: number;
      caught: number;
      caughtShare: number;
      medianTimeToAlertS: number | null;
      falseAlerts: number;
      normalSeconds: number;
      falseAlertsPer10Min: number;
    };
  };
}

/** Lines of docs/figures.md for the CCTV alert figures (issue 29); none when the result file is absent. */
export function cctvAlertSection(root: string): string[] {
  const file = path.join(root, CCTV_RESULTS);
  if (!fs.existsSync(file)) return [];
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as CctvResults;
  const readsFile = path.join(root, CCTV_READS);
  const sets = fs.existsSync(readsFile)
    ? (JSON.parse(fs.readFileSync(readsFile, 'utf8')) as { sets: Record<string, Record<string, { reads: number }>> })
        .sets
    : {};
  const set = Object.entries(sets).find(([k]) => k.startsWith(`seed ${r.ranges.seed},`));
  const reads = set?.[1][r.split]?.reads;
  const o = r.alertEpisodes.overall;
  const row = (what: string, value: string, goal: string, met: boolean) =>
    `| ${cell(what)} | ${value} | ${cell(goal)} | ${metText(met)} |`;
  const kinds = Object.entries(r.auc).filter(([k]) => k !== 'overall');
  const overall = r.auc.overall?.auc ?? null;
  return [
    '',
    `## CCTV alerts (issue 29): the constructed set's ${r.split} split, episode level`,
    '',
    `From ${link(path.join(CCTV_RESULTS))} (\`${cell(r.command ?? 'bench/eval-cctv-attributes.ts')}\`; ${r.machine}; ` +
      `${r.createdAt.slice(0, 10)}). The set is constructed from vtest.avi (seed ${r.ranges.seed}); its ${r.split} split ` +
      `has been read ${reads === undefined ? 'an unknown number of times' : reads === 1 ? 'once' : `${reads} times`} (${link(CCTV_READS)}).`,
    '',
    '| figure | value | goal | met |',
    '|---|---:|---|---|',
    row(
      'anomaly episodes caught',
      `${o.caught}/${o.anomalyEpisodes} (${(o.caughtShare * 100).toFixed(0)} %)`,
      '≥ 90 % (issue 29)',
      o.caughtShare >= 0.9,
    ),
    row(
      'median time from episode start to alert',
      o.medianTimeToAlertS === null ? 'n/a' : `${o.medianTimeToAlertS} s`,
      '≤ 2 s (issue 29)',
      o.medianTimeToAlertS !== null && o.medianTimeToAlertS <= 2,
    ),
    row(
      `false alerts per 10 min of normal footage (${o.falseAlerts} in ${o.normalSeconds} s)`,
      o.falseAlertsPer10Min.toFixed(1),
      '≤ 1 (issue 29)',
      o.falseAlertsPer10Min <= 1,
    ),
    row(
      'frame AUC, all kinds',
      overall === null ? 'n/a' : overall.toFixed(3),
      '≥ 0.9 (issue 29)',
      (overall ?? 0) >= 0.9,
    ),
    row(
      `normal frames flagged (of ${r.normalFramesFlagged.of})`,
      r.normalFramesFlagged.new.toFixed(3),
      '≤ 0.05 (issue 29)',
      r.normalFramesFlagged.new <= 0.05,
    ),
    ...kinds.map(([k, v]) =>
      row(`frame AUC, ${k}`, v.auc === null ? 'n/a' : v.auc.toFixed(3), '≥ 0.85 (issue 29)', (v.auc ?? 0) >= 0.85),
    ),
  ];
}

/** docs/figures.md from the result files under `root` (benchmarks/, docs/eval/). */
export function renderFigures(root: string): string {
  const bench = latestBench(path.join(root, 'benchmarks'));
  const ev = latestEval(path.join(root, 'docs', 'eval'));
  const rows = [...(bench ? benchHeadlines(bench, root) : []), ...(ev ? evalHeadlines(ev, root) : [])];
  const out = [
    '# Figures',
    '',
    '<!-- Generated by `npm run docs:figures` (bench/figures.ts) from the newest result files; do not edit by hand:',
    '     test/unit/figures.test.ts fails when this page differs from a fresh rendering. -->',
    '',
    'The headline figures of the newest `npm run bench` result (`benchmarks/<date>-<name>.json`) and the newest',
    '`npm run eval` summary (`docs/eval/<date>-summary.*`), each with the machine and the date of its run and the file',
    'it comes from. Ratios are to bare inference of the same model in the same run; a goal that is not met is a finding,',
    'not a failed run. Figures from different machines are not comparable: compare ratios, not speeds. Earlier runs,',
    'and what each showed: [measured.md](measured.md).',
    '',
    '| workload | figure | goal | met | machine | date | source |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${cell(r.workload)} | ${cell(r.figure)} | ${cell(r.goal)} | ${metText(r.met)} | ${cell(r.machine)} | ${r.date} | ${link(r.file)} |`,
    ),
  ];
  out.push(...cctvAlertSection(root));
  if (!bench)
    out.push('', 'No bench result found in `benchmarks/`: run `npm run bench -- --out benchmarks/<date>-<name>.json`.');
  if (!ev) out.push('', 'No evaluation summary found in `docs/eval/`: run `npm run eval -- --record`.');
  if (ev?.summary.quick)
    out.push('', '**The evaluation summary is a QUICK run**: its figures are not comparable with a full run.');
  if (ev) {
    out.push(
      '',
      `Every figure of that evaluation summary (${ev.summary.machine}; written ${ev.summary.createdAt}):`,
      '',
      '| evaluation | figure | value | goal | met |',
      '|---|---|---:|---|---|',
    );
    for (const o of ev.summary.outcomes)
      for (const x of o.figures)
        out.push(
          `| ${o.name} | ${cell(x.label)} | ${x.value === null ? 'n/a' : x.value.toFixed(3)} | ${x.goal ? cell(goalText(x.goal)) : ''} | ${metText(x.met)} |`,
        );
  }
  return out.join('\n') + '\n';
}

const USAGE = `Usage: npm run docs:figures [-- --check] [--json]

Writes docs/figures.md from the newest bench result (benchmarks/<date>-<name>.json) and the newest evaluation
summary (docs/eval/<date>-summary.json, or .md), with the machine and date of each.
  --check   write nothing; exit 1 when docs/figures.md differs from a fresh rendering
  --json    print the headline rows as JSON instead of writing the page
Exit code: 0 written (or up to date), 1 out of date with --check or a result file unreadable, 2 bad arguments.`;

function main(): number {
  const args = benchArgs(
    { check: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
    USAGE,
  );
  const target = path.join(ROOT, 'docs', 'figures.md');
  if (args.json) {
    const bench = latestBench(path.join(ROOT, 'benchmarks'));
    const ev = latestEval(path.join(ROOT, 'docs', 'eval'));
    console.log(JSON.stringify([...(bench ? benchHeadlines(bench) : []), ...(ev ? evalHeadlines(ev) : [])], null, 2));
    return 0;
  }
  const page = renderFigures(ROOT);
  const now = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (args.check) {
    if (now === page) return 0;
    console.error('docs/figures.md is out of date: run `npm run docs:figures`');
    return 1;
  }
  if (now !== page) fs.writeFileSync(target, page);
  console.log(now === page ? 'docs/figures.md: up to date' : 'docs/figures.md: written');
  return 0;
}

if (require.main === module) {
  try {
    process.exit(main());
  } catch (err) {
    console.error(`docs:figures: ${(err as Error).message}`);
    process.exit(1);
  }
}
