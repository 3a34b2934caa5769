-- Completed analyses per second over the run (seconds since the first object was created).
SELECT
  TIMESTAMP_DIFF(TIMESTAMP_TRUNC(completed_at, SECOND), (SELECT TIMESTAMP_TRUNC(MIN(object_created_at), SECOND) FROM `lookout.analyses_latest` WHERE run_tag = @run), SECOND) AS second,
  COUNT(*) AS completed,
  COUNTIF(status = 'failed') AS failed
FROM `lookout.analyses_latest`
WHERE run_tag = @run AND completed_at IS NOT NULL
GROUP BY second
ORDER BY second
