-- Queue wait per pool: how long tasks waited for a worker of that pool (ms), and fallbacks to the CPU pool.
SELECT
  s.pool,
  COUNT(*) AS tasks,
  COUNTIF(s.fell_back) AS fell_back_to_cpu,
  ROUND(AVG(s.queue_ms), 1) AS queue_mean,
  APPROX_QUANTILES(s.queue_ms, 100)[OFFSET(50)] AS queue_p50,
  APPROX_QUANTILES(s.queue_ms, 100)[OFFSET(99)] AS queue_p99,
  MAX(s.queue_ms) AS queue_max
FROM `lookout.analyses_latest`, UNNEST(stages) AS s
WHERE run_tag = @run
GROUP BY s.pool
ORDER BY s.pool
