/**
 * Tiled detection geometry: cut a frame into overlapping tiles so that small, far objects reach the
 * detector's fixed input at a larger scale, then bring the tiles' boxes back into frame coordinates
 * and drop the fragments of objects cut by a tile's inner edge. Pure functions, no model here.
 */
import type { Box } from '../core/types';

export interface TilingOptions {
  /** Tiles across and down (2 x 2 is four tiles). */
  cols: number;
  rows: number;
  /** Fraction of a tile shared with its neighbour, 0 <= overlap < 1 (0.25: a quarter of the tile width). */
  overlap: number;
  /** Also run the whole frame (finds the large, near objects that tiles cut). Default true. */
  fullFrame?: boolean;
  /**
   * A tile box whose edge lies within this many frame pixels of a tile edge that is inside the frame is
   * taken for the fragment of an object the edge cuts, and dropped: the overlap shows the whole object
   * in the neighbouring tile, or the full-frame pass sees it. Default 2; a negative value keeps them.
   */
  seamMarginPx?: number;
}

export interface TileRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axis(length: number, n: number, overlap: number): Array<[number, number]> {
  if (n === 1) return [[0, length]];
  // n tiles of size t with (n - 1) overlaps of overlap * t cover the length: n t - (n - 1) o t = length.
  const t = Math.min(length, Math.ceil(length / (n - (n - 1) * overlap)));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    // Spread the starts evenly so the last tile ends exactly on the frame's edge.
    const start = Math.round((i * (length - t)) / (n - 1));
    out.push([start, t]);
  }
  return out;
}

/** Integer tile rectangles, row-major, covering the frame exactly (first tile at 0, last ending at the edge). */
export function tileRects(
  width: number,
  height: number,
  t: Pick<TilingOptions, 'cols' | 'rows' | 'overlap'>,
): TileRect[] {
  if (!Number.isInteger(t.cols) || !Number.isInteger(t.rows) || t.cols < 1 || t.rows < 1)
    throw new RangeError(`tiling: cols and rows must be integers >= 1, got ${t.cols} x ${t.rows}`);
  if (!(t.overlap >= 0 && t.overlap < 1)) throw new RangeError(`tiling: overlap must be in [0, 1), got ${t.overlap}`);
  const xs = axis(width, t.cols, t.overlap);
  const ys = axis(height, t.rows, t.overlap);
  const out: TileRect[] = [];
  for (const [y, h] of ys) for (const [x, w] of xs) out.push({ x, y, w, h });
  return out;
}

/** Shifts boxes found in a tile (tile pixel coordinates) into frame coordinates. */
export function toFrame(boxes: Box[], tile: TileRect): Box[] {
  return boxes.map((b) => ({ ...b, x: b.x + tile.x, y: b.y + tile.y }));
}

/**
 * Whether a box (frame coordinates) from `tile` touches one of the tile's inner edges, i.e. an edge that
 * is not also the frame's edge: such a box is likely the cut-off part of an object.
 */
export function touchesInnerEdge(
  b: Pick<Box, 'x' | 'y' | 'w' | 'h'>,
  tile: TileRect,
  frame: { width: number; height: number },
  marginPx: number,
): boolean {
  if (marginPx < 0) return false;
  if (tile.x > 0 && b.x <= tile.x + marginPx) return true;
  if (tile.y > 0 && b.y <= tile.y + marginPx) return true;
  if (tile.x + tile.w < frame.width && b.x + b.w >= tile.x + tile.w - marginPx) return true;
  if (tile.y + tile.h < frame.height && b.y + b.h >= tile.y + tile.h - marginPx) return true;
  return false;
}
