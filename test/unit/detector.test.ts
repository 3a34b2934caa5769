import { describe, expect, it } from 'vitest';
import { decodeNanodet, type NanodetDecoding } from '../../runtime/detector';
import { iou, nms } from '../../runtime/nms';
import type { Box } from '../../core/types';

const box = (classId: number, score: number, x: number, y: number, w: number, h: number): Box => ({
  classId,
  label: `c${classId}`,
  score,
  x,
  y,
  w,
  h,
});

describe('iou', () => {
  it('is 1 for identical boxes, 0 for disjoint, and the hand-computed value for an overlap', () => {
    expect(iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 0, 0, 10, 10))).toBe(1);
    expect(iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 20, 20, 5, 5))).toBe(0);
    // overlap 5x10 = 50; union 100 + 100 - 50 = 150
    expect(iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 5, 0, 10, 10))).toBeCloseTo(1 / 3, 10);
  });
});

describe('nms', () => {
  it('keeps the best of overlapping same-class boxes, keeps other classes, caps the count', () => {
    const out = nms(
      [box(0, 0.5, 0, 0, 10, 10), box(0, 0.9, 1, 0, 10, 10), box(1, 0.8, 0, 0, 10, 10), box(0, 0.7, 50, 50, 10, 10)],
      0.5,
      10,
    );
    expect(out.map((b) => [b.classId, b.score])).toEqual([
      [0, 0.9],
      [1, 0.8],
      [0, 0.7],
    ]);
    expect(nms([box(0, 0.9, 0, 0, 1, 1), box(0, 0.8, 5, 5, 1, 1)], 0.5, 1)).toHaveLength(1);
  });
});

describe('decodeNanodet', () => {
  // A 2x2 input-grid toy: input 16x16, one stride of 8 -> 2x2 cells, 2 classes, regMax 1 (2 bins).
  const dec: NanodetDecoding = {
    type: 'nanodet',
    strides: [8],
    regMax: 1,
    numClasses: 2,
    scoreThreshold: 0.3,
    iouThreshold: 0.5,
    maxDetections: 10,
  };

  it('decodes a box from distribution bins, anchor centre and stride, scaled to the image', () => {
    const scores = new Float32Array(4 * 2);
    scores[3 * 2 + 1] = 0.9; // cell 3 (row 1, col 1), class 1
    scores[0 * 2 + 0] = 0.2; // below threshold
    const dist = new Float32Array(4 * 4 * 2);
    // cell 3: left = bins [0, +inf] -> expectation 1 bin -> 8 px; top: equal logits -> 0.5 bin -> 4 px;
    // right: bins [+inf, 0] -> 0 px; bottom: equal -> 4 px.
    const base = 3 * 8;
    dist.set([-50, 50, 0, 0, 50, -50, 0, 0], base);
    const boxes = decodeNanodet(
      { scores_s8: { data: scores, offset: 0 }, dist_s8: { data: dist, offset: 0 } },
      dec,
      { width: 16, height: 16 },
      { width: 32, height: 64 },
      ['a', 'b'],
    );
    expect(boxes).toHaveLength(1);
    const b = boxes[0];
    expect(b.label).toBe('b');
    expect(b.score).toBeCloseTo(0.9, 6);
    // centre (12, 12); x1 = 12 - 8 = 4, y1 = 12 - 4 = 8, x2 = 12 + 0 = 12, y2 = 12 + 4 = 16; scale x2 and y4.
    expect(b.x).toBeCloseTo(8, 4);
    expect(b.y).toBeCloseTo(32, 4);
    expect(b.w).toBeCloseTo(16, 4);
    expect(b.h).toBeCloseTo(32, 4);
  });

  it('reads the batch item at its offset', () => {
    const scores = new Float32Array(2 * 4 * 2);
    const dist = new Float32Array(2 * 4 * 4 * 2);
    scores[8 + 0] = 0.8; // item 1, cell 0, class 0
    dist.set([0, 0, 0, 0, 0, 0, 0, 0], 32);
    const boxes = decodeNanodet(
      { scores_s8: { data: scores, offset: 8 }, dist_s8: { data: dist, offset: 32 } },
      dec,
      { width: 16, height: 16 },
      { width: 16, height: 16 },
      ['a', 'b'],
    );
    expect(boxes).toHaveLength(1);
    // centre (4,4), all sides 4 px -> (0,0)-(8,8)
    expect([boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h].map((v) => Math.round(v * 1000) / 1000)).toEqual([
      0, 0, 8, 8,
    ]);
  });
});
