/** The activities as thin adapters, driven with fakes of the method, the row writer and the object store. */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import type { StageContext } from '../../activities/types';
import { BadInputError } from '../../core/errors';
import type { AnalyzeInput, DetectOutput, ExtractOutput } from '../../core/types';
import type { ResultRow } from '../../io/results';
import type { MethodRuntime } from '../../methods/method';
import { summary } from './fixtures';

const input: AnalyzeInput = summary().input;
const box = { classId: 0, label: 'person', score: 0.9, x: 1, y: 2, w: 3, h: 4 };

function fakeMethod(calls: string[], failOn?: string): MethodRuntime {
  return {
    loadedModels: () => ['fake v1 (cpu)'],
    async detect(i) {
      calls.push(`detect ${i.object.name}`);
      if (i.object.name === failOn) throw new BadInputError('CorruptImage', 'truncated JPEG');
      return {
        value: { width: 64, height: 48, format: 'jpeg', boxes: [box] },
        inferenceMs: 12,
        batchSize: 2,
        executionProvider: 'cpu',
        model: { name: 'fake', version: 1 },
      };
    },
    async extract(i, d, key) {
      calls.push(`extract ${d.boxes.length} ${key}`);
      return { value: { featureNames: ['f'], features: [{ box: 0, vector: [1] }] }, inferenceMs: 3 };
    },
    async score(i, d, e) {
      calls.push(`score ${e.features.length}`);
      return { value: { label: 'person', score: 0.9, objects: d.boxes }, inferenceMs: 1 };
    },
  };
}

function setup(pool: 'cpu' | 'gpu' = 'cpu', failOn?: string) {
  const calls: string[] = [];
  const rows: ResultRow[] = [];
  const acts = createActivities({
    methods: new Map([['objects', fakeMethod(calls, failOn)]]),
    definitions: new Map(),
    videos: { get: async () => '/nonexistent' },
    rows: { write: async (r) => void rows.push(r) },
    table: 'p.d.t',
    pool,
  });
  return { acts, calls, rows };
}

const ctx = (stage: StageContext['stage'], pool: 'cpu' | 'gpu' = 'cpu'): StageContext => ({
  stage,
  pool,
  fellBack: false,
});

describe('createActivities', () => {
  it('runs the pipeline method stage by stage and reports where and how long each ran', async () => {
    const { acts, calls } = setup();
    const d = await acts.detect(input, ctx('detect'));
    expect(d.boxes).toEqual([box]);
    expect(d.machine.cores).toBeGreaterThan(0);
    expect(d.report).toMatchObject({
      stage: 'detect',
      pool: 'cpu',
      taskQueue: 'direct',
      attempt: 1,
      inferenceMs: 12,
      batchSize: 2,
      executionProvider: 'cpu',
      model: { name: 'fake', version: 1 },
    });
    expect(d.report.completedAt).toBeGreaterThanOrEqual(d.report.startedAt);
    const e = await acts.extract(input, d, ctx('extract'));
    const s = await acts.score(input, d, e, ctx('score'));
    expect(s).toMatchObject({ label: 'person', score: 0.9, report: { stage: 'score', inferenceMs: 1 } });
    expect(calls).toEqual(['detect x.jpg', 'extract 1 direct/b-1/x.jpg#7', 'score 1']);
  });

  it('refuses a stage routed to the wrong pool, whatever the stage (not only detect)', async () => {
    const { acts, calls } = setup('gpu');
    const d = summary().detect as DetectOutput;
    const e = summary().extract as ExtractOutput;
    for (const run of [
      () => acts.detect(input, ctx('detect')),
      () => acts.extract(input, d, ctx('extract')),
      () => acts.score(input, d, e, ctx('score')),
    ]) {
      const err = await run().catch((x: unknown) => x);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe('PoolMismatch');
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
    }
    expect(calls).toEqual([]);
  });

  it('turns bad input into a non-retryable failure typed by its error class', async () => {
    const { acts } = setup('cpu', 'x.jpg');
    const err = (await acts.detect(input, ctx('detect')).catch((x: unknown) => x)) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect([err.type, err.nonRetryable, err.message]).toEqual(['CorruptImage', true, 'truncated JPEG']);
  });

  it('fails with MethodNotLoaded when the worker has not loaded the pipeline method', async () => {
    const { acts } = setup();
    const other = { ...input, pipeline: { ...input.pipeline, method: 'cctv-ocae' } };
    const err = (await acts.detect(other, ctx('detect')).catch((x: unknown) => x)) as ApplicationFailure;
    expect([err.type, err.nonRetryable]).toEqual(['MethodNotLoaded', true]);
    const split = (await acts.splitVideo('objects', input.object, 5).catch((x: unknown) => x)) as ApplicationFailure;
    expect([split.type, split.nonRetryable]).toEqual(['NotAVideoMethod', true]);
  });

  it('records one row per summary, failed ones included', async () => {
    const { acts, rows } = setup();
    const ok = await acts.record(summary());
    const bad = await acts.record(
      summary({
        workflowId: 'objects:b-1/y.jpg#1',
        runId: 'r-2',
        score: undefined,
        failure: { stage: 'score', errorClass: 'X', message: 'm', attempts: 1, retryable: false },
      }),
    );
    expect([ok.status, bad.status, ok.table]).toEqual(['ok', 'failed', 'p.d.t']);
    expect(rows.map((r) => r.analysis_id)).toEqual(['objects:b-1/x.jpg#7/r-1', 'objects:b-1/y.jpg#1/r-2']);
  });

  it('in a batch, a bad object fails alone and later stages skip it', async () => {
    const { acts } = setup('cpu', 'bad.jpg');
    const objects = ['a.jpg', 'bad.jpg', 'c.jpg'].map((name) => ({ ...input.object, name }));
    const batch = { pipeline: input.pipeline, objects, trace: input.trace };
    const d = await acts.detectBatch(batch, ctx('detect'));
    expect(d.map((x) => x.ok)).toEqual([true, false, true]);
    expect(d[1]).toMatchObject({
      ok: false,
      failure: { stage: 'detect', errorClass: 'CorruptImage', attempts: 1, retryable: false },
    });
    const e = await acts.extractBatch(batch, d, ctx('extract'));
    expect(e[1]).toEqual({ ok: false, skipped: true });
    expect(e.filter((x) => x.ok)).toHaveLength(2);
  });
});
