-- Queue wait per pool: how long tasks waited for a worker of that pool (ms), and fallbacks to the CPU pool.
WITH s AS (
  SELECT
    st.pool,
    st.queue_ms,
    st.fell_back,
    PERCENTILE_CONT(st.queue_ms, 0.5) OVER (PARTITION BY st.pool) AS queue_p50,
    PERCENTILE_CONT(st.queue_ms, 0.99) OVER (PARTITION BY st.pool) AS queue_p99
  FROM `lookout.analyses_latest`, UNNEST(stages) AS st
  WHERE run_tag = @run
)
SELECT
  pool,
  COUNT(*) AS tasks,
  COUNTIF(fell_back) AS fell_back_to_cpu,
  ROUND(AVG(queue_ms), 1) AS queue_mean,
  ROUND(ANY_VALUE(queue_p50), 1) AS queue_p50,
  ROUND(ANY_VALUE(queue_p99), 1) AS queue_p99,
  MAX(queue_ms) AS queue_max
FROM s
GROUP BY pool
ORDER BY pool
