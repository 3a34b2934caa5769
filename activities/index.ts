/**
 * The activities: thin adapters between Temporal and the analysis methods. Each stage looks up the
 * method the pipeline names, checks it runs on the pool it was scheduled for, calls the method, and
 * adds where and when it ran (runStage). Dependencies come in, so tests inject fakes and workers
 * inject real clients.
 */
import { Context } from '@temporalio/activity';
import type { Pool, StageName } from '../core/pipelines';
import { SetupError, errorClassOf } from '../core/errors';
import { objectKey } from '../core/events';
import type { AnalyzeInput, DetectOutput, ExtractOutput, ObjectRef, SegmentResult } from '../core/types';
import type { ResultRow, WriteOptions } from '../io/results';
import { buildRow, writeResultRow } from '../io/results';
import type { MethodDefinition, MethodRuntime } from '../methods/method';
import { probeVideo, readSegment } from '../media/video';
import { activityInfo } from './stage';
import { frameSummary } from './segment';
import os from 'node:os';
import { machineInfo } from '../runtime/machine';
import { BATCH_LANES, BATCH_OBJECT_ATTEMPTS, batchObjectBackoffMs } from '../core/policies';
import { heartbeat, runStage, toFailure } from './stage';
import type { BatchEntry, BatchInput, LookoutActivities, RecordResult, StageContext } from './types';

export interface ActivityDeps {
  /** The methods this worker loaded, by method name (those of the pipelines it serves). */
  methods: ReadonlyMap<string, MethodRuntime>;
  /** Video methods: definitions (what a method does with videos, its default stride) by method name. */
  definitions: ReadonlyMap<string, Pick<MethodDefinition, 'accepts' | 'defaultVideoEvery'>>;
  /** Videos as local files (ffmpeg seeks in them segment by segment). */
  videos: { get(ref: ObjectRef): Promise<string> };
  rows: { write(row: ResultRow, opts?: WriteOptions): Promise<void> };
  /** Fully qualified results table, reported back to the workflow. */
  table: string;
  pool: Pool;
}

function currentWorkflowId(fallback: string): string {
  try {
    return Context.current().info.workflowExecution?.workflowId ?? fallback;
  } catch {
    return fallback;
  }
}

