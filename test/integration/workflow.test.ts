/**
 * The workflow's own logic with stub activities, on a Temporal dev server started by
 * @temporalio/testing from the `temporal` binary infra/install.sh built (no download).
 */
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LookoutActivities, StageContext } from '../../activities/types';
import { BadInputError, TransientError } from '../../core/errors';
import { loadConfig } from '../../config';
import { resolvePipeline } from '../../core/pipelines';
import type { AnalysisSummary, AnalyzeInput } from '../../core/types';
import { runStageGroup, toFailure } from '../../activities/stage';
import type { AnalyzeResult } from '../../workflows/analyze';
import type { AnalyzeVideoResult } from '../../core/workflows';
import { SEGMENTS_PER_RUN } from '../../workflows/video';
import { summary } from '../unit/fixtures';

let env: TestWorkflowEnvironment;
const cfg = loadConfig(process.env);
const base = summary();

/** What the stub detect activity does on each call (set per test). */
let detectBehaviour: (ctx: StageContext, attempt: number) => Promise<void> = async () => {};
let recorded: AnalysisSummary[] = [];
let calls: string[] = [];
let attempt = 0;
let segments: Array<{ index: number; start: number; end: number; state: unknown }> = [];
let videoFrames = 0;
let failSegment = -1;
/** The row write inside the last stage group fails (BigQuery away): the workflow's own record step must write it. */
let failRecordInGroup = false;

const acts: LookoutActivities = {
  async detect(_i, ctx) {
    calls.push(`detect:${ctx.pool}:${ctx.fellBack}`);
    attempt++;
    try {
      await detectBehaviour(ctx, attempt);
    } catch (err) {
      throw toFailure(err, attempt);
    }
    return { ...base.detect!, report: { ...base.detect!.report, pool: ctx.pool, fellBack: ctx.fellBack } };
  },
  async extract() {
    calls.push('extract');
    return base.extract!;
  },
  async score() {
    calls.push('score');
    return base.score!;
  },
  async stages(inp, run, prior, group) {
    calls.push(`group:${run.join(',')}`);
    const out = await runStageGroup(inp, run, prior, group, acts);
    if (!group.record) return out;
    // The last group writes the row (as the real activity does), unless the write fails: then the workflow does.
    if (failRecordInGroup) return { ...out, rowWriteFailed: true };
    calls.push('record:group');
    const s: AnalysisSummary = {
      input: inp,
      ...group.record,
      detect: out.detect,
      extract: out.extract,
      score: out.score,
      failure: out.failure,
    };
    recorded.push(s);
    return {
      ...out,
      record: { analysisId: `${s.workflowId}/${s.runId}`, table: 't', status: s.failure ? 'failed' : 'ok' },
    };
  },
  async record(s, opts) {
    calls.push(`record:${recordWhere()}${opts?.afterFailedWrite ? ':lookup-first' : ''}`);
    recorded.push(s);
    return { analysisId: `${s.workflowId}/${s.runId}`, table: 't', status: s.failure ? 'failed' : 'ok' };
  },
  async splitVideo() {
    throw new Error('not used by these tests');
  },
  async planVideo() {
    return { mode: 'segments', fps: 10, frames: videoFrames, width: 64, height: 48, defaultEvery: 1 };
  },
  async analyzeSegment(task) {
    segments.push({ index: task.index, start: task.start, end: task.end, state: task.state });
    if (task.index === failSegment) throw toFailure(new BadInputError('CorruptImage', 'video ended inside a frame'), 1);
    const frames = Math.ceil((task.end - task.start) / task.stride);
    // The carried state is a running count of frames: the next segment must receive what this one returned.
    const carried = (task.state as { seen?: number } | undefined)?.seen ?? 0;
    return {
      frames,
      ok: frames,
      failed: 0,
      top: { frame: task.start, score: task.index === 7 ? 0.9 : 0.1 },
      state: { seen: carried + frames },
      runMs: 1,
      inferenceMs: 1,
    };
  },
  async observeSegment() {
    throw new Error('not used by these tests');
  },
  async detectBatch() {
    throw new Error('not used by these tests');
  },
  async extractBatch() {
    throw new Error('not used by these tests');
  },
  async scoreBatch() {
    throw new Error('not used by these tests');
  },
  async recordBatch() {
    throw new Error('not used by these tests');
  },
  async fitScene() {
    throw new Error('not used by these tests');
  },
  async planRaster() {
    throw new Error('not used by these tests');
  },
  async analyzeRasterBlock() {
    throw new Error('not used by these tests');
  },
  async classifyRasterBlock() {
    throw new Error('not used by these tests');
  },
  async finishRaster() {
    throw new Error('not used by these tests');
  },
  async pairAcquisition() {
    throw new Error('not used by these tests');
  },
  async refitScene() {
    throw new Error('not used by these tests');
  },
  async listScenes() {
    throw new Error('not used by these tests');
  },
};

