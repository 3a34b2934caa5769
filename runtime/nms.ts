/** Box utilities: IoU and class-wise greedy non-maximum suppression. */
import type { Box } from '../core/types';

export function iou(a: Pick<Box, 'x' | 'y' | 'w' | 'h'>, b: Pick<Box, 'x' | 'y' | 'w' | 'h'>): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.w, b.x + b.w);
  const y2 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy NMS per class: boxes sorted by score; a box is dropped when it overlaps
 * a kept box of the same class by more than iouThreshold. Returns at most maxDetections, best first.
 */
export function nms(boxes: Box[], iouThreshold: number, maxDetections: number): Box[] {
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const kept: Box[] = [];
  for (const b of sorted) {
    if (kept.length >= maxDetections) break;
    if (kept.some((k) => k.classId === b.classId && iou(k, b) > iouThreshold)) continue;
    kept.push(b);
  }
  return kept;
}
