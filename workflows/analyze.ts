/**
 * analyzeObject: detect -> extract -> score -> record, one object version per run.
 *
 * Deterministic: no I/O here, only activity calls. Activities receive object
 * references and small intermediate results (boxes, feature vectors), never
 * image bytes. Bad input ends the chain with a failure that is still recorded
 * as a row; passing faults are retried with backoff by Temporal.
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { StageName, StageSpec } from '../core/pipelines';
import { RECORD_RETRY } from '../core/policies';
import type { AnalysisSummary, AnalyzeInput, StageFailure } from '../core/types';
import type { LookoutActivities, RecordResult, StageContext } from '../activities/types';

/** Attempts for a stage before a passing fault becomes a failed row. */
export const STAGE_MAX_ATTEMPTS = 5;

const RETRY = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: STAGE_MAX_ATTEMPTS,
} as const;

function stageActivities(spec: StageSpec, queue: string, scheduleToStartMs?: number) {
  return proxyActivities<LookoutActivities>({
    taskQueue: queue,
    startToCloseTimeout: spec.startToCloseMs,
    heartbeatTimeout: 30_000,
    ...(scheduleToStartMs ? { scheduleToStartTimeout: scheduleToStartMs } : {}),
    retry: RETRY,
  });
}

function isScheduleToStartTimeout(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

/** Runs one stage on its pool; a GPU stage that no GPU worker picks up in time runs on its CPU fallback queue. */
async function runStage<T>(name: StageName, spec: StageSpec, call: (acts: LookoutActivities, ctx: StageContext) => Promise<T>): Promise<T> {
  const primary = stageActivities(spec, spec.taskQueue, spec.fallback?.scheduleToStartMs);
  try {
    return await call(primary, { stage: name, pool: spec.pool, fellBack: false });
  } catch (err) {
    if (!spec.fallback || !isScheduleToStartTimeout(err)) throw err;
    log.warn('no worker picked up the stage in time; running it on the fallback pool', { stage: name, from: spec.taskQueue, to: spec.fallback.taskQueue });
    const fallback = stageActivities(spec, spec.fallback.taskQueue);
    return await call(fallback, { stage: name, pool: 'cpu', fellBack: true });
  }
}

export function failureOf(stage: StageFailure['stage'], err: unknown): StageFailure {
  let cause: unknown = err;
  if (err instanceof ActivityFailure && err.cause) cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const detail = (cause.details?.[0] ?? {}) as { attempt?: number };
    const attempts = detail.attempt ?? STAGE_MAX_ATTEMPTS;
    return { stage, errorClass: cause.type ?? 'ApplicationFailure', message: cause.message, attempts, retryable: !cause.nonRetryable };
  }
  if (cause instanceof TimeoutFailure) {
    return { stage, errorClass: `Timeout${cause.timeoutType ?? ''}`, message: cause.message, attempts: STAGE_MAX_ATTEMPTS, retryable: true };
  }
  const e = cause as Error;
  return { stage, errorClass: e?.name ?? 'Error', message: e?.message ?? String(cause), attempts: STAGE_MAX_ATTEMPTS, retryable: true };
}

export interface AnalyzeResult {
  workflowId: string;
  status: 'ok' | 'failed';
  errorClass?: string;
  label?: string;
  score?: number | null;
  objects: number;
  record: RecordResult;
}

export async function analyzeObject(input: AnalyzeInput): Promise<AnalyzeResult> {
  const info = workflowInfo();
  const summary: AnalysisSummary = {
    input,
    workflowId: info.workflowId,
    runId: info.runId,
    workflowStartedAt: info.runStartTime.getTime(),
  };
  const { stages } = input.pipeline;
  let current: StageName = 'detect';
  try {
    const detect = await runStage('detect', stages.detect, (a, ctx) => a.detect(input, ctx));
    summary.detect = detect;
    current = 'extract';
    const extract = await runStage('extract', stages.extract, (a, ctx) => a.extract(input, detect, ctx));
    summary.extract = extract;
    current = 'score';
    summary.score = await runStage('score', stages.score, (a, ctx) => a.score(input, detect, extract, ctx));
  } catch (err) {
    summary.failure = failureOf(current, err);
    log.warn('analysis failed', { stage: current, errorClass: summary.failure.errorClass, message: summary.failure.message });
  }

  const { record } = proxyActivities<LookoutActivities>({
    taskQueue: input.pipeline.recordQueue,
    startToCloseTimeout: '60s',
    // A row must not be lost to a BigQuery outage however long: unlimited attempts (core/policies.ts).
    retry: RECORD_RETRY,
  });
  const rec = await record(summary);
  return {
    workflowId: info.workflowId,
    status: summary.failure ? 'failed' : 'ok',
    errorClass: summary.failure?.errorClass,
    label: summary.score?.label,
    score: summary.score?.score,
    objects: summary.detect?.boxes.length ?? 0,
    record: rec,
  };
}
