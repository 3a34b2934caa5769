/**
 * One refit of a scene at a time, on the real Temporal server: two refits of one scene at the same moment must not
 * both read its waiting footage and both store a version (the same footage joined twice).
 *
 * A scene is fitted with `lookout fit`'s code on vtest.avi frames 0-149, and one chunk of observations waits to
 * join it: 50 frames of the fit's own stored observations, written where and as the worker writes a segment's
 * chunk (no alerts: it joins at once). The first refit runs refitScenes with the pipeline's record queue moved to a
 * queue no worker serves yet, so its child refitOneScene is provably still running — the test waits until Temporal
 * describes it as running with its refit activity pending — when `lookout refit SCENE` (and the same scene through
 * the other pipeline of the method) starts: those report the scene as skipped, naming the running refit, exit 1,
 * and touch nothing. A worker with the real cctv-attributes method then serves the queue, the first refit stores
 * version 2 with the chunk in it once, and a later refit starts again (the id is free once the first closed).
 */
import { Worker, NativeConnection } from '@temporalio/worker';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createActivities } from '../../activities';
import { heartbeat } from '../../activities/stage';
import { refitCommand } from '../../cli/commands/refit';
import { refitInput, runRefit } from '../../cli/scene';
import type { RefitScenesResult } from '../../core/workflows';
import { refitSceneWorkflowId } from '../../core/workflows';
import { bigqueryAlertLedger } from '../../io/alert-ledger';
import { temporalClient, temporalConnectOptions } from '../../io/clients';
import { gcsObjectStore } from '../../io/objectstore';
import { SceneStore } from '../../io/scenes';
import { WorkflowStarter } from '../../io/starter';
import {
  ATTRIBUTES_SCENE_FORMAT,
  NORMAL_SET_FILE,
  ONLINE_MANIFEST_FILE,
  cctvAttributesMethod,
  decodeChunks,
  encodeChunks,
  pendingPrefix,
  type PendingHeader,
} from '../../methods/cctv-attributes/method';
import { CachingModelLoader } from '../../runtime/loader';
import { defaultModelRepo } from '../../runtime/manifest';
import { bq, cfg, fitSceneOnVtestStart, storage, uniqueRun } from './helpers';

const scene = `rx${Date.now().toString(36)}`;
const RUN = uniqueRun('refit-exclusive');
/** The first refit's record queue: no worker serves it until the test starts one. */
const HOLD_QUEUE = `refit-hold-${RUN}`;
const lockId = refitSceneWorkflowId('cctv-attributes', scene);
const store = new SceneStore(storage, cfg.gcs.resultsBucket, ATTRIBUTES_SCENE_FORMAT);
const opts = { minAgeS: 0, maxFrames: 3000, seed: 7 };
const video = { bucket: cfg.gcs.bucket, name: `${RUN}/cam.avi`, generation: '1' };
const chunkId = `${video.bucket}/${video.name}#${video.generation}@0`;

let temporal: Awaited<ReturnType<typeof temporalClient>>;
let first: WorkflowHandle | undefined;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await fitSceneOnVtestStart(scene);
  const fit = decodeChunks<{ id: string }>((await store.versionFile(scene, 1, NORMAL_SET_FILE))!);
  const frames = fit[0].frames.slice(100, 150);
  const header: PendingHeader = {
    id: chunkId,
    video,
    pipeline: 'cctv-anomaly',
    first: frames[0].frame,
    last: frames[frames.length - 1].frame,
    analysedAt: Date.now(),
    episodeStarts: [],
  };
  await storage
    .bucket(cfg.gcs.resultsBucket)
    .file(`${pendingPrefix(scene)}${video.bucket}/${video.name}#${video.generation}/s000000000.jsonl`)
    .save(encodeChunks([{ header, frames }]), { resumable: false, contentType: 'application/x-ndjson' });
  temporal = await temporalClient(cfg);
}, 900_000);

afterAll(async () => {
  // A failed test leaves no refit waiting for ever on the hold queue.
  for (const id of [first?.workflowId, lockId])
    if (id)
      await temporal?.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
  for (const s of stops.reverse()) await s();
  await temporal?.connection.close();
});

async function pending(): Promise<string[]> {
  const [files] = await storage.bucket(cfg.gcs.resultsBucket).getFiles({ prefix: pendingPrefix(scene) });
  return files.map((f) => f.name);
}

/** `lookout refit SCENE --json` (exit status and what it printed). */
async function refitCli(pipeline: string): Promise<{ code: number | void; printed: RefitScenesResult }> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    const code = await refitCommand.run(cfg, {
      opts: { pipeline, seed: opts.seed, 'min-age-s': opts.minAgeS, 'max-frames': opts.maxFrames, json: true },
      positionals: [scene],
    } as unknown as Parameters<typeof refitCommand.run>[1]);
    return { code, printed: JSON.parse(String(log.mock.calls[0][0])) as RefitScenesResult };
  } finally {
    log.mockRestore();
  }
}

