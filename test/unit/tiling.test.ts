import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Box } from '../../core/types';
import {
  detectionProfile,
  inputSizeFor,
  mergePasses,
  passesFor,
  passToFrame,
  resolveDetection,
  DetectorOptionsError,
  type NanodetDecoding,
} from '../../runtime/detector';
import { defaultModelRepo, loadLocalModel } from '../../runtime/manifest';
import { cctvAttributesMethod } from '../../methods/cctv-attributes/method';
import { DEFAULT_CLASS_GROUPS } from '../../methods/cctv-attributes/model';
import { ios, iou, nms } from '../../runtime/nms';
import { tileRects, toFrame, touchesInnerEdge } from '../../runtime/tiling';

const box = (
  label: string,
  score: number,
  x: number,
  y: number,
  w: number,
  h: number,
  classId = label === 'person' ? 0 : label === 'car' ? 2 : 7,
): Box => ({ classId, label, score, x, y, w, h });
const LABELS = ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck'];
const DEC: NanodetDecoding = {
  type: 'nanodet',
  strides: [8, 16, 32],
  regMax: 10,
  numClasses: 8,
  scoreThreshold: 0.3,
  iouThreshold: 0.5,
  maxDetections: 100,
};

describe('tileRects', () => {
  it('cuts 768x576 into 2x2 tiles of equal size that overlap by the asked fraction and end on the frame edge', () => {
    const t = tileRects(768, 576, { cols: 2, rows: 2, overlap: 0.2 });
    // tile = ceil(768 / (2 - 0.2)) = 427 wide, ceil(576 / 1.8) = 320 high; starts spread so the last ends at the edge.
    expect(t).toEqual([
      { x: 0, y: 0, w: 427, h: 320 },
      { x: 341, y: 0, w: 427, h: 320 },
      { x: 0, y: 256, w: 427, h: 320 },
      { x: 341, y: 256, w: 427, h: 320 },
    ]);
    const overlapX = 427 - 341;
    expect(overlapX / 427).toBeCloseTo(0.2, 2);
  });

  it('covers every pixel for odd sizes and grids, and a single column is the whole width', () => {
    for (const [W, H, cols, rows, overlap] of [
      [641, 479, 3, 2, 0.25],
      [100, 100, 4, 3, 0],
      [768, 576, 1, 2, 0.3],
    ] as const) {
      const tiles = tileRects(W, H, { cols, rows, overlap });
      expect(tiles).toHaveLength(cols * rows);
      for (const r of tiles) {
        expect(r.x).toBeGreaterThanOrEqual(0);
        expect(r.y).toBeGreaterThanOrEqual(0);
        expect(r.x + r.w).toBeLessThanOrEqual(W);
        expect(r.y + r.h).toBeLessThanOrEqual(H);
      }
      for (let y = 0; y < H; y += 7)
        for (let x = 0; x < W; x += 7)
          expect(tiles.some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h)).toBe(true);
      if (cols === 1) expect(tiles.every((r) => r.x === 0 && r.w === W)).toBe(true);
    }
  });

  it('rejects a bad grid or overlap', () => {
    expect(() => tileRects(768, 576, { cols: 0, rows: 2, overlap: 0.2 })).toThrow(RangeError);
    expect(() => tileRects(768, 576, { cols: 2, rows: 2, overlap: 1 })).toThrow(/overlap/);
    expect(() => tileRects(768, 576, { cols: 1.5, rows: 2, overlap: 0 })).toThrow(/integers/);
  });
});

