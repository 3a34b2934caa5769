/**
 * Video objects (video methods, e.g. cctv-ocae): a video becomes one analysis per sampled frame.
 *  analyzeVideo: splitVideo (frame triplets into the bucket) -> one child
 *                analyzeObject per frame, in bounded parallelism; progress is
 *                queryable (the `progress` query; `lookout demo` follows it).
 *  fitScene:     normal footage -> detect + extract per frame -> fit the scene
 *                model (k-means + one-vs-rest classifiers) -> new version stored.
 */
import {
  ParentClosePolicy,
  continueAsNew,
  defineQuery,
  executeChild,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { FitSceneResult, LookoutActivities } from '../activities/types';
import type { PipelineSpec } from '../core/pipelines';
import {
  FIT_FRAME_OPTIONS,
  FIT_MODEL_OPTIONS,
  RECORD_OPTIONS,
  SEGMENT_OPTIONS,
  SPLIT_VIDEO_OPTIONS,
} from '../core/policies';
import type { AnalyzeInput, FeaturesRef, StageReport, VideoPlan } from '../core/types';
import type { AnalyzeVideoInput, AnalyzeVideoResult, FitSceneInput, VideoProgress } from '../core/workflows';
import { failureOf, type AnalyzeResult } from './analyze';

export type { AnalyzeVideoInput, AnalyzeVideoResult, FitSceneInput, VideoProgress };

export const progressQuery = defineQuery<VideoProgress>('progress');

function splitter(pipeline: PipelineSpec) {
  return proxyActivities<LookoutActivities>({ taskQueue: pipeline.recordQueue, ...SPLIT_VIDEO_OPTIONS });
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

/** The video itself is unusable (or its analysis broke off): one failed row for it. */
async function recordVideoFailure(input: AnalyzeVideoInput, err: unknown): Promise<void> {
  const f = failureOf('detect', err);
  const { record } = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...RECORD_OPTIONS });
  await record({
    input,
    workflowId: workflowInfo().workflowId,
    runId: workflowInfo().runId,
    workflowStartedAt: workflowInfo().runStartTime.getTime(),
    failure: f,
  });
}

/** Segments analysed per workflow run before it continues as a new run (history stays bounded for any length). */
export const SEGMENTS_PER_RUN = 50;

/**
 * analyzeVideo: plans the video on a worker (what its method does with videos), then either
 *  - segments: consecutive frames, one activity per segment of `segmentFrames` frames, in order, carrying the
 *    method's state (tracks) from one to the next; each frame's row is written by the activity, a summary row
 *    for the video at the end; a long video continues as a new run every SEGMENTS_PER_RUN segments; or
 *  - frames (the seed's way): frames cut into the bucket, one child analyzeObject per frame.
 */
