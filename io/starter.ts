/**
 * The one module that starts workflows: every workflow ID, option and duplicate policy is decided here,
 * for the dispatcher (events), backfill's bulk mode, `lookout fit`, `lookout serve` and `lookout retry`.
 *
 * IDs are deterministic where that gives exactly-once: `<pipeline>:<bucket>/<name>#<generation>` for an
 * object version (a repeated event finds the analysis already started or done), `bulk:<pipeline>:<hash>`
 * for a batch of object versions. A fit is a new model version each time, so its ID is unique.
 */
import crypto from 'node:crypto';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { BatchInput } from '../activities/types';
import type { LookoutConfig } from '../config';
import { objectKey, workflowIdFor } from '../core/events';
import { WORKFLOW_EXECUTION_TIMEOUT } from '../core/policies';
import type { AnalyzeInput, ObjectRef } from '../core/types';
import type {
  AnalyzeRasterInput,
  AnalyzeResult,
  AnalyzeVideoInput,
  BatchResult,
  FitSceneInput,
  RefitScenesInput,
} from '../core/workflows';

export type AnalysisKind = 'analyzeObject' | 'analyzeVideo' | 'analyzeRaster';

export interface StartOptions {
  /** Default: the deterministic id of the object version. */
  workflowId?: string;
  /**
   * false (events): one analysis per object version, ever (within the namespace's retention), so a
   * duplicate event never starts a second one. true (`lookout retry`): a new run of a finished analysis.
   */
  rerun?: boolean;
}

/** The deterministic workflow ID of a pipeline's analysis of an object version. */
export function analysisWorkflowId(
  pipeline: string,
  object: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>,
): string {
  return workflowIdFor(pipeline, object);
}

/** The deterministic workflow ID of a bulk batch: the same object versions are one workflow, however often a backfill runs. */
export function batchWorkflowId(
  pipeline: string,
  objects: Array<Pick<ObjectRef, 'bucket' | 'name' | 'generation'>>,
): string {
  return `bulk:${pipeline}:${crypto
    .createHash('sha256')
    .update(objects.map((o) => objectKey(o)).join('\n'))
    .digest('hex')
    .slice(0, 32)}`;
}

/**
 * Frame stride of a video analysis: the object's metadata `lookout-video-every` when it is a whole number
 * from 1 to 100000, else LOOKOUT_VIDEO_EVERY, else undefined (the method's default, decided by the worker).
 */
export function videoEvery(object: Pick<ObjectRef, 'metadata'>, cfg: Pick<LookoutConfig, 'video'>): number | undefined {
  const raw = object.metadata?.['lookout-video-every'];
  const n = raw !== undefined && /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  return n >= 1 && n <= 100_000 ? n : cfg.video.every;
}

/** The raster workflow's input: chip grid and fan-out from the configuration (object metadata may change the chip grid). */
export function rasterInput(
  input: AnalyzeInput,
  cfg: { raster: Pick<LookoutConfig['raster'], 'chipSize' | 'chipOverlap' | 'blockChips' | 'parallelism'> },
): AnalyzeRasterInput {
  return {
    ...input,
    chipSize: cfg.raster.chipSize,
    chipOverlap: Math.min(cfg.raster.chipOverlap, cfg.raster.chipSize - 1),
    blockChips: cfg.raster.blockChips,
    parallelism: cfg.raster.parallelism,
  };
}

export class WorkflowStarter {
  constructor(
    readonly client: Client,
    private readonly cfg: LookoutConfig,
  ) {}

