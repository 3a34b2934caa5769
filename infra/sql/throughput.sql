-- Completed analyses per second over the run (seconds since the first object was created).
-- (runs: the run's rows, newest per analysis: the rule of the view lookout.analyses_latest, applied to the run only)
WITH runs AS (
  SELECT latest.* FROM (
    SELECT ARRAY_AGG(t ORDER BY t.recorded_at DESC, t.analysis_id DESC LIMIT 1)[OFFSET(0)] AS latest
    FROM `lookout.analyses` AS t
    WHERE t.run_tag = @run
    GROUP BY t.workflow_id
  )
)
SELECT
  TIMESTAMP_DIFF(TIMESTAMP_TRUNC(completed_at, SECOND), (SELECT TIMESTAMP_TRUNC(MIN(object_created_at), SECOND) FROM runs WHERE run_tag = @run), SECOND) AS second,
  COUNT(*) AS completed,
  COUNTIF(status = 'failed') AS failed
FROM runs
WHERE run_tag = @run AND completed_at IS NOT NULL
GROUP BY second
ORDER BY second
