/**
 * infra/sql/engines/report.sql on bigquery-emulator, over rows written by the engine comparison's own writer;
 * each figure is checked against the same figure computed in TypeScript from the rows (engines-report.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  comparisonRows,
  decisionThreshold,
  engineReportSql,
  ensureEngineTable,
  insertEngineRows,
  summariseVariant,
  type ChipPairResult,
} from '../../bench/engines-report';
import { rocAucLabelled } from '../../bench/metrics';
import { query } from '../../io/query';
import { bq, cfg, uniqueRun } from './helpers';

type Row = Record<string, unknown>;
const run = uniqueRun('engines');
const results: ChipPairResult[] = [];
let report: Row[];

beforeAll(async () => {
  // Two constructions, 12 chips each; the int8 variant is faster and its scores drift a little.
  for (const construction of ['a/burn/0', 'b/flood/0']) {
    for (let chip = 0; chip < 12; chip++) {
      const label = chip < 4 ? 1 : chip < 10 ? 0 : -1;
      const ref = (label === 1 ? 0.3 : 0.05) + chip / 100;
      const kind = construction.split('/')[1];
      const common = {
        construction,
        scene: construction.split('/')[0],
        kind,
        seed: 0,
        chip,
        label,
        referenceScore: ref,
      };
      results.push({
        ...common,
        variant: 'mobilenetv2',
        precision: 'fp32',
        score: ref,
        featureMaxAbsDiff: 0,
        featureCosine: 1,
        msBefore: 8 + chip,
        msAfter: 9 + chip,
      });
      results.push({
        ...common,
        variant: 'mobilenetv2-int8',
        precision: 'int8',
        score: ref + (chip % 3 === 0 ? 0.04 : -0.01),
        featureMaxAbsDiff: 0.3,
        featureCosine: 0.99 - chip / 1000,
        msBefore: 4 + chip / 2,
        msAfter: 5 + chip / 2,
      });
    }
  }
  const thresholds = decisionThreshold(results.filter((r) => r.variant === 'mobilenetv2'));
  await ensureEngineTable(bq, cfg);
  await insertEngineRows(
    bq,
    cfg,
    comparisonRows(run, results, thresholds, { cpu: 'test', cores: 2, threads: 1, onnxruntime: '1.30.0', pool: 'cpu' }),
  );
  report = await query<Row>(bq, engineReportSql(cfg), { run });
}, 120_000);

describe('engine comparison report (bigquery-emulator)', () => {
  it('one row per variant, the reference first, with the figures computed from the same rows', () => {
    expect(report.map((r) => r.variant)).toEqual(['mobilenetv2', 'mobilenetv2-int8']);
    const thresholds = decisionThreshold(results.filter((r) => r.variant === 'mobilenetv2'));
    for (const row of report) {
      const s = summariseVariant(
        results.filter((r) => r.variant === row.variant),
        thresholds,
        rocAucLabelled,
      );
      expect(row.reference).toBe(row.variant === 'mobilenetv2');
      expect(Number(row.chip_pairs)).toBe(s.chipPairs);
      expect(Number(row.embeddings_per_s)).toBeCloseTo(s.embeddingsPerSecond, 0);
      expect(Number(row.chip_pairs_per_s)).toBeCloseTo(s.chipPairsPerSecond, 0);
      expect(Number(row.p50_ms)).toBeCloseTo(s.p50Ms, 2);
      expect(Number(row.p99_ms)).toBeCloseTo(s.p99Ms, 2);
      expect(Number(row.max_score_abs_diff)).toBeCloseTo(s.maxScoreAbsDiff, 4);
      expect(Number(row.min_feature_cosine)).toBeCloseTo(s.minFeatureCosine, 4);
      expect(Number(row.decision_agreement)).toBeCloseTo(s.decisionAgreement, 4);
    }
    // Not trivially equal: the int8 rows disagree somewhere and are faster.
    const int8 = report.find((r) => r.variant === 'mobilenetv2-int8')!;
    expect(Number(int8.decision_agreement)).toBeLessThan(1);
    expect(Number(int8.chip_pairs_per_s)).toBeGreaterThan(Number(report[0].chip_pairs_per_s));
  });

  it('reads only the asked run', async () => {
    const other = await query<Row>(bq, engineReportSql(cfg), { run: `${run}-absent` });
    expect(other).toEqual([]);
  });
});
