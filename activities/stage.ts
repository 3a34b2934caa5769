/**
 * Common frame of every stage activity: timing of the attempt (scheduled,
 * started, completed), where it ran, and the mapping of errors to Temporal
 * failures (bad input: non-retryable, with a stable type = error class).
 */
import os from 'node:os';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { SetupError, errorClassOf, isRetryable } from '../core/errors';
import type { StageName } from '../core/pipelines';
import type { AnalyzeInput, DetectOutput, ExtractOutput, ScoreOutput, StageReport } from '../core/types';
import { metrics, observeStage } from '../io/metrics';
import { inSpan } from '../io/tracing';
import type { StageWork } from '../methods/method';
import type { StageContext, StageGroupContext, StagesOutput } from './types';

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
export async function runStage<T extends object>(
  ctx: StageContext,
  scheduledAt: number | undefined,
  work: () => Promise<StageWork<T>>,
): Promise<T & { report: StageReport }> {
  const info = activityInfo();
  // A stage run inside a group (activities.stages) was "scheduled" when the stage before it finished.
  if (scheduledAt !== undefined) info.scheduledAt = scheduledAt;
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
    observeStage(
      { ...where, scheduledAt: Math.min(info.scheduledAt, startedAt), startedAt, completedAt: Date.now() },
      'failed',
    );
    throw toFailure(err, info.attempt);
  } finally {
    metrics.stageInFlight.dec(where);
  }
}

/** The stage functions a group runs; the optional last argument is when the stage counts as scheduled. */
export interface StageFns {
  detect(input: AnalyzeInput, ctx: StageContext, scheduledAt?: number): Promise<DetectOutput>;
  extract(input: AnalyzeInput, detect: DetectOutput, ctx: StageContext, scheduledAt?: number): Promise<ExtractOutput>;
  score(
    input: AnalyzeInput,
    detect: DetectOutput,
    extract: ExtractOutput,
    ctx: StageContext,
    scheduledAt?: number,
  ): Promise<ScoreOutput>;
}

/** A later stage of a group needs an earlier one's output: the workflow passes it in (prior) or the group ran it. */
function needed<T>(v: T | undefined, stage: StageName): T {
  if (v === undefined)
    throw toFailure(
      new SetupError(
        'StageOrder',
        `stage ${stage} needs the output of an earlier stage, which the group neither ran nor received`,
      ),
      1,
    );
  return v;
}

/**
 * Runs consecutive stages of one object in one activity (LookoutActivities.stages). Each stage is timed as if
 * scheduled when the one before it finished (it waits in no queue), so the row's per-stage queue and run
 * times stay comparable with stages run as separate activities. Bad input at a stage ends the group with
 * that stage's failure and the earlier stages' outputs (as the separate activities did); a passing fault
 * fails the activity (Temporal retries the group), naming the stage in the failure's details.
 */
export async function runStageGroup(
  input: AnalyzeInput,
  run: StageName[],
  prior: StagesOutput,
  group: StageGroupContext,
  fns: StageFns,
): Promise<StagesOutput> {
  const out: StagesOutput = { ...prior };
  let scheduledAt = activityInfo().scheduledAt;
  for (const stage of run) {
    const ctx: StageContext = { stage, pool: group.pool, fellBack: group.fellBack };
    try {
      // One span per stage: the group is one activity (one RunActivity span), and a trace still shows each stage.
      const at = scheduledAt;
      await inSpan(
        `lookout.stage.${stage}`,
        { attributes: { 'lookout.stage': stage, 'lookout.pool': group.pool } },
        async () => {
          if (stage === 'detect') out.detect = await fns.detect(input, ctx, at);
          else if (stage === 'extract') out.extract = await fns.extract(input, needed(out.detect, stage), ctx, at);
          else out.score = await fns.score(input, needed(out.detect, stage), needed(out.extract, stage), ctx, at);
        },
      );
    } catch (err) {
      const f = toFailure(err, activityInfo().attempt);
      const d = (f.details?.[0] ?? {}) as { attempt?: number };
      if (!f.nonRetryable) {
        Object.assign(f, { details: [{ ...d, stage }, ...(f.details ?? []).slice(1)] });
        throw f;
      }
      return {
        ...out,
        failure: {
          stage,
          errorClass: f.type ?? errorClassOf(err),
          message: f.message,
          attempts: d.attempt ?? activityInfo().attempt,
          retryable: false,
        },
      };
    }
    scheduledAt = Date.now();
    heartbeat({ stage });
  }
  return out;
}
