-- Failures by error class and stage, with one example message each.
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
  error_class,
  failed_stage,
  COUNT(*) AS n,
  ANY_VALUE(error_message) AS example
FROM runs
WHERE run_tag = @run AND status = 'failed'
GROUP BY error_class, failed_stage
ORDER BY n DESC
