/**
 * Two-stage placement on the real stack: a chip classifier whose manifest places the backbone on the CPU pool
 * and the head on the GPU pool (models/burn-scar-head-split, chosen by object metadata lookout-classifier).
 *   1. No GPU worker: the head waits LOOKOUT_GPU_FALLBACK_MS (1.5 s in the test env) on raster-gpu, then runs
 *      on raster-cpu; its rows say fell_back for the score stage only.
 *   2. A second worker serves raster-gpu (started here, in this process; this machine has no CUDA, so its
 *      models run on onnxruntime's CPU provider, and the rows say so): the backbone stage runs on the stack's
 *      CPU worker, the head on the second worker — proven by the rows' stages and by the workflow history
 *      (which queue each activity was scheduled on, and which worker identity started it).
 */
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { bigquerySink, RowBatcher } from '../../io/results';
import { gcsObjectStore } from '../../io/objectstore';
import { temporalConnectOptions } from '../../io/clients';
import { blocksFromBands, epsgGeoKeys, writeTiffBuffer } from '../../media/tiff-writer';
import { rasterChangeMethod } from '../../methods/raster-change/method';
import { CachingModelLoader } from '../../runtime/loader';
import { defaultModelRepo } from '../../runtime/manifest';
import type { RasterRowFields } from '../../core/types';
import { bq, cfg, storage, uniqueRun, upload, waitForRows, withTemporal } from './helpers';

interface StageCol {
  stage: string;
  pool: string;
  task_queue: string;
  fell_back: boolean;
  execution_provider: string | null;
  started_at: unknown;
  completed_at: unknown;
}
interface Row {
  workflow_id: string;
  status: string;
  stages: StageCol[];
  models: Array<{ stage: string; name: string; version: number }>;
  raster: RasterRowFields | null;
}

const HEAD = 'burn-scar-head-split';

/** 3-band uint8 RGB, 256 x 128: two chips of 128 in one block; a dark patch in the right chip. */
function rgbScene(): Buffer {
  const w = 256;
  const h = 128;
  const bands = [0, 1, 2].map(() => new Array<number>(w * h));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = ((x * 7 + y * 13) % 17) * 4 + ((x >> 3) % 2) * 30;
      const dark = x >= 150 && x < 240 && y >= 20 && y < 110;
      const i = y * w + x;
      bands[0][i] = dark ? 30 + t / 4 : 90 + t;
      bands[1][i] = dark ? 25 + t / 4 : 120 + t;
      bands[2][i] = dark ? 20 + t / 4 : 70 + t;
    }
  }
  return writeTiffBuffer({
    width: w,
    height: h,
    bands: 3,
    type: 'uint8',
    tileSize: 64,
    compression: 'deflate',
    geo: { tiepoint: [0, 0, 0, 500000, 4000000, 0], pixelScale: [10, 10, 0], geoKeys: epsgGeoKeys(32611) },
    block: blocksFromBands(bands, w, h, 'uint8'),
  });
}

const stageOf = (r: Row, s: string) => r.stages.find((x) => x.stage === s)!;

/** Queue each activity type was scheduled on, and the identity of the worker that started it, from the workflow history. */
async function activityPlaces(
  workflowId: string,
): Promise<Array<{ type: string; queue: string; startedBy: string | null; timedOut: string | null }>> {
  const history = await withTemporal((c) => c.workflow.getHandle(workflowId).fetchHistory());
  const events = history.events ?? [];
  const byId = new Map<string, { type: string; queue: string; startedBy: string | null; timedOut: string | null }>();
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      byId.set(id, {
        type: a.activityType?.name ?? '',
        queue: a.taskQueue?.name ?? '',
        startedBy: null,
        timedOut: null,
      });
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const s = byId.get(String(started.scheduledEventId));
      if (s) s.startedBy = started.identity ?? null;
    }
    const to = e.activityTaskTimedOutEventAttributes;
    if (to) {
      const s = byId.get(String(to.scheduledEventId));
      if (s)
        s.timedOut =
          to.failure?.timeoutFailureInfo?.timeoutType ===
          temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
            ? 'SCHEDULE_TO_START'
            : 'other';
    }
  }
  return [...byId.values()];
}

