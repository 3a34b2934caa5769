import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random';
import {
  bootstrapAuc,
  greedyMatch,
  mean,
  percentile,
  quantileAtRank,
  ranks,
  rocAuc,
  rocAucLabelled,
  rocCurve,
} from '../../bench/metrics';

/** ROC AUC by its definition: the share of (positive, negative) pairs ordered right, ties one half. O(n·m), for checking. */
function pairwiseAuc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

describe('bench/metrics', () => {
  it('percentile is the nearest rank: the smallest value with at least p % of the values at or below it', () => {
    const xs = [15, 20, 35, 40, 50]; // the textbook example of the nearest-rank method
    expect(percentile(xs, 5)).toBe(15);
    expect(percentile(xs, 30)).toBe(20);
    expect(percentile(xs, 40)).toBe(20);
    expect(percentile(xs, 50)).toBe(35);
    expect(percentile(xs, 100)).toBe(50);
    expect(percentile([3, 1, 2], 0)).toBe(1);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => 100 - i),
        99,
      ),
    ).toBe(99);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });

  it('percentile sorts numerically and leaves its input alone', () => {
    const xs = [10, 9, 100, 1];
    expect(percentile(xs, 50)).toBe(9); // a string sort would put 100 before 9
    expect(xs).toEqual([10, 9, 100, 1]);
  });

  it('quantileAtRank is the value at rank round(q (n - 1)), as the SQL reports', () => {
    expect(quantileAtRank([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(quantileAtRank([4, 3, 2, 1], 0.5)).toBe(3); // round(1.5) = 2
    expect(quantileAtRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99)).toBe(10);
    expect(quantileAtRank(Float64Array.from([0.2, 0.1]), 0)).toBe(0.1);
    expect(Number.isNaN(quantileAtRank([], 0.5))).toBe(true);
  });

  it('mean and ranks', () => {
    expect(mean([1, 2, 6])).toBe(3);
    expect(Number.isNaN(mean([]))).toBe(true);
    expect(ranks([5, 1, 5, 3])).toEqual([2.5, 0, 2.5, 1]);
  });

  it('rocAuc: 1 for a perfect ranking, 0 for the reverse, ties count one half', () => {
    expect(rocAuc([3, 4], [1, 2])).toBe(1);
    expect(rocAuc([1, 2], [3, 4])).toBe(0);
    expect(rocAuc([1, 1], [1, 1])).toBe(0.5);
    expect(rocAuc([0.8, 0.52], [0.1, 0.55])).toBe(0.75); // 3 of the 4 pairs ordered right
    expect(Number.isNaN(rocAuc([], [1]))).toBe(true);
  });

  it('rocAuc agrees with the pairwise definition on random scores with ties', () => {
    const rand = mulberry32(11);
    for (let trial = 0; trial < 20; trial++) {
      const pos = Array.from({ length: 1 + Math.floor(rand() * 30) }, () => Math.round(rand() * 10));
      const neg = Array.from({ length: 1 + Math.floor(rand() * 30) }, () => Math.round(rand() * 10) - 2);
      expect(rocAuc(pos, neg)).toBeCloseTo(pairwiseAuc(pos, neg), 12);
    }
  });

  it('rocAuc ranks a null score below every number, tied with other nulls', () => {
    expect(rocAuc([null], [-1e9])).toBe(0);
    expect(rocAuc([0], [null])).toBe(1);
    expect(rocAuc([null], [null])).toBe(0.5);
  });

  it('rocAucLabelled: labels 1 are positives; null without both classes', () => {
    expect(rocAucLabelled([0.1, 0.55, 0.8, 0.52], [0, 0, 1, 1])).toBe(0.75);
    expect(rocAucLabelled([1, 2], [1, 1])).toBeNull();
    expect(rocAucLabelled([1, 2], [0, 0])).toBeNull();
    expect(() => rocAucLabelled([1], [0, 1])).toThrow(RangeError);
  });

  it('rocCurve runs from (0, 0) to (1, 1), one point per distinct threshold, and its area is the AUC', () => {
    const pos = [0.9, 0.7, 0.4];
    const neg = [0.8, 0.3, 0.2, 0.1];
    const pts = rocCurve(pos, neg);
    expect(pts[0]).toEqual([0, 0]);
    expect(pts[pts.length - 1]).toEqual([1, 1]);
    expect(pts).toHaveLength(7 + 2);
    let area = 0;
    for (let i = 1; i < pts.length; i++) area += ((pts[i][0] - pts[i - 1][0]) * (pts[i][1] + pts[i - 1][1])) / 2;
    expect(area).toBeCloseTo(rocAuc(pos, neg), 12);
  });

  it('bootstrapAuc brackets the AUC, repeats with the same seed, and needs two of each class', () => {
    const rand = mulberry32(3);
    const pos = Array.from({ length: 40 }, () => rand() + 0.3);
    const neg = Array.from({ length: 40 }, () => rand());
    const ci = bootstrapAuc(pos, neg, mulberry32(7), 500)!;
    const auc = rocAuc(pos, neg);
    expect(ci[0]).toBeLessThan(auc);
    expect(ci[1]).toBeGreaterThan(auc);
    expect(bootstrapAuc(pos, neg, mulberry32(7), 500)).toEqual(ci);
    expect(bootstrapAuc([1], [0, 1], mulberry32(7))).toBeNull();
  });

  it('greedyMatch pairs boxes by descending score with the free truth box they overlap most', () => {
    const truth = [
      { x: 0, y: 0, w: 10, h: 10 },
      { x: 20, y: 0, w: 10, h: 10 },
    ];
    const boxes = [
      { x: 1, y: 0, w: 10, h: 10, score: 0.5 }, // overlaps truth 0 well, but a higher-scoring box takes it first
      { x: 0, y: 0, w: 10, h: 10, score: 0.9 },
      { x: 21, y: 0, w: 10, h: 10, score: 0.6 },
      { x: 50, y: 50, w: 5, h: 5, score: 0.99 }, // overlaps nothing
    ];
    expect(greedyMatch(boxes, truth, 0.3)).toEqual([-1, 0, 1, -1]);
    expect(greedyMatch(boxes, truth, 0.95)).toEqual([-1, 0, -1, -1]); // 21..31 against 20..30: IoU 9/11
    expect(greedyMatch([], truth, 0.3)).toEqual([]);
  });
});
