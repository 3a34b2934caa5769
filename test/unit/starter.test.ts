/** io/starter.ts: the one place workflows are started — IDs, arguments and duplicate handling. */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { resolvePipeline } from '../../core/pipelines';
import { batchWorkflowId, videoEvery, WorkflowStarter } from '../../io/starter';
import { summary } from './fixtures';

function fakeClient(start: (type: string, opts: Record<string, unknown>) => Promise<unknown>) {
  const starts: Array<{ type: string; opts: Record<string, unknown> }> = [];
  const client = {
    workflow: {
      start: async (type: string, opts: Record<string, unknown>) => {
        starts.push({ type, opts });
        return start(type, opts);
      },
    },
  } as unknown as Client;
  return { client, starts };
}

describe('WorkflowStarter', () => {
  const cfg = loadConfig({ LOOKOUT_VIDEO_EVERY: '5', LOOKOUT_VIDEO_PARALLELISM: '3' });

  it('starts one analysis per object version: deterministic id, REJECT_DUPLICATE, on the workflow queue', async () => {
    const { client, starts } = fakeClient(async () => ({}));
    const r = await new WorkflowStarter(client, cfg).startAnalysis(summary().input);
    expect(r).toEqual({ outcome: 'started', workflowId: 'objects:b-1/x.jpg#7' });
    expect(starts[0].type).toBe('analyzeObject');
    expect(starts[0].opts).toMatchObject({
      taskQueue: 'lookout-workflows',
      workflowId: 'objects:b-1/x.jpg#7',
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
  });

  it('a retry is a new run under the same id (ALLOW_DUPLICATE); an existing one is a duplicate, not an error', async () => {
    const { client, starts } = fakeClient(async (_t, o) => {
      if (o.workflowIdReusePolicy === WorkflowIdReusePolicy.REJECT_DUPLICATE)
        throw new WorkflowExecutionAlreadyStartedError('exists', String(o.workflowId), 'analyzeObject');
      return {};
    });
    const s = new WorkflowStarter(client, cfg);
    expect((await s.startAnalysis(summary().input)).outcome).toBe('duplicate');
    expect((await s.startAnalysis(summary().input, 'analyzeObject', { rerun: true })).outcome).toBe('started');
    expect(starts[1].opts.workflowIdReusePolicy).toBe(WorkflowIdReusePolicy.ALLOW_DUPLICATE);
  });

  it('a video takes its frame stride from the object (lookout-video-every), else from the configuration', async () => {
    const { client, starts } = fakeClient(async () => ({}));
    const s = new WorkflowStarter(client, cfg);
    const input = summary().input;
    input.pipeline = resolvePipeline('cctv-anomaly', cfg.pipelines);
    await s.startAnalysis(
      { ...input, object: { ...input.object, metadata: { 'lookout-video-every': '3' } } },
      'analyzeVideo',
    );
    await s.startAnalysis(input, 'analyzeVideo');
    expect(starts.map((x) => (x.opts.args as Array<{ every?: number; parallelism: number }>)[0])).toMatchObject([
      { every: 3, parallelism: 3 },
      { every: 5, parallelism: 3 },
    ]);
  });

  it('ignores a stride that is not a whole number from 1 to 100000', () => {
    for (const bad of ['0', '-1', '2.5', 'x', '1000001', ''])
      expect(videoEvery({ metadata: { 'lookout-video-every': bad } }, cfg)).toBe(5);
    expect(videoEvery({ metadata: { 'lookout-video-every': '100000' } }, cfg)).toBe(100000);
  });

  it('names a batch by its object versions, so a rerun of the same backfill finds it', () => {
    const o = [summary().input.object, { ...summary().input.object, name: 'y.jpg' }];
    expect(batchWorkflowId('objects', o)).toBe(batchWorkflowId('objects', [...o]));
    expect(batchWorkflowId('objects', o)).not.toBe(batchWorkflowId('objects', [o[0]]));
    expect(batchWorkflowId('objects', o)).toMatch(/^bulk:objects:[0-9a-f]{32}$/);
  });
});