describe('mapping boxes back to the frame', () => {
  it('shifts tile boxes by the tile origin', () => {
    expect(toFrame([box('person', 0.9, 10, 20, 30, 40)], { x: 341, y: 256, w: 427, h: 320 })[0]).toMatchObject({
      x: 351,
      y: 276,
      w: 30,
      h: 40,
    });
  });

  it('unmirrors a box of the mirrored frame', () => {
    const pass = { x: 0, y: 0, w: 100, h: 50, tile: false, mirror: true };
    // In the mirror image the box spans x 10..30; in the frame it spans 70..90.
    expect(passToFrame([box('person', 0.9, 10, 5, 20, 10)], pass)[0]).toMatchObject({ x: 70, y: 5, w: 20, h: 10 });
    const tile = { x: 341, y: 0, w: 427, h: 320, tile: true };
    expect(passToFrame([box('person', 0.9, 10, 5, 20, 10)], tile)[0]).toMatchObject({ x: 351, y: 5 });
  });

  it('lists the whole frame, its mirror and the tiles as passes', () => {
    const tiling = { cols: 2, rows: 2, overlap: 0.2, fullFrame: true, seamMarginPx: 2 };
    expect(passesFor(768, 576, undefined)).toEqual([{ x: 0, y: 0, w: 768, h: 576, tile: false }]);
    const p = passesFor(768, 576, tiling, true);
    expect(p.map((x) => [x.tile, x.mirror ?? false])).toEqual([
      [false, false],
      [false, true],
      [true, false],
      [true, false],
      [true, false],
      [true, false],
    ]);
    expect(passesFor(768, 576, { ...tiling, fullFrame: false })).toHaveLength(4);
  });
});

describe('touchesInnerEdge', () => {
  const frame = { width: 768, height: 576 };
  const left = { x: 0, y: 0, w: 427, h: 320 };
  it('flags a box cut by an inner tile edge, not one on the frame edge', () => {
    expect(touchesInnerEdge({ x: 400, y: 100, w: 27, h: 60 }, left, frame, 2)).toBe(true); // right edge 427 is inside the frame
    expect(touchesInnerEdge({ x: 100, y: 280, w: 20, h: 40 }, left, frame, 2)).toBe(true); // bottom edge 320 is inside
    expect(touchesInnerEdge({ x: 0, y: 0, w: 30, h: 60 }, left, frame, 2)).toBe(false); // top-left is the frame's corner
    expect(touchesInnerEdge({ x: 100, y: 100, w: 30, h: 60 }, left, frame, 2)).toBe(false);
    const right = { x: 341, y: 0, w: 427, h: 320 };
    expect(touchesInnerEdge({ x: 342, y: 100, w: 30, h: 60 }, right, frame, 2)).toBe(true);
    expect(touchesInnerEdge({ x: 740, y: 100, w: 28, h: 60 }, right, frame, 2)).toBe(false);
    expect(touchesInnerEdge({ x: 400, y: 100, w: 27, h: 60 }, left, frame, -1)).toBe(false); // negative margin keeps all
  });
});

describe('nms options', () => {
  it('class groups: a van boxed as car and as truck keeps one box; a person on it is kept', () => {
    const boxes = [
      box('truck', 0.55, 652, 43, 71, 56),
      box('car', 0.4, 650, 45, 70, 52),
      box('person', 0.5, 660, 50, 20, 40),
    ];
    expect(nms(boxes, { iouThreshold: 0.5, maxDetections: 10 }).map((b) => b.label)).toEqual([
      'truck',
      'person',
      'car',
    ]);
    const grouped = nms(boxes, {
      iouThreshold: 0.5,
      maxDetections: 10,
      groupOf: (c) => ([2, 7].includes(c) ? 'vehicle' : undefined),
    });
    expect(grouped.map((b) => b.label)).toEqual(['truck', 'person']);
    expect(nms(boxes, { iouThreshold: 0.1, maxDetections: 10, classAgnostic: true }).map((b) => b.label)).toEqual([
      'truck',
    ]);
  });

  it('IoS merges a half-person fragment that IoU keeps', () => {
    const whole = box('person', 0.9, 100, 100, 30, 80);
    const upperHalf = box('person', 0.6, 100, 100, 30, 40);
    expect(iou(whole, upperHalf)).toBeCloseTo(0.5, 6);
    expect(ios(whole, upperHalf)).toBeCloseTo(1, 6);
    expect(nms([whole, upperHalf], { iouThreshold: 0.6, maxDetections: 10 })).toHaveLength(2);
    expect(nms([whole, upperHalf], { iouThreshold: 0.6, maxDetections: 10, metric: 'ios' })).toHaveLength(1);
  });

  it('keeps the numeric signature (iouThreshold, maxDetections)', () => {
    expect(nms([box('person', 0.9, 0, 0, 10, 10), box('person', 0.8, 50, 50, 10, 10)], 0.5, 1)).toHaveLength(1);
  });
});

