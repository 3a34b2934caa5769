/**
 * analyzeRaster: one satellite or aerial raster, any size.
 *   planRaster (header by range reads: size, bands, georeference, chip grid, before acquisition)
 *   -> analyzeRasterBlock per block of blockChips² chips, `parallelism` at a time (each writes its chips' rows)
 *      [two-stage placement (a chip classifier's manifest places backbone and head on different pools): the block
 *       runs on the backbone's queue and classifyRasterBlock on the head's queue writes the block's rows; a
 *       GPU-placed activity that no GPU worker takes in time runs on the CPU queue (rows say fell_back)]
 *   -> finishRaster (heatmap, GeoJSON, archive bank, the summary row).
 * Progress is the `progress` query. History stays bounded: after RASTER_BLOCKS_PER_RUN blocks the workflow
 * continues as a new run carrying the plan and the totals. A raster that cannot be planned (bad input) is
 * one failed row; a block that fails after its retries counts its chips as failed and the summary says
 * the result is partial (label raster-partial, raster.chips_failed).
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  continueAsNew,
  defineQuery,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { LookoutActivities } from '../activities/types';
import { rasterPlacement, type Pool, type StageSpec } from '../core/pipelines';
import {
  RASTER_BLOCK_OPTIONS,
  RASTER_BLOCKS_PER_RUN,
  RASTER_FINISH_OPTIONS,
  RASTER_HEAD_OPTIONS,
  RASTER_PLAN_OPTIONS,
  RECORD_OPTIONS,
} from '../core/policies';
import type { RasterPlan, RasterRepair } from '../core/types';
import type { AnalyzeRasterInput, AnalyzeRasterResult, RasterProgress } from '../core/workflows';
import { failureOf, withPoolFallback } from './analyze';

export type { AnalyzeRasterInput, AnalyzeRasterResult, RasterProgress };

export const rasterProgressQuery = defineQuery<RasterProgress>('progress');

export async function analyzeRaster(input: AnalyzeRasterInput): Promise<AnalyzeRasterResult> {
  const info = workflowInfo();
  const progress: RasterProgress = input.resume?.progress ?? {
    phase: 'planning',
    chips: 0,
    chipsDone: 0,
    chipsFailed: 0,
    blocks: 0,
    blocksDone: 0,
    runs: 1,
  };
  setHandler(rasterProgressQuery, () => progress);
  const o = input.object;
  const rasterId = `${o.bucket}/${o.name}#${o.generation}`;
  // Raster work runs on the pipeline's CPU queue (the fallback of a GPU stage): the reader and s2cloudless are CPU code.
  const spec = input.pipeline.stages.extract;
  const queue = spec.fallback?.taskQueue ?? spec.taskQueue;
  const planActs = proxyActivities<LookoutActivities>({ taskQueue: queue, ...RASTER_PLAN_OPTIONS });
  const finishActs = proxyActivities<LookoutActivities>({ taskQueue: queue, ...RASTER_FINISH_OPTIONS });
  const startedAt = input.resume?.startedAt ?? info.runStartTime.getTime();

  let plan: RasterPlan | undefined = input.resume?.plan;
  if (!plan) {
    try {
      plan = await planActs.planRaster(input, {
        chipSize: input.chipSize,
        chipOverlap: input.chipOverlap,
        blockChips: input.blockChips,
        ...(input.pairWith ? { pairWith: input.pairWith } : {}),
      });
    } catch (err) {
      const failure = failureOf('detect', err);
      log.warn('raster could not be planned', {
        raster: rasterId,
        errorClass: failure.errorClass,
        message: failure.message,
      });
      const { record } = proxyActivities<LookoutActivities>({
        taskQueue: input.pipeline.recordQueue,
        ...RECORD_OPTIONS,
      });
      await record({ input, workflowId: info.workflowId, runId: info.runId, workflowStartedAt: startedAt, failure });
      progress.phase = 'failed';
      return {
        raster: rasterId,
        status: 'failed',
        errorClass: failure.errorClass,
        chips: 0,
        ok: 0,
        failed: 0,
        heatmapUri: null,
        geojsonUri: null,
        top: null,
      };
    }
    progress.chips = plan.chips;
    progress.blocks = plan.blocks;
  }
  progress.phase = 'analysing';
  let top = input.resume?.top ?? null;
  let next = input.resume?.next ?? 0;
  const runEnd = Math.min(plan.blocks, next + Math.max(1, input.blocksPerRun ?? RASTER_BLOCKS_PER_RUN));
  const p = plan;
  // Where the block work and a chip classifier's head run (core/pipelines.ts rasterPlacement; the plan carries the manifest's placement).
  const placed = rasterPlacement(input.pipeline, plan.classifier?.placement);
  const lanes = Array.from({ length: Math.max(1, Math.min(input.parallelism, runEnd - next)) }, async () => {
    for (;;) {
      const block = next++;
      if (block >= runEnd) return;
      try {
        const r = await onPool(placed.block, RASTER_BLOCK_OPTIONS, (acts, where) =>
          acts.analyzeRasterBlock({ input, plan: p, block, ...where, ...(placed.head ? { deferHead: true } : {}) }),
        );
        const rows =
          r.pendingHead && placed.head
            ? await onPool(placed.head, RASTER_HEAD_OPTIONS, (acts, where) =>
                acts.classifyRasterBlock({ input, plan: p, block, ...where }),
              )
            : r;
        progress.chipsDone += rows.ok;
        progress.chipsFailed += rows.failed;
        if (r.top && (!top || r.top.score > top.score)) top = r.top;
      } catch (err) {
        // Retries spent: the block's chips have no rows; the summary counts them as failed.
        const f = failureOf('detect', err);
        log.warn('raster block failed', { block, errorClass: f.errorClass, message: f.message });
        progress.chipsFailed += blockChipCount(p, block);
      }
      progress.blocksDone++;
    }
  });
  await Promise.all(lanes);
  if (runEnd < plan.blocks) {
    progress.runs++;
    await continueAsNew<typeof analyzeRaster>({ ...input, resume: { plan, next: runEnd, progress, top, startedAt } });
  }
  progress.phase = 'finishing';
  const fin = await finishActs.finishRaster(input, plan, {
    ok: progress.chipsDone,
    failed: progress.chipsFailed,
    runs: progress.runs,
    startedAt,
    ...(input.pairWith ? { pairWith: input.pairWith } : {}),
  });
  // Pairing by place and time (docs/stac.md): with this acquisition's summary row written, the pairs its arrival
  // completes (its own previous acquisition arrived meanwhile; a later one was paired with an older one) run as
  // re-pair children, one workflow per pair. A re-pair run pairs nothing further.
  if (plan.acquisition?.datetime && !input.pairWith)
    await startRepairs(input, await finishActs.pairAcquisition(input, plan));
  progress.phase = 'done';
  const failed = Math.max(fin.chipsFailed, progress.chipsFailed);
  return {
    raster: rasterId,
    status: failed > 0 ? 'partial' : 'ok',
    chips: plan.chips,
    ok: progress.chipsDone,
    failed,
    heatmapUri: fin.heatmapUri,
    geojsonUri: fin.geojsonUri,
    top,
  };
}

/**
 * Starts each re-pair as an abandoned child (it outlives this workflow) with its pair's workflow ID: a pair that two
 * arrivals both ask for, or that ran already, is refused by Temporal (WorkflowExecutionAlreadyStarted) — once per pair.
 */
