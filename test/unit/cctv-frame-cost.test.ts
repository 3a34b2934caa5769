/** bench/cctv-frame-cost.ts compareRows: what counts as the same outputs of two runs. */
import { describe, expect, it } from 'vitest';
import { compareRows } from '../../bench/cctv-frame-cost';

const row = (score: number, label = 'normal') => ({
  frame: 7,
  label,
  score,
  objects: [{ classId: -1, label: 'person', score: 0.9, x: 1, y: 2, w: 3, h: 4, anomalyScore: score }],
  details: { reasons: 'person #1: speed', smoothed: 0.5 },
});

describe('compareRows', () => {
  it('accepts scores within 1e-6 and nothing else that differs', () => {
    expect(compareRows([row(0.5)], [row(0.5)])).toEqual([]);
    expect(compareRows([row(0.5)], [row(0.5 + 5e-7)])).toEqual([]);
    expect(compareRows([row(0.5)], [row(0.5 + 2e-6)])).toEqual([
      'row 0 (frame 7).score: 0.5 vs 0.500002',
      'row 0 (frame 7).objects[0].anomalyScore: 0.5 vs 0.500002',
    ]);
    expect(compareRows([row(0.5)], [row(0.5, 'abnormal')])).toEqual(['row 0 (frame 7).label: "normal" vs "abnormal"']);
    expect(compareRows([row(0.5)], [])).toEqual(['1 rows vs 0']);
    expect(compareRows([row(0.5)], [{ ...row(0.5), details: { ...row(0.5).details, annotated: 'gs://x' } }])).toEqual([
      'row 0 (frame 7).details.annotated: undefined vs "gs://x"',
    ]);
  });
});