export function createActivities(deps: ActivityDeps): LookoutActivities {
  function method(name: string): MethodRuntime {
    const m = deps.methods.get(name);
    if (!m) throw new SetupError('MethodNotLoaded', `this worker has not loaded method "${name}" (loaded: ${[...deps.methods.keys()].join(', ') || 'none'})`);
    return m;
  }
  /** A task routed to the wrong pool's worker would mislabel where it ran: refuse it, whatever the stage. */
  function checkPool(ctx: StageContext): void {
    if (ctx.pool !== deps.pool) throw new SetupError('PoolMismatch', `stage ${ctx.stage} scheduled for pool ${ctx.pool} ran on a ${deps.pool} worker`);
  }
  /**
   * A retried attempt may follow a write that landed before the worker died or its completion was lost: its
   * rows are written only if the table does not hold them yet (io/results.ts, exactly one row per analysis).
   */
  const writeOpts = (): WriteOptions => {
    try {
      return { retried: Context.current().info.attempt > 1 };
    } catch {
      return {}; // outside an activity (tests): a first write
    }
  };
  /** Non-stage activities: errors mapped like stages', without a stage report. */
  const direct = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      let attempt = 1;
      try {
        attempt = Context.current().info.attempt;
      } catch {
        /* outside an activity */
      }
      throw toFailure(err, attempt);
    }
  };

  /** Runs one stage for every object of a batch, a few at a time; a passing fault is retried per object. */
  async function batchStage<T>(input: BatchInput, prev: Array<BatchEntry<unknown>> | undefined, run: (obj: AnalyzeInput, i: number) => Promise<T>, stage: StageName): Promise<Array<BatchEntry<T>>> {
    const out = new Array<BatchEntry<T>>(input.objects.length);
    let next = 0;
    const lane = async () => {
      for (;;) {
        const i = next++;
        if (i >= input.objects.length) return;
        if (prev && !prev[i].ok) {
          out[i] = { ok: false, skipped: true };
          continue;
        }
        const obj: AnalyzeInput = { pipeline: input.pipeline, object: input.objects[i], trace: input.trace, runTag: input.runTag };
        for (let attempt = 1; ; attempt++) {
          try {
            out[i] = { ok: true, value: await run(obj, i) };
            break;
          } catch (err) {
            const f = err as { type?: string; nonRetryable?: boolean; message?: string };
            if (!f.nonRetryable && attempt < BATCH_OBJECT_ATTEMPTS) {
              await new Promise((r) => setTimeout(r, batchObjectBackoffMs(attempt)));
              continue;
            }
            out[i] = { ok: false, failure: { stage, errorClass: f.type ?? errorClassOf(err), message: f.message ?? String(err), attempts: attempt, retryable: !f.nonRetryable } };
            break;
          }
        }
        heartbeat({ stage, done: i + 1 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_LANES, input.objects.length) }, lane));
    return out;
  }

  const acts: LookoutActivities = {
    async detect(input, ctx) {
      return runStage(ctx, async () => {
        checkPool(ctx);
        const w = await method(input.pipeline.method).detect(input);
        return { ...w, value: { machine: machineInfo(), ...w.value } };
      });
    },

    async extract(input, detect, ctx) {
      return runStage(ctx, async () => {
        checkPool(ctx);
        return method(input.pipeline.method).extract(input, detect, `${currentWorkflowId('direct')}/${objectKey(input.object)}`);
      });
    },

    async score(input, detect, extract, ctx) {
      return runStage(ctx, async () => {
        checkPool(ctx);
        return method(input.pipeline.method).score(input, detect, extract);
      });
    },

    async record(summary): Promise<RecordResult> {
      // A refused row is replaced by a failed stand-in (RowRejected); errors become typed failures (refused twice: non-retryable).
      return direct(async () => {
        const row = buildRow(summary, Date.now());
        const landed = await writeResultRow(deps.rows, row, Date.now, writeOpts());
        return { analysisId: row.analysis_id, table: deps.table, status: landed === 'stand-in' || summary.failure ? 'failed' : 'ok' };
      });
    },

    async detectBatch(input, ctx) {
      return batchStage(input, undefined, (obj) => acts.detect(obj, ctx), 'detect');
    },
    async extractBatch(input, detects, ctx) {
      return batchStage(input, detects, (obj, i) => acts.extract(obj, (detects[i] as { value: DetectOutput }).value, ctx), 'extract');
    },
    async scoreBatch(input, detects, extracts, ctx) {
      return batchStage(input, extracts, (obj, i) => acts.score(obj, (detects[i] as { value: DetectOutput }).value, (extracts[i] as { value: ExtractOutput }).value, ctx), 'score');
    },
    async recordBatch(summaries) {
      return direct(async () => {
        const now = Date.now();
        const rows = summaries.map((s) => buildRow(s, now));
        const opts = writeOpts();
        const landed = await Promise.all(rows.map((r) => writeResultRow(deps.rows, r, Date.now, opts)));
        return rows.map((r, i) => ({ analysisId: r.analysis_id, table: deps.table, status: landed[i] === 'stand-in' || summaries[i].failure ? ('failed' as const) : ('ok' as const) }));
      });
    },

    async planVideo(methodName, video) {
      return direct(async () => {
        const def = deps.definitions.get(methodName);
        if (!def?.accepts.videos) throw new SetupError('NotAVideoMethod', `method "${methodName}" does not analyse videos`);
        const defaultEvery = def.defaultVideoEvery ?? 1;
        // Frame-splitting methods probe the video themselves when they split it.
        if (def.accepts.videos === 'frames') return { mode: 'frames' as const, fps: 0, frames: 0, width: 0, height: 0, defaultEvery };
        const info = await probeVideo(await deps.videos.get(video));
        return { mode: 'segments' as const, fps: info.fps, frames: info.frames, width: info.width, height: info.height, defaultEvery };
      });
    },

    async analyzeSegment(task) {
      return direct(async (): Promise<SegmentResult> => {
        const m = method(task.input.pipeline.method);
        if (!m.analyzeSegment) throw new SetupError('NotASegmentMethod', `method "${task.input.pipeline.method}" does not analyse video segments`);
        const t0 = Date.now();
        const file = await deps.videos.get(task.input.object);
        const info = activityInfo();
        let runId = 'direct';
        let workflowStartedAt = t0;
        try {
          const ai = Context.current().info;
          runId = ai.workflowExecution?.runId ?? runId;
          workflowStartedAt = ai.currentAttemptScheduledTimestampMs;
        } catch {
          /* outside an activity (tests) */
        }
        const where = { runId, workflowStartedAt, taskQueue: info.taskQueue, host: os.hostname(), attempt: info.attempt, pool: deps.pool, machine: machineInfo() };
        const out: SegmentResult = { frames: 0, ok: 0, failed: 0, top: null, state: undefined, runMs: 0, inferenceMs: 0 };
        const range = { start: task.start, end: task.end, stride: task.stride };
        const frames = readSegment(file, range, task.plan);
        // Rows are handed to the batcher as frames finish and awaited together at the end of the segment: awaiting
        // each write (a BigQuery insert round trip) per frame held analysis to ~2 frames/s.
        const writes: Array<Promise<void>> = [];
        const wopts = writeOpts();
        const { state } = await m.analyzeSegment(
          { video: task.input.object, scene: task.input.scene, fps: task.plan.fps, width: task.plan.width, height: task.plan.height, segment: range },
          frames,
          task.state,
          async (f) => {
            const w = deps.rows.write(buildRow(frameSummary(task, f, where, Date.now()), Date.now()), wopts);
            w.catch(() => {}); // observed below, with the others
            writes.push(w);
            out.frames++;
            out.ok++;
            out.inferenceMs += f.ms.inference;
            if (f.score !== null && (!out.top || f.score > out.top.score)) out.top = { frame: f.frame, score: f.score };
            heartbeat({ segment: task.index, frame: f.frame });
          },
        );
        // The segment is done only when its rows are written: a retry after a failed write writes them again
        // under the same analysis ids.
        await Promise.all(writes);
        out.state = state;
        out.runMs = Date.now() - t0;
        return out;
      });
    },

    async observeSegment(task) {
      return direct(async () => {
        const m = method(task.input.pipeline.method);
        if (!m.observeSegment) throw new SetupError('NotAFittedMethod', `method "${task.input.pipeline.method}" does not observe video segments for fitting`);
        const file = await deps.videos.get(task.input.object);
        const range = { start: task.start, end: task.end, stride: task.stride };
        const v = task.input.object;
        const key = `${task.input.scene ?? 'default'}/${currentWorkflowId('direct').replace(/[^A-Za-z0-9._-]+/g, '_')}/${v.bucket}/${v.name}#${v.generation}/s${String(task.index).padStart(6, '0')}`;
        return m.observeSegment({ video: v, scene: task.input.scene, fps: task.plan.fps, width: task.plan.width, height: task.plan.height, segment: range }, readSegment(file, range, task.plan), task.state, key);
      });
    },

    async splitVideo(methodName, video, every) {
      return direct(async () => {
        const m = method(methodName);
        if (!m.splitVideo) throw new SetupError('NotAVideoMethod', `method "${methodName}" does not analyse videos`);
        return m.splitVideo(video, every);
      });
    },

    async fitScene(methodName, scene, refs, opts) {
      return direct(async () => {
        const m = method(methodName);
        if (!m.fitScene) throw new SetupError('NotAFittedMethod', `method "${methodName}" has no scene model to fit`);
        return m.fitScene(scene, refs, opts);
      });
    },
  };
  return acts;
}
