/** The bench's per-hop breakdown, --vs comparison and CPU-profile summary (pure functions; the bench itself runs the stack). */
import { describe, expect, it } from 'vitest';
import { compareResults, formatHops, hopBreakdown, rowHops } from '../../bench/hops';
import { packageOf, summarise } from '../../bench/profile-summary';

const row = {
  published: 250,
  dispatched: 255,
  workflowStarted: 330,
  recorded: 700,
  stages: {
    detect: { scheduled: 400, started: 480, completed: 550 },
    extract: { scheduled: 550, started: 550, completed: 560 },
    score: { scheduled: 560, started: 560, completed: 561 },
  },
};

describe('rowHops', () => {
  it('splits upload -> row into consecutive hops that add up to it', () => {
    const h = rowHops(row);
    expect(h).toMatchObject({
      event: 250,
      dispatch: 5,
      workflowStart: 75,
      'detect.sched': 70,
      'detect.queue': 80,
      'detect.run': 70,
      'extract.sched': 0,
      'extract.run': 10,
      'score.run': 1,
      record: 139,
      toRecord: 700,
    });
    const parts = Object.entries(h)
      .filter(([k]) => k !== 'toRecord')
      .reduce((a, [, v]) => a + (v as number), 0);
    expect(parts).toBe(h.toRecord);
  });

  it('leaves out hops whose ends are unknown (a stage that did not run)', () => {
    const h = rowHops({ ...row, published: null, stages: { detect: row.stages.detect } });
    expect(h.event).toBeUndefined();
    expect(h.dispatch).toBeUndefined();
    expect(h['extract.run']).toBeUndefined();
    expect(h.record).toBe(150);
  });
});

describe('hopBreakdown and --vs', () => {
  it('gives percentiles per hop and lines beside an earlier breakdown', () => {
    const b = hopBreakdown([row, { ...row, recorded: 900 }]);
    expect(b.toRecord).toMatchObject({ n: 2, p50: 700, p99: 900, mean: 800 });
    const lines = formatHops(b, { toRecord: { n: 1, p50: 1200, p99: 2000, mean: 1300 } });
    expect(lines[0]).toContain('before p50');
    expect(lines[lines.length - 1]).toMatch(/^toRecord\s+700\.0\s+900\.0\s+800\.0\s+1200\.0\s+2000\.0$/);
  });

  it('compares headline figures, saying which moved the right way', () => {
    const before = {
      bareLimitPerSecond: 20,
      pipeline: [{ label: 'on-half', perSecond: 1, e2eP50: 1000, e2eP99: 2000, recordP50: 1200, recordP99: 2100 }],
      ratioPipelineToBare: 0.05,
      ratioBulkToBare: null,
    };
    const now = {
      bareLimitPerSecond: 20,
      pipeline: [{ label: 'on-half', perSecond: 1, e2eP50: 400, e2eP99: 2500, recordP50: 450, recordP99: 900 }],
      ratioPipelineToBare: 0.1,
      ratioBulkToBare: null,
    };
    const c = compareResults(now, before);
    expect(c.find((x) => x.label === 'on-half e2e p50 ms')).toMatchObject({ before: 1000, now: 400, better: true });
    expect(c.find((x) => x.label === 'on-half e2e p99 ms')).toMatchObject({ better: false });
    expect(c.find((x) => x.label === 'ratio pipeline/bare')).toMatchObject({ change: 1, better: true });
    expect(c.find((x) => x.label === 'ratio bulk/bare')).toBeUndefined();
  });
});

describe('profile summary', () => {
  it('counts self time per package and function', () => {
    expect(packageOf('file:///x/node_modules/@temporalio/worker/lib/a.js', 'f')).toBe('@temporalio/worker');
    expect(packageOf('file:///x/lookout/activities/index.ts', 'f')).toBe('lookout/activities');
    expect(packageOf('', '(garbage collector)')).toBe('(garbage collector)');
    const p = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3] },
        {
          id: 2,
          callFrame: { functionName: 'run', url: 'file:///x/node_modules/onnxruntime-node/dist/a.js', lineNumber: 9 },
        },
        { id: 3, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      ],
      samples: [2, 2, 3, 2],
      timeDeltas: [1000, 1000, 2000, 1000],
      startTime: 0,
      endTime: 5000,
    };
    const s = summarise(p, 5);
    expect(s).toMatchObject({ wallMs: 5, sampledMs: 5, busyMs: 3 });
    expect(s.byPackage[0]).toMatchObject({ name: 'onnxruntime-node', ms: 3, share: 0.6 });
    expect(s.byFunction[0].name).toBe('run a.js:10');
  });
});
