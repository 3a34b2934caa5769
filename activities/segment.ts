/**
 * Rows of a video segment: each frame a method analysed becomes one analysis, under the workflow id
 * `<pipeline>:<bucket>/<name>#<generation>@<frame>` (the id a frame had when it was its own workflow), with
 * the video workflow's run id, so the `_latest` view keeps one row per frame and a re-run replaces it.
 */
import type { AnalysisSummary, MachineInfo, SegmentTask, StageReport } from '../core/types';
import type { FrameAnalysis } from '../methods/method';

export function frameWorkflowId(task: Pick<SegmentTask, 'input'>, frame: number): string {
  const v = task.input.object;
  return `${task.input.pipeline.name}:${v.bucket}/${v.name}#${v.generation}@${frame}`;
}

/**
 * An alert episode's row id: beside its frames' ids, keyed by its first frame (a re-run replaces it); a rule
 * alert (zones) adds its key (`…@alert<start>-<key>`), since a rule and the learned model may alert at one frame.
 */
export function alertWorkflowId(task: Pick<SegmentTask, 'input'>, start: number, key?: string): string {
  const v = task.input.object;
  return `${task.input.pipeline.name}:${v.bucket}/${v.name}#${v.generation}@alert${start}${key ? `-${key}` : ''}`;
}

/** Where and when the frame ran: the three stages back to back ending at `completedAt`. */
export function frameSummary(
  task: SegmentTask,
  f: FrameAnalysis,
  where: {
    runId: string;
    workflowStartedAt: number;
    taskQueue: string;
    host: string;
    attempt: number;
    pool: 'cpu' | 'gpu';
    machine: MachineInfo;
  },
  completedAt: number,
): AnalysisSummary {
  const t3 = completedAt;
  const t2 = t3 - f.ms.score;
  const t1 = t2 - f.ms.extract;
  const t0 = t1 - f.ms.detect;
  const report = (
    stage: StageReport['stage'],
    startedAt: number,
    done: number,
    inferenceMs: number,
    model?: FrameAnalysis['model'],
  ): StageReport => ({
    stage,
    pool: where.pool,
    taskQueue: where.taskQueue,
    host: where.host,
    attempt: where.attempt,
    scheduledAt: startedAt,
    startedAt,
    completedAt: done,
    inferenceMs,
    batchSize: stage === 'detect' ? f.batchSize : undefined,
    executionProvider: f.executionProvider,
    model,
  });
  const { plan } = task;
  const meta = task.input.object.metadata ?? {};
  // Live streams: the frame's capture time, so SQL can measure capture-to-row latency.
  const capturedMs = Date.parse(meta['lookout-captured-at'] ?? '') + (f.frame / plan.fps) * 1000;
  const live: Record<string, string> = Number.isFinite(capturedMs)
    ? {
        captured_at: new Date(capturedMs).toISOString(),
        ...(meta['lookout-stream'] ? { stream: meta['lookout-stream'] } : {}),
      }
    : {};
  return {
    input: {
      ...task.input,
      video: {
        bucket: task.input.object.bucket,
        name: task.input.object.name,
        generation: task.input.object.generation,
        frame: f.frame,
        fps: plan.fps,
      },
    },
    workflowId:
      f.rowKind === 'alert'
        ? alertWorkflowId(task, f.alertStart ?? f.frame, f.alertKey)
        : frameWorkflowId(task, f.frame),
    runId: where.runId,
    workflowStartedAt: where.workflowStartedAt,
    detect: {
      report: report('detect', t0, t1, f.ms.inference, f.model),
      machine: where.machine,
      width: plan.width,
      height: plan.height,
      format: 'video',
      boxes: f.objects,
    },
    extract: { report: report('extract', t1, t2, 0), featureNames: [], features: [] },
    score: {
      report: report('score', t2, t3, 0),
      label: f.label,
      score: f.score,
      objects: f.objects,
      details: {
        frame: f.frame,
        time_s: Math.round((f.frame / plan.fps) * 1000) / 1000,
        segment: task.index,
        ...(task.input.scene ? { scene: task.input.scene } : {}),
        ...live,
        ...f.details,
      },
    },
  };
}
