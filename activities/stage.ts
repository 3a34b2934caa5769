/**
 * Common frame of every stage activity: timing of the attempt (scheduled,
 * started, completed), where it ran, and the mapping of errors to Temporal
 * failures (bad input: non-retryable, with a stable type = error class).
 */
import os from 'node:os';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { errorClassOf, isRetryable } from '../core/errors';
import type { StageReport } from '../core/types';
import { metrics, observeStage } from '../io/metrics';
import type { StageWork } from '../methods/method';
import type { StageContext } from './types';


/** Info of the running activity, or neutral values outside an activity (unit tests calling the function directly). */
export function activityInfo(): { taskQueue: string; attempt: number; scheduledAt: number } {
  try {
    const info = Context.current().info;
    return { taskQueue: info.taskQueue, attempt: info.attempt, scheduledAt: info.currentAttemptScheduledTimestampMs };
  } catch {
    return { taskQueue: 'direct', attempt: 1, scheduledAt: Date.now() };
  }
}

export function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* not inside an activity */
  }
}

/** Turns any error into the failure Temporal should see: retryable or not, typed by error class, with the attempt in details. */
export function toFailure(err: unknown, attempt: number): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const errorClass = errorClassOf(err);
  const message = (err as Error)?.message ?? String(err);
  return ApplicationFailure.create({
    type: errorClass,
    message,
    nonRetryable: !isRetryable(err),
    details: [{ attempt }],
    cause: err instanceof Error ? err : undefined,
  });
}

/** Runs a method's stage and adds the report (timing, where it ran); any error becomes the failure Temporal should see. */
export async function runStage<T extends object>(ctx: StageContext, work: () => Promise<StageWork<T>>): Promise<T & { report: StageReport }> {
  const info = activityInfo();
  const startedAt = Date.now();
  const where = { stage: ctx.stage, pool: ctx.pool };
  metrics.stageInFlight.inc(where);
  try {
    const w = await work();
    const report: StageReport = {
      stage: ctx.stage,
      pool: ctx.pool,
      taskQueue: info.taskQueue,
      host: os.hostname(),
      attempt: info.attempt,
      scheduledAt: Math.min(info.scheduledAt, startedAt),
      startedAt,
      completedAt: Date.now(),
      inferenceMs: w.inferenceMs,
      batchSize: w.batchSize,
      executionProvider: w.executionProvider,
      model: w.model,
      fellBack: ctx.fellBack,
    };
    observeStage({ ...report, model: report.model?.name }, 'ok');
    return { ...w.value, report };
  } catch (err) {
    observeStage({ ...where, scheduledAt: Math.min(info.scheduledAt, startedAt), startedAt, completedAt: Date.now() }, 'failed');
    throw toFailure(err, info.attempt);
  } finally {
    metrics.stageInFlight.dec(where);
  }
}
