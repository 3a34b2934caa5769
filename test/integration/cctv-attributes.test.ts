/**
 * The default CCTV method (cctv-anomaly = cctv-attributes) on the real stack: `lookout fit`'s workflow
 * observes normal footage in segments on the worker and stores a scene model; a clip uploaded to the
 * bucket is analysed in segments, one row per frame with scores (and reasons where flagged) plus a
 * summary row for the video.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cutVideo, fitSceneFromCli } from '../../cli/scene';
import { SceneStore } from '../../io/scenes';
import { VTEST } from '../../demo/samples';
import { ATTRIBUTES_SCENE_FORMAT } from '../../methods/cctv-attributes';
import { cfg, rowsWhere, samplesDir, storage, uniqueRun, waitForRows } from './helpers';

const scene = `a${Date.now().toString(36)}`;
const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-fit-report-'));
let fit: Awaited<ReturnType<typeof fitSceneFromCli>>;
let printed = '';

beforeAll(async () => {
  const normal = cutVideo(VTEST, path.join(samplesDir, 'attr-normal-0-200.avi'), 0, 200);
  const name = `normal/${scene}/clip.avi`;
  await storage.bucket(cfg.gcs.bucket).upload(normal, {
    destination: name,
    resumable: false,
    contentType: 'video/x-msvideo',
    metadata: { metadata: { 'lookout-derived': 'normal-footage' } },
  });
  // What `lookout fit --scene S gs://… --report-dir DIR` runs, with its printed lines captured.
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    fit = await fitSceneFromCli(cfg, scene, [`gs://${cfg.gcs.bucket}/${name}`], {
      every: 2,
      k: 4,
      seed: 7,
      quantile: 0.97,
      parallelism: 1,
      reportDir,
    });
    printed = log.mock.calls.map((c) => String(c[0])).join('\n');
  } finally {
    log.mockRestore();
  }
  expect(fit.version).toBe(1);
  expect(fit.frames).toBe(100);
  expect(fit.samples).toBeGreaterThan(200);
}, 600_000);

afterAll(() => {
  fs.rmSync(reportDir, { recursive: true, force: true });
});

describe('cctv-attributes', () => {
  it("lookout fit prints the fit report and writes it with the bank's embedding plot", () => {
    expect(printed).toMatch(new RegExp(`scene ${scene} v1: `));
    expect(printed).toMatch(
      /appearance bank: \d+ of \d+ vectors \(coreset, dim 1280\); 4 k-means clusters of sizes [\d, ]+; H\(class \| cluster\) [\d.]+ of H\(class\) [\d.]+ bits/,
    );
    expect(printed).toMatch(/threshold [\d.]+: [\d.]+ % of the held-out normal frames above it/);
    expect(fit.reportFiles).toEqual([path.join(reportDir, 'fit.json'), path.join(reportDir, 'embedding.png')]);
    const stored = JSON.parse(fs.readFileSync(path.join(reportDir, 'fit.json'), 'utf8'));
    expect(stored).toMatchObject({ scene, version: 1, frames: 100 });
    expect(stored.report.appearance.clusters.sizes.reduce((a: number, b: number) => a + b, 0)).toBe(
      stored.report.appearance.bankSize,
    );
    expect(fs.readFileSync(path.join(reportDir, 'embedding.png')).subarray(1, 4).toString('latin1')).toBe('PNG');
  });

  it('fits a scene model that a worker can load, in its own folder of the scene', async () => {
    const { model, version } = await new SceneStore(storage, cfg.gcs.resultsBucket, ATTRIBUTES_SCENE_FORMAT).load(
      scene,
    );
    expect(version).toBe(1);
    expect(model.frameSize).toEqual({ width: 768, height: 576 });
    expect(Number.isFinite(model.threshold)).toBe(true);
  });

  it('a clip uploaded to the bucket becomes a row per frame, scored, plus one summary row', async () => {
    const run = uniqueRun('attr');
    const clip = cutVideo(VTEST, path.join(samplesDir, 'attr-test-600-640.avi'), 600, 640);
    const name = `${run}/clip.avi`;
    await storage.bucket(cfg.gcs.bucket).upload(clip, {
      destination: name,
      resumable: false,
      contentType: 'video/x-msvideo',
      metadata: { metadata: { 'lookout-run': run, 'lookout-scene': scene, 'lookout-pipeline': 'cctv-anomaly' } },
    });
    // The summary row comes last (after every frame and alert episode row): a positive end signal.
    await waitForRows(`run_tag = @run AND JSON_VALUE(details, '$.kind') = 'video-summary'`, { run }, 1, 300_000);
    const all = await rowsWhere<{
      status: string;
      label: string;
      pipeline: string;
      score: number | null;
      details: string;
      workflow_id: string;
      objects: unknown[];
    }>('run_tag = @run', { run });
    // Alert episodes (one row per episode, label 'alert') beside the frame rows; ui-alerts.test.ts looks at them closely.
    const alerts = all.filter((r) => r.label === 'alert');
    for (const a of alerts)
      expect(JSON.parse(a.details)).toMatchObject({
        kind: 'alert-episode',
        scene,
        reasons: expect.stringMatching(/\w+.*: .+/),
      });
    const rows = all.filter((r) => r.label !== 'alert');
    expect(rows).toHaveLength(41);
    const details = rows.map((r) => JSON.parse(r.details) as Record<string, unknown>);
    const summary = rows.filter((_, i) => details[i].kind === 'video-summary');
    expect(summary).toHaveLength(1);
    expect(JSON.parse(summary[0].details)).toMatchObject({ frames: 40, frames_ok: 40, segments: 1, every: 1 });
    const frames = rows.filter((_, i) => details[i].kind !== 'video-summary');
    expect(frames.map((r) => (JSON.parse(r.details) as { frame: number }).frame).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    );
    for (const [i, r] of rows.entries()) {
      if (details[i].kind === 'video-summary') continue;
      expect(r.status).toBe('ok');
      expect(r.pipeline).toBe('cctv-anomaly');
      expect(details[i]).toMatchObject({ scene, scene_version: 1 });
      expect(typeof details[i].threshold).toBe('number');
      expect(r.workflow_id).toMatch(/@\d+$/);
      // A flagged frame says why, and its annotated image exists.
      if ((details[i].abnormal_objects as number) > 0) {
        expect(String(details[i].reasons)).toMatch(/\w+.*: .+/);
        const uri = String(details[i].annotated ?? '');
        if (uri) {
          const [, bucket, obj] = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri)!;
          const [exists] = await storage.bucket(bucket).file(obj).exists();
          expect(exists).toBe(true);
          // A frame inside an alert episode also names the episode's clip, which exists (media/clip.ts is tested frame-exact in test/unit/clip.test.ts).
          if (details[i].alert_start !== undefined) {
            const clip = String(details[i].clip ?? '');
            expect(clip).toMatch(/^gs:\/\/[^/]+\/.+\/alert-f\d{7}\.mp4$/);
            const [, cb, co] = /^gs:\/\/([^/]+)\/(.+)$/.exec(clip)!;
            expect((await storage.bucket(cb).file(co).exists())[0]).toBe(true);
          }
        }
      }
    }
  }, 400_000);
});
