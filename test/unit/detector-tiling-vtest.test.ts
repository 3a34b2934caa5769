/**
 * Tiled detection with the real NanoDet model on real frames of vtest.avi (skipped where Debian's
 * opencv-doc is not installed): tile boxes come back in frame coordinates, and a person on a tile seam
 * ends up as one box.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Box } from '../../core/types';
import type { DecodedImage } from '../../media/image';
import { readFrames } from '../../media/video';
import { detectionProfile, OnnxDetector, type DetectorOptions } from '../../runtime/detector';
import { defaultModelRepo, loadLocalModel } from '../../runtime/manifest';
import { ios, iou } from '../../runtime/nms';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const HAVE_VTEST = fs.existsSync(VTEST);
const ROOT = path.resolve(__dirname, '../..');
// Frames where, with seam fragments kept, a person cut by a seam shows up twice (checked once by hand).
const FRAMES = [240, 290];

const people = (boxes: Box[]) => boxes.filter((b) => b.label === 'person');
function duplicates(boxes: Box[]): number {
  let n = 0;
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) if (ios(boxes[i], boxes[j]) >= 0.8) n++;
  return n;
}

describe.skipIf(!HAVE_VTEST)('OnnxDetector tiling on vtest.avi', () => {
  const frames = new Map<number, DecodedImage>();
  const detectors: OnnxDetector[] = [];
  const load = async (detection: DetectorOptions | string) => {
    const d = await OnnxDetector.load(loadLocalModel(defaultModelRepo(ROOT), 'nanodet'), {
      pool: 'cpu',
      threads: 1,
      batch: { maxBatchSize: 8, maxQueueDelayMs: 0 },
      detection,
    });
    detectors.push(d);
    return d;
  };

  beforeAll(async () => {
    for await (const f of readFrames(VTEST, FRAMES))
      frames.set(f.index, { data: f.rgb, width: f.width, height: f.height, format: 'raw' });
  });
  afterAll(async () => {
    for (const d of detectors) await d.close();
  });

  it('runs the full frame and four tiles and maps tile boxes back onto the people the full frame sees', async () => {
    const tiling = { cols: 2, rows: 2, overlap: 0.2 };
    const tiled = await load({ classScoreThresholds: { person: 0.4 }, tiling });
    const whole = await load({ classScoreThresholds: { person: 0.4 } });
    for (const t of FRAMES) {
      const img = frames.get(t)!;
      const r = await tiled.detect(img);
      expect(r.passes).toBe(5);
      for (const b of r.boxes) {
        expect(b.x).toBeGreaterThanOrEqual(0);
        expect(b.y).toBeGreaterThanOrEqual(0);
        expect(b.x + b.w).toBeLessThanOrEqual(img.width + 1e-6);
        expect(b.y + b.h).toBeLessThanOrEqual(img.height + 1e-6);
      }
      // Every confident full-frame person has a tiled box on it (a tile box mapped to the wrong place would not).
      const confident = people((await whole.detect(img)).boxes).filter((b) => b.score >= 0.6);
      expect(confident.length).toBeGreaterThanOrEqual(4);
      for (const b of confident) expect(Math.max(...people(r.boxes).map((x) => iou(x, b)))).toBeGreaterThan(0.6);
    }
  });

  it('leaves no duplicate person boxes on tile seams (and the check finds them when seam fragments are kept)', async () => {
    const tiling = { cols: 2, rows: 2, overlap: 0.2 };
    const dropped = await load({ classScoreThresholds: { person: 0.4 }, tiling });
    const kept = await load({ classScoreThresholds: { person: 0.4 }, tiling: { ...tiling, seamMarginPx: -1 } });
    let keptDuplicates = 0;
    for (const t of FRAMES) {
      const img = frames.get(t)!;
      expect(duplicates(people((await dropped.detect(img)).boxes))).toBe(0);
      keptDuplicates += duplicates(people((await kept.detect(img)).boxes));
    }
    expect(keptDuplicates).toBeGreaterThan(0);
  });

  it("loads the manifest's cctv profile by name: one box per parked vehicle, people above the profile's score", async () => {
    const cctv = await load('cctv');
    const plain = await load({});
    // The parked van and car, hand-labelled (bench/eval-cctv-groundtruth.json).
    const parked = [
      { x: 652, y: 43, w: 70, h: 55 },
      { x: 735, y: 51, w: 33, h: 42 },
    ];
    const vehicles = (boxes: Box[]) =>
      boxes.filter(
        (b) => ['car', 'truck', 'bus', 'motorcycle'].includes(b.label) && parked.some((v) => iou(b, v) >= 0.5),
      );
    for (const t of FRAMES) {
      const img = frames.get(t)!;
      const r = await cctv.detect(img);
      expect(r.passes).toBe(1);
      expect(people(r.boxes).every((b) => b.score >= 0.55)).toBe(true);
      expect(
        vehicles(r.boxes)
          .map((b) => parked.findIndex((v) => iou(b, v) >= 0.5))
          .sort(),
      ).toEqual([0, 1]);
      // Without the profile a parked vehicle is boxed once per vehicle class that scores >= 0.3.
      expect(vehicles((await plain.detect(img)).boxes).length).toBeGreaterThan(1);
    }
  });
  it("loads the anomaly method's cctv-anomaly profile: the cctv profile's people, plus vehicle boxes from 0.3", async () => {
    const cctv = await load('cctv');
    const anomaly = await load('cctv-anomaly');
    const isVehicle = (b: Box) => ['car', 'truck', 'bus', 'motorcycle', 'airplane', 'boat'].includes(b.label);
    let extra = 0;
    for (const t of FRAMES) {
      const img = frames.get(t)!;
      const a = (await anomaly.detect(img)).boxes;
      const c = (await cctv.detect(img)).boxes;
      expect(people(a)).toEqual(people(c));
      // Every vehicle box of the cctv profile is still there; what is added scores in [0.3, 0.5).
      const av = a.filter(isVehicle);
      const cv = c.filter(isVehicle);
      for (const b of cv) expect(av.some((x) => iou(x, b) > 0.99 && x.label === b.label)).toBe(true);
      const added = av.filter((x) => !cv.some((b) => iou(x, b) > 0.99 && x.label === b.label));
      for (const b of added) {
        expect(b.score).toBeGreaterThanOrEqual(0.3);
        expect(b.score).toBeLessThan(0.5);
      }
      extra += added.length;
    }
    // On these frames the air-conditioning units top centre are a 'car' at 0.30-0.35 (docs: profile notes).
    expect(extra).toBeGreaterThan(0);
  });
  it('keepAspect: a 4:3 frame gets exactly the fixed size; frames of other aspects batch apart and come back in frame pixels', async () => {
    const model = loadLocalModel(defaultModelRepo(ROOT), 'nanodet');
    const profile = detectionProfile(model.manifest, 'cctv');
    const fixed = await load({ ...profile, inputSize: { width: 512, height: 384 } });
    const keep = await OnnxDetector.load(model, {
      pool: 'cpu',
      threads: 1,
      batch: { maxBatchSize: 8, maxQueueDelayMs: 50 },
      detection: { ...profile, inputSize: { width: 512, height: 384, keepAspect: true } },
    });
    detectors.push(keep);
    const at576x320 = await load({ ...profile, inputSize: { width: 576, height: 320 } });
    // A 16:9 view: rows 100-531 of the 768x576 frame.
    const wide = (img: DecodedImage): DecodedImage => ({
      data: img.data.subarray(100 * img.width * 3, 532 * img.width * 3),
      width: img.width,
      height: 432,
      format: 'raw',
    });
    for (const t of FRAMES) {
      const img = frames.get(t)!;
      expect((await keep.detect(img)).boxes).toEqual((await fixed.detect(img)).boxes);
      // One at a time, then both at once (the batcher gets a 512x384 and a 576x320 tensor together).
      const aloneWide = await keep.detect(wide(img));
      const aloneFull = await keep.detect(img);
      const [full, w] = await Promise.all([keep.detect(img), keep.detect(wide(img))]);
      expect(full.batchSize).toBe(2);
      expect(w.batchSize).toBe(2);
      expect(full.boxes).toEqual(aloneFull.boxes);
      expect(w.boxes).toEqual(aloneWide.boxes);
      // The 16:9 view was fed at 576x320, not squeezed to 512x384.
      expect(w.boxes).toEqual((await at576x320.detect(wide(img))).boxes);
      expect(people(w.boxes).length).toBeGreaterThanOrEqual(3);
      for (const b of w.boxes) {
        expect(b.x).toBeGreaterThanOrEqual(0);
        expect(b.y + b.h).toBeLessThanOrEqual(432 + 1e-6);
      }
      // The same people as in the full frame, shifted by the 100 rows cut off.
      const shifted = people(full.boxes)
        .filter((b) => b.y >= 110 && b.y + b.h <= 522 && b.score >= 0.7)
        .map((b) => ({ ...b, y: b.y - 100 }));
      for (const b of shifted) expect(Math.max(...people(w.boxes).map((x) => iou(x, b)))).toBeGreaterThan(0.5);
    }
  });
});
