/**
 * The converted MoveNet model (models/movenet) on real people: the pedestrians NanoDet's cctv profile finds in
 * vtest.avi frames (skipped where Debian's opencv-doc is not installed). Keypoints must land on the person:
 * inside the box (with a little slack), head above shoulders above hips above ankles.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Box } from '../../core/types';
import { readFrames } from '../../media/video';
import { OnnxDetector } from '../../runtime/detector';
import { defaultModelRepo, loadLocalModel, validateManifest } from '../../runtime/manifest';
import { COCO_KEYPOINTS, OnnxPoseEstimator, type Keypoint } from '../../runtime/pose';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const ROOT = path.resolve(__dirname, '../..');
const REPO = defaultModelRepo(ROOT);

describe('models/movenet manifest', () => {
  it('is valid and names the 17 COCO keypoints in the runtime order', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(REPO, 'movenet', 'manifest.json'), 'utf8'));
    const m = validateManifest(raw, 'movenet/manifest.json', 'movenet');
    expect(m.inputs[0]).toMatchObject({ name: 'input', dtype: 'int32', dims: [1, 192, 192, 3] });
    expect(raw.keypoints).toEqual([...COCO_KEYPOINTS]);
    expect(raw.provenance.faithfulness.maxAbsDiff).toBeLessThan(1e-4);
  });
});

describe.skipIf(!fs.existsSync(VTEST))('MoveNet on vtest.avi pedestrians', () => {
  let pose: OnnxPoseEstimator;
  let detector: OnnxDetector;
  const people: Array<{ box: Box; kps: Keypoint[] }> = [];

  beforeAll(async () => {
    pose = await OnnxPoseEstimator.load(loadLocalModel(REPO, 'movenet'), { pool: 'cpu', threads: 1 });
    detector = await OnnxDetector.load(loadLocalModel(REPO, 'nanodet'), {
      pool: 'cpu',
      threads: 1,
      batch: { maxBatchSize: 1, maxQueueDelayMs: 0 },
      detection: 'cctv',
    });
    for await (const f of readFrames(VTEST, [100, 300])) {
      const boxes = (await detector.detect({ data: f.rgb, width: f.width, height: f.height, format: 'raw' })).boxes
        // People tall enough for the pose step (the analyzer's poseMinHeight is 40 px) and not cut by the frame edge.
        .filter((b) => b.label === 'person' && b.h >= 60 && b.y + b.h < f.height - 2 && b.y > 2);
      const kps = await pose.estimate(f, boxes);
      boxes.forEach((box, i) => people.push({ box, kps: kps[i] }));
    }
  }, 120_000);
  afterAll(async () => {
    await pose?.close();
    await detector?.close();
  });

  const K = Object.fromEntries(COCO_KEYPOINTS.map((n, i) => [n, i])) as Record<(typeof COCO_KEYPOINTS)[number], number>;
  const meanY = (kps: Keypoint[], names: Array<keyof typeof K>) =>
    names.reduce((s, n) => s + kps[K[n]].y, 0) / names.length;

  it('finds several people to check', () => {
    expect(people.length).toBeGreaterThanOrEqual(6);
  });

  it('puts the confident keypoints inside the person box', () => {
    let inside = 0;
    let confident = 0;
    for (const { box, kps } of people) {
      const sx = 0.15 * box.w;
      const sy = 0.08 * box.h;
      for (const k of kps) {
        if (k.score < 0.3) continue;
        confident++;
        if (k.x >= box.x - sx && k.x <= box.x + box.w + sx && k.y >= box.y - sy && k.y <= box.y + box.h + sy) inside++;
      }
    }
    expect(confident).toBeGreaterThan(people.length * 8);
    expect(inside / confident).toBeGreaterThan(0.95);
  });

  it('keeps the body upright: nose above shoulders above hips above ankles, feet in the lower part of the box', () => {
    let upright = 0;
    for (const { box, kps } of people) {
      const nose = kps[K.nose].y;
      const sh = meanY(kps, ['left_shoulder', 'right_shoulder']);
      const hip = meanY(kps, ['left_hip', 'right_hip']);
      const ank = meanY(kps, ['left_ankle', 'right_ankle']);
      if (nose < sh && sh < hip && hip < ank && ank > box.y + 0.7 * box.h && nose < box.y + 0.3 * box.h) upright++;
    }
    // Walking pedestrians, seen from a raised camera: all (or all but one, for an occluded person) upright.
    expect(upright).toBeGreaterThanOrEqual(people.length - 1);
  });
});
