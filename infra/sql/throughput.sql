-- Analyses finished per second over the run (seconds since the first object was created), ok and failed.
-- An analysis that completed finishes at completed_at (its last stage); a failed one has no completed_at
-- and finishes when its failure was recorded (recorded_at), so failures are counted in the second they ended.
-- (runs: the run's rows, newest per analysis: the rule of the view lookout.analyses_latest, applied to the run only)
WITH runs AS (
  SELECT latest.* FROM (
    SELECT ARRAY_AGG(t ORDER BY t.recorded_at DESC, t.analysis_id DESC LIMIT 1)[OFFSET(0)] AS latest
    FROM `lookout.analyses` AS t
    WHERE t.run_tag = @run
    GROUP BY t.workflow_id
  )
),
f AS (
  SELECT status, IF(status = 'ok', completed_at, recorded_at) AS finished_at
  FROM runs
  WHERE run_tag = @run
)
SELECT
  TIMESTAMP_DIFF(TIMESTAMP_TRUNC(finished_at, SECOND), (SELECT TIMESTAMP_TRUNC(MIN(object_created_at), SECOND) FROM runs WHERE run_tag = @run), SECOND) AS second,
  COUNT(*) AS finished,
  COUNTIF(status = 'ok') AS ok,
  COUNTIF(status = 'failed') AS failed
FROM f
GROUP BY second
ORDER BY second