export async function analyzeVideo(input: AnalyzeVideoInput): Promise<AnalyzeVideoResult> {
  const progress: VideoProgress = {
    phase: 'splitting',
    total: 0,
    done: input.resume?.totals.ok ?? 0,
    failed: input.resume?.totals.failed ?? 0,
  };
  setHandler(progressQuery, () => progress);
  const v = input.object;
  const videoId = `${v.bucket}/${v.name}#${v.generation}`;
  let plan = input.resume?.plan;
  if (!plan) {
    try {
      plan = await splitter(input.pipeline).planVideo(input.pipeline.method, v);
    } catch (err) {
      await recordVideoFailure(input, err);
      progress.phase = 'done';
      return { video: videoId, frames: 0, ok: 0, failed: 1, top: [] };
    }
  }
  const every = input.every ?? plan.defaultEvery;
  if (plan.mode === 'segments') return analyzeSegments(input, plan, every, progress);
  let split;
  try {
    split = await splitter(input.pipeline).splitVideo(input.pipeline.method, v, every);
  } catch (err) {
    await recordVideoFailure(input, err);
    progress.phase = 'done';
    return { video: videoId, frames: 0, ok: 0, failed: 1, top: [] };
  }
  progress.phase = 'analysing';
  progress.total = split.frames.length;
  const results = await bounded(split.frames, input.parallelism, async (fr) => {
    const child: AnalyzeInput = {
      ...input,
      object: {
        bucket: split.bucket,
        name: fr.name,
        generation: fr.generation,
        size: fr.size,
        contentType: 'image/jpeg',
        timeCreated: input.object.timeCreated,
        metadata: input.object.metadata,
      },
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
  const top = results
    .filter((r) => typeof r.score === 'number')
    .sort((a, b) => (b.score as number) - (a.score as number))
    .slice(0, 10);
  return { video: videoId, frames: split.frames.length, ok: progress.done, failed: progress.failed, top };
}

async function analyzeSegments(
  input: AnalyzeVideoInput,
  plan: VideoPlan,
  every: number,
  progress: VideoProgress,
): Promise<AnalyzeVideoResult> {
  const v = input.object;
  const videoId = `${v.bucket}/${v.name}#${v.generation}`;
  const spec = input.pipeline.stages.detect;
  const segmentActs = proxyActivities<LookoutActivities>({
    taskQueue: spec.fallback?.taskQueue ?? spec.taskQueue,
    ...SEGMENT_OPTIONS,
  });
  const totals = { ...(input.resume?.totals ?? { frames: 0, ok: 0, failed: 0, segments: 0 }) };
  let top = input.resume?.top ?? null;
  let state = input.resume?.state;
  const size = Math.max(1, input.segmentFrames) * every;
  progress.phase = 'analysing';
  progress.total = Math.ceil(plan.frames / every);
  let index = input.resume?.next ?? 0;
  let runSegments = 0;
  let failure: unknown;
  for (; index * size < plan.frames; index++) {
    if (runSegments >= SEGMENTS_PER_RUN) {
      // History stays bounded however long the video: go on in a new run with the carried state.
      await continueAsNew<typeof analyzeVideo>({ ...input, every, resume: { plan, next: index, state, totals, top } });
    }
    const start = index * size;
    try {
      const r = await segmentActs.analyzeSegment({
        input,
        plan,
        index,
        start,
        end: Math.min(plan.frames, start + size),
        stride: every,
        state,
      });
      state = r.state;
      totals.frames += r.frames;
      totals.ok += r.ok;
      totals.failed += r.failed;
      totals.segments++;
      if (r.alerts) totals.alerts = (totals.alerts ?? 0) + r.alerts;
      if (r.top && (!top || r.top.score > top.score)) top = r.top;
      progress.done = totals.ok;
      progress.failed = totals.failed;
    } catch (err) {
      // A segment that cannot be decoded ends the video: frames before it keep their rows; the summary says why.
      failure = err;
      log.warn('segment failed; the video ends here', { index, error: String(err) });
      break;
    }
    runSegments++;
  }
  const info = workflowInfo();
  const { record } = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...RECORD_OPTIONS });
  const details: Record<string, number | string> = {
    kind: 'video-summary',
    frames: totals.frames,
    frames_ok: totals.ok,
    frames_failed: totals.failed,
    segments: totals.segments,
    every,
    fps: plan.fps,
  };
  if (totals.alerts !== undefined) details.alerts = totals.alerts;
  if (top) {
    details.top_frame = top.frame;
    details.top_time_s = Math.round((top.frame / plan.fps) * 1000) / 1000;
  }
  await record({
    input,
    workflowId: info.workflowId,
    runId: info.runId,
    workflowStartedAt: info.runStartTime.getTime(),
    ...(failure !== undefined ? { failure: failureOf('detect', failure) } : {}),
    score: {
      report: summaryReport(info.runStartTime.getTime(), plan),
      label: 'video',
      score: top?.score ?? null,
      objects: [],
      details,
    },
  });
  progress.phase = 'done';
  return {
    video: videoId,
    frames: totals.frames,
    ok: totals.ok,
    failed: totals.failed + (failure !== undefined ? 1 : 0),
    top: top ? [{ frame: top.frame, score: top.score }] : [],
  };
}

/** The summary row's one stage: the whole video, from the first run's start to now (no model of its own). */
function summaryReport(startedAt: number, plan: VideoPlan): StageReport {
  const now = Date.now();
  return {
    stage: 'score',
    pool: 'cpu',
    taskQueue: workflowInfo().taskQueue,
    host: 'workflow',
    attempt: 1,
    scheduledAt: startedAt,
    startedAt,
    completedAt: now,
    inferenceMs: 0,
    batchSize: plan.frames,
  };
}

export async function fitScene(
  input: FitSceneInput,
): Promise<FitSceneResult & { frames: number; framesFailed: number }> {
  const progress: VideoProgress = { phase: 'splitting', total: 0, done: 0, failed: 0 };
  setHandler(progressQuery, () => progress);
  // Fitting runs its frames on the CPU pool (the fallback queue of a GPU stage): no GPU routing here.
  const cpuQueue = input.pipeline.stages.extract.fallback?.taskQueue ?? input.pipeline.stages.extract.taskQueue;
  const plans = [];
  for (const v of input.videos) plans.push(await splitter(input.pipeline).planVideo(input.pipeline.method, v));
  if (plans.every((p) => p.mode === 'segments')) return fitFromSegments(input, plans, progress, cpuQueue);
  const stage = proxyActivities<LookoutActivities>({ taskQueue: cpuQueue, ...FIT_FRAME_OPTIONS });
  const splits = [];
  for (const [i, v] of input.videos.entries())
    splits.push(
      await splitter(input.pipeline).splitVideo(input.pipeline.method, v, input.every ?? plans[i].defaultEvery),
    );
  const frames = splits.flatMap((s, vi) =>
    s.frames.map((f) => ({ ...f, bucket: s.bucket, video: input.videos[vi], fps: s.fps })),
  );
  progress.phase = 'analysing';
  progress.total = frames.length;
  const refs = await bounded(frames, input.parallelism, async (fr): Promise<FeaturesRef | undefined> => {
    const a: AnalyzeInput = {
      pipeline: input.pipeline,
      object: {
        bucket: fr.bucket,
        name: fr.name,
        generation: fr.generation,
        size: fr.size,
        contentType: 'image/jpeg',
        timeCreated: fr.video.timeCreated,
      },
      trace: input.trace,
      video: {
        bucket: fr.video.bucket,
        name: fr.video.name,
        generation: fr.video.generation,
        frame: fr.t,
        fps: fr.fps,
      },
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
  const fit = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...FIT_MODEL_OPTIONS });
  const result = await fit.fitScene(
    input.pipeline.method,
    input.scene,
    refs.filter((r): r is FeaturesRef => !!r && r.count > 0),
    { k: input.k, seed: input.seed, quantile: input.quantile },
  );
  progress.phase = 'done';
  return { ...result, frames: frames.length, framesFailed: progress.failed };
}

/**
 * Fitting a segment method: each normal video is observed segment by segment in order (tracks carried
 * across), each segment's observations stored by reference; then one activity fits the scene model.
 */
async function fitFromSegments(
  input: FitSceneInput,
  plans: VideoPlan[],
  progress: VideoProgress,
  cpuQueue: string,
): Promise<FitSceneResult & { frames: number; framesFailed: number }> {
  const observe = proxyActivities<LookoutActivities>({ taskQueue: cpuQueue, ...SEGMENT_OPTIONS });
  progress.phase = 'analysing';
  progress.total = plans.reduce((n, p) => n + Math.ceil(p.frames / (input.every ?? p.defaultEvery)), 0);
  const refs: FeaturesRef[] = [];
  for (const [vi, video] of input.videos.entries()) {
    const plan = plans[vi];
    const every = input.every ?? plan.defaultEvery;
    const size = Math.max(1, input.segmentFrames ?? 100) * every;
    let state: unknown;
    for (let index = 0; index * size < plan.frames; index++) {
      const start = index * size;
      const end = Math.min(plan.frames, start + size);
      const a: AnalyzeInput = { pipeline: input.pipeline, object: video, trace: input.trace, scene: input.scene };
      try {
        const r = await observe.observeSegment({ input: a, plan, index, start, end, stride: every, state });
        state = r.state;
        if (r.ref.count > 0) refs.push(r.ref);
        progress.done += Math.ceil((end - start) / every);
      } catch (err) {
        // A broken stretch of normal footage is skipped, not fatal: the fit says how much it used.
        progress.failed += Math.ceil((end - start) / every);
        log.warn('normal footage segment skipped', { video: video.name, index, error: String(err) });
        state = undefined;
      }
    }
  }
  progress.phase = 'fitting';
  const fit = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...FIT_MODEL_OPTIONS });
  const result = await fit.fitScene(input.pipeline.method, input.scene, refs, {
    k: input.k,
    seed: input.seed,
    quantile: input.quantile,
  });
  progress.phase = 'done';
  return { ...result, frames: progress.done, framesFailed: progress.failed };
}
