-- Per run: volume, outcome, throughput and latency percentiles (ms).
SELECT
  run_tag,
  COUNT(*) AS objects,
  COUNTIF(status = 'ok') AS ok,
  COUNTIF(status = 'failed') AS failed,
  ROUND(TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000, 2) AS wall_s,
  ROUND(COUNT(*) / NULLIF(TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000, 0), 2) AS per_second,
  APPROX_QUANTILES(end_to_end_ms, 100)[OFFSET(50)] AS e2e_p50,
  APPROX_QUANTILES(end_to_end_ms, 100)[OFFSET(90)] AS e2e_p90,
  APPROX_QUANTILES(end_to_end_ms, 100)[OFFSET(99)] AS e2e_p99,
  MAX(end_to_end_ms) AS e2e_max,
  APPROX_QUANTILES(pipeline_ms, 100)[OFFSET(50)] AS pipeline_p50,
  APPROX_QUANTILES(pipeline_ms, 100)[OFFSET(99)] AS pipeline_p99,
  APPROX_QUANTILES(inference_ms, 100)[OFFSET(50)] AS inference_p50,
  APPROX_QUANTILES(inference_ms, 100)[OFFSET(99)] AS inference_p99
FROM `lookout.analyses_latest`
WHERE run_tag = @run
GROUP BY run_tag
