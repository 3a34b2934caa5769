-- Per run: volume, outcome, throughput and latency percentiles (ms).
-- A percentile is the value at rank round(p * (n - 1)) of the sorted values: exact, no interpolation.
-- (Sorted arrays rather than PERCENTILE_CONT / APPROX_QUANTILES: the window function takes minutes on
-- bigquery-emulator and its APPROX_QUANTILES comes back unsorted; on BigQuery all three work.)
-- Latencies are over the analyses that completed (status 'ok'): a failed analysis has no end-to-end,
-- pipeline or inference time (NULL), and rows written before that rule carried 0 there, so failed rows
-- are left out explicitly. A failed analysis counts in `failed` and ends, for wall time, at recorded_at.
-- (runs: the run's rows, newest per analysis: the rule of the view lookout.analyses_latest, applied to the run only)
WITH runs AS (
  SELECT latest.* FROM (
    SELECT ARRAY_AGG(t ORDER BY t.recorded_at DESC, t.analysis_id DESC LIMIT 1)[OFFSET(0)] AS latest
    FROM `lookout.analyses` AS t
    WHERE t.run_tag = @run
    GROUP BY t.workflow_id
  )
),
a AS (
  SELECT
    run_tag,
    COUNT(*) AS objects,
    COUNTIF(status = 'ok') AS ok,
    COUNTIF(status = 'failed') AS failed,
    TIMESTAMP_DIFF(MAX(IF(status = 'ok', completed_at, recorded_at)), MIN(object_created_at), MILLISECOND) / 1000 AS wall_s,
    MAX(IF(status = 'ok', end_to_end_ms, NULL)) AS e2e_max,
    ARRAY_AGG(IF(status = 'ok', end_to_end_ms, NULL) IGNORE NULLS ORDER BY end_to_end_ms) AS e2e,
    ARRAY_AGG(IF(status = 'ok', pipeline_ms, NULL) IGNORE NULLS ORDER BY pipeline_ms) AS pipe,
    ARRAY_AGG(IF(status = 'ok', inference_ms, NULL) IGNORE NULLS ORDER BY inference_ms) AS inf
  FROM runs
  WHERE run_tag = @run
  GROUP BY run_tag
)
SELECT
  run_tag,
  objects,
  ok,
  failed,
  ROUND(wall_s, 2) AS wall_s,
  ROUND(objects / NULLIF(wall_s, 0), 2) AS per_second,
  e2e[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(e2e) - 1)) AS INT64))] AS e2e_p50,
  e2e[SAFE_OFFSET(CAST(ROUND(0.9 * (ARRAY_LENGTH(e2e) - 1)) AS INT64))] AS e2e_p90,
  e2e[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(e2e) - 1)) AS INT64))] AS e2e_p99,
  e2e_max,
  pipe[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(pipe) - 1)) AS INT64))] AS pipeline_p50,
  pipe[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(pipe) - 1)) AS INT64))] AS pipeline_p99,
  inf[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(inf) - 1)) AS INT64))] AS inference_p50,
  inf[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(inf) - 1)) AS INT64))] AS inference_p99
FROM a
