/** ingest/serve.ts analyzeFrame, with fakes of storage and the workflow starter. */
import type { Storage } from '@google-cloud/storage';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../config';
import type { AnalyzeInput } from '../../core/types';
import type { AnalyzeResult } from '../../core/workflows';
import type { WorkflowStarter } from '../../io/starter';
import { analyzeFrame } from '../../ingest/serve';

const cfg = loadConfig({});

function fakes(result: AnalyzeResult) {
  const started: AnalyzeInput[] = [];
  const storage = {
    bucket: () => ({ file: (name: string) => ({ getMetadata: async () => [{ name, generation: '5', size: '100', contentType: 'image/jpeg', timeCreated: '2026-11-23T10:00:00Z', metadata: {} }] }) }),
  } as unknown as Storage;
  const starter = {
    startAnalysis: async (input: AnalyzeInput) => {
      started.push(input);
      return { outcome: 'started' as const, workflowId: `wf-${input.object.name}` };
    },
    analysisResult: async () => result,
  } as unknown as WorkflowStarter;
  return { storage, starter, started };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('analyzeFrame', () => {
  it('leaves no 504 timer behind once the analysis has answered', async () => {
    vi.useFakeTimers();
    const { storage, starter } = fakes({ workflowId: 'w', status: 'failed', errorClass: 'SceneModelMissing', objects: 0, record: { analysisId: 'a', table: 't', status: 'failed' } });
    const r = await analyzeFrame({ cfg, starter, storage, defaultScene: 'lobby', timeoutMs: 60_000 }, { key: 'cam/f0100.jpg' });
    expect(r.httpStatus).toBe(409);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours the scene named in the request, else the default', async () => {
    const { storage, starter, started } = fakes({ workflowId: 'w', status: 'failed', errorClass: 'CorruptImage', objects: 0, record: { analysisId: 'a', table: 't', status: 'failed' } });
    await analyzeFrame({ cfg, starter, storage, defaultScene: 'lobby', timeoutMs: 1000 }, { key: 'cam/f0100.jpg', scene: 'gate-2' });
    await analyzeFrame({ cfg, starter, storage, defaultScene: 'lobby', timeoutMs: 1000 }, { key: 'cam/f0101.jpg' });
    expect(started.map((i) => [i.scene, i.pipeline.name])).toEqual([
      ['gate-2', 'cctv-anomaly'],
      ['lobby', 'cctv-anomaly'],
    ]);
  });
});
