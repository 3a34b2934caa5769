/**
 * analyzeObject: detect -> extract -> score -> record, one object version per run.
 *
 * Deterministic: no I/O here, only activity calls. Activities receive object
 * references and small intermediate results (boxes, feature vectors), never
 * image bytes. Bad input ends the chain with a failure that is still recorded
 * as a row; passing faults are retried with backoff by Temporal.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Pool, StageName, StageSpec } from '../core/pipelines';
import {
  LOCAL_RECORD_OPTIONS,
  RECORD_OPTIONS,
  STAGE_HEARTBEAT_MS,
  STAGE_MAX_ATTEMPTS,
  STAGE_RETRY,
  stageGroupTimeoutMs,
} from '../core/policies';
import type { AnalysisSummary, AnalyzeInput, RecordResult, StageFailure } from '../core/types';
import type { LookoutActivities, StageContext, StagesOutput } from '../activities/types';
import type { AnalyzeResult } from '../core/workflows';

export type { AnalyzeResult };

export { STAGE_MAX_ATTEMPTS };

function stageActivities(spec: StageSpec, queue: string, scheduleToStartMs?: number) {
  return proxyActivities<LookoutActivities>({
    taskQueue: queue,
    startToCloseTimeout: spec.startToCloseMs,
    heartbeatTimeout: STAGE_HEARTBEAT_MS,
    ...(scheduleToStartMs ? { scheduleToStartTimeout: scheduleToStartMs } : {}),
    retry: STAGE_RETRY,
  });
}

export function isScheduleToStartTimeout(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

/**
 * Runs an activity on its pool's queue; one placed on a GPU pool that no GPU worker picks up in time runs on the
 * CPU fallback queue. `activities(queue, scheduleToStartMs)` makes the proxies with the caller's own options.
 */
export async function withPoolFallback<T>(
  spec: StageSpec,
  activities: (queue: string, scheduleToStartMs?: number) => LookoutActivities,
  call: (acts: LookoutActivities, where: { pool: Pool; fellBack: boolean }) => Promise<T>,
  what: Record<string, string>,
): Promise<T> {
  try {
    return await call(activities(spec.taskQueue, spec.fallback?.scheduleToStartMs), {
      pool: spec.pool,
      fellBack: false,
    });
  } catch (err) {
    if (!spec.fallback || !isScheduleToStartTimeout(err)) throw err;
    log.warn('no worker picked up the activity in time; running it on the fallback pool', {
      ...what,
      from: spec.taskQueue,
      to: spec.fallback.taskQueue,
    });
    return await call(activities(spec.fallback.taskQueue), { pool: 'cpu', fellBack: true });
  }
}

/** Runs one stage on its pool (with the GPU → CPU fallback). */
async function runStage<T>(
  name: StageName,
  spec: StageSpec,
  call: (acts: LookoutActivities, ctx: StageContext) => Promise<T>,
): Promise<T> {
  return withPoolFallback(
    spec,
    (queue, scheduleToStartMs) => stageActivities(spec, queue, scheduleToStartMs),
    (acts, where) => call(acts, { stage: name, ...where }),
    { stage: name },
  );
}

export function failureOf(stage: StageFailure['stage'], err: unknown): StageFailure {
  let cause: unknown = err;
  if (err instanceof ActivityFailure && err.cause) cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const detail = (cause.details?.[0] ?? {}) as { attempt?: number; stage?: StageName };
    const attempts = detail.attempt ?? STAGE_MAX_ATTEMPTS;
    // A group of stages run in one activity names the stage that failed in the failure's details.
    if (detail.stage) stage = detail.stage;
    return {
      stage,
      errorClass: cause.type ?? 'ApplicationFailure',
      message: cause.message,
      attempts,
      retryable: !cause.nonRetryable,
    };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      stage,
      errorClass: `Timeout${cause.timeoutType ?? ''}`,
      message: cause.message,
      attempts: STAGE_MAX_ATTEMPTS,
      retryable: true,
    };
  }
  const e = cause as Error;
  return {
    stage,
    errorClass: e?.name ?? 'Error',
    message: e?.message ?? String(cause),
    attempts: STAGE_MAX_ATTEMPTS,
    retryable: true,
  };
}

/** Consecutive stages on the same queue, with no fallback queue (a GPU stage may move to the CPU pool on its own). */
export function stageGroups(stages: Record<StageName, StageSpec>): StageName[][] {
  const order: StageName[] = ['detect', 'extract', 'score'];
  const groups: StageName[][] = [];
  for (const s of order) {
    const last = groups[groups.length - 1];
    const prev = last ? stages[last[last.length - 1]] : undefined;
    if (last && prev && !prev.fallback && !stages[s].fallback && prev.taskQueue === stages[s].taskQueue) last.push(s);
    else groups.push([s]);
  }
  return groups;
}

/**
 * Runs the stages group by group: one activity per group (a group of one is the stage's own activity call).
 * The last group also writes the row when `recordInGroup` (one round trip for the whole analysis); returns
 * the record result when it did, and whether it tried and failed (the row may have landed all the same).
 */
