/** ingest/serve.ts analyzeFrame, with fakes of storage and the workflow starter. */
import type { Storage } from '@google-cloud/storage';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../config';
import type { AnalyzeInput } from '../../core/types';
import type { AnalyzeResult } from '../../core/workflows';
import type { WorkflowStarter } from '../../io/starter';
import { analyzeFrame } from '../../ingest/serve';

const cfg = loadConfig({});

function fakes(result: AnalyzeResult, existing?: 'running' | 'ok' | 'failed') {
  const started: AnalyzeInput[] = [];
  const reruns: boolean[] = [];
  const storage = {
    bucket: () => ({
      file: (name: string) => ({
        getMetadata: async () => [
          {
            name,
            generation: '5',
            size: '100',
            contentType: 'image/jpeg',
            timeCreated: '2026-11-23T10:00:00Z',
            metadata: {},
          },
        ],
      }),
    }),
  } as unknown as Storage;
  const starter = {
    startAnalysis: async (input: AnalyzeInput, _kind?: string, opts?: { rerun?: boolean }) => {
      started.push(input);
      reruns.push(opts?.rerun === true);
      return {
        outcome: existing && !opts?.rerun ? ('duplicate' as const) : ('started' as const),
        workflowId: `wf-${input.object.name}`,
      };
    },
    analysisStatus: async () => existing ?? 'running',
    analysisResult: async () => result,
  } as unknown as WorkflowStarter;
  return { storage, starter, started, reruns };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('analyzeFrame', () => {
  it('leaves no 504 timer behind once the analysis has answered', async () => {
    vi.useFakeTimers();
    const { storage, starter } = fakes({
      workflowId: 'w',
      status: 'failed',
      errorClass: 'SceneModelMissing',
      objects: 0,
      record: { analysisId: 'a', table: 't', status: 'failed' },
    });
    const r = await analyzeFrame(
      { cfg, starter, storage, defaultScene: 'lobby', timeoutMs: 60_000 },
      { key: 'cam/f0100.jpg' },
    );
    expect(r.httpStatus).toBe(409);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours the scene named in the request, else the default', async () => {
    const { storage, starter, started } = fakes({
      workflowId: 'w',
      status: 'failed',
      errorClass: 'CorruptImage',
      objects: 0,
      record: { analysisId: 'a', table: 't', status: 'failed' },
    });
    await analyzeFrame(
      { cfg, starter, storage, defaultScene: 'lobby', timeoutMs: 1000 },
      { key: 'cam/f0100.jpg', scene: 'gate-2' },
    );
    await analyzeFrame({ cfg, starter, storage, defaultScene: 'lobby', timeoutMs: 1000 }, { key: 'cam/f0101.jpg' });
    expect(started.map((i) => [i.scene, i.pipeline.name])).toEqual([
      ['gate-2', 'cctv-ocae'],
      ['lobby', 'cctv-ocae'],
    ]);
  });

  it('re-runs a frame whose earlier analysis failed, instead of handing back the old failure', async () => {
    const ok: AnalyzeResult = {
      workflowId: 'w',
      status: 'ok',
      score: 0.4,
      objects: 1,
      scored: [{ classId: 0, label: 'person', score: 0.8, x: 1, y: 2, w: 3, h: 4, anomalyScore: 0.4 }],
      details: { threshold: 0.3, scene_version: 2 },
      record: { analysisId: 'a', table: 't', status: 'ok' },
    };
    const failedBefore = fakes(ok, 'failed');
    const r = await analyzeFrame(
      { cfg, starter: failedBefore.starter, storage: failedBefore.storage, defaultScene: 'lobby', timeoutMs: 1000 },
      { key: 'cam/f0100.jpg' },
    );
    expect(failedBefore.reruns).toEqual([false, true]);
    expect(r.httpStatus).toBe(200);
    expect(r.body).toMatchObject({
      frameScore: 0.4,
      threshold: 0.3,
      sceneVersion: 2,
      abnormal: [{ label: 'person', anomalyScore: 0.4 }],
    });
    // An analysis that is running or went well is not started again.
    const running = fakes(ok, 'running');
    await analyzeFrame(
      { cfg, starter: running.starter, storage: running.storage, defaultScene: 'lobby', timeoutMs: 1000 },
      { key: 'cam/f0100.jpg' },
    );
    expect(running.reruns).toEqual([false]);
  });
});

describe('serve API', () => {
  it('describes itself in OpenAPI, every answer analyzeFrame can give included', async () => {
    const { createServeApi } = await import('../../ingest/serve');
    const { storage, starter } = fakes({
      workflowId: 'w',
      status: 'failed',
      errorClass: 'CorruptImage',
      objects: 0,
      record: { analysisId: 'a', table: 't', status: 'failed' },
    });
    const server = createServeApi({ cfg, starter, storage, defaultScene: 'lobby', timeoutMs: 1000 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<string, { post?: { responses: Record<string, unknown> } }>;
      };
      expect(doc.openapi).toBe('3.1.0');
      const documented = Object.keys(doc.paths['/v1/frames'].post!.responses);
      expect(documented).toEqual(expect.arrayContaining(['200', '400', '404', '409', '413', '422', '503', '504']));
      const bad = await fetch(`${base}/v1/frames`, { method: 'POST', body: 'not json' });
      expect(bad.status).toBe(400);
      expect(documented).toContain(String(bad.status));
      const unusable = await fetch(`${base}/v1/frames`, {
        method: 'POST',
        body: JSON.stringify({ key: 'cam/f0001.jpg' }),
      });
      expect(unusable.status).toBe(422);
    } finally {
      server.close();
    }
  });
});
