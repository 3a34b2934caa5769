/**
 * analyzeBatch: bulk mode for archives. One workflow carries many object
 * references through the same stages (detect -> extract -> score -> record),
 * one activity per stage for the whole batch, so the orchestration cost per
 * object is divided by the batch size. Each object still gets its own row
 * under its own deterministic workflow_id (pipeline:bucket/name#generation),
 * so the _latest view keeps one row per object whichever mode analysed it; a
 * bad object fails only its own row.
 *
 * Each stage is called in chunks (core/chunks.ts) so that no activity payload nears Temporal's 2 MB limit
 * however large the batch or crowded its images; the chunks of a stage run concurrently.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BatchEntry, BatchInput, LookoutActivities } from '../activities/types';
import type { BatchResult } from '../core/workflows';

export type { BatchResult };
import { CHUNK_OBJECTS, CHUNK_WEIGHT, chunkIndices } from '../core/chunks';
import type { StageSpec } from '../core/pipelines';
import { RECORD_BATCH_OPTIONS, batchStageOptions } from '../core/policies';
import type { AnalysisSummary, DetectOutput, ExtractOutput, ScoreOutput, StageFailure } from '../core/types';
import { failureOf } from './analyze';

function stage(spec: StageSpec, objects: number) {
  // Bulk mode routes each stage to its pool's queue; it has no GPU-to-CPU fallback.
  return proxyActivities<LookoutActivities>({
    taskQueue: spec.taskQueue,
    ...batchStageOptions(spec.startToCloseMs, objects),
  });
}

/** Workflow id of an object analysed in a batch: the same as in per-object mode. */
function objectWorkflowId(input: BatchInput, i: number): string {
  const o = input.objects[i];
  return `${input.pipeline.name}:${o.bucket}/${o.name}#${o.generation}`;
}

type Entry<T> = BatchEntry<T>;

/** Runs a stage chunk by chunk (concurrently) and puts each object's entry back at its index. */
async function inChunks<T>(
  n: number,
  chunks: number[][],
  call: (idx: number[]) => Promise<Array<Entry<T>>>,
  whole: (err: unknown) => Entry<T>,
): Promise<Array<Entry<T>>> {
  const out = new Array<Entry<T>>(n);
  await Promise.all(
    chunks.map(async (idx) => {
      let r: Array<Entry<T>>;
      try {
        r = await call(idx);
      } catch (err) {
        r = idx.map(() => whole(err));
      }
      idx.forEach((i, k) => (out[i] = r[k]));
    }),
  );
  return out;
}

export async function analyzeBatch(input: BatchInput): Promise<BatchResult> {
  const info = workflowInfo();
  const n = input.objects.length;
  const { stages } = input.pipeline;
  const ctx = (name: 'detect' | 'extract' | 'score') => ({ stage: name, pool: stages[name].pool, fellBack: false });
  const fail =
    (stageName: StageFailure['stage']) =>
    (err: unknown): Entry<never> => ({ ok: false as const, failure: failureOf(stageName, err) });
  const sub = (idx: number[]): BatchInput => ({ ...input, objects: idx.map((i) => input.objects[i]) });
  const pick = <T>(a: T[], idx: number[]) => idx.map((i) => a[i]);

  const detects = await inChunks<DetectOutput>(
    n,
    chunkIndices(n, () => 1, CHUNK_OBJECTS, Infinity),
    (idx) => stage(stages.detect, idx.length).detectBatch(sub(idx), ctx('detect')),
    fail('detect'),
  );
  // After detection an object's payload grows with its boxes: chunk by weight.
  const chunks = chunkIndices(
    n,
    (i) => 1 + (detects[i].ok ? (detects[i] as { value: DetectOutput }).value.boxes.length : 0),
    CHUNK_OBJECTS,
    CHUNK_WEIGHT,
  );
  const extracts = await inChunks<ExtractOutput>(
    n,
    chunks,
    (idx) => stage(stages.extract, idx.length).extractBatch(sub(idx), pick(detects, idx), ctx('extract')),
    fail('extract'),
  );
  const scores = await inChunks<ScoreOutput>(
    n,
    chunks,
    (idx) =>
      stage(stages.score, idx.length).scoreBatch(sub(idx), pick(detects, idx), pick(extracts, idx), ctx('score')),
    fail('score'),
  );
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
    ...RECORD_BATCH_OPTIONS,
  });
  const records = (await Promise.all(chunks.map((idx) => recordBatch(pick(summaries, idx))))).flat();
  const failed = summaries.filter((s) => s.failure).length;
  return { objects: n, ok: n - failed, failed, records };
}
