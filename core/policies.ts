/**
 * Every timeout and retry policy, in one place. Workflow-safe (plain data): the workflows build their
 * activity proxies from these, the activities and the dispatcher read their own few from here too.
 * Durations are Temporal duration strings or milliseconds.
 */
import type { ActivityOptions, LocalActivityOptions, RetryPolicy } from '@temporalio/common';

/** Attempts for a stage before a passing fault becomes a failed row. */
export const STAGE_MAX_ATTEMPTS = 5;

/** A stage of one object: passing faults retried with backoff; bad input is non-retryable and ends the chain at once. */
export const STAGE_RETRY: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: STAGE_MAX_ATTEMPTS,
};
/** A stage that stops heartbeating for this long is considered lost and retried. */
export const STAGE_HEARTBEAT_MS = 30_000;

/**
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

/** Writing the row (see RECORD_RETRY). */
export const RECORD_OPTIONS: ActivityOptions = { startToCloseTimeout: '60s', retry: RECORD_RETRY };
/** Writing a batch's rows (up to a chunk of rows per call). */
export const RECORD_BATCH_OPTIONS: ActivityOptions = { ...RECORD_OPTIONS, startToCloseTimeout: '120s' };

/** Splitting a video into frames: one long, heartbeating activity. */
export const SPLIT_VIDEO_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30m',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 3 },
};

/** One segment of a video (decode, detect, track, score, write its frames' rows): heartbeats every frame. */
export const SEGMENT_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '60s',
  retry: STAGE_RETRY,
};

/** Detect + extract of one normal frame while fitting a scene. */
export const FIT_FRAME_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '1m',
  retry: STAGE_RETRY,
};
/** Fitting the scene model on all the normal features. */
export const FIT_MODEL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30m',
  heartbeatTimeout: '5m',
  retry: { maximumAttempts: 3 },
};

/** Bulk mode: objects of one batch activity processed at once. */
export const BATCH_LANES = 4;
/** Bulk mode: attempts per object inside a batch activity before it becomes that object's failure. */
export const BATCH_OBJECT_ATTEMPTS = 3;
export function batchObjectBackoffMs(attempt: number): number {
  return 500 * attempt;
}
/** Bulk mode: a stage for many objects gets the time of that many single stages run BATCH_LANES at a time. */
export function batchStageOptions(stageStartToCloseMs: number, objects: number): ActivityOptions {
  return {
    startToCloseTimeout: stageStartToCloseMs * Math.max(1, Math.ceil(objects / BATCH_LANES)),
    heartbeatTimeout: '60s',
    retry: STAGE_RETRY,
  };
}

/** A started analysis that has not finished in this time is ended by Temporal (its row is then missing: see `lookout retry`). */
export const WORKFLOW_EXECUTION_TIMEOUT = '24h';

/**
 * Dispatcher: redelivery delay after a failure to start a workflow (the JetStream nak delay), by attempt: capped
 * exponential backoff, 1 s, 2 s, 4 s, ... at most capMs (the dispatcher's only backoff).
 */
export function dispatchBackoffMs(attempt: number, capMs = 30_000): number {
  return Math.min(capMs, 1000 * 2 ** Math.min(30, Math.max(0, attempt - 1)));
}

/** Stages run as one activity (a stage group): the time of its stages together. */
export function stageGroupTimeoutMs(stageTimeoutsMs: number[]): number {
  return stageTimeoutsMs.reduce((a, b) => a + b, 0);
}

/**
 * Writing the row as a local activity (run by the workflow's own worker, no activity task queue round trip):
 * the same unlimited retry as RECORD_OPTIONS. Retries longer than a minute apart are scheduled by Temporal
 * as timers rather than inside one workflow task (localRetryThreshold), so a long BigQuery outage holds no task.
 */
export const LOCAL_RECORD_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '60s',
  retry: RECORD_RETRY,
  localRetryThreshold: '60s',
};

/** Planning a raster: reads its header (and the before acquisition's) by range requests. */
export const RASTER_PLAN_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '5m',
  heartbeatTimeout: '1m',
  retry: STAGE_RETRY,
};
/** One block of chips of a raster (read, score, write the chips' rows): heartbeats every chip. */
export const RASTER_BLOCK_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '20m',
  heartbeatTimeout: '2m',
  retry: STAGE_RETRY,
};
/** A chip classifier placed on its own pool (two-stage placement): one block's head over its stored inputs, writing its chip rows. */
export const RASTER_HEAD_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '2m',
  retry: STAGE_RETRY,
};
/** Finishing a raster: heatmap, GeoJSON and archive bank from the blocks' results, then the summary row. */
export const RASTER_FINISH_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30m',
  heartbeatTimeout: '2m',
  retry: STAGE_RETRY,
};
/** Blocks of a raster analysed per workflow run before it continues as a new run (bounded history). */
export const RASTER_BLOCKS_PER_RUN = 100;