  /** Starts the analysis of an object (image or video); "already started" (or, for events, "already ran") is 'duplicate'. */
  async startAnalysis(
    input: AnalyzeInput,
    kind: AnalysisKind = 'analyzeObject',
    opts: StartOptions = {},
  ): Promise<{ outcome: 'started' | 'duplicate'; workflowId: string }> {
    const workflowId = opts.workflowId ?? analysisWorkflowId(input.pipeline.name, input.object);
    const args =
      kind === 'analyzeVideo'
        ? [
            {
              ...input,
              every: videoEvery(input.object, this.cfg),
              parallelism: this.cfg.video.parallelism,
              segmentFrames: this.cfg.video.segmentFrames,
            } satisfies AnalyzeVideoInput,
          ]
        : kind === 'analyzeRaster'
          ? [rasterInput(input, this.cfg)]
          : [input];
    try {
      await this.client.workflow.start(kind, {
        taskQueue: this.cfg.temporal.workflowQueue,
        workflowId,
        args,
        workflowIdReusePolicy: opts.rerun
          ? WorkflowIdReusePolicy.ALLOW_DUPLICATE
          : WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowExecutionTimeout: WORKFLOW_EXECUTION_TIMEOUT,
      });
      return { outcome: 'started', workflowId };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'duplicate', workflowId };
      throw err;
    }
  }

  /** Whether the analysis with this id is still running, finished ok, or failed (or ended without a result). */
  async analysisStatus(workflowId: string): Promise<'running' | 'ok' | 'failed'> {
    const handle = this.client.workflow.getHandle(workflowId);
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return 'running';
    if (d.status.name !== 'COMPLETED') return 'failed';
    const r = (await handle.result()) as AnalyzeResult;
    return r.status;
  }

  /** The result of an object analysis (started here or by an event). */
  analysisResult(workflowId: string): Promise<AnalyzeResult> {
    return this.client.workflow.getHandle(workflowId).result() as Promise<AnalyzeResult>;
  }

  /** Starts a bulk batch; a batch of the same object versions that already ran is 'duplicate' and starts nothing. */
  async startBatch(
    input: BatchInput,
  ): Promise<
    | { outcome: 'started'; workflowId: string; result: Promise<BatchResult> }
    | { outcome: 'duplicate'; workflowId: string }
  > {
    const workflowId = batchWorkflowId(input.pipeline.name, input.objects);
    try {
      const handle = await this.client.workflow.start('analyzeBatch', {
        taskQueue: this.cfg.temporal.workflowQueue,
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowExecutionTimeout: WORKFLOW_EXECUTION_TIMEOUT,
      });
      return { outcome: 'started', workflowId, result: handle.result() as Promise<BatchResult> };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'duplicate', workflowId };
      throw err;
    }
  }

  /**
   * Starts one refit of some scenes (or all): each run is a new workflow (its id is unique). The lock is per scene,
   * inside it: each scene's refit is the child workflow refitOneScene with the scene's workflow id
   * (refitSceneWorkflowId), so a run that finds a scene's refit running skips that scene (workflows/refit.ts).
   */
  async startRefit(input: RefitScenesInput): Promise<WorkflowHandle> {
    return this.client.workflow.start('refitScenes', {
      taskQueue: this.cfg.temporal.workflowQueue,
      workflowId: `refit:${input.scenes.join(',') || 'all'}:${Date.now()}-${crypto.randomBytes(3).toString('hex')}`,
      args: [input],
      workflowExecutionTimeout: WORKFLOW_EXECUTION_TIMEOUT,
    });
  }

  /**
   * A Temporal schedule that starts refitScenes every `every` (e.g. "6h"); one schedule per pipeline and scene
   * list, replaced when created again. Overlapping runs are skipped (a refit still running is not doubled).
   */
  async scheduleRefit(input: RefitScenesInput, every: string): Promise<string> {
    const scheduleId = refitScheduleId(input.pipeline.name, input.scenes);
    await this.client.schedule
      .getHandle(scheduleId)
      .delete()
      .catch(() => undefined);
    await this.client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: every as Duration }] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      action: {
        type: 'startWorkflow',
        workflowType: 'refitScenes',
        args: [input],
        taskQueue: this.cfg.temporal.workflowQueue,
        workflowExecutionTimeout: WORKFLOW_EXECUTION_TIMEOUT,
      },
    });
    return scheduleId;
  }

  /** Deletes a refit schedule; false when there was none. */
  async unscheduleRefit(pipeline: string, scenes: string[]): Promise<boolean> {
    try {
      await this.client.schedule.getHandle(refitScheduleId(pipeline, scenes)).delete();
      return true;
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return false;
      throw err;
    }
  }

  /** Starts fitting a scene model: every fit makes a new model version, so every fit is a new workflow. */
  async startFit(input: FitSceneInput): Promise<WorkflowHandle> {
    return this.client.workflow.start('fitScene', {
      taskQueue: this.cfg.temporal.workflowQueue,
      workflowId: `fit:${input.scene}:${Date.now()}-${crypto.randomBytes(3).toString('hex')}`,
      args: [input],
      workflowExecutionTimeout: WORKFLOW_EXECUTION_TIMEOUT,
    });
  }
}

/** The id of the refit schedule of a pipeline and scene list (all scenes: "all"). */
export function refitScheduleId(pipeline: string, scenes: string[]): string {
  return `refit:${pipeline}:${[...scenes].sort().join(',') || 'all'}`;
}