describe('resolveDetection', () => {
  it('defaults to the manifest and cuts classes at their own score', () => {
    const r = resolveDetection(DEC, LABELS, { scoreThreshold: 0.4, classScoreThresholds: { person: 0.55, car: 0.25 } });
    expect(r.minScore[0]).toBe(0.55);
    expect(r.minScore[2]).toBe(0.25);
    expect(r.minScore[7]).toBe(0.4);
    expect(r.decodeThreshold).toBe(0.25);
    expect(r.nms.iouThreshold).toBe(0.5);
    expect(r.inputSize).toEqual({ width: 416, height: 416, keepAspect: false });
    expect(resolveDetection(DEC, LABELS).minScore[3]).toBe(0.3);
  });

  it('fails with a named error on labels the model lacks and on bad numbers', () => {
    expect(() => resolveDetection(DEC, LABELS, { classScoreThresholds: { cone: 0.5 } })).toThrow(DetectorOptionsError);
    expect(() => resolveDetection(DEC, LABELS, { nms: { classGroups: [['car', 'lorry']] } })).toThrow(/lorry/);
    expect(() => resolveDetection(DEC, LABELS, { scoreThreshold: 1.5 })).toThrow(/scoreThreshold/);
    expect(() => resolveDetection(DEC, LABELS, { tiling: { cols: 2, rows: 2, overlap: -0.1 } })).toThrow(
      DetectorOptionsError,
    );
    expect(() => resolveDetection(DEC, LABELS, { tilling: { cols: 2 } } as never)).toThrow(/unknown option "tilling"/);
    expect(() => resolveDetection(DEC, LABELS, { nms: { iou: 0.5 } } as never)).toThrow(/unknown nms option "iou"/);
    expect(() =>
      resolveDetection(DEC, LABELS, { normalization: { channels: 'BGR', scale: 1, mean: [1, 2], std: [1, 1, 1] } }),
    ).toThrow(/normalization/);
  });

  it('accepts another input size only for a graph with a free input height and width', () => {
    const fixed = { preprocessing: { width: 416, height: 416 }, dims: [-1, 3, 416, 416], layout: 'NCHW' };
    const free = { ...fixed, dims: [-1, 3, -1, -1] };
    expect(() => resolveDetection(DEC, LABELS, { inputSize: { width: 512, height: 384 } }, fixed)).toThrow(
      /free input height and width/,
    );
    expect(resolveDetection(DEC, LABELS, { inputSize: { width: 512, height: 384 } }, free).inputSize).toEqual({
      width: 512,
      height: 384,
      keepAspect: false,
    });
    expect(() => resolveDetection(DEC, LABELS, { inputSize: { width: 500, height: 384 } }, free)).toThrow(
      /multiples of the largest stride 32/,
    );
    expect(resolveDetection(DEC, LABELS, { inputSize: { width: 416, height: 416 } }, fixed).inputSize).toEqual({
      width: 416,
      height: 416,
      keepAspect: false,
    });
    // keepAspect feeds other sizes than the budget, so even the budget's own size needs free dims.
    expect(() =>
      resolveDetection(DEC, LABELS, { inputSize: { width: 416, height: 416, keepAspect: true } }, fixed),
    ).toThrow(/with keepAspect needs a model with a free input/);
    expect(
      resolveDetection(DEC, LABELS, { inputSize: { width: 512, height: 384, keepAspect: true } }, free).inputSize,
    ).toEqual({ width: 512, height: 384, keepAspect: true });
    expect(() =>
      resolveDetection(DEC, LABELS, { inputSize: { width: 512, height: 384, keepAspect: 'yes' } } as never, free),
    ).toThrow(/keepAspect must be true or false/);
    expect(() =>
      resolveDetection(DEC, LABELS, { inputSize: { width: 512, height: 384, keepaspect: true } } as never, free),
    ).toThrow(/unknown inputSize option "keepaspect"/);
  });
});

