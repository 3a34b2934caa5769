-- Runs side by side (set @run and @vs), one row per run: pipeline, model, pool, execution provider, batch
-- size, workers, machine, outcome and latency.
-- What ran (pipeline, model, pool, provider) is listed over the run's analyses, distinct values in order joined by
-- ',': failed rows carry NULL there when they failed before detection, and a run whose detect stage partly
-- fell back from the GPU pool to the CPU pool shows both pools (and counts the fallbacks).
-- Percentile = value at rank round(p * (n - 1)) of the sorted values (see summary.sql); latencies are over
-- the analyses that completed (see summary.sql), failures are counted in `failed`.
-- (runs: both runs' rows, newest per analysis: the rule of the view lookout.analyses_latest, applied to these runs only)
WITH runs AS (
  SELECT latest.* FROM (
    SELECT ARRAY_AGG(t ORDER BY t.recorded_at DESC, t.analysis_id DESC LIMIT 1)[OFFSET(0)] AS latest
    FROM `lookout.analyses` AS t
    WHERE t.run_tag IN (@run, @vs)
    GROUP BY t.workflow_id
  )
),
r AS (
  SELECT
    *,
    (SELECT CONCAT(m.name, ' v', CAST(m.version AS STRING)) FROM UNNEST(models) AS m WHERE m.stage = 'detect' LIMIT 1) AS detect_model,
    (SELECT AVG(st.batch_size) FROM UNNEST(stages) AS st WHERE st.stage = 'detect') AS detect_batch,
    (SELECT COUNTIF(st.fell_back) FROM UNNEST(stages) AS st) AS stages_fell_back
  FROM runs
  WHERE run_tag IN (@run, @vs)
),
a AS (
  SELECT
    run_tag,
    STRING_AGG(DISTINCT pipeline, ',' ORDER BY pipeline) AS pipeline,
    STRING_AGG(DISTINCT detect_model, ',' ORDER BY detect_model) AS model,
    STRING_AGG(DISTINCT pool, ',' ORDER BY pool) AS pool,
    STRING_AGG(DISTINCT execution_provider, ',' ORDER BY execution_provider) AS execution_provider,
    ROUND(AVG(detect_batch), 2) AS mean_batch,
    SUM(stages_fell_back) AS fell_back,
    COUNT(DISTINCT host) AS worker_hosts,
    MAX(cores) AS cores,
    MAX(cpu_model) AS cpu,
    COUNT(*) AS objects,
    COUNTIF(status = 'failed') AS failed,
    ROUND(COUNT(*) / NULLIF(TIMESTAMP_DIFF(MAX(IF(status = 'ok', completed_at, recorded_at)), MIN(object_created_at), MILLISECOND) / 1000, 0), 2) AS per_second,
    ARRAY_AGG(IF(status = 'ok', end_to_end_ms, NULL) IGNORE NULLS ORDER BY end_to_end_ms) AS e2e,
    ARRAY_AGG(IF(status = 'ok', inference_ms, NULL) IGNORE NULLS ORDER BY inference_ms) AS inf
  FROM r
  GROUP BY run_tag
)
SELECT
  run_tag, pipeline, model, pool, execution_provider, mean_batch, fell_back, worker_hosts, cores, cpu, objects, failed, per_second,
  e2e[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(e2e) - 1)) AS INT64))] AS e2e_p50,
  e2e[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(e2e) - 1)) AS INT64))] AS e2e_p99,
  inf[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(inf) - 1)) AS INT64))] AS inference_p50
FROM a
ORDER BY run_tag
