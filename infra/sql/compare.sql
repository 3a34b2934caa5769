-- Runs side by side (set @run and @vs; add more tags to the IN list as needed).
SELECT
  run_tag,
  pipeline,
  ANY_VALUE((SELECT CONCAT(m.name, ' v', CAST(m.version AS STRING)) FROM UNNEST(models) m LIMIT 1)) AS model,
  pool,
  execution_provider,
  ROUND(AVG((SELECT AVG(s.batch_size) FROM UNNEST(stages) s WHERE s.stage = 'detect')), 2) AS mean_batch,
  COUNT(DISTINCT host) AS worker_hosts,
  ANY_VALUE(cores) AS cores,
  ANY_VALUE(cpu_model) AS cpu,
  COUNT(*) AS objects,
  COUNTIF(status = 'failed') AS failed,
  ROUND(COUNT(*) / NULLIF(TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000, 0), 2) AS per_second,
  APPROX_QUANTILES(end_to_end_ms, 100)[OFFSET(50)] AS e2e_p50,
  APPROX_QUANTILES(end_to_end_ms, 100)[OFFSET(99)] AS e2e_p99,
  APPROX_QUANTILES(inference_ms, 100)[OFFSET(50)] AS inference_p50
FROM `lookout.analyses_latest`
WHERE run_tag IN (@run, @vs)
GROUP BY run_tag, pipeline, pool, execution_provider
ORDER BY run_tag
