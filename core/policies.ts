/**
 * Retry policies shared by workflows (plain data: workflow-safe).
 *
 * RECORD_RETRY, the step that writes an analysis' row: a row must not be lost to BigQuery being away,
 * however long (it had 100 attempts, about 95 minutes at 60 s apart, after which the analysis ended
 * with no row at all), so attempts are unlimited with backoff capped at a minute; the workflow's own
 * execution timeout (24 h, set at start) is the only bound. A row BigQuery refuses (schema) cannot be
 * helped by retrying: the activity replaces it with a minimal failed row (error_class RowRejected) and
 * fails non-retryably only if even that is refused, so "unlimited" never means looping on bad data.
 */
export const RECORD_RETRY = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '60s',
  /** Unlimited: the TypeScript SDK takes Infinity (and refuses 0, which the server's API would read as unlimited). */
  maximumAttempts: Number.POSITIVE_INFINITY,
} as const;