describe('inputSizeFor', () => {
  const budget = { width: 512, height: 384, keepAspect: true };
  it("feeds each region near its own aspect at the budget's pixel count, in multiples of the stride", () => {
    expect(inputSizeFor(budget, 768, 576, 32)).toEqual({ width: 512, height: 384 }); // 4:3: the budget itself
    expect(inputSizeFor(budget, 1920, 1080, 32)).toEqual({ width: 576, height: 320 }); // 16:9 (1.8 fed, 1.78 seen)
    expect(inputSizeFor(budget, 1280, 720, 32)).toEqual({ width: 576, height: 320 });
    expect(inputSizeFor(budget, 384, 576, 32)).toEqual({ width: 352, height: 544 }); // portrait, not squeezed to 4:3
    expect(inputSizeFor(budget, 4000, 100, 32)).toEqual({ width: 2816, height: 64 }); // a strip: 44:1 fed, 40:1 seen
    expect(inputSizeFor(budget, 100, 100000, 32)).toEqual({ width: 32, height: 14016 }); // never below one stride
    for (const [w, h] of [
      [640, 480],
      [1920, 1080],
      [720, 1280],
      [1000, 1000],
    ]) {
      const s = inputSizeFor(budget, w, h, 32);
      expect((s.width % 32) + (s.height % 32)).toBe(0);
      expect(Math.abs(s.width / s.height - w / h) / (w / h)).toBeLessThan(0.1);
      expect(Math.abs((s.width * s.height) / (512 * 384) - 1)).toBeLessThan(0.1);
    }
  });
  it('without keepAspect is the fixed size whatever the frame', () => {
    expect(inputSizeFor({ width: 512, height: 384 }, 1920, 1080, 32)).toEqual({ width: 512, height: 384 });
    expect(inputSizeFor({ width: 512, height: 384, keepAspect: false }, 384, 576, 32)).toEqual({
      width: 512,
      height: 384,
    });
  });
});

describe('mergePasses', () => {
  const frame = { width: 768, height: 576 };
  const tiling = { cols: 2, rows: 2, overlap: 0.2, fullFrame: true, seamMarginPx: 2 };
  const r = resolveDetection(DEC, LABELS, { tiling });
  const [whole, tl, tr] = passesFor(768, 576, r.tiling);

  it('one box for a person seen by the full frame and by two overlapping tiles; seam fragments dropped', () => {
    // A person at x 360..390 (inside the overlap 341..427 of the top tiles), y 100..180.
    const person = { x: 360, y: 100, w: 30, h: 80 };
    const passes = [
      { rect: whole, boxes: [box('person', 0.5, person.x + 1, person.y, person.w, person.h)] },
      // Tile boxes are given in tile pixels and mapped back the way detect() does.
      { rect: tl, boxes: passToFrame([box('person', 0.8, person.x - tl.x, person.y - tl.y, person.w, person.h)], tl) },
      {
        rect: tr,
        boxes: passToFrame(
          [
            box('person', 0.7, person.x - tr.x + 1, person.y - tr.y, person.w, person.h),
            box('person', 0.6, 0, 300, 20, 19),
          ],
          tr,
        ),
      },
    ];
    const out = mergePasses(passes, frame, r);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ score: 0.8, x: 360, y: 100 });

    // A person cut by the seam of the top-left tile (its right edge at 427): the tile sees the left part
    // only (a fragment touching the inner edge), the top-right tile sees all of it.
    const cut = [
      { rect: tl, boxes: passToFrame([box('person', 0.9, 415 - tl.x, 200, 427 - 415, 60)], tl) },
      { rect: tr, boxes: passToFrame([box('person', 0.7, 415 - tr.x, 200, 30, 60)], tr) },
    ];
    const merged = mergePasses(cut, frame, r);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ score: 0.7, x: 415, w: 30 });

    // With seam fragments kept (negative margin) the fragment survives next to the whole box: the duplicate.
    const keep = resolveDetection(DEC, LABELS, { tiling: { ...tiling, seamMarginPx: -1 } });
    expect(mergePasses(cut, frame, keep)).toHaveLength(2);
  });

  it('applies the per-class scores before merging', () => {
    const rr = resolveDetection(DEC, LABELS, { classScoreThresholds: { person: 0.6 } });
    const out = mergePasses(
      [
        {
          rect: { x: 0, y: 0, w: 768, h: 576, tile: false },
          boxes: [box('person', 0.55, 0, 0, 10, 10), box('car', 0.35, 100, 100, 40, 30)],
        },
      ],
      frame,
      rr,
    );
    expect(out.map((b) => b.label)).toEqual(['car']);
  });
});

