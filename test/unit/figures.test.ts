/**
 * docs/figures.md is generated (bench/figures.ts, `npm run docs:figures`) from the newest result files: the committed
 * page must equal a fresh rendering, and the renderer must pick the right files in both result forms.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSummary } from '../../bench/eval';
import {
  cctvAlertSection,
  latestBench,
  latestEval,
  machineText,
  parseSummaryMarkdown,
  renderFigures,
  type EvalSummary,
} from '../../bench/figures';

const ROOT = path.resolve(__dirname, '..', '..');

/** A repository-shaped folder with the given files (paths relative to it). */
function tree(files: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-figures-'));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

const older = (bare: number, perSecond: number, cpu = 'AMD EPYC') => ({
  machine: { cpu, cores: 2, memoryGb: 24, platform: 'linux', node: 'v20', onnxruntime: '1.30.0' },
  bare: [],
  bareLimitPerSecond: bare,
  pipeline: [
    {
      label: 'batching-on-saturation',
      objects: 60,
      rows: 60,
      failed: 0,
      offeredRate: 0,
      perSecond,
      e2eP50: 5000,
      e2eP99: 7000,
      pipelineP50: 1,
      inferenceP50: 1,
      meanDetectBatch: 1,
    },
    {
      label: 'batching-on-half',
      objects: 30,
      rows: 30,
      failed: 0,
      offeredRate: 1,
      perSecond: 1,
      e2eP50: 150,
      e2eP99: 250,
      pipelineP50: 1,
      inferenceP50: 1,
      meanDetectBatch: 1,
      recordP50: 90,
      recordP99: 190,
    },
  ],
  bulk: [],
  ratioPipelineToBare: perSecond / bare,
  ratioBulkToBare: null,
  peakMemoryMb: {},
});

const summary: EvalSummary = {
  machine: 'Intel Xeon, 2 cores, 24 GiB RAM, linux 6.1, Node v20, onnxruntime-node 1.30.0, load average 0.5 at start',
  quick: false,
  createdAt: '2026-12-05T10:00:00.000Z',
  outcomes: [
    {
      name: 'detector',
      ok: true,
      figures: [
        {
          label: 'person recall, held-out frames',
          value: 0.912,
          goal: { op: '>=', value: 0.9, source: 'issue 11' },
          met: true,
        },
        { label: 'vehicle recall, held-out frames', value: null },
      ],
    },
    { name: 'raster', ok: false, error: 'bench/eval-raster.ts exited 3', figures: [] },
  ],
};

describe('docs/figures.md', () => {
  it('is what `npm run docs:figures` renders from the committed result files (not hand-edited, not stale)', () => {
    const committed = fs.readFileSync(path.join(ROOT, 'docs', 'figures.md'), 'utf8');
    expect(committed, 'docs/figures.md differs from a fresh rendering: run `npm run docs:figures`').toBe(
      renderFigures(ROOT),
    );
  });
});

describe('bench result choice', () => {
  it('takes the newest file in the ledger form over a newer file in the older form, with its own date and machine', () => {
    const dir = tree({
      'benchmarks/2026-12-10-amd-epyc.json': {
        date: '2026-12-09T23:50:00Z',
        machine: 'AMD EPYC 9B14, 2 cores, 24 GiB',
        commit: 'abc1234',
        workloads: {
          bulk: { ratio: 0.91, perSecond: 27.3, bare: 30 },
          'per-object': { ratio: 0.31, perSecond: 9.3, bare: 30 },
        },
        latency: { p50Ms: 95, p99Ms: 210 },
      },
      'benchmarks/2026-12-11-quick.json': older(25, 7),
      'benchmarks/2026-12-01-amd-epyc.json': {
        date: '2026-12-01',
        machine: 'old',
        workloads: { bulk: { ratio: 0.5, perSecond: 1, bare: 2 } },
      },
      // a one-workload probe of the same day (bench --raster-only) sorts first by name but is not the day's whole run
      'benchmarks/2026-12-10-zz-raster-only.json': {
        date: '2026-12-10',
        machine: 'probe',
        workloads: { raster: { ratio: 0.4, perSecond: 10, bare: 25 } },
      },
    });
    const b = latestBench(path.join(dir, 'benchmarks'))!;
    expect(path.basename(b.file)).toBe('2026-12-10-amd-epyc.json');
    expect(b.date).toBe('2026-12-09');
    const page = renderFigures(dir);
    expect(page).toMatch(
      /\| bulk \| 27\.3\/s, \*\*0\.910\*\* × bare \(30\.0\/s\) \| ≥ 0\.9 × bare \(issue 27\) \| yes \| AMD EPYC 9B14, 2 cores, 24 GiB \| 2026-12-09 \| \[2026-12-10-amd-epyc\.json\]\(\.\.\/benchmarks\/2026-12-10-amd-epyc\.json\) \|/,
    );
    expect(page).toMatch(/\| per-object \| .*\*\*0\.310\*\* .* \| \*\*no\*\* \|/);
    expect(page).toMatch(
      /\| upload → row at half load \| p50 \*\*95\*\* \/ p99 210 ms \| p50 ≤ 100 ms, p99 ≤ 200 ms \(issue 27\) \| \*\*no\*\* \|/,
    );
    expect(page).not.toContain('2026-12-11-quick.json');
  });

  it('falls back to the newest file in the older form, skipping result files of other kinds (chaos, scale)', () => {
    const dir = tree({
      'benchmarks/2026-12-03-quick.json': older(24.8, 7.3),
      'benchmarks/2026-12-02-video.json': older(16.2, 4, 'Intel(R) Xeon(R) Processor'),
      'benchmarks/2026-12-04-chaos-full.json': { machine: 'x', objects: 10, results: [] },
      'benchmarks/notes.json': older(1, 1),
    });
    expect(path.basename(latestBench(path.join(dir, 'benchmarks'))!.file)).toBe('2026-12-03-quick.json');
    const page = renderFigures(dir);
    expect(page).toMatch(
      /\| per-object images at saturation \| 7\.3 obj\/s, \*\*0\.294\*\* × bare \| ≥ 0\.5 × bare \(issue 27\) \| \*\*no\*\* \| AMD EPYC, 2 cores, 24 GiB \| 2026-12-03 \|/,
    );
    // upload → row is the row's recordP50 (toRecord), not e2e, when the result has it
    expect(page).toMatch(/\| upload → row at half load \| p50 \*\*90\*\* \/ p99 190 ms \| .* \| yes \|/);
  });

  it('says so when there is no result at all', () => {
    const page = renderFigures(tree({ 'benchmarks/README.md': '#', 'docs/eval/detector.md': '#' }));
    expect(page).toContain('No bench result found');
    expect(page).toContain('No evaluation summary found');
  });
});

describe('evaluation summary choice', () => {
  it('reads back a summary.md that eval.ts rendered: the same figures, goals, machine and time', () => {
    const parsed = parseSummaryMarkdown(
      'Some words kept by hand above.\n\n' +
        renderSummary({
          ...summary,
          outcomes: summary.outcomes.map((o) => ({ ...o, what: o.name, seconds: 1, out: '.lookout' })),
        }),
    );
    expect(parsed.machine).toBe(summary.machine);
    expect(parsed.createdAt).toBe(summary.createdAt);
    expect(parsed.outcomes).toEqual(summary.outcomes);
  });

  it('refuses a Markdown file that eval.ts did not write', () => {
    expect(() => parseSummaryMarkdown('# Notes\n\n| a | b |\n')).toThrow(/not a summary written by bench\/eval\.ts/);
  });

  it('prefers the newest date, and the JSON over the Markdown of the same date', () => {
    const md = renderSummary({ ...summary, createdAt: '2026-12-03T00:00:00.000Z', outcomes: [] });
    const dir = tree({
      'docs/eval/2026-12-03-summary.md': md.replace(
        '| evaluation |',
        '| detector | person recall, held-out frames | 0.500 | >= 0.9 (issue 11) | **no** |\n| evaluation |',
      ),
      'docs/eval/2026-12-05-summary.json': summary,
      'docs/eval/2026-12-05-summary.md': '# not parsed',
    });
    const e = latestEval(path.join(dir, 'docs', 'eval'))!;
    expect(path.basename(e.file)).toBe('2026-12-05-summary.json');
    const page = renderFigures(dir);
    expect(page).toMatch(
      /\| detector: person recall, held-out frames \| \*\*0\.912\*\* \| ≥ 0\.9 \(issue 11\) \| yes \| Intel Xeon, 2 cores, 24 GiB \| 2026-12-05 \| \[2026-12-05-summary\.json\]\(eval\/2026-12-05-summary\.json\) \|/,
    );
    expect(page).toMatch(/\| raster \| \*\*failed\*\*: bench\/eval-raster\.ts exited 3 \|/);
  });
});

describe('npm run docs:figures', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'bench', 'figures.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });

  it('--help exits 0, a bad option 2, --check 0 on the committed page', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: npm run docs:figures/);
    expect(run('--bogus').status).toBe(2);
    const check = run('--check');
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});

