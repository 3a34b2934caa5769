/**
 * The seed's CCTV method (cctv-ocae, the baseline) on the real stack: a scene fitted by the fitScene workflow on a
 * short normal clip, a video split into frame triplets with one row per
 * frame, and the synchronous triplet API with its 4xx answers.
 */
import path from 'node:path';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cutVideo, runFit } from '../../cli/scene';
import { temporalClient } from '../../io/clients';
import { workflowIdFor } from '../../core/events';
import { VTEST } from '../../demo/samples';
import { SceneStore } from '../../io/scenes';
import { WorkflowStarter } from '../../io/starter';
import { OCAE_SCENE_FORMAT } from '../../methods/cctv-ocae';
import { createServeApi } from '../../ingest/serve';
import { cfg, samplesDir, sampleFrame, storage, uniqueRun, upload, waitForRows } from './helpers';

const scene = `t${Date.now().toString(36)}`;
let conn: Awaited<ReturnType<typeof temporalClient>>;
let server: http.Server;
let base: string;

beforeAll(async () => {
  conn = await temporalClient(cfg);
  const normal = cutVideo(VTEST, path.join(samplesDir, 'cctv-normal-0-120.avi'), 0, 120);
  const name = `normal/${scene}/clip.avi`;
  await storage.bucket(cfg.gcs.bucket).upload(normal, {
    destination: name,
    resumable: false,
    contentType: 'video/x-msvideo',
    metadata: { metadata: { 'lookout-derived': 'normal-footage' } },
  });
  const [md] = await storage.bucket(cfg.gcs.bucket).file(name).getMetadata();
  const fit = await runFit(
    conn.client,
    cfg,
    scene,
    [
      {
        bucket: cfg.gcs.bucket,
        name,
        generation: String(md.generation),
        size: Number(md.size),
        timeCreated: String(md.timeCreated),
      },
    ],
    { pipeline: 'cctv-ocae', every: 6, k: 3, seed: 1, quantile: 0.95, parallelism: 4 },
  );
  expect(fit.version).toBe(1);
  expect(fit.samples).toBeGreaterThan(50);
  server = createServeApi({
    cfg,
    starter: new WorkflowStarter(conn.client, cfg),
    storage,
    defaultScene: scene,
    timeoutMs: 60_000,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  if (server) await new Promise((r) => server.close(r));
  await conn?.connection.close();
});

const post = (body: unknown) =>
  fetch(`${base}/v1/frames`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('scene model', () => {
  it('is stored as a versioned object that a worker can load', async () => {
    const { model, version } = await new SceneStore(storage, cfg.gcs.resultsBucket, OCAE_SCENE_FORMAT).load(scene);
    expect(version).toBe(1);
    expect(model.k).toBe(3);
    expect(model.dim).toBe(3072);
    expect(Number.isFinite(model.threshold)).toBe(true);
  });
});

describe('triplet API', () => {
  it('answers 200 with the frame score and boxes for an uploaded KEY, KEY_d3, KEY_p3', async () => {
    const run = uniqueRun('serve');
    await upload(cfg.gcs.bucket, `${run}/f0600_d3.jpg`, sampleFrame(597), 'image/jpeg');
    await upload(cfg.gcs.bucket, `${run}/f0600_p3.jpg`, sampleFrame(603), 'image/jpeg');
    // KEY last: it is derived from nothing and tagged for the serve pipeline only when the API is called.
    await upload(cfg.gcs.bucket, `${run}/f0600.jpg`, sampleFrame(600), 'image/jpeg', {
      'lookout-derived': 'test-triplet',
    });
    const r = await post({ key: `${run}/f0600.jpg` });
    const body = (await r.json()) as {
      status: number;
      frameScore: number;
      threshold: number;
      objects: Array<{ anomalyScore: number; label: string }>;
      abnormal: unknown[];
      annotated: string;
    };
    expect(r.status).toBe(200);
    expect(body.status).toBe(200);
    expect(typeof body.frameScore).toBe('number');
    expect(body.objects.length).toBeGreaterThan(2);
    expect(body.frameScore).toBeCloseTo(Math.max(...body.objects.map((o) => o.anomalyScore)), 4);
    expect(body.abnormal.length).toBe(body.objects.filter((o) => o.anomalyScore > body.threshold).length);
    expect(body.annotated).toMatch(/^gs:\/\/.+annotated\.jpg$/);
    const [exists] = await storage
      .bucket(cfg.gcs.resultsBucket)
      .file(body.annotated.replace(`gs://${cfg.gcs.resultsBucket}/`, ''))
      .exists();
    expect(exists).toBe(true);
  });

  it('answers 4xx, never 500, for bad requests', async () => {
    const run = uniqueRun('serve-bad');
    expect((await post('not json')).status).toBe(400);
    expect((await post({})).status).toBe(400);
    expect((await post({ key: `${run}/nope.jpg` })).status).toBe(404);
    await upload(cfg.gcs.bucket, `${run}/alone.jpg`, sampleFrame(610), 'image/jpeg', { 'lookout-derived': 'test' });
    const missing = await post({ key: `${run}/alone.jpg` });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toContain('_d3');
    await upload(cfg.gcs.bucket, `${run}/text_d3.jpg`, sampleFrame(611), 'image/jpeg');
    await upload(cfg.gcs.bucket, `${run}/text_p3.jpg`, sampleFrame(612), 'image/jpeg');
    await upload(cfg.gcs.bucket, `${run}/text.jpg`, Buffer.from('not an image'), 'image/jpeg', {
      'lookout-derived': 'test',
    });
    const bad = await post({ key: `${run}/text.jpg` });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { errorClass: string }).errorClass).toBe('NotAnImage');
    expect((await post({ key: `${run}/x.jpg`, scene: 'Bad Scene!' })).status).toBe(400);
  });
});

describe('video objects', () => {
  it('a video uploaded to the bucket becomes one row per sampled frame, each scored and annotated', async () => {
    const run = uniqueRun('video');
    const clip = cutVideo(VTEST, path.join(samplesDir, 'cctv-test-600-640.avi'), 600, 640);
    const name = `${run}/clip.avi`;
    const [file] = await storage.bucket(cfg.gcs.bucket).upload(clip, {
      destination: name,
      resumable: false,
      contentType: 'video/x-msvideo',
      metadata: { metadata: { 'lookout-run': run, 'lookout-pipeline': 'cctv-ocae', 'lookout-scene': scene } },
    });
    // Every 5th frame of 40 with t-3 >= 0 and t+3 < 40: t = 3, 8, ..., 33 -> 7 frames.
    const rows = await waitForRows<{
      status: string;
      score: number | null;
      details: string;
      pipeline: string;
      models: Array<{ name: string }>;
    }>('run_tag = @run', { run }, 7, 180_000);
    expect(rows).toHaveLength(7);
    for (const r of rows) {
      expect(r.status).toBe('ok');
      expect(r.pipeline).toBe('cctv-ocae');
      const d = JSON.parse(r.details) as { scene: string; frame: number; video: string };
      expect(d.scene).toBe(scene);
      expect(d.video).toContain(name);
      expect(r.models.map((m) => m.name).sort()).toEqual(
        ['ae-appearance', 'ae-motion', 'nanodet', `scene-${scene}`].sort(),
      );
    }
    expect(rows.map((r) => (JSON.parse(r.details) as { frame: number }).frame).sort((a, b) => a - b)).toEqual([
      3, 8, 13, 18, 23, 28, 33,
    ]);
    const handle = conn.client.workflow.getHandle(
      workflowIdFor('cctv-ocae', { bucket: cfg.gcs.bucket, name, generation: String(file.metadata.generation) }),
    );
    const result = (await handle.result()) as { frames: number; ok: number; failed: number };
    expect(result).toEqual(expect.objectContaining({ frames: 7, ok: 7, failed: 0 }));
  }, 300_000);
});
