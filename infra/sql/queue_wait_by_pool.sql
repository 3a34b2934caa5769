-- Queue wait per pool: how long tasks waited for a worker of that pool (ms), and fallbacks to the CPU pool.
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
    st.pool AS pool,
    COUNT(*) AS tasks,
    COUNTIF(st.fell_back) AS fell_back_to_cpu,
    ROUND(AVG(st.queue_ms), 1) AS queue_mean,
    MAX(st.queue_ms) AS queue_max,
    ARRAY_AGG(st.queue_ms IGNORE NULLS ORDER BY st.queue_ms) AS q
  FROM runs, UNNEST(stages) AS st
  WHERE run_tag = @run
  GROUP BY st.pool
)
SELECT pool, tasks, fell_back_to_cpu, queue_mean, q[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(q) - 1)) AS INT64))] AS queue_p50, q[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(q) - 1)) AS INT64))] AS queue_p99, queue_max
FROM a
ORDER BY pool
