-- Per stage and pool: queue wait (scheduled -> started) and run time (started -> completed), ms.
SELECT
  s.stage,
  s.pool,
  COUNT(*) AS n,
  APPROX_QUANTILES(s.queue_ms, 100)[OFFSET(50)] AS queue_p50,
  APPROX_QUANTILES(s.queue_ms, 100)[OFFSET(90)] AS queue_p90,
  APPROX_QUANTILES(s.queue_ms, 100)[OFFSET(99)] AS queue_p99,
  MAX(s.queue_ms) AS queue_max,
  APPROX_QUANTILES(s.run_ms, 100)[OFFSET(50)] AS run_p50,
  APPROX_QUANTILES(s.run_ms, 100)[OFFSET(90)] AS run_p90,
  APPROX_QUANTILES(s.run_ms, 100)[OFFSET(99)] AS run_p99,
  MAX(s.run_ms) AS run_max,
  ROUND(AVG(s.batch_size), 2) AS mean_batch
FROM `lookout.analyses_latest`, UNNEST(stages) AS s
WHERE run_tag = @run
GROUP BY s.stage, s.pool
ORDER BY CASE s.stage WHEN 'detect' THEN 1 WHEN 'extract' THEN 2 ELSE 3 END, s.pool