/** Where the record step ran: a local activity (on the workflow's worker) or an activity task on the stage queue. */
function recordWhere(): string {
  try {
    return Context.current().info.isLocal ? 'local' : 'task';
  } catch {
    return 'unknown';
  }
}

let workers: Worker[] = [];
let running: Promise<unknown>;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: path.join(cfg.toolsDir, 'temporal') }, ip: '127.0.0.1' },
  });
  workers = [
    await Worker.create({ connection: env.nativeConnection, taskQueue: 'objects-cpu', activities: acts }),
    await Worker.create({
      connection: env.nativeConnection,
      taskQueue: cfg.temporal.workflowQueue,
      workflowsPath: path.join(__dirname, '..', '..', 'workflows', 'index.ts'),
      activities: acts,
    }),
  ];
  running = Promise.all(workers.map((w) => w.run()));
}, 120_000);

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await running;
  await env?.teardown();
});

function input(
  gpu: boolean,
  opts: { groupStages?: boolean; localRecord?: boolean; localStages?: boolean } = {},
): AnalyzeInput {
  return {
    ...base.input,
    pipeline: resolvePipeline('objects', { gpuStages: gpu ? ['detect'] : [], gpuFallbackMs: 500, ...opts }),
  };
}

async function run(inp: AnalyzeInput, detect: typeof detectBehaviour) {
  detectBehaviour = detect;
  recorded = [];
  calls = [];
  attempt = 0;
  const result = (await env.client.workflow.execute('analyzeObject', {
    taskQueue: cfg.temporal.workflowQueue,
    workflowId: `wf-${Math.random()}`,
    args: [inp],
  })) as AnalyzeResult;
  return { result, recorded, calls };
}

describe('analyzeObject', () => {
  it('chains detect -> extract -> score -> record: the three stages and the row in one activity', async () => {
    const { result, recorded, calls } = await run(input(false), async () => {});
    expect(calls).toEqual(['group:detect,extract,score', 'detect:cpu:false', 'extract', 'score', 'record:group']);
    // Each stage keeps its own report for the row's `stages`.
    expect([
      recorded[0].detect?.report.stage,
      recorded[0].extract?.report.stage,
      recorded[0].score?.report.stage,
    ]).toEqual(['detect', 'extract', 'score']);
    expect(result.status).toBe('ok');
    expect(recorded).toHaveLength(1);
    expect(recorded[0].score?.label).toBe('person');
  });

  it('a row the group could not write is written by a local activity, which looks for it first (the failed write may have landed)', async () => {
    failRecordInGroup = true;
    try {
      const { result, recorded, calls } = await run(input(false), async () => {});
      expect(calls).toEqual([
        'group:detect,extract,score',
        'detect:cpu:false',
        'extract',
        'score',
        'record:local:lookup-first',
      ]);
      expect(result.status).toBe('ok');
      expect(recorded).toHaveLength(1);
    } finally {
      failRecordInGroup = false;
    }
  });

  it('with stage groups off: one activity per stage, the row by a local activity', async () => {
    const { calls } = await run(input(false, { groupStages: false }), async () => {});
    expect(calls).toEqual(['detect:cpu:false', 'extract', 'score', 'record:local']);
  });

  it('with stage groups and the local record turned off: one activity per stage, the row by an activity task', async () => {
    const { result, calls } = await run(input(false, { groupStages: false, localRecord: false }), async () => {});
    expect(calls).toEqual(['detect:cpu:false', 'extract', 'score', 'record:task']);
    expect(result.status).toBe('ok');
  });

  it('with local stages: the group is a local activity of the workflow worker, no activity task, fewer history events', async () => {
    const histories: Record<string, string[]> = {};
    for (const local of [false, true]) {
      detectBehaviour = async () => {};
      recorded = [];
      calls = [];
      attempt = 0;
      const h = await env.client.workflow.start('analyzeObject', {
        taskQueue: cfg.temporal.workflowQueue,
        workflowId: `wf-local-${local}-${Math.random()}`,
        args: [input(false, { localStages: local })],
      });
      const result = (await h.result()) as AnalyzeResult;
      expect(result.status).toBe('ok');
      expect(calls).toEqual(['group:detect,extract,score', 'detect:cpu:false', 'extract', 'score', 'record:group']);
      expect(recorded).toHaveLength(1);
      histories[String(local)] = ((await h.fetchHistory()).events ?? []).map((e) => String(e.eventType));
    }
    // temporal.api.enums.v1.EventType: 10 ACTIVITY_TASK_SCHEDULED, 25 MARKER_RECORDED (number or name).
    const count = (l: string[], t: number, name: string) =>
      l.filter((e) => e === String(t) || e === `EVENT_TYPE_${name}`).length;
    expect(count(histories.false, 10, 'ACTIVITY_TASK_SCHEDULED')).toBe(1);
    expect(count(histories.true, 10, 'ACTIVITY_TASK_SCHEDULED')).toBe(0);
    // the patch's marker and the local activity's
    expect(count(histories.true, 25, 'MARKER_RECORDED')).toBeGreaterThanOrEqual(2);
    expect(histories.true.length).toBeLessThan(histories.false.length);
  });

  it('bad input inside a group: one attempt, a failed summary naming the stage, no later stage', async () => {
    const { result, recorded, calls } = await run(input(false), async () => {
      throw new BadInputError('CorruptImage', 'premature end of JPEG');
    });
    expect(calls).toEqual(['group:detect,extract,score', 'detect:cpu:false', 'record:group']);
    expect(result).toEqual(expect.objectContaining({ status: 'failed', errorClass: 'CorruptImage' }));
    expect(recorded[0].failure).toEqual({
      stage: 'detect',
      errorClass: 'CorruptImage',
      message: 'premature end of JPEG',
      attempts: 1,
      retryable: false,
    });
  });

  it('bad input: one attempt, a failed summary with the error class, no later stage', async () => {
    const { result, recorded, calls } = await run(input(false, { groupStages: false }), async () => {
      throw new BadInputError('CorruptImage', 'premature end of JPEG');
    });
    expect(calls).toEqual(['detect:cpu:false', 'record:local']);
    expect(result).toEqual(expect.objectContaining({ status: 'failed', errorClass: 'CorruptImage' }));
    expect(recorded[0].failure).toEqual({
      stage: 'detect',
      errorClass: 'CorruptImage',
      message: 'premature end of JPEG',
      attempts: 1,
      retryable: false,
    });
  });

  it('passing faults are retried with backoff and then succeed', async () => {
    const { result, calls } = await run(input(false), async (_ctx, attempt) => {
      if (attempt < 3) throw new TransientError('StorageError', 'connection reset');
    });
    expect(calls.filter((c) => c.startsWith('detect'))).toHaveLength(3);
    expect(result.status).toBe('ok');
  }, 60_000);

  it('a GPU stage with no GPU worker falls back to the CPU queue', async () => {
    const { result, recorded, calls } = await run(input(true), async () => {});
    // The GPU stage stays alone (it may move to the CPU pool on its own); extract and score, both on the CPU queue, form a group.
    expect(calls).toEqual(['detect:cpu:true', 'group:extract,score', 'extract', 'score', 'record:group']);
    expect(result.status).toBe('ok');
    expect(recorded[0].detect?.report.fellBack).toBe(true);
  }, 60_000);
});

