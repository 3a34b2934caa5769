/**
 * `lookout fit` (cli/scene.ts runFit) polls the fit workflow's progress while it runs. Issue 11 saw the command
 * exit 1 with grpc-js "Channel has been shut down" after the scene had been stored: a progress query was still in
 * flight when the command closed its Temporal connection. These tests hold runFit to what fixed it: one query at
 * a time, and no query left in flight (or reported) once runFit has returned — so closing the connection right
 * after cannot fail a query. With the old setInterval poll both fail. Also what the command prints (text or --json).
 */
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { fitOutput, runFit } from '../../cli/scene';
import { loadConfig } from '../../config';
import type { VideoProgress } from '../../core/workflows';

const VIDEO = { bucket: 'b', name: 'cam/normal.mp4', generation: '1', size: 10, timeCreated: '2026-12-03T00:00:00Z' };

/** A fit workflow whose result comes after `resultMs` and whose progress queries each take `queryMs`. */
function slowFitClient(resultMs: number, queryMs: number) {
  const events: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let closed = false;
  const handle = {
    result: () =>
      new Promise((r) =>
        setTimeout(() => r({ scene: 's', version: 1, samples: 10, frames: 20, framesFailed: 0 }), resultMs),
      ),
    query: async <T>(name: string): Promise<T> => {
      expect(name).toBe('progress');
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      events.push('query');
      await new Promise((r) => setTimeout(r, queryMs));
      inFlight--;
      // What grpc-js does to a call outstanding when the channel is closed under it.
      if (closed) throw new Error('Channel has been shut down');
      return { phase: 'analysing', total: 20, done: 3, failed: 0 } as T;
    },
  };
  const client = { workflow: { start: async () => handle } } as unknown as Client;
  return { client, events, state: () => ({ inFlight, maxInFlight }), close: () => (closed = true) };
}

describe('lookout fit progress polling', () => {
  const cfg = loadConfig({});
  const opts = { k: 4, seed: 1, quantile: 0.97, parallelism: 1 };

  it('leaves no progress query in flight when it returns, so closing the connection then cannot fail one', async () => {
    // Result at 1.3 s: the first poll starts at ~1.0 s and takes 0.8 s, so it is still running when the result comes.
    const fake = slowFitClient(1300, 800);
    const progress: VideoProgress[] = [];
    const result = await runFit(fake.client, cfg, 'cam1', [VIDEO], { ...opts, onProgress: (p) => progress.push(p) });
    expect(result.version).toBe(1);
    expect(fake.events).toContain('query'); // the poll did run while the fit was going
    expect(fake.state().inFlight).toBe(0);
    fake.close();
    const reportedAtReturn = progress.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(progress.length).toBe(reportedAtReturn); // nothing reported after the command has finished
  });

  it('polls one query at a time even when a query is slower than the poll interval', async () => {
    const fake = slowFitClient(4200, 1500);
    const progress: VideoProgress[] = [];
    await runFit(fake.client, cfg, 'cam1', [VIDEO], { ...opts, onProgress: (p) => progress.push(p) });
    expect(fake.state().maxInFlight).toBe(1);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0]).toEqual({ phase: 'analysing', total: 20, done: 3, failed: 0 });
  });
});

describe('lookout fit output', () => {
  const r = {
    scene: 'cam1',
    version: 2,
    uri: 'gs://r/models/scenes/cam1/cctv-attributes/2/scene.lkam',
    samples: 900,
    threshold: 1.23456,
    k: 8,
    fitMs: 2500,
    frames: 300,
    framesFailed: 1,
    report: { threshold: 1.23456 },
    reportFiles: ['/d/fit.json', '/d/embedding.png'],
  };

  it('prints the new version, the report lines indented, and where the report is', () => {
    const text = fitOutput(r, ['appearance bank: 10 of 20 vectors'], false);
    expect(text.split('\n')).toEqual([
      'scene cam1 v2: 900 objects from 300 frames (1 skipped), k=8, threshold 1.2346, fitted in 2.5s -> gs://r/models/scenes/cam1/cctv-attributes/2/scene.lkam',
      '  appearance bank: 10 of 20 vectors',
      '  report: /d/fit.json, /d/embedding.png',
    ]);
  });

  it('--json prints the whole result, report and report files included, as one JSON document', () => {
    expect(JSON.parse(fitOutput(r, ['ignored in JSON'], true))).toEqual(r);
  });
});