/** A worker with the real cctv-attributes method (the repository's models) serving the hold queue. */
async function serveHoldQueue(): Promise<void> {
  const models = new CachingModelLoader({ repo: defaultModelRepo(cfg.projectRoot), pool: 'cpu', threads: 1 });
  const method = await cctvAttributesMethod.load({
    models,
    store: gcsObjectStore(storage),
    sceneStore: (format) => new SceneStore(storage, cfg.gcs.resultsBucket, format),
    resultsBucket: cfg.gcs.resultsBucket,
    maxObjectBytes: cfg.limits.maxObjectBytes,
    loadImage: () => {
      throw new Error('a refit loads no image');
    },
    heartbeat,
    alerts: bigqueryAlertLedger(bq, cfg),
    keepObservations: true,
    pose: false,
  });
  const activities = createActivities({
    methods: new Map([['cctv-attributes', method]]),
    definitions: new Map([['cctv-attributes', cctvAttributesMethod]]),
    videos: { get: () => Promise.reject(new Error('a refit reads no video')) },
    rows: { write: () => Promise.reject(new Error('a refit writes no row')) },
    table: `${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}`,
    pool: 'cpu',
  });
  const connection = await NativeConnection.connect(temporalConnectOptions(cfg));
  const worker = await Worker.create({
    connection,
    namespace: cfg.temporal.namespace,
    taskQueue: HOLD_QUEUE,
    activities,
    identity: `refit-hold-worker/${process.pid}`,
  });
  const running = worker.run();
  stops.push(async () => {
    worker.shutdown();
    await running;
    await models.close();
    await connection.close();
  });
}

describe('one refit of a scene at a time (lookout refit)', () => {
  it('a refit of a scene whose refit is running skips it; the running one stores the only new version', async () => {
    expect(await pending()).toHaveLength(1);
    const input = refitInput(cfg, [scene], opts);
    first = await new WorkflowStarter(temporal.client, cfg).startRefit({
      ...input,
      pipeline: { ...input.pipeline, recordQueue: HOLD_QUEUE },
    });

    // The positive signal: Temporal describes the scene's refit as running, its refit activity scheduled (and not
    // taken: nothing serves the hold queue).
    const deadline = Date.now() + 120_000;
    for (;;) {
      const d = await temporal.client.workflow
        .getHandle(lockId)
        .describe()
        .catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return undefined;
          throw err;
        });
      if (d?.status.name === 'RUNNING' && (d.raw.pendingActivities ?? []).length === 1) {
        expect(d.type).toBe('refitOneScene');
        expect(d.raw.pendingActivities![0].activityType?.name).toBe('refitScene');
        break;
      }
      if (Date.now() > deadline) throw new Error(`${lockId} never ran with its activity pending`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // `lookout refit SCENE` now: the scene is skipped, naming the running refit; nothing refitted, so exit 1.
    const reason = `a refit of this scene is already running (workflow id ${lockId})`;
    const second = await refitCli('cctv-anomaly');
    expect(second).toEqual({
      code: 1,
      printed: { refits: [], failed: [], skipped: [{ scene, workflowId: lockId, reason }] },
    });
    // The other pipeline of the method refits the same stored model: the same lock.
    const other = await runRefit(cfg, [scene], { ...opts, pipeline: 'cctv-attributes' });
    expect(other).toEqual({ refits: [], failed: [], skipped: [{ scene, workflowId: lockId, reason }] });
    // The skipped runs stored nothing and left the waiting chunk alone.
    expect(await store.versions(scene)).toEqual([1]);
    expect(await pending()).toHaveLength(1);
    expect((await temporal.client.workflow.getHandle(lockId).describe()).status.name).toBe('RUNNING');

    // A worker serves the hold queue: the first refit runs, joins the chunk and stores version 2.
    await serveHoldQueue();
    const r = (await first.result()) as RefitScenesResult;
    expect(r.failed).toEqual([]);
    expect(r.skipped).toEqual([]);
    expect(r.refits).toHaveLength(1);
    expect(r.refits[0]).toMatchObject({ scene, from: 1, version: 2, joined: 1, joinedFrames: 50, waiting: 0 });
    expect(await store.versions(scene)).toEqual([1, 2]);
    const manifest = JSON.parse(String(await store.versionFile(scene, 2, ONLINE_MANIFEST_FILE))) as {
      chunks: Array<{ id: string }>;
    };
    expect(manifest.chunks.map((c) => c.id)).toEqual(['fit', chunkId]);
    expect(await pending()).toEqual([]);

    // The scene's refit closed, so its id is free: a new refit runs (nothing is left to join: no version).
    const after = await runRefit(cfg, [scene], opts);
    expect(after.skipped).toEqual([]);
    expect(after.refits).toMatchObject([{ scene, from: 2, version: null, joined: 0 }]);
    expect(await store.versions(scene)).toEqual([1, 2]);
    // The scene's refits were exactly these two runs of its id: the skipped refits started none.
    const runs = async () => {
      const out: string[] = [];
      for await (const w of temporal.client.workflow.list({ query: `WorkflowId = '${lockId}'` }))
        out.push(w.status.name);
      return out.sort();
    };
    // Visibility (the list) trails the workflows a little: wait until it shows both closed.
    const until = Date.now() + 60_000;
    let seen = await runs();
    while (seen.join() !== 'COMPLETED,COMPLETED' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      seen = await runs();
    }
    expect(seen).toEqual(['COMPLETED', 'COMPLETED']);
  }, 600_000);
});