describe('analyzeVideo in segments', () => {
  async function video(frames: number, segmentFrames: number, fail = -1) {
    videoFrames = frames;
    failSegment = fail;
    segments = [];
    recorded = [];
    const inp = {
      ...base.input,
      pipeline: resolvePipeline('objects', { gpuStages: [], gpuFallbackMs: 500 }),
      parallelism: 1,
      segmentFrames,
    };
    const workflowId = `video-${Math.random()}`;
    const result = (await env.client.workflow.execute('analyzeVideo', {
      taskQueue: cfg.temporal.workflowQueue,
      workflowId,
      args: [inp],
    })) as AnalyzeVideoResult;
    const runs: string[] = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w.runId);
    return { result, runs };
  }

  it('a long video runs segment after segment, carrying state, in several runs of bounded history, with one summary row', async () => {
    // 72,000 frames (2 hours at 10 fps) in segments of 250: 288 segments, more than SEGMENTS_PER_RUN per run.
    const { result, runs } = await video(72_000, 250);
    expect(segments).toHaveLength(288);
    expect(segments.map((s) => s.index)).toEqual(Array.from({ length: 288 }, (_, i) => i));
    expect(segments[287]).toMatchObject({ start: 71_750, end: 72_000 });
    segments.forEach((s, i) => expect((s.state as { seen?: number } | undefined)?.seen ?? 0).toBe(i * 250));
    expect(result).toEqual({
      video: expect.any(String),
      frames: 72_000,
      ok: 72_000,
      failed: 0,
      top: [{ frame: 1750, score: 0.9 }],
    });
    expect(runs.length).toBe(Math.ceil(288 / SEGMENTS_PER_RUN));
    expect(recorded).toHaveLength(1);
    expect(recorded[0].score?.details).toMatchObject({
      kind: 'video-summary',
      frames: 72_000,
      segments: 288,
      top_frame: 1750,
    });
    expect(recorded[0].failure).toBeUndefined();
  }, 170_000);

  it('a segment that cannot be decoded ends the video with a failed summary, frames before it counted', async () => {
    const { result } = await video(1000, 100, 3);
    expect(segments.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(result).toMatchObject({ frames: 300, ok: 300, failed: 1 });
    expect(recorded).toHaveLength(1);
    expect(recorded[0].failure).toMatchObject({ errorClass: 'CorruptImage', retryable: false });
  }, 60_000);
});
