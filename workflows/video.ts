/**
 * Video objects (cctv-anomaly): a video becomes one analysis per sampled frame.
 *  analyzeVideo: splitVideo (frame triplets into the bucket) -> one child
 *                analyzeObject per frame, in bounded parallelism; progress is
 *                queryable (`lookout video-progress`, or the `progress` query).
 *  fitScene:     normal footage -> detect + extract per frame -> fit the scene
 *                model (k-means + one-vs-rest classifiers) -> new version stored.
 */
import { ParentClosePolicy, defineQuery, executeChild, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { RECORD_RETRY } from '../core/policies';
import type { FitSceneResult, LookoutActivities } from '../activities/types';
import type { PipelineSpec } from '../core/pipelines';
import type { AnalyzeInput, FeaturesRef, ObjectRef } from '../core/types';
import { failureOf, type AnalyzeResult } from './analyze';

export interface VideoProgress {
  phase: 'splitting' | 'analysing' | 'fitting' | 'done';
  total: number;
  done: number;
  failed: number;
}

export const progressQuery = defineQuery<VideoProgress>('progress');

export interface AnalyzeVideoInput extends AnalyzeInput {
  /** Analyse every Nth frame. */
  every: number;
  /** Child analyses in flight at once. */
  parallelism: number;
}

export interface AnalyzeVideoResult {
  video: string;
  frames: number;
  ok: number;
  failed: number;
  top: Array<{ frame: number; score: number | null | undefined; label?: string }>;
}

function splitter(pipeline: PipelineSpec) {
  return proxyActivities<LookoutActivities>({
    taskQueue: pipeline.recordQueue,
    startToCloseTimeout: '30m',
    heartbeatTimeout: '2m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 3 },
  });
}

/** Runs fn over items with at most `limit` in flight; results in item order. */
async function bounded<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}

export async function analyzeVideo(input: AnalyzeVideoInput): Promise<AnalyzeVideoResult> {
  const progress: VideoProgress = { phase: 'splitting', total: 0, done: 0, failed: 0 };
  setHandler(progressQuery, () => progress);
  const v = input.object;
  const videoId = `${v.bucket}/${v.name}#${v.generation}`;
  let split;
  try {
    split = await splitter(input.pipeline).splitVideo(v, input.every);
  } catch (err) {
    // The video itself is unusable: record one failed row for it.
    const f = failureOf('detect', err);
    const { record } = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, startToCloseTimeout: '60s', retry: RECORD_RETRY });
    await record({ input, workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, workflowStartedAt: workflowInfo().runStartTime.getTime(), failure: f });
    progress.phase = 'done';
    return { video: videoId, frames: 0, ok: 0, failed: 1, top: [] };
  }
  progress.phase = 'analysing';
  progress.total = split.frames.length;
  const results = await bounded(split.frames, input.parallelism, async (fr) => {
    const child: AnalyzeInput = {
      ...input,
      object: { bucket: split.bucket, name: fr.name, generation: fr.generation, size: fr.size, contentType: 'image/jpeg', timeCreated: input.object.timeCreated, metadata: input.object.metadata },
      video: { bucket: v.bucket, name: v.name, generation: v.generation, frame: fr.t, fps: split.fps },
    };
    try {
      const r = await executeChild<(i: AnalyzeInput) => Promise<AnalyzeResult>>('analyzeObject', {
        args: [child],
        workflowId: `${input.pipeline.name}:${videoId}@${fr.t}`,
        taskQueue: workflowInfo().taskQueue,
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      if (r.status === 'ok') progress.done++;
      else progress.failed++;
      return { frame: fr.t, score: r.score, label: r.label };
    } catch (err) {
      progress.failed++;
      log.warn('frame analysis failed', { frame: fr.t, error: String(err) });
      return { frame: fr.t, score: undefined, label: 'failed' };
    }
  });
  progress.phase = 'done';
  const top = results.filter((r) => typeof r.score === 'number').sort((a, b) => (b.score as number) - (a.score as number)).slice(0, 10);
  return { video: videoId, frames: split.frames.length, ok: progress.done, failed: progress.failed, top };
}

export interface FitSceneInput {
  scene: string;
  pipeline: PipelineSpec;
  videos: ObjectRef[];
  every: number;
  parallelism: number;
  k: number;
  seed: number;
  quantile: number;
  trace: AnalyzeInput['trace'];
}

export async function fitScene(input: FitSceneInput): Promise<FitSceneResult & { frames: number; framesFailed: number }> {
  const progress: VideoProgress = { phase: 'splitting', total: 0, done: 0, failed: 0 };
  setHandler(progressQuery, () => progress);
  const stage = proxyActivities<LookoutActivities>({
    taskQueue: input.pipeline.stages.extract.fallback?.taskQueue ?? input.pipeline.stages.extract.taskQueue,
    startToCloseTimeout: '2m',
    heartbeatTimeout: '1m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
  });
  const splits = [];
  for (const v of input.videos) splits.push(await splitter(input.pipeline).splitVideo(v, input.every));
  const frames = splits.flatMap((s, vi) => s.frames.map((f) => ({ ...f, bucket: s.bucket, video: input.videos[vi], fps: s.fps })));
  progress.phase = 'analysing';
  progress.total = frames.length;
  const refs = await bounded(frames, input.parallelism, async (fr): Promise<FeaturesRef | undefined> => {
    const a: AnalyzeInput = {
      pipeline: input.pipeline,
      object: { bucket: fr.bucket, name: fr.name, generation: fr.generation, size: fr.size, contentType: 'image/jpeg', timeCreated: fr.video.timeCreated },
      trace: input.trace,
      video: { bucket: fr.video.bucket, name: fr.video.name, generation: fr.video.generation, frame: fr.t, fps: fr.fps },
    };
    try {
      const det = await stage.detect(a, { stage: 'detect', pool: 'cpu', fellBack: false });
      const ext = await stage.extract(a, det, { stage: 'extract', pool: 'cpu', fellBack: false });
      progress.done++;
      return ext.featuresRef;
    } catch (err) {
      progress.failed++;
      log.warn('normal frame skipped', { frame: fr.t, error: String(err) });
      return undefined;
    }
  });
  progress.phase = 'fitting';
  const fit = proxyActivities<LookoutActivities>({
    taskQueue: input.pipeline.recordQueue,
    startToCloseTimeout: '30m',
    heartbeatTimeout: '5m',
    retry: { maximumAttempts: 3 },
  });
  const result = await fit.fitScene(input.scene, refs.filter((r): r is FeaturesRef => !!r && r.count > 0), { k: input.k, seed: input.seed, quantile: input.quantile });
  progress.phase = 'done';
  return { ...result, frames: frames.length, framesFailed: progress.failed };
}
