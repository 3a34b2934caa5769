/**
 * Learning normal as footage flows, on the real stack: a scene is fitted with `lookout fit`'s code on vtest.avi
 * frames 0-149; two clips of later vtest frames played 4× fast (a constructed anomaly made of real footage, as
 * ui-alerts.test.ts uses) are uploaded and analysed by the worker, which keeps each segment's observations; an
 * operator dismisses the alerts of the first clip and confirms one of the second through the review UI's API
 * (POST /api/feedback); `lookout refit`'s workflow then stores version 2, whose bounded normal set holds the
 * dismissed clip's observations and not the confirmed one's; a clip analysed afterwards names version 2 in its rows;
 * `lookout refit --rollback 1` points the scene back.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cutVideo, runRefit } from '../../cli/scene';
import { refitCommand } from '../../cli/commands/refit';
import { SceneStore } from '../../io/scenes';
import { startUi, type UiServer } from '../../ui/server';
import { VTEST } from '../../demo/samples';
import {
  ATTRIBUTES_SCENE_FORMAT,
  NORMAL_SET_FILE,
  ONLINE_MANIFEST_FILE,
  decodeChunks,
  pendingPrefix,
} from '../../methods/cctv-attributes/method';
import { cfg, fastClip, rowsWhere, samplesDir, storage, uniqueRun, waitForRows, fitSceneOnVtestStart } from './helpers';

const scene = `on${Date.now().toString(36)}`;
const RUN = uniqueRun('online');
const store = new SceneStore(storage, cfg.gcs.resultsBucket, ATTRIBUTES_SCENE_FORMAT);
let ui: UiServer;

interface Row {
  workflow_id: string;
  label: string;
  name: string;
  generation: string;
  details: string;
}

async function analyse(file: string, name: string): Promise<Array<Row & { d: Record<string, unknown> }>> {
  await storage.bucket(cfg.gcs.bucket).upload(file, {
    destination: `${RUN}/${name}`,
    resumable: false,
    contentType: 'video/x-msvideo',
    metadata: { metadata: { 'lookout-run': RUN, 'lookout-scene': scene, 'lookout-pipeline': 'cctv-anomaly' } },
  });
  // The summary row comes after every frame and alert row of the video: a positive end signal.
  await waitForRows(
    "run_tag = @run AND name = @name AND JSON_VALUE(details, '$.kind') = 'video-summary'",
    { run: RUN, name: `${RUN}/${name}` },
    1,
    600_000,
  );
  return (await rowsWhere<Row>('run_tag = @run AND name = @name', { run: RUN, name: `${RUN}/${name}` })).map((r) => ({
    ...r,
    d: JSON.parse(r.details) as Record<string, unknown>,
  }));
}

async function verdict(workflowId: string, v: 'dismissed' | 'confirmed'): Promise<void> {
  const res = await fetch(`${ui.url}/api/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workflowId, verdict: v }),
  });
  expect(res.status).toBe(200);
}

let dismissedRows: Array<Row & { d: Record<string, unknown> }> = [];
let confirmedRows: Array<Row & { d: Record<string, unknown> }> = [];

beforeAll(async () => {
  await fitSceneOnVtestStart(scene);
  // Two clips of 60 frames: one segment (one stored chunk) each.
  dismissedRows = await analyse(fastClip(path.join(samplesDir, 'ui-alerts-fast-200-440.avi'), 200, 440), 'cam-a.avi');
  confirmedRows = await analyse(fastClip(path.join(samplesDir, 'online-fast-440-680.avi'), 440, 680), 'cam-b.avi');
  ui = await startUi(cfg, { host: '127.0.0.1', port: 0 });
}, 1_500_000);

afterAll(async () => {
  await ui?.close();
});

describe('learning normal as footage flows (lookout refit)', () => {
  it('the worker kept one chunk of observations per analysed segment, naming the episodes in it', async () => {
    const [files] = await storage.bucket(cfg.gcs.resultsBucket).getFiles({ prefix: pendingPrefix(scene) });
    expect(files.map((f) => f.name.split('/').slice(-2, -1)[0]).sort()).toEqual(
      [`cam-a.avi#${dismissedRows[0].generation}`, `cam-b.avi#${confirmedRows[0].generation}`].sort(),
    );
    for (const f of files) {
      const [c] = decodeChunks<{ first: number; last: number; episodeStarts: number[] }>((await f.download())[0]);
      expect(c.frames).toHaveLength(60);
      expect([c.header.first, c.header.last]).toEqual([0, 59]);
    }
  });

  it('a refit joins the dismissed footage, never the confirmed; the normal set is bounded; rows then name the new version', async () => {
    const alertsA = dismissedRows.filter((r) => r.label === 'alert');
    const alertsB = confirmedRows.filter((r) => r.label === 'alert');
    // The fast clips raise alerts (people at four times walking speed); each needs one to judge.
    expect(alertsA.length).toBeGreaterThanOrEqual(1);
    expect(alertsB.length).toBeGreaterThanOrEqual(1);
    for (const a of alertsA) await verdict(a.workflow_id, 'dismissed');
    await verdict(alertsB[0].workflow_id, 'confirmed');

    const maxFrames = 100;
    const r = await runRefit(cfg, [scene], { minAgeS: 0, maxFrames, seed: 7 });
    expect(r.failed).toEqual([]);
    expect(r.refits).toHaveLength(1);
    const x = r.refits[0];
    expect(x).toMatchObject({ scene, from: 1, version: 2, joined: 1, joinedFrames: 60, refused: 1, waiting: 0 });
    expect(x.normalFrames).toBe(150 + 60);
    expect(x.normalFrames - x.firstFitFrames).toBeLessThanOrEqual(maxFrames);
    expect(x.notJoined).toEqual({ 'confirmed-alert': 60 });

    // Version 2 is stored beside version 1 (which stays), with its normal set and manifest.
    expect(await store.versions(scene)).toEqual([1, 2]);
    expect(await store.latestVersion(scene)).toBe(2);
    const manifest = JSON.parse(String(await store.versionFile(scene, 2, ONLINE_MANIFEST_FILE))) as {
      chunks: Array<{ id: string; frames: number }>;
      normalFrames: number;
    };
    const a = `${cfg.gcs.bucket}/${RUN}/cam-a.avi#${dismissedRows[0].generation}@0`;
    const b = `${cfg.gcs.bucket}/${RUN}/cam-b.avi#${confirmedRows[0].generation}@0`;
    expect(manifest.chunks.map((c) => c.id)).toEqual(['fit', a]);
    const normal = decodeChunks<{ id: string }>((await store.versionFile(scene, 2, NORMAL_SET_FILE))!);
    expect(normal.map((c) => c.header.id)).toEqual(['fit', a]);
    expect(normal.map((c) => c.header.id)).not.toContain(b);
    expect(normal.reduce((n, c) => n + c.frames.length, 0)).toBe(manifest.normalFrames);
    // Both chunks were let go of: one lives on in the normal set, the other never joins.
    const [left] = await storage.bucket(cfg.gcs.resultsBucket).getFiles({ prefix: pendingPrefix(scene) });
    expect(left).toEqual([]);

    // Nothing more may join: the next refit stores no version.
    const again = await runRefit(cfg, [scene], { minAgeS: 0, maxFrames, seed: 7 });
    expect(again.refits[0]).toMatchObject({ scene, from: 2, version: null, joined: 0 });

    // Footage analysed after the refit is scored by version 2, and the row says so.
    const after = await analyse(cutVideo(VTEST, path.join(samplesDir, 'online-700-720.avi'), 700, 720), 'cam-c.avi');
    const frames = after.filter((row) => row.label !== 'alert' && row.d.kind !== 'video-summary');
    expect(frames).toHaveLength(20);
    for (const row of frames) expect(row.d).toMatchObject({ scene, scene_version: 2 });
  }, 1_200_000);

  it('lookout refit --rollback points the scene back at a stored version; every version stays', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    let code;
    try {
      code = await refitCommand.run(cfg, {
        opts: { rollback: 1, pipeline: 'cctv-anomaly', json: true, seed: 7 },
        positionals: [scene],
      } as unknown as Parameters<typeof refitCommand.run>[1]);
      expect(JSON.parse(String(log.mock.calls[0][0]))).toEqual({ scene, latest: 1, versions: [1, 2] });
    } finally {
      log.mockRestore();
    }
    expect(code).toBe(0);
    const fresh = new SceneStore(storage, cfg.gcs.resultsBucket, ATTRIBUTES_SCENE_FORMAT);
    expect((await fresh.load(scene)).version).toBe(1);
  });
});
