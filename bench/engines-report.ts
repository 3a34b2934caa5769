/**
 * The engine comparison's figures and rows (bench/engines.ts): pure functions over per-chip results, the
 * BigQuery table they go to, and its SQL report (infra/sql/engines/report.sql).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BigQuery, TableField } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import { ensureDataset } from '../io/results';
import { quantileAtRank } from './metrics';

export const ENGINE_TABLE = 'engine_comparison';
export const ENGINE_REPORT_SQL = path.join(__dirname, '..', 'infra', 'sql', 'engines', 'report.sql');

/** One chip pair (before, after) embedded by one variant. */
export interface ChipPairResult {
  variant: string;
  precision: string;
  /** scene/kind/seed: the construction the chip belongs to (decision thresholds are per construction). */
  construction: string;
  scene: string;
  kind: string;
  seed: number;
  chip: number;
  /** 1 changed (>= 10 % of the chip in the constructed mask), 0 unchanged, -1 in between (left out of AUC). */
  label: number;
  /** Change score: cosine distance of the chip's features in the two acquisitions. */
  score: number;
  /** The reference variant's score on the same chip pair. */
  referenceScore: number;
  featureMaxAbsDiff: number;
  featureCosine: number;
  msBefore: number;
  msAfter: number;
}

export interface VariantSummary {
  variant: string;
  precision: string;
  chipPairs: number;
  embeddingsPerSecond: number;
  chipPairsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxScoreAbsDiff: number;
  maxFeatureAbsDiff: number;
  minFeatureCosine: number;
  meanFeatureCosine: number;
  /** Share of chips whose change decision equals the reference's. */
  decisionAgreement: number;
  /** Chip-level ROC AUC per change kind on the constructed labels. */
  auc: Record<string, number | null>;
}

/**
 * The change decision's threshold per construction, from the reference variant: the score that 5 % of the
 * construction's unchanged chips exceed (a 5 % false-alarm rate for the reference). Every variant is judged
 * with the reference's thresholds, so agreement measures what the cheaper engine changes in the decisions.
 */
export function decisionThreshold(reference: readonly ChipPairResult[], falseAlarmRate = 0.05): Map<string, number> {
  const neg = new Map<string, number[]>();
  for (const r of reference) if (r.label === 0) neg.set(r.construction, [...(neg.get(r.construction) ?? []), r.score]);
  const out = new Map<string, number>();
  for (const [c, v] of neg) out.set(c, quantileAtRank(v, 1 - falseAlarmRate));
  return out;
}

export function decide(score: number, construction: string, thresholds: ReadonlyMap<string, number>): boolean {
  const t = thresholds.get(construction);
  return t !== undefined && score > t;
}

export function summariseVariant(
  rows: readonly ChipPairResult[],
  thresholds: ReadonlyMap<string, number>,
  aucOf: (scores: number[], labels: number[]) => number | null,
): VariantSummary {
  if (rows.length === 0) throw new Error('no results for a variant');
  const lat = rows.flatMap((r) => [r.msBefore, r.msAfter]).sort((a, b) => a - b);
  const total = lat.reduce((a, b) => a + b, 0) / 1000;
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const round = (v: number, d = 4) => Math.round(v * 10 ** d) / 10 ** d;
  const agree = rows.filter(
    (r) => decide(r.score, r.construction, thresholds) === decide(r.referenceScore, r.construction, thresholds),
  ).length;
  return {
    variant: rows[0].variant,
    precision: rows[0].precision,
    chipPairs: rows.length,
    embeddingsPerSecond: round(lat.length / total, 1),
    chipPairsPerSecond: round(rows.length / total, 1),
    p50Ms: round(quantileAtRank(lat, 0.5), 2),
    p99Ms: round(quantileAtRank(lat, 0.99), 2),
    maxScoreAbsDiff: round(Math.max(...rows.map((r) => Math.abs(r.score - r.referenceScore))), 5),
    maxFeatureAbsDiff: round(Math.max(...rows.map((r) => r.featureMaxAbsDiff))),
    minFeatureCosine: round(Math.min(...rows.map((r) => r.featureCosine)), 5),
    meanFeatureCosine: round(rows.reduce((a, r) => a + r.featureCosine, 0) / rows.length, 5),
    decisionAgreement: round(agree / rows.length),
    auc: Object.fromEntries(
      kinds.map((k) => {
        const sel = rows.filter((r) => r.kind === k && r.label >= 0);
        const a = aucOf(
          sel.map((r) => r.score),
          sel.map((r) => r.label),
        );
        return [k, a === null ? null : round(a, 3)];
      }),
    ),
  };
}

