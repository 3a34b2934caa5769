/**
 * analyzeBatch: bulk mode for archives. One workflow carries many object
 * references through the same stages (detect -> extract -> score -> record),
 * one activity per stage for the whole batch, so the orchestration cost per
 * object is divided by the batch size. Each object still gets its own row
 * under its own deterministic workflow_id (pipeline:bucket/name#generation),
 * so the _latest view keeps one row per object whichever mode analysed it; a
 * bad object fails only its own row.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BatchEntry, BatchInput, LookoutActivities, RecordResult } from '../activities/types';
import type { StageSpec } from '../lib/pipelines';
import type { AnalysisSummary, StageFailure } from '../lib/types';
import { failureOf } from './analyze';

function stage(spec: StageSpec, objects: number) {
  return proxyActivities<LookoutActivities>({
    // Bulk mode routes each stage to its pool's queue; it has no GPU-to-CPU fallback.
    taskQueue: spec.taskQueue,
    // A batch runs its objects a few at a time: give it the time of that many single stages.
    startToCloseTimeout: spec.startToCloseMs * Math.max(1, Math.ceil(objects / 4)),
    heartbeatTimeout: '60s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
  });
}

export interface BatchResult {
  objects: number;
  ok: number;
  failed: number;
  records: RecordResult[];
}

/** Workflow id of an object analysed in a batch: the same as in per-object mode. */
function objectWorkflowId(input: BatchInput, i: number): string {
  const o = input.objects[i];
  return `${input.pipeline.name}:${o.bucket}/${o.name}#${o.generation}`;
}

export async function analyzeBatch(input: BatchInput): Promise<BatchResult> {
  const info = workflowInfo();
  const n = input.objects.length;
  const { stages } = input.pipeline;
  const ctx = (name: 'detect' | 'extract' | 'score') => ({ stage: name, pool: stages[name].pool, fellBack: false });
  const whole = (stageName: StageFailure['stage'], err: unknown): Array<BatchEntry<never>> => Array.from({ length: n }, () => ({ ok: false as const, failure: failureOf(stageName, err) }));

  let detects: Array<BatchEntry<Awaited<ReturnType<LookoutActivities['detect']>>>>;
  try {
    detects = await stage(stages.detect, n).detectBatch(input, ctx('detect'));
  } catch (err) {
    detects = whole('detect', err);
  }
  let extracts: Array<BatchEntry<Awaited<ReturnType<LookoutActivities['extract']>>>>;
  try {
    extracts = await stage(stages.extract, n).extractBatch(input, detects, ctx('extract'));
  } catch (err) {
    extracts = whole('extract', err);
  }
  let scores: Array<BatchEntry<Awaited<ReturnType<LookoutActivities['score']>>>>;
  try {
    scores = await stage(stages.score, n).scoreBatch(input, detects, extracts, ctx('score'));
  } catch (err) {
    scores = whole('score', err);
  }

  const summaries: AnalysisSummary[] = input.objects.map((object, i) => {
    const s: AnalysisSummary = {
      input: { pipeline: input.pipeline, object, trace: input.trace, runTag: input.runTag },
      workflowId: objectWorkflowId(input, i),
      runId: info.runId,
      workflowStartedAt: info.runStartTime.getTime(),
    };
    const d = detects[i];
    const e = extracts[i];
    const c = scores[i];
    if (d.ok) s.detect = d.value;
    if (e.ok) s.extract = e.value;
    if (c.ok) s.score = c.value;
    const failed = [d, e, c].find((x): x is { ok: false; failure: StageFailure } => !x.ok && 'failure' in x);
    if (failed) s.failure = failed.failure;
    return s;
  });
  const { recordBatch } = proxyActivities<LookoutActivities>({
    taskQueue: input.pipeline.recordQueue,
    startToCloseTimeout: '120s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 100 },
  });
  const records = await recordBatch(summaries);
  const failed = summaries.filter((s) => s.failure).length;
  return { objects: n, ok: n - failed, failed, records };
}
