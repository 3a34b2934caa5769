-- Engine and precision comparison (npm run bench:engines -- --bigquery): one row per variant of run @run.
-- Each row of `lookout.engine_comparison` is one chip pair (before, after) embedded by one variant; the
-- reference variant (fp32) has reference = TRUE. Speed: embeddings per second of inference time and
-- chip pairs per second, p50 / p99 of one embedding (batch 1). Accuracy deltas against the reference on the
-- same chips: max |change score - reference change score|, minimum feature cosine to the reference, and
-- how often the change decision (score above the reference's threshold of the chip's construction) agrees.
-- Percentiles: the value at rank round(p * (n - 1)) of the sorted latencies (as infra/sql/summary.sql).
WITH r AS (
  SELECT * FROM `lookout.engine_comparison` WHERE run_id = @run
),
embeddings AS (
  SELECT variant, latency_before_ms AS ms FROM r
  UNION ALL
  SELECT variant, latency_after_ms AS ms FROM r
),
latency AS (
  SELECT variant, COUNT(*) AS embeddings, SUM(ms) AS inference_ms, ARRAY_AGG(ms ORDER BY ms) AS lat
  FROM embeddings
  GROUP BY variant
),
accuracy AS (
  SELECT
    variant,
    ANY_VALUE(precision) AS precision,
    ANY_VALUE(execution_provider) AS execution_provider,
    LOGICAL_OR(reference) AS reference,
    COUNT(*) AS chip_pairs,
    MAX(ABS(score - reference_score)) AS max_score_abs_diff,
    MIN(feature_cosine_to_reference) AS min_feature_cosine,
    AVG(IF(decision = reference_decision, 1, 0)) AS decision_agreement
  FROM r
  GROUP BY variant
)
SELECT
  a.variant,
  a.precision,
  a.execution_provider,
  a.reference,
  a.chip_pairs,
  ROUND(l.embeddings / (l.inference_ms / 1000), 1) AS embeddings_per_s,
  ROUND(a.chip_pairs / (l.inference_ms / 1000), 1) AS chip_pairs_per_s,
  ROUND(l.lat[OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(l.lat) - 1)) AS INT64))], 2) AS p50_ms,
  ROUND(l.lat[OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(l.lat) - 1)) AS INT64))], 2) AS p99_ms,
  ROUND(a.max_score_abs_diff, 4) AS max_score_abs_diff,
  ROUND(a.min_feature_cosine, 4) AS min_feature_cosine,
  ROUND(a.decision_agreement, 4) AS decision_agreement
FROM accuracy AS a
JOIN latency AS l USING (variant)
ORDER BY a.reference DESC, a.variant
