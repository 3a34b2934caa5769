/**
 * `npm run eval` (bench/eval.ts): the aggregate of every quality evaluation. Checks the summary logic on
 * small result objects, the CLI's refusals, a failing evaluation reported as failed (exit 1, the others still
 * summarised), and one real reduced run — the detector evaluation on the hand-counted vtest.avi frames —
 * whose summary must carry the figures the detector evaluation itself printed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EVALUATIONS,
  renderSummary,
  runEvaluation,
  summariseCctvAttributes,
  summariseDetector,
  summariseOnlineNormal,
  summariseRaster,
  withGoal,
} from '../../bench/eval';

const ROOT = path.resolve(__dirname, '../..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'bench', 'eval.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });

describe('summaries', () => {
  it('compares a figure with its goal in the goal direction, and leaves a missing figure undecided', () => {
    expect(withGoal('auc', 0.9, '>=', 0.9, 'x').met).toBe(true);
    expect(withGoal('auc', 0.89, '>=', 0.9, 'x').met).toBe(false);
    expect(withGoal('flagged', 0.06, '<=', 0.05, 'x').met).toBe(false);
    expect(withGoal('flagged', 0.05, '<=', 0.05, 'x').met).toBe(true);
    expect(withGoal('flagged', null, '<=', 0.05, 'x').met).toBeUndefined();
  });

  it('reads the anomaly evaluation: overall AUC and normal frames flagged against the goals, every kind, the baseline', () => {
    const figures = summariseCctvAttributes({
      auc: { running: { auc: 0.7 }, loitering: { auc: 0.95 }, overall: { auc: 0.82, baseline: { auc: 0.58 } } },
      normalFramesFlagged: { new: 0.2, baseline: 0.1 },
    });
    const by = Object.fromEntries(figures.map((f) => [f.label, f]));
    expect(by['frame AUC, all kinds (cctv-attributes)']).toMatchObject({ value: 0.82, met: false });
    expect(by['normal frames flagged at the default threshold']).toMatchObject({ value: 0.2, met: false });
    expect(by['frame AUC, running'].value).toBe(0.7);
    expect(by['frame AUC, loitering'].value).toBe(0.95);
    expect(by['baseline cctv-ocae, same frames and boxes: frame AUC'].value).toBe(0.58);
    expect(() => summariseCctvAttributes({})).toThrow(/no auc/);
  });

  it('summarises learning normal online: static and refitted false alerts, the refitted one against the goal', () => {
    const figures = summariseOnlineNormal({
      falseAlertsPer10Min: {
        static: { all: 5, lastLoop: 5 },
        dismiss: { all: 0.8, lastLoop: 0 },
        unjudged: { all: 3, lastLoop: 2 },
      },
    });
    expect(figures.map((f) => f.value)).toEqual([5, 0.8, 3, 5, 0]);
    expect(figures[1]).toMatchObject({ met: true, goal: { op: '<=', value: 1 } });
    expect(() => summariseOnlineNormal({})).toThrow(/falseAlertsPer10Min/);
  });

  it('puts the alert-episode figures first, each against the goal of issue 29', () => {
    const figures = summariseCctvAttributes({
      auc: { running: { auc: 0.9 }, overall: { auc: 0.92 } },
      normalFramesFlagged: { new: 0.01 },
      alertEpisodes: {
        overall: { falseAlertsPer10Min: 1.5, normalSeconds: 59, caughtShare: 0.92, medianTimeToAlertS: 0.6 },
      },
    });
    expect(figures.slice(0, 3).map((f) => [f.value, f.met])).toEqual([
      [1.5, false],
      [0.92, true],
      [0.6, true],
    ]);
    expect(figures[0].label).toMatch(/false alerts per 10 min .*59 s/);
    expect(figures.find((f) => f.label === 'frame AUC, running')).toMatchObject({
      met: true,
      goal: { op: '>=', value: 0.85 },
    });
  });

  it("reads the detector row of the anomaly pipeline's profile, not another option's", () => {
    const row = (name: string, r: number) => ({
      name,
      person: { choose: { recall: r }, holdout: { recall: r, precision: 1 } },
      vehicle: { holdout: { recall: 1, precision: 0.7 } },
    });
    const figures = summariseDetector({ results: [row('baseline', 0.5), row('profile:cctv-anomaly', 0.92)] });
    expect(figures[0]).toMatchObject({ value: 0.92, met: true });
    expect(figures.find((f) => f.label.startsWith('vehicle precision'))!.value).toBe(0.7);
    expect(() => summariseDetector({ results: [row('baseline', 0.5)] })).toThrow(/profile:cctv-anomaly/);
  });
});

describe('running evaluations', () => {
  it('reports an evaluation whose script fails as failed, with the exit code, and one whose results are unreadable', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-eval-'));
    const failing = {
      name: 'fails',
      what: 'exits 3',
      steps: () => [['bash', '-c', 'echo partial; exit 3']],
      results: 'stdout',
      summarise: () => [],
    };
    const o = await runEvaluation(failing, true, out, () => {});
    expect(o.ok).toBe(false);
    expect(o.error).toMatch(/exited 3/);
    expect(fs.readFileSync(path.join(out, 'fails', 'step-1.stdout'), 'utf8')).toBe('partial\n');
    const garbled = {
      ...failing,
      name: 'garbled',
      steps: () => [['bash', '-c', 'echo not-json']],
      summarise: summariseDetector,
    };
    const g = await runEvaluation(garbled, true, out, () => {});
    expect(g).toMatchObject({ ok: false });
    expect(g.error).toMatch(/results unreadable/);
    expect(renderSummary({ machine: 'm', quick: true, createdAt: 'now', outcomes: [o, g] })).toMatch(
      /QUICK[\s\S]*\| fails \| \*\*failed\*\*: .*exited 3/,
    );
  });

  it('refuses unknown options and evaluations with exit 2, lists the evaluations, prints help', () => {
    const bad = run('--only', 'detector,nope');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown evaluation\(s\) nope/);
    expect(run('--bogus').status).toBe(2);
    const list = run('--list');
    expect(list.status).toBe(0);
    for (const e of EVALUATIONS) expect(list.stdout).toContain(e.name);
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: npm run eval/);
  });

  it(
    'runs the detector evaluation for real (reduced) and summarises the figures it printed',
    { timeout: 180_000 },
    () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-eval-'));
      const res = run('--quick', '--only', 'detector', '--out', out, '--json');
      expect(res.status, res.stderr.slice(-2000)).toBe(0);
      const summary = JSON.parse(res.stdout);
      expect(summary.quick).toBe(true);
      expect(summary.outcomes).toHaveLength(1);
      const [o] = summary.outcomes;
      expect(o).toMatchObject({ name: 'detector', ok: true });
      // The detector evaluation's own JSON is kept; the summary must repeat its row for the pipeline's profile.
      const own = JSON.parse(fs.readFileSync(path.join(out, 'detector', 'step-1.stdout'), 'utf8'));
      const row = own.results.find((r: { name: string }) => r.name === 'profile:cctv-anomaly');
      expect(o.figures[0].value).toBe(row.person.holdout.recall);
      expect(o.figures[1].value).toBe(row.person.holdout.precision);
      // The figures are derived, not pinned (a better detector must not fail this): the truth counts are the
      // hand-drawn boxes of the held-out frames, recall and precision follow from the matched counts, and the
      // summary line states the recall with its goal and a "met" that follows from the value.
      const gt = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench', 'eval-cctv-groundtruth.json'), 'utf8'))
        .frames as Record<string, { split?: string; people: unknown[]; vehicles?: unknown[] }>;
      const holdout = Object.values(gt).filter((f) => (f.split ?? 'choose') === 'holdout');
      const { person, vehicle } = row;
      expect(person.holdout.truth).toBe(holdout.reduce((n, f) => n + f.people.length, 0));
      expect(vehicle.holdout.truth).toBe(holdout.reduce((n, f) => n + (f.vehicles?.length ?? 0), 0));
      for (const c of [person.holdout, vehicle.holdout]) {
        expect(c.tp).toBeGreaterThan(0);
        expect(c.tp).toBeLessThanOrEqual(Math.min(c.truth, c.boxes));
        expect(c.recall).toBeCloseTo(c.tp / c.truth, 3);
        expect(c.precision).toBeCloseTo(c.tp / c.boxes, 3);
      }
      const recall = person.holdout.recall as number;
      const summaryMd = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
      expect(summaryMd).toContain(
        `| detector | person recall, held-out frames (profile cctv-anomaly) | ${recall.toFixed(3)} | >= 0.9 (issue 11) | ${recall >= 0.9 ? 'yes' : '**no**'} |`,
      );
      expect(fs.existsSync(path.join(out, 'detector', 'detector.md'))).toBe(true);
    },
  );
});

describe('raster summary', () => {
  it('reports the mean over constructions (as the README) and the pooled AUC, per kind', () => {
    const figures = summariseRaster({
      aucMeanOverConstructions: { burn: { constructions: 18, spectral: 0.939, deep: 0.929, fusedRanks: 0.966 } },
      aucPooledPerKind: { burn: { auc: { spectral: 0.748, deep: 0.824, fusedRanks: 0.819 } } },
    });
    expect(figures.map((f) => f.value)).toEqual([0.939, 0.929, 0.966, 0.819]);
    expect(figures[0].label).toMatch(/burn, mean over 18 constructions: spectral/);
    expect(() => summariseRaster({ aucPooledPerKind: {} })).toThrow(/aucMeanOverConstructions/);
  });
});
