-- Per stage and pool: queue wait (scheduled -> started) and run time (started -> completed), ms.
-- Percentile = value at rank round(p * (n - 1)) of the sorted values (see summary.sql).
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
    st.stage AS stage,
    st.pool AS pool,
    COUNT(*) AS n,
    MAX(st.queue_ms) AS queue_max,
    MAX(st.run_ms) AS run_max,
    ROUND(AVG(st.batch_size), 2) AS mean_batch,
    ARRAY_AGG(st.queue_ms IGNORE NULLS ORDER BY st.queue_ms) AS q,
    ARRAY_AGG(st.run_ms IGNORE NULLS ORDER BY st.run_ms) AS r
  FROM runs, UNNEST(stages) AS st
  WHERE run_tag = @run
  GROUP BY st.stage, st.pool
)
SELECT
  stage,
  pool,
  n,
  q[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(q) - 1)) AS INT64))] AS queue_p50,
  q[SAFE_OFFSET(CAST(ROUND(0.9 * (ARRAY_LENGTH(q) - 1)) AS INT64))] AS queue_p90,
  q[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(q) - 1)) AS INT64))] AS queue_p99,
  queue_max,
  r[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(r) - 1)) AS INT64))] AS run_p50,
  r[SAFE_OFFSET(CAST(ROUND(0.9 * (ARRAY_LENGTH(r) - 1)) AS INT64))] AS run_p90,
  r[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(r) - 1)) AS INT64))] AS run_p99,
  run_max,
  mean_batch
FROM a
ORDER BY CASE stage WHEN 'detect' THEN 1 WHEN 'extract' THEN 2 ELSE 3 END, pool
