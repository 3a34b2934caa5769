-- Per run: volume, outcome, throughput and exact latency percentiles (ms).
-- (PERCENTILE_CONT rather than APPROX_QUANTILES: exact, and bigquery-emulator returns APPROX_QUANTILES unsorted.)
WITH r AS (
  SELECT
    *,
    PERCENTILE_CONT(end_to_end_ms, 0.5) OVER () AS e2e_p50,
    PERCENTILE_CONT(end_to_end_ms, 0.9) OVER () AS e2e_p90,
    PERCENTILE_CONT(end_to_end_ms, 0.99) OVER () AS e2e_p99,
    PERCENTILE_CONT(pipeline_ms, 0.5) OVER () AS pipeline_p50,
    PERCENTILE_CONT(pipeline_ms, 0.99) OVER () AS pipeline_p99,
    PERCENTILE_CONT(inference_ms, 0.5) OVER () AS inference_p50,
    PERCENTILE_CONT(inference_ms, 0.99) OVER () AS inference_p99
  FROM `lookout.analyses_latest`
  WHERE run_tag = @run
)
SELECT
  run_tag,
  COUNT(*) AS objects,
  COUNTIF(status = 'ok') AS ok,
  COUNTIF(status = 'failed') AS failed,
  ROUND(TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000, 2) AS wall_s,
  ROUND(COUNT(*) / NULLIF(TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000, 0), 2) AS per_second,
  ROUND(ANY_VALUE(e2e_p50), 1) AS e2e_p50,
  ROUND(ANY_VALUE(e2e_p90), 1) AS e2e_p90,
  ROUND(ANY_VALUE(e2e_p99), 1) AS e2e_p99,
  MAX(end_to_end_ms) AS e2e_max,
  ROUND(ANY_VALUE(pipeline_p50), 1) AS pipeline_p50,
  ROUND(ANY_VALUE(pipeline_p99), 1) AS pipeline_p99,
  ROUND(ANY_VALUE(inference_p50), 1) AS inference_p50,
  ROUND(ANY_VALUE(inference_p99), 1) AS inference_p99
FROM r
GROUP BY run_tag