describe('machine text', () => {
  it('names the CPU, cores, memory and, for a run that recorded it, the load average at its start', () => {
    expect(machineText({ cpu: 'AMD EPYC 9B14 Processor', cores: 2, memoryGb: 24 })).toBe(
      'AMD EPYC 9B14, 2 cores, 24 GiB',
    );
    expect(machineText({ cpu: 'AMD EPYC', cores: 2, memoryGb: 24, loadavgAtStart: [12.39, 12.61, 10.36] })).toBe(
      'AMD EPYC, 2 cores, 24 GiB, load average 12.39 at start',
    );
    expect(machineText('a string stays')).toBe('a string stays');
  });
});

describe('CCTV alert section', () => {
  it('renders the episode figures against their goals with the split read count, and nothing without a result file', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'figures-cctv-'));
    expect(cctvAlertSection(root)).toEqual([]);
    const dir = path.join(root, 'docs', 'eval', 'cctv-attributes');
    fs.mkdirSync(dir, { recursive: true });
    const overall = { anomalyEpisodes: 10, caught: 9, caughtShare: 0.9, medianTimeToAlertS: 2.5 };
    fs.writeFileSync(
      path.join(dir, 'results.json'),
      JSON.stringify({
        machine: 'M',
        createdAt: '2026-01-02T00:00:00Z',
        split: 'test',
        ranges: { seed: 7 },
        auc: { overall: { auc: 0.91 }, running: { auc: 0.84 } },
        normalFramesFlagged: { new: 0.05, of: 100 },
        alertEpisodes: { overall: { ...overall, falseAlerts: 1, normalSeconds: 600, falseAlertsPer10Min: 1 } },
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'split-reads.json'),
      JSON.stringify({
        sets: { 'seed 7, kinds running': { test: { reads: 3 } }, 'seed 70, kinds x': { test: { reads: 9 } } },
      }),
    );
    const md = cctvAlertSection(root).join('\n');
    expect(md).toContain('read 3 times');
    expect(md).toContain('| anomaly episodes caught | 9/10 (90 %) | ≥ 90 % (issue 29) | yes |');
    expect(md).toContain('| median time from episode start to alert | 2.5 s | ≤ 2 s (issue 29) | **no** |');
    expect(md).toContain('| false alerts per 10 min of normal footage (1 in 600 s) | 1.0 | ≤ 1 (issue 29) | yes |');
    expect(md).toContain('| frame AUC, all kinds | 0.910 | ≥ 0.9 (issue 29) | yes |');
    expect(md).toContain('| normal frames flagged (of 100) | 0.050 | ≤ 0.05 (issue 29) | yes |');
    expect(md).toContain('| frame AUC, running | 0.840 | ≥ 0.85 (issue 29) | **no** |');
    expect(md).not.toContain('frame AUC, overall');
  });
});
