/**
 * The activities: thin adapters between Temporal and the analysis methods. Each stage looks up the
 * method the pipeline names, checks it runs on the pool it was scheduled for, calls the method, and
 * adds where and when it ran (runStage). Dependencies come in, so tests inject fakes and workers
 * inject real clients.
 */
import { Context } from '@temporalio/activity';
import type { Pool, StageName } from '../core/pipelines';
import { BadInputError, SetupError, errorClassOf } from '../core/errors';
import { objectKey } from '../core/events';
import type {
  AnalysisSummary,
  AnalyzeInput,
  DetectOutput,
  ExtractOutput,
  ObjectRef,
  RasterBlockResult,
  SegmentResult,
} from '../core/types';
import type { ResultRow, WriteOptions } from '../io/results';
import { buildRow, writeResultRow } from '../io/results';
import type { MethodDefinition, MethodRuntime } from '../methods/method';
import { probeVideo, readSegment } from '../media/video';
import { activityInfo } from './stage';
import { frameSummary } from './segment';
import { rasterSummaryRecord } from './raster';
import os from 'node:os';
import { machineInfo } from '../runtime/machine';
import { BATCH_LANES, BATCH_OBJECT_ATTEMPTS, batchObjectBackoffMs } from '../core/policies';
import { heartbeat, runStage, runStageGroup, toFailure } from './stage';
import type { BatchEntry, BatchInput, LookoutActivities, RecordResult, StageContext } from './types';
import { log } from '../io/log';
import { observeRow } from '../io/metrics';
import { inSpan } from '../io/tracing';

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
  /** Videos with larger frames fail as TooManyPixels when planned (each frame is held decoded as RGB). Unset: no limit. */
  maxVideoPixels?: number;
}

/** Writes a row (or its stand-in) inside a `lookout.record` span, and counts it: rows by status, failed rows by error class, end to end. */
async function recordRow(
  rows: ActivityDeps['rows'],
  row: ResultRow,
  opts: WriteOptions = {},
): Promise<'row' | 'stand-in'> {
  const str = (k: string) => (typeof row[k] === 'string' ? (row[k] as string) : null);
  const landed = await inSpan(
    'lookout.record',
    {
      attributes: {
        'lookout.object_key': `${str('bucket')}/${str('name')}#${str('generation')}`,
        'lookout.workflow_id': row.workflow_id,
        'lookout.status': str('status') ?? undefined,
      },
    },
    () => writeResultRow(rows, row, Date.now, opts),
  );
  const standIn = landed === 'stand-in';
  // One line per object and worker: the row's outcome, with the key, workflow id and trace id of the activity's scope.
  log().info(
    {
      status: standIn ? 'failed' : str('status'),
      errorClass: standIn ? 'RowRejected' : (str('error_class') ?? undefined),
      endToEndMs: row.end_to_end_ms,
    },
    'row recorded',
  );
  observeRow({
    pipeline: str('pipeline') ?? 'unknown',
    status: standIn ? 'failed' : (str('status') ?? 'unknown'),
    errorClass: standIn ? 'RowRejected' : str('error_class'),
    failedStage: standIn ? null : str('failed_stage'),
    endToEndMs: typeof row.end_to_end_ms === 'number' ? row.end_to_end_ms : null,
  });
  return landed;
}

function currentWorkflowId(fallback: string): string {
  try {
    return Context.current().info.workflowExecution?.workflowId ?? fallback;
  } catch {
    return fallback;
  }
}

/** The workflow run an activity's rows belong to, and when its attempt was scheduled; `direct` outside an activity (tests). */
function currentRun(now: number): { runId: string; workflowStartedAt: number } {
  try {
    const ai = Context.current().info;
    return { runId: ai.workflowExecution?.runId ?? 'direct', workflowStartedAt: ai.currentAttemptScheduledTimestampMs };
  } catch {
    return { runId: 'direct', workflowStartedAt: now };
  }
}

/** This activity attempt's number; 1 outside an activity (tests call activities directly). */
function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