describe('detectionProfile', () => {
  const manifest = {
    name: 'm',
    detectionProfiles: { cctv: { notes: 'why', scoreThreshold: 0.5, nms: { classGroups: [['car', 'truck']] } } },
  } as unknown as Parameters<typeof detectionProfile>[0];
  it('returns the named options without their notes, and names what exists when the name is wrong', () => {
    expect(detectionProfile(manifest, 'cctv')).toEqual({
      scoreThreshold: 0.5,
      nms: { classGroups: [['car', 'truck']] },
    });
    expect(() => detectionProfile(manifest, 'cctvv')).toThrow(/no detection profile "cctvv" \(manifest has: cctv\)/);
    expect(() => detectionProfile(manifest, 'toString')).toThrow(DetectorOptionsError);
  });

  it('the committed nanodet manifest has a cctv profile that resolves against the model', () => {
    const local = loadLocalModel(defaultModelRepo(path.resolve(__dirname, '../..')), 'nanodet');
    const p = detectionProfile(local.manifest, 'cctv');
    const r = resolveDetection(local.manifest.decoding as unknown as NanodetDecoding, local.manifest.labels ?? [], p, {
      preprocessing: local.manifest.preprocessing!,
      dims: local.manifest.inputs[0].dims,
      layout: local.manifest.inputs[0].layout,
    });
    expect(r.minScore[0]).toBe(p.classScoreThresholds?.person);
    expect(r.inputSize.width % 32).toBe(0);
  });

  it("the CCTV anomaly method's profile exists: the cctv profile with the road vehicles (and airplane/boat, as the method reads them) kept from 0.3", () => {
    const local = loadLocalModel(defaultModelRepo(path.resolve(__dirname, '../..')), 'nanodet');
    expect(cctvAttributesMethod.detectionProfile).toBe('cctv-anomaly');
    const cctv = detectionProfile(local.manifest, 'cctv');
    const anomaly = detectionProfile(local.manifest, cctvAttributesMethod.detectionProfile!);
    const labels = local.manifest.labels ?? [];
    const r = resolveDetection(local.manifest.decoding as unknown as NanodetDecoding, labels, anomaly, {
      preprocessing: local.manifest.preprocessing!,
      dims: local.manifest.inputs[0].dims,
      layout: local.manifest.inputs[0].layout,
    });
    const vehicleLabels = ['car', 'truck', 'bus', 'motorcycle', 'airplane', 'boat'];
    for (const l of vehicleLabels) expect(DEFAULT_CLASS_GROUPS[l]).toBe('vehicle');
    for (const l of vehicleLabels) expect(r.minScore[labels.indexOf(l)]).toBe(0.3);
    // Everything else as the detector evaluation chose it.
    expect(r.minScore[labels.indexOf('person')]).toBe(cctv.classScoreThresholds?.person);
    expect(r.minScore[labels.indexOf('dog')]).toBe(cctv.scoreThreshold);
    expect({ ...anomaly, classScoreThresholds: undefined }).toEqual({ ...cctv, classScoreThresholds: undefined });
  });
});
