-- Runs side by side (set @run and @vs): pipeline, model, pool, execution provider, batch size, workers, machine.
WITH r AS (
  SELECT
    *,
    (SELECT CONCAT(m.name, ' v', CAST(m.version AS STRING)) FROM UNNEST(models) AS m WHERE m.stage = 'detect' LIMIT 1) AS model,
    (SELECT AVG(st.batch_size) FROM UNNEST(stages) AS st WHERE st.stage = 'detect') AS detect_batch,
    PERCENTILE_CONT(end_to_end_ms, 0.5) OVER (PARTITION BY run_tag, pipeline, pool, execution_provider) AS e2e_p50,
    PERCENTILE_CONT(end_to_end_ms, 0.99) OVER (PARTITION BY run_tag, pipeline, pool, execution_provider) AS e2e_p99,
    PERCENTILE_CONT(inference_ms, 0.5) OVER (PARTITION BY run_tag, pipeline, pool, execution_provider) AS inference_p50
  FROM `lookout.analyses_latest`
  WHERE run_tag IN (@run, @vs)
)
SELECT
  run_tag,
  pipeline,
  ANY_VALUE(model) AS model,
  pool,
  execution_provider,
  ROUND(AVG(detect_batch), 2) AS mean_batch,
  COUNT(DISTINCT host) AS worker_hosts,
  ANY_VALUE(cores) AS cores,
  ANY_VALUE(cpu_model) AS cpu,
  COUNT(*) AS objects,
  COUNTIF(status = 'failed') AS failed,
  ROUND(COUNT(*) / NULLIF(TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000, 0), 2) AS per_second,
  ROUND(ANY_VALUE(e2e_p50), 1) AS e2e_p50,
  ROUND(ANY_VALUE(e2e_p99), 1) AS e2e_p99,
  ROUND(ANY_VALUE(inference_p50), 1) AS inference_p50
FROM r
GROUP BY run_tag, pipeline, pool, execution_provider
ORDER BY run_tag