export function engineTableSchema(): TableField[] {
  const f = (name: string, type: string, mode = 'NULLABLE', description?: string): TableField => ({
    name,
    type,
    mode,
    ...(description ? { description } : {}),
  });
  return [
    f('run_id', 'STRING', 'REQUIRED'),
    f('recorded_at', 'TIMESTAMP', 'REQUIRED'),
    f('variant', 'STRING', 'REQUIRED', 'model name in the repository, e.g. mobilenetv2-int8'),
    f('precision', 'STRING'),
    f('reference', 'BOOL', 'REQUIRED', 'TRUE for the variant the others are compared with (fp32)'),
    f('execution_provider', 'STRING'),
    f('scene', 'STRING'),
    f('change_kind', 'STRING', 'NULLABLE', 'constructed change painted into the after-image'),
    f('seed', 'INT64'),
    f('chip', 'INT64'),
    f('label', 'INT64', 'NULLABLE', '1 changed, 0 unchanged, -1 partly (constructed)'),
    f('score', 'FLOAT64', 'NULLABLE', 'change score: cosine distance of the chip features before / after'),
    f('reference_score', 'FLOAT64'),
    f('decision', 'BOOL'),
    f('reference_decision', 'BOOL'),
    f('feature_max_abs_diff', 'FLOAT64'),
    f('feature_cosine_to_reference', 'FLOAT64'),
    f('latency_before_ms', 'FLOAT64', 'NULLABLE', 'one embedding, batch 1'),
    f('latency_after_ms', 'FLOAT64'),
    f('host', 'STRING'),
    f('cpu_model', 'STRING'),
    f('cores', 'INT64'),
    f('threads', 'INT64'),
    f('onnxruntime_version', 'STRING'),
  ];
}

export interface Machine {
  cpu: string;
  cores: number;
  threads: number;
  onnxruntime: string;
  pool: string;
}

export function comparisonRows(
  runId: string,
  results: readonly ChipPairResult[],
  thresholds: ReadonlyMap<string, number>,
  machine: Machine,
  host = os.hostname(),
  at = new Date(),
): Record<string, unknown>[] {
  const reference = results[0]?.variant;
  return results.map((r) => ({
    run_id: runId,
    recorded_at: at.toISOString(),
    variant: r.variant,
    precision: r.precision,
    reference: r.variant === reference,
    execution_provider: machine.pool === 'gpu' ? 'cuda' : 'cpu',
    scene: r.scene,
    change_kind: r.kind,
    seed: r.seed,
    chip: r.chip,
    label: r.label,
    score: r.score,
    reference_score: r.referenceScore,
    decision: decide(r.score, r.construction, thresholds),
    reference_decision: decide(r.referenceScore, r.construction, thresholds),
    feature_max_abs_diff: r.featureMaxAbsDiff,
    feature_cosine_to_reference: r.featureCosine,
    latency_before_ms: r.msBefore,
    latency_after_ms: r.msAfter,
    host,
    cpu_model: machine.cpu,
    cores: machine.cores,
    threads: machine.threads,
    onnxruntime_version: machine.onnxruntime,
  }));
}

export async function ensureEngineTable(bq: BigQuery, cfg: LookoutConfig): Promise<void> {
  const ds = await ensureDataset(bq, cfg);
  const t = ds.table(ENGINE_TABLE);
  const [exists] = await t.exists();
  if (exists) return;
  try {
    await t.create({
      schema: { fields: engineTableSchema() },
      description:
        'Lookout engine comparison: one row per chip pair and model variant (npm run bench:engines -- --bigquery)',
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

export async function insertEngineRows(
  bq: BigQuery,
  cfg: LookoutConfig,
  rows: Record<string, unknown>[],
  batch = 500,
): Promise<void> {
  const t = bq.dataset(cfg.bigquery.dataset).table(ENGINE_TABLE);
  for (let i = 0; i < rows.length; i += batch) await t.insert(rows.slice(i, i + batch), { raw: false });
}

/** infra/sql/engines/report.sql pointed at this deployment's table (the file says `lookout.engine_comparison`). */
export function engineReportSql(cfg: LookoutConfig): string {
  return fs
    .readFileSync(ENGINE_REPORT_SQL, 'utf8')
    .replace(/`lookout\.engine_comparison`/g, `\`${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${ENGINE_TABLE}\``);
}
