import { describe, expect, it } from 'vitest';
import {
  comparisonRows,
  decide,
  decisionThreshold,
  summariseVariant,
  type ChipPairResult,
} from '../../bench/engines-report';
import { rocAucLabelled as auc } from '../../bench/metrics';

const base = {
  precision: 'fp32',
  construction: 's/burn/0',
  scene: 's',
  kind: 'burn',
  seed: 0,
  featureMaxAbsDiff: 0,
  featureCosine: 1,
};
function pair(
  variant: string,
  chip: number,
  label: number,
  score: number,
  referenceScore: number,
  ms = 10,
): ChipPairResult {
  return {
    ...base,
    variant,
    precision: variant === 'ref' ? 'fp32' : 'int8',
    chip,
    label,
    score,
    referenceScore,
    msBefore: ms,
    msAfter: ms,
  };
}

describe('engine comparison figures', () => {
  it('thresholds come from the reference negatives of each construction; decisions compare with them', () => {
    const negatives = Array.from({ length: 21 }, (_, i) => pair('ref', i, 0, i / 100, i / 100));
    const t = decisionThreshold([...negatives, pair('ref', 99, 1, 0.9, 0.9)]);
    expect(t.get('s/burn/0')).toBeCloseTo(0.19, 10); // 95th percentile of 0.00..0.20
    expect(decide(0.2, 's/burn/0', t)).toBe(true);
    expect(decide(0.19, 's/burn/0', t)).toBe(false);
    expect(decide(0.9, 'unknown/construction', t)).toBe(false);
  });

  it('summarises speed, deltas against the reference, decision agreement and AUC', () => {
    const t = new Map([['s/burn/0', 0.5]]);
    const rows = [
      pair('v', 0, 0, 0.1, 0.12, 5),
      pair('v', 1, 0, 0.55, 0.45, 15),
      pair('v', 2, 1, 0.8, 0.9, 10),
      pair('v', 3, 1, 0.52, 0.6, 10),
    ];
    const s = summariseVariant(rows, t, auc);
    expect(s.chipPairs).toBe(4);
    expect(s.embeddingsPerSecond).toBeCloseTo(8 / 0.08, 1); // 8 embeddings in 80 ms
    expect(s.chipPairsPerSecond).toBeCloseTo(4 / 0.08, 1);
    expect(s.p50Ms).toBe(10);
    expect(s.maxScoreAbsDiff).toBeCloseTo(0.1, 5);
    expect(s.decisionAgreement).toBe(0.75); // chip 1 flips: 0.55 > 0.5 but the reference's 0.45 is not
    expect(s.auc.burn).toBe(0.75); // negatives 0.1, 0.55; positives 0.8, 0.52: 3 of 4 pairs ordered
  });

  it('rows carry the decision of both variants and mark the reference', () => {
    const t = new Map([['s/burn/0', 0.5]]);
    const rows = comparisonRows(
      'run-1',
      [pair('ref', 0, 1, 0.6, 0.6), pair('v', 0, 1, 0.4, 0.6)],
      t,
      { cpu: 'x', cores: 2, threads: 1, onnxruntime: '1', pool: 'cpu' },
      'h',
      new Date(0),
    );
    expect(rows.map((r) => [r.variant, r.reference, r.decision, r.reference_decision])).toEqual([
      ['ref', true, true, true],
      ['v', false, false, true],
    ]);
    expect(rows[0].recorded_at).toBe('1970-01-01T00:00:00.000Z');
  });
});
