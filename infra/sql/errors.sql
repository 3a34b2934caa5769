-- Failures by error class and stage, with one example message each.
SELECT
  error_class,
  failed_stage,
  COUNT(*) AS n,
  ANY_VALUE(error_message) AS example
FROM `lookout.analyses_latest`
WHERE run_tag = @run AND status = 'failed'
GROUP BY error_class, failed_stage
ORDER BY n DESC