describe('raster two-stage placement (backbone cpu, head gpu, set in the classifier manifest)', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('no GPU worker: the head falls back to the CPU queue after the wait; rows and history say so', async () => {
    const run = uniqueRun('raster-2s-fallback');
    const name = `${run}/scene.tif`;
    const generation = await upload(cfg.gcs.bucket, name, rgbScene(), 'image/tiff', {
      'lookout-run': run,
      'lookout-classifier': HEAD,
    });
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 3, 300_000);
    const chips = rows.filter((r) => r.raster?.kind === 'chip');
    const summary = rows.find((r) => r.raster?.kind === 'summary')!;
    expect(chips).toHaveLength(2);
    for (const c of chips) {
      expect(c.status).toBe('ok');
      expect(c.raster!.classifier_model).toBe(HEAD);
      expect(c.raster!.classifier_score).toBeGreaterThanOrEqual(0);
      expect(c.raster!.classifier_score).toBeLessThanOrEqual(1);
      expect(['no-burn', 'burn-scar']).toContain(c.raster!.classifier_label);
      expect(stageOf(c, 'extract')).toMatchObject({ task_queue: 'raster-cpu', pool: 'cpu', fell_back: false });
      expect(stageOf(c, 'score')).toMatchObject({ task_queue: 'raster-cpu', pool: 'cpu', fell_back: true });
      expect(c.models).toEqual(expect.arrayContaining([expect.objectContaining({ stage: 'score', name: HEAD })]));
    }
    expect(summary.raster).toMatchObject({ classifier_model: HEAD, classifier_label: 'burn-scar' });
    expect(summary.raster!.classifier_positives).toBe(chips.filter((c) => c.raster!.classifier_score! >= 0.5).length);
    expect(summary.raster!.classifier_score).toBeCloseTo(Math.max(...chips.map((c) => c.raster!.classifier_score!)), 5);
    const places = await activityPlaces(`raster:${cfg.gcs.bucket}/${name}#${generation}`);
    const heads = places.filter((p) => p.type === 'classifyRasterBlock');
    expect(heads.map((h) => [h.queue, h.timedOut])).toEqual([
      ['raster-gpu', 'SCHEDULE_TO_START'],
      ['raster-cpu', null],
    ]);
    expect(places.filter((p) => p.type === 'analyzeRasterBlock').map((p) => p.queue)).toEqual(['raster-cpu']);
  });

  it('a second worker on the GPU queue runs the head; the stack CPU worker runs the backbone', async () => {
    // The second worker: the raster method with the repository's models, serving raster-gpu only.
    const models = new CachingModelLoader({ repo: defaultModelRepo(cfg.projectRoot), pool: 'cpu', threads: 1 });
    const store = gcsObjectStore(storage);
    const method = await rasterChangeMethod.load({
      models,
      store,
      sceneStore: () => {
        throw new Error('unused');
      },
      resultsBucket: cfg.gcs.resultsBucket,
      maxObjectBytes: cfg.limits.maxObjectBytes,
      loadImage: () => {
        throw new Error('unused');
      },
      heartbeat: () => {},
    });
    const rows = new RowBatcher(bigquerySink(bq, cfg));
    const activities = createActivities({
      methods: new Map([['raster-change', method]]),
      definitions: new Map([['raster-change', rasterChangeMethod]]),
      videos: { get: () => Promise.reject(new Error('unused')) },
      rows,
      table: `${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}`,
      pool: 'gpu',
    });
    const connection = await NativeConnection.connect(temporalConnectOptions(cfg));
    const identity = `head-worker-test/${process.pid}`;
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue: 'raster-gpu',
      activities,
      identity,
    });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
      await rows.flush();
      await models.close();
      await connection.close();
    });

    const run = uniqueRun('raster-2s-gpu');
    const name = `${run}/scene.tif`;
    const generation = await upload(cfg.gcs.bucket, name, rgbScene(), 'image/tiff', {
      'lookout-run': run,
      'lookout-classifier': HEAD,
    });
    const got = await waitForRows<Row>('run_tag = @run', { run }, 3, 300_000);
    const chips = got.filter((r) => r.raster?.kind === 'chip');
    expect(chips).toHaveLength(2);
    for (const c of chips) {
      expect(c.status).toBe('ok');
      expect(c.raster!.classifier_model).toBe(HEAD);
      expect(c.raster!.classifier_score).not.toBeNull();
      expect(stageOf(c, 'extract')).toMatchObject({ task_queue: 'raster-cpu', pool: 'cpu', fell_back: false });
      // The head ran on the GPU queue's worker (onnxruntime CPU provider here: no CUDA on this machine).
      expect(stageOf(c, 'score')).toMatchObject({
        task_queue: 'raster-gpu',
        pool: 'gpu',
        fell_back: false,
        execution_provider: 'cpu',
      });
    }
    const places = await activityPlaces(`raster:${cfg.gcs.bucket}/${name}#${generation}`);
    const heads = places.filter((p) => p.type === 'classifyRasterBlock');
    expect(heads).toEqual([{ type: 'classifyRasterBlock', queue: 'raster-gpu', startedBy: identity, timedOut: null }]);
    const blocks = places.filter((p) => p.type === 'analyzeRasterBlock');
    expect(blocks.map((b) => b.queue)).toEqual(['raster-cpu']);
    expect(blocks[0].startedBy).not.toBe(identity);
  });
});
