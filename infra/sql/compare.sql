-- Runs side by side (set @run and @vs): pipeline, model, pool, execution provider, batch size, workers, machine.
-- Percentile = value at rank round(p * (n - 1)) of the sorted values (see summary.sql).
-- (runs: both runs' rows, newest per analysis: the rule of the view lookout.analyses_latest, applied to these runs only)
WITH runs AS (
  SELECT latest.* FROM (
    SELECT ARRAY_AGG(t ORDER BY t.recorded_at DESC, t.analysis_id DESC LIMIT 1)[OFFSET(0)] AS latest
    FROM `lookout.analyses` AS t
    WHERE t.run_tag IN (@run, @vs)
    GROUP BY t.workflow_id
  )
),
a AS (
  SELECT
    run_tag,
    pipeline,
    ANY_VALUE((SELECT CONCAT(m.name, ' v', CAST(m.version AS STRING)) FROM UNNEST(models) AS m WHERE m.stage = 'detect' LIMIT 1)) AS model,
    pool,
    execution_provider,
    ROUND(AVG((SELECT AVG(st.batch_size) FROM UNNEST(stages) AS st WHERE st.stage = 'detect')), 2) AS mean_batch,
    COUNT(DISTINCT host) AS worker_hosts,
    ANY_VALUE(cores) AS cores,
    ANY_VALUE(cpu_model) AS cpu,
    COUNT(*) AS objects,
    COUNTIF(status = 'failed') AS failed,
    ROUND(COUNT(*) / NULLIF(TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000, 0), 2) AS per_second,
    ARRAY_AGG(end_to_end_ms IGNORE NULLS ORDER BY end_to_end_ms) AS e2e,
    ARRAY_AGG(inference_ms IGNORE NULLS ORDER BY inference_ms) AS inf
  FROM runs
  WHERE run_tag IN (@run, @vs)
  GROUP BY run_tag, pipeline, pool, execution_provider
)
SELECT
  run_tag, pipeline, model, pool, execution_provider, mean_batch, worker_hosts, cores, cpu, objects, failed, per_second,
  e2e[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(e2e) - 1)) AS INT64))] AS e2e_p50,
  e2e[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(e2e) - 1)) AS INT64))] AS e2e_p99,
  inf[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(inf) - 1)) AS INT64))] AS inference_p50
FROM a
ORDER BY run_tag