async function startRepairs(input: AnalyzeRasterInput, repairs: RasterRepair[]): Promise<void> {
  for (const r of repairs) {
    const { resume: _resume, ...base } = input;
    const child: AnalyzeRasterInput = { ...base, object: r.after, pairWith: r.before, runTag: r.runTag ?? undefined };
    try {
      await startChild(analyzeRaster, {
        workflowId: r.workflowId,
        args: [child],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
      log.info('re-pair started', { workflowId: r.workflowId, after: r.after.name, before: r.before.name });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      log.info('re-pair already ran or runs', { workflowId: r.workflowId });
    }
  }
}

/** A raster activity on its placed pool (workflows/analyze.ts withPoolFallback: GPU → CPU when no GPU worker takes it). */
function onPool<T>(
  spec: StageSpec,
  opts: ActivityOptions,
  call: (acts: LookoutActivities, where: { pool: Pool; fellBack: boolean }) => Promise<T>,
): Promise<T> {
  const activities = (taskQueue: string, scheduleToStartMs?: number) =>
    proxyActivities<LookoutActivities>({
      ...opts,
      taskQueue,
      ...(scheduleToStartMs ? { scheduleToStartTimeout: scheduleToStartMs } : {}),
    });
  return withPoolFallback(spec, activities, call, { activity: 'raster' });
}

/** Chips in a block (edge blocks hold fewer). */
function blockChipCount(plan: RasterPlan, block: number): number {
  const c0 = (block % plan.blocksAcross) * plan.blockChips;
  const r0 = Math.floor(block / plan.blocksAcross) * plan.blockChips;
  return (Math.min(plan.cols, c0 + plan.blockChips) - c0) * (Math.min(plan.rows, r0 + plan.blockChips) - r0);
}
