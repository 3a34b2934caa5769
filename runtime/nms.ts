/** Box utilities: IoU, IoS and greedy non-maximum suppression (class-wise or class-agnostic). */
import type { Box } from '../core/types';

type Rect = Pick<Box, 'x' | 'y' | 'w' | 'h'>;

function intersection(a: Rect, b: Rect): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.w, b.x + b.w);
  const y2 = Math.min(a.y + a.h, b.y + b.h);
  return Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
}

export function iou(a: Rect, b: Rect): number {
  const inter = intersection(a, b);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Intersection over the smaller box. A box cut by a tile edge (half a person) lies almost inside the
 * whole-person box: its IoU with it can be ~0.5 while its IoS is ~1, so IoS is the metric that merges
 * such fragments (as SAHI's "IOS" match metric does).
 */
export function ios(a: Rect, b: Rect): number {
  const inter = intersection(a, b);
  const smaller = Math.min(a.w * a.h, b.w * b.h);
  return smaller > 0 ? inter / smaller : 0;
}

export interface NmsOptions {
  /** Overlap above which the lower-scoring box is dropped. */
  iouThreshold: number;
  maxDetections: number;
  /** Compare boxes of all classes. Default false (class-wise). */
  classAgnostic?: boolean;
  /**
   * Classes that compete with each other as if they were one (a van boxed both as `car` and `truck` keeps
   * one box): the group key of a class id; classes without a key compete only within their own class.
   */
  groupOf?: (classId: number) => number | string | undefined;
  /** Overlap measure; default 'iou'. */
  metric?: 'iou' | 'ios';
}

/**
 * Greedy NMS: boxes sorted by score; a box is dropped when it overlaps a kept box (of the same class,
 * unless classAgnostic) by more than iouThreshold. Returns at most maxDetections, best first.
 * Greedy NMS commutes with a later score cut (a box's fate depends only on higher-scoring boxes), which
 * the evaluation relies on to sweep thresholds over one low-threshold run.
 */
export function nms(boxes: Box[], iouThreshold: number, maxDetections: number): Box[];
export function nms(boxes: Box[], opts: NmsOptions): Box[];
export function nms(boxes: Box[], a: number | NmsOptions, maxDetections?: number): Box[] {
  const o: NmsOptions = typeof a === 'number' ? { iouThreshold: a, maxDetections: maxDetections ?? Infinity } : a;
  const overlap = o.metric === 'ios' ? ios : iou;
  const key = (c: number): number | string => (o.classAgnostic ? 0 : (o.groupOf?.(c) ?? `class:${c}`));
  const sorted = [...boxes].sort((p, q) => q.score - p.score);
  const kept: Box[] = [];
  const keptKeys: Array<number | string> = [];
  for (const b of sorted) {
    if (kept.length >= o.maxDetections) break;
    const kb = key(b.classId);
    if (kept.some((k, i) => keptKeys[i] === kb && overlap(k, b) > o.iouThreshold)) continue;
    keptKeys.push(kb);
    kept.push(b);
  }
  return kept;
}