export function createActivities(deps: ActivityDeps): LookoutActivities {
  function method(name: string): MethodRuntime {
    const m = deps.methods.get(name);
    if (!m)
      throw new SetupError(
        'MethodNotLoaded',
        `this worker has not loaded method "${name}" (loaded: ${[...deps.methods.keys()].join(', ') || 'none'})`,
      );
    return m;
  }
  /** A task routed to the wrong pool's worker would mislabel where it ran: refuse it, whatever the stage. */
  function checkPool(ctx: StageContext): void {
    if (ctx.pool !== deps.pool)
      throw new SetupError(
        'PoolMismatch',
        `stage ${ctx.stage} scheduled for pool ${ctx.pool} ran on a ${deps.pool} worker`,
      );
  }
  /**
   * A retried attempt may follow a write that landed before the worker died or its completion was lost: its
   * rows are written only if the table does not hold them yet (io/results.ts, exactly one row per analysis).
   */
  const writeOpts = (afterFailedWrite = false): WriteOptions => ({ retried: afterFailedWrite || currentAttempt() > 1 });
  /**
   * A raster block's chip rows: handed to the batcher as chips finish and awaited together (as a video
   * segment's frames are); a retried block writes only the rows the table does not hold yet.
   */
  const chipRows = (input: AnalyzeInput, now: number) => {
    const { runId, workflowStartedAt } = currentRun(now);
    const writes: Array<Promise<void>> = [];
    const wopts = writeOpts();
    return {
      write: async (row: Omit<AnalysisSummary, 'input' | 'runId' | 'workflowStartedAt'>) => {
        const w = deps.rows.write(buildRow({ ...row, input, runId, workflowStartedAt }, Date.now()), wopts);
        w.catch(() => {}); // observed by flush, with the others
        writes.push(w);
      },
      flush: () => Promise.all(writes),
    };
  };
  /** Non-stage activities: errors mapped like stages', without a stage report. */
  const direct = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toFailure(err, currentAttempt());
    }
  };

  /** Runs one stage for every object of a batch, a few at a time; a passing fault is retried per object. */
  async function batchStage<T>(
    input: BatchInput,
    prev: Array<BatchEntry<unknown>> | undefined,
    run: (obj: AnalyzeInput, i: number) => Promise<T>,
    stage: StageName,
  ): Promise<Array<BatchEntry<T>>> {
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
        const obj: AnalyzeInput = {
          pipeline: input.pipeline,
          object: input.objects[i],
          trace: input.trace,
          runTag: input.runTag,
        };
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
            out[i] = {
              ok: false,
              failure: {
                stage,
                errorClass: f.type ?? errorClassOf(err),
                message: f.message ?? String(err),
                attempts: attempt,
                retryable: !f.nonRetryable,
              },
            };
            break;
          }
        }
        heartbeat({ stage, done: i + 1 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_LANES, input.objects.length) }, lane));
    return out;
  }

  async function detect(input: AnalyzeInput, ctx: StageContext, scheduledAt?: number) {
    return runStage(ctx, scheduledAt, async () => {
      checkPool(ctx);
      const w = await method(input.pipeline.method).detect(input);
      return { ...w, value: { machine: machineInfo(), ...w.value } };
    });
  }

  async function extract(input: AnalyzeInput, detect: DetectOutput, ctx: StageContext, scheduledAt?: number) {
    return runStage(ctx, scheduledAt, async () => {
      checkPool(ctx);
      return method(input.pipeline.method).extract(
        input,
        detect,
        `${currentWorkflowId('direct')}/${objectKey(input.object)}`,
      );
    });
  }

  async function score(
    input: AnalyzeInput,
    detect: DetectOutput,
    extract: ExtractOutput,
    ctx: StageContext,
    scheduledAt?: number,
  ) {
    return runStage(ctx, scheduledAt, async () => {
      checkPool(ctx);
      return method(input.pipeline.method).score(input, detect, extract);
    });
  }

  async function recordSummary(summary: AnalysisSummary, afterFailedWrite = false): Promise<RecordResult> {
    const row = buildRow(summary, Date.now());
    const landed = await recordRow(deps.rows, row, writeOpts(afterFailedWrite));
    return {
      analysisId: row.analysis_id,
      table: deps.table,
      status: landed === 'stand-in' || summary.failure ? 'failed' : 'ok',
    };
  }

  const acts: LookoutActivities = {
    detect: (input, ctx) => detect(input, ctx),
    extract: (input, d, ctx) => extract(input, d, ctx),
    score: (input, d, x, ctx) => score(input, d, x, ctx),

    async stages(input, run, prior, group) {
      const out = await runStageGroup(input, run, prior, group, { detect, extract, score });
      if (!group.record) return out;
      const summary: AnalysisSummary = {
        input,
        ...group.record,
        detect: out.detect,
        extract: out.extract,
        score: out.score,
        failure: out.failure,
      };
      try {
        return { ...out, record: await recordSummary(summary) };
      } catch {
        // BigQuery away (or the row refused twice): the analysis is done; the workflow's own record step, with
        // its unlimited retry, writes the row. Retrying this activity would run the stages again. The failed
        // write may have landed all the same (or been journaled and reloaded by `lookout up`): that step
        // looks the row up before inserting it, or the table would hold it twice.
        return { ...out, rowWriteFailed: true };
      }
    },

    async record(summary, opts): Promise<RecordResult> {
      // A refused row is replaced by a failed stand-in (RowRejected); errors become typed failures (refused twice: non-retryable).
      return direct(() => recordSummary(summary, opts?.afterFailedWrite === true));
    },

    async detectBatch(input, ctx) {
      return batchStage(input, undefined, (obj) => acts.detect(obj, ctx), 'detect');
    },
    async extractBatch(input, detects, ctx) {
      return batchStage(
        input,
        detects,
        (obj, i) => acts.extract(obj, (detects[i] as { value: DetectOutput }).value, ctx),
        'extract',
      );
    },
    async scoreBatch(input, detects, extracts, ctx) {
      return batchStage(
        input,
        extracts,
        (obj, i) =>
          acts.score(
            obj,
            (detects[i] as { value: DetectOutput }).value,
            (extracts[i] as { value: ExtractOutput }).value,
            ctx,
          ),
        'score',
      );
    },
    async recordBatch(summaries) {
      return direct(async () => {
        const now = Date.now();
        const rows = summaries.map((s) => buildRow(s, now));
        const opts = writeOpts();
        const landed = await Promise.all(rows.map((r) => recordRow(deps.rows, r, opts)));
        return rows.map((r, i) => ({
          analysisId: r.analysis_id,
          table: deps.table,
          status: landed[i] === 'stand-in' || summaries[i].failure ? ('failed' as const) : ('ok' as const),
        }));
      });
    },

    async planVideo(methodName, video) {
      return direct(async () => {
        const def = deps.definitions.get(methodName);
        if (!def?.accepts.videos)
          throw new SetupError('NotAVideoMethod', `method "${methodName}" does not analyse videos`);
        const defaultEvery = def.defaultVideoEvery ?? 1;
        // Frame-splitting methods probe the video themselves when they split it.
        if (def.accepts.videos === 'frames')
          return { mode: 'frames' as const, fps: 0, frames: 0, width: 0, height: 0, defaultEvery };
        const info = await probeVideo(await deps.videos.get(video));
        const max = deps.maxVideoPixels ?? Infinity;
        if (info.width * info.height > max) {
          throw new BadInputError(
            'TooManyPixels',
            `video frames are ${info.width}x${info.height} = ${info.width * info.height} pixels, over the limit of ${max} (LOOKOUT_VIDEO_MAX_PIXELS)`,
          );
        }
        return {
          mode: 'segments' as const,
          fps: info.fps,
          frames: info.frames,
          width: info.width,
          height: info.height,
          defaultEvery,
        };
      });
    },

    async analyzeSegment(task) {
      return direct(async (): Promise<SegmentResult> => {
        const m = method(task.input.pipeline.method);
        if (!m.analyzeSegment)
          throw new SetupError(
            'NotASegmentMethod',
            `method "${task.input.pipeline.method}" does not analyse video segments`,
          );
        const t0 = Date.now();
        const file = await deps.videos.get(task.input.object);
        const info = activityInfo();
        const { runId, workflowStartedAt } = currentRun(t0);
        const where = {
          runId,
          workflowStartedAt,
          taskQueue: info.taskQueue,
          host: os.hostname(),
          attempt: info.attempt,
          pool: deps.pool,
          machine: machineInfo(),
        };
        const out: SegmentResult = {
          frames: 0,
          ok: 0,
          failed: 0,
          top: null,
          state: undefined,
          runMs: 0,
          inferenceMs: 0,
        };
        const range = { start: task.start, end: task.end, stride: task.stride };
        const frames = readSegment(file, range, task.plan);
        // Rows are handed to the batcher in groups and awaited together at the end of the segment: awaiting each
        // write (a BigQuery insert round trip) per frame held analysis to ~2 frames/s, and one insert per frame cost
        // the emulator ~15 ms of CPU per frame (an insert's fixed cost is ~8 ms, a row in a group ~1 ms).
        const writes: Array<Promise<void>> = [];
        const wopts = writeOpts();
        const live = task.input.object.metadata?.['lookout-captured-at'] !== undefined;
        const group = { rows: [] as ResultRow[], timer: undefined as NodeJS.Timeout | undefined };
        const [groupRows, groupMs] = [50, live ? 250 : 1000];
        const handOver = () => {
          clearTimeout(group.timer);
          group.timer = undefined;
          // Written in one turn of the event loop: the batcher sends them as one insert.
          for (const row of group.rows.splice(0)) {
            const w = deps.rows.write(row, wopts);
            w.catch(() => {}); // observed below, with the others
            writes.push(w);
          }
        };
        let state: unknown;
        try {
          ({ state } = await m.analyzeSegment(
            {
              video: task.input.object,
              scene: task.input.scene,
              pipeline: task.input.pipeline.name,
              fps: task.plan.fps,
              width: task.plan.width,
              height: task.plan.height,
              segment: range,
              totalFrames: task.plan.frames,
            },
            frames,
            task.state,
            async (f) => {
              group.rows.push(buildRow(frameSummary(task, f, where, Date.now()), Date.now()));
              if (group.rows.length >= groupRows) handOver();
              else group.timer ??= setTimeout(handOver, groupMs);
              if (f.rowKind === 'alert') {
                out.alerts = (out.alerts ?? 0) + 1;
                return;
              }
              out.frames++;
              out.ok++;
              out.inferenceMs += f.ms.inference;
              if (f.score !== null && (!out.top || f.score > out.top.score))
                out.top = { frame: f.frame, score: f.score };
              heartbeat({ segment: task.index, frame: f.frame });
            },
          ));
        } finally {
          handOver(); // the rows of the frames analysed, whatever happened after them
        }
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
        if (!m.observeSegment)
          throw new SetupError(
            'NotAFittedMethod',
            `method "${task.input.pipeline.method}" does not observe video segments for fitting`,
          );
        const file = await deps.videos.get(task.input.object);
        const range = { start: task.start, end: task.end, stride: task.stride };
        const v = task.input.object;
        const key = `${task.input.scene ?? 'default'}/${currentWorkflowId('direct').replace(/[^A-Za-z0-9._-]+/g, '_')}/${v.bucket}/${v.name}#${v.generation}/s${String(task.index).padStart(6, '0')}`;
        return m.observeSegment(
          {
            video: v,
            scene: task.input.scene,
            fps: task.plan.fps,
            width: task.plan.width,
            height: task.plan.height,
            segment: range,
          },
          readSegment(file, range, task.plan),
          task.state,
          key,
        );
      });
    },

    async planRaster(input, opts) {
      return direct(async () => {
        const m = method(input.pipeline.method);
        if (!m.planRaster)
          throw new SetupError('NotARasterMethod', `method "${input.pipeline.method}" does not analyse rasters`);
        return m.planRaster(input, opts);
      });
    },

    async analyzeRasterBlock(task) {
      return direct(async (): Promise<RasterBlockResult> => {
        const m = method(task.input.pipeline.method);
        if (!m.analyzeRasterBlock)
          throw new SetupError('NotARasterMethod', `method "${task.input.pipeline.method}" does not analyse rasters`);
        if (task.pool && task.pool !== deps.pool)
          throw new SetupError(
            'PoolMismatch',
            `the raster block scheduled for pool ${task.pool} ran on a ${deps.pool} worker`,
          );
        const t0 = Date.now();
        const info = activityInfo();
        const rows = chipRows(task.input, t0);
        const r = await m.analyzeRasterBlock(
          task,
          {
            workflowId: currentWorkflowId('direct'),
            taskQueue: info.taskQueue,
            attempt: info.attempt,
            pool: deps.pool,
            fellBack: task.fellBack,
          },
          rows.write,
        );
        await rows.flush();
        return {
          block: task.block,
          chips: r.ok + r.failed,
          ok: r.ok,
          failed: r.failed,
          top: r.top,
          runMs: Date.now() - t0,
          inferenceMs: r.inferenceMs,
          ...(r.pendingHead ? { pendingHead: true } : {}),
        };
      });
    },

    async classifyRasterBlock(task) {
      return direct(async (): Promise<RasterBlockResult> => {
        const m = method(task.input.pipeline.method);
        if (!m.classifyRasterBlock)
          throw new SetupError(
            'NotARasterMethod',
            `method "${task.input.pipeline.method}" has no chip classifier stage`,
          );
        if (task.pool && task.pool !== deps.pool)
          throw new SetupError(
            'PoolMismatch',
            `the chip classifier scheduled for pool ${task.pool} ran on a ${deps.pool} worker`,
          );
        const t0 = Date.now();
        const info = activityInfo();
        const rows = chipRows(task.input, t0);
        const r = await m.classifyRasterBlock(
          task,
          {
            workflowId: currentWorkflowId('direct'),
            taskQueue: info.taskQueue,
            attempt: info.attempt,
            pool: deps.pool,
            fellBack: task.fellBack,
          },
          rows.write,
        );
        await rows.flush();
        return {
          block: task.block,
          chips: r.ok + r.failed,
          ok: r.ok,
          failed: r.failed,
          top: null,
          runMs: Date.now() - t0,
          inferenceMs: r.inferenceMs,
        };
      });
    },

    async finishRaster(input, plan, totals) {
      return direct(async () => {
        const m = method(input.pipeline.method);
        if (!m.finishRaster)
          throw new SetupError('NotARasterMethod', `method "${input.pipeline.method}" does not analyse rasters`);
        const t0 = Date.now();
        const out = await m.finishRaster(input, plan, totals.pairWith ? { pairWith: totals.pairWith } : undefined);
        const info = activityInfo();
        let runId = 'direct';
        try {
          runId = Context.current().info.workflowExecution?.runId ?? runId;
        } catch {
          /* outside an activity */
        }
        const workflowId = currentWorkflowId('direct');
        const now = Date.now();
        const raster = rasterSummaryRecord(plan, out, totals);
        const details: Record<string, number | string> = {
          kind: 'raster-summary',
          chips: out.chips,
          chips_ok: totals.ok,
          chips_failed: out.chipsFailed,
          blocks: plan.blocks,
          runs: totals.runs,
          format: plan.format,
          dtype: plan.dtype,
          archive: plan.archive,
          notes: plan.notes.join('; '),
        };
        if (out.bankSize !== null) details.archive_bank_size = out.bankSize;
        const partial = out.chipsFailed > 0;
        const summary: AnalysisSummary = {
          input,
          workflowId,
          runId,
          workflowStartedAt: totals.startedAt,
          detect: {
            report: {
              stage: 'detect',
              pool: deps.pool,
              taskQueue: info.taskQueue,
              host: os.hostname(),
              attempt: info.attempt,
              scheduledAt: totals.startedAt,
              startedAt: totals.startedAt,
              completedAt: t0,
              inferenceMs: 0,
              batchSize: plan.chips,
            },
            machine: machineInfo(),
            width: plan.width,
            height: plan.height,
            format: plan.format,
            boxes: [],
          },
          score: {
            report: {
              stage: 'score',
              pool: deps.pool,
              taskQueue: info.taskQueue,
              host: os.hostname(),
              attempt: info.attempt,
              scheduledAt: t0,
              startedAt: t0,
              completedAt: now,
              inferenceMs: 0,
            },
            label: partial ? 'raster-partial' : 'raster',
            score: raster.change_score ?? raster.novelty_score ?? null,
            objects: [],
            details,
          },
          raster,
        };
        const row = buildRow(summary, now);
        const landed = await recordRow(deps.rows, row, writeOpts());
        return {
          ...out,
          record: { analysisId: row.analysis_id, table: deps.table, status: landed === 'stand-in' ? 'failed' : 'ok' },
        };
      });
    },

    async pairAcquisition(input, plan) {
      return direct(async () => {
        const m = method(input.pipeline.method);
        return m.pairAcquisition ? m.pairAcquisition(input, plan) : [];
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

    async refitScene(methodName, scene, opts) {
      return direct(async () => {
        const m = method(methodName);
        if (!m.refitScene)
          throw new SetupError('NotAFittedMethod', `method "${methodName}" does not learn normal as footage flows`);
        return m.refitScene(scene, opts);
      });
    },

    async listScenes(methodName) {
      return direct(async () => {
        const m = method(methodName);
        if (!m.scenes) throw new SetupError('NotAFittedMethod', `method "${methodName}" has no scene models`);
        return m.scenes();
      });
    },
  };
  return acts;
}
