-- Per stage and pool: queue wait (scheduled -> started) and run time (started -> completed), exact percentiles in ms.
WITH s AS (
  SELECT
    st.stage,
    st.pool,
    st.queue_ms,
    st.run_ms,
    st.batch_size,
    PERCENTILE_CONT(st.queue_ms, 0.5) OVER (PARTITION BY st.stage, st.pool) AS queue_p50,
    PERCENTILE_CONT(st.queue_ms, 0.9) OVER (PARTITION BY st.stage, st.pool) AS queue_p90,
    PERCENTILE_CONT(st.queue_ms, 0.99) OVER (PARTITION BY st.stage, st.pool) AS queue_p99,
    PERCENTILE_CONT(st.run_ms, 0.5) OVER (PARTITION BY st.stage, st.pool) AS run_p50,
    PERCENTILE_CONT(st.run_ms, 0.9) OVER (PARTITION BY st.stage, st.pool) AS run_p90,
    PERCENTILE_CONT(st.run_ms, 0.99) OVER (PARTITION BY st.stage, st.pool) AS run_p99
  FROM `lookout.analyses_latest`, UNNEST(stages) AS st
  WHERE run_tag = @run
)
SELECT
  stage,
  pool,
  COUNT(*) AS n,
  ROUND(ANY_VALUE(queue_p50), 1) AS queue_p50,
  ROUND(ANY_VALUE(queue_p90), 1) AS queue_p90,
  ROUND(ANY_VALUE(queue_p99), 1) AS queue_p99,
  MAX(queue_ms) AS queue_max,
  ROUND(ANY_VALUE(run_p50), 1) AS run_p50,
  ROUND(ANY_VALUE(run_p90), 1) AS run_p90,
  ROUND(ANY_VALUE(run_p99), 1) AS run_p99,
  MAX(run_ms) AS run_max,
  ROUND(AVG(batch_size), 2) AS mean_batch
FROM s
GROUP BY stage, pool
ORDER BY CASE stage WHEN 'detect' THEN 1 WHEN 'extract' THEN 2 ELSE 3 END, pool