async function runGroups(
  input: AnalyzeInput,
  summary: AnalysisSummary,
  at: (s: StageName) => void,
  recordInGroup: boolean,
): Promise<{ record?: RecordResult; rowWriteFailed?: boolean }> {
  const { stages } = input.pipeline;
  const groups = stageGroups(stages);
  for (const [gi, group] of groups.entries()) {
    at(group[0]);
    const spec = stages[group[0]];
    if (group.length === 1 || spec.fallback) {
      const s = group[0];
      if (s === 'detect') summary.detect = await runStage('detect', spec, (a, ctx) => a.detect(input, ctx));
      else if (s === 'extract')
        summary.extract = await runStage('extract', spec, (a, ctx) => a.extract(input, summary.detect!, ctx));
      else
        summary.score = await runStage('score', spec, (a, ctx) =>
          a.score(input, summary.detect!, summary.extract!, ctx),
        );
      continue;
    }
    const startToCloseTimeout = stageGroupTimeoutMs(group.map((g) => stages[g].startToCloseMs));
    // Since lookout-local-stages, with the pipeline's localStages: the group runs as a local activity of this
    // workflow's worker (it loads the same activities): no activity task on the pool's queue and no second
    // workflow task. A group with a GPU fallback never gets here (it runs stage by stage above).
    const { stages: run } =
      input.pipeline.localStages === true && patched('lookout-local-stages')
        ? proxyLocalActivities<LookoutActivities>({
            startToCloseTimeout,
            retry: STAGE_RETRY,
            localRetryThreshold: '60s',
          })
        : proxyActivities<LookoutActivities>({
            taskQueue: spec.taskQueue,
            startToCloseTimeout,
            heartbeatTimeout: STAGE_HEARTBEAT_MS,
            retry: STAGE_RETRY,
          });
    const prior: StagesOutput = { detect: summary.detect, extract: summary.extract };
    const last = gi === groups.length - 1;
    const record =
      recordInGroup && last
        ? { workflowId: summary.workflowId, runId: summary.runId, workflowStartedAt: summary.workflowStartedAt }
        : undefined;
    const out = await run(input, group, prior, { pool: spec.pool, fellBack: false, ...(record ? { record } : {}) });
    summary.detect = out.detect;
    summary.extract = out.extract;
    summary.score = out.score;
    if (out.failure) {
      at(out.failure.stage as StageName);
      summary.failure = out.failure;
      return { record: out.record, rowWriteFailed: out.rowWriteFailed };
    }
    if (last) return { record: out.record, rowWriteFailed: out.rowWriteFailed };
  }
  return {};
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
  /** The row, when the last stage group wrote it. */
  let recorded: RecordResult | undefined;
  /** The last group tried to write the row and failed: the record step looks it up before inserting. */
  let rowWriteFailed = false;
  // Since lookout-stage-groups: stages that share a queue run in one activity, and the row is written by the
  // last group or, when it did not (a group that failed on a passing fault, BigQuery away, stages not grouped),
  // by a local activity (each can be turned off per pipeline; see docs/performance.md). Histories of runs
  // started before the patch take the old path on replay.
  const newer =
    (input.pipeline.groupStages !== false || input.pipeline.localRecord !== false) && patched('lookout-stage-groups');
  const grouped = newer && input.pipeline.groupStages !== false;
  const localRecord = newer && input.pipeline.localRecord !== false;
  try {
    if (grouped) {
      const group = await runGroups(input, summary, (s) => (current = s), localRecord);
      recorded = group.record;
      rowWriteFailed = group.rowWriteFailed === true;
    } else {
      const detect = await runStage('detect', stages.detect, (a, ctx) => a.detect(input, ctx));
      summary.detect = detect;
      current = 'extract';
      const extract = await runStage('extract', stages.extract, (a, ctx) => a.extract(input, detect, ctx));
      summary.extract = extract;
      current = 'score';
      summary.score = await runStage('score', stages.score, (a, ctx) => a.score(input, detect, extract, ctx));
    }
  } catch (err) {
    summary.failure = failureOf(current, err);
    log.warn('analysis failed', {
      stage: current,
      errorClass: summary.failure.errorClass,
      message: summary.failure.message,
    });
  }

  const { record } = localRecord
    ? proxyLocalActivities<LookoutActivities>(LOCAL_RECORD_OPTIONS)
    : proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...RECORD_OPTIONS });
  const rec = recorded ?? (await (rowWriteFailed ? record(summary, { afterFailedWrite: true }) : record(summary)));
  return {
    workflowId: info.workflowId,
    status: summary.failure ? 'failed' : 'ok',
    errorClass: summary.failure?.errorClass,
    label: summary.score?.label,
    score: summary.score?.score,
    objects: summary.detect?.boxes.length ?? 0,
    scored: summary.score?.objects,
    details: summary.score?.details,
    record: rec,
  };
}
