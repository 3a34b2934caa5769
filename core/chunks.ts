/**
 * Splitting a bulk batch into activity calls of bounded payload. Pure and free of Node imports: the
 * analyzeBatch workflow uses it inside Temporal's deterministic sandbox.
 */

/** Objects per activity call of a batch stage. */
export const CHUNK_OBJECTS = 50;
/**
 * Weight (1 per object + 1 per detected box) per call after detection. A box costs about 300 bytes in each
 * payload that carries it, an object about 1.5 KB besides; 1,000 keeps the largest payload (the record call's
 * summaries) near 400 KB, under Temporal's 512 KB warning and well under its 2 MB per-payload limit, however
 * crowded the images are (a frame of vtest.avi has ~15 boxes: 50 objects weigh ~800, one call).
 */
export const CHUNK_WEIGHT = 1000;

/**
 * Consecutive chunks of the indices 0..n-1, each with at most maxCount items and at most maxWeight in total
 * (an item heavier than maxWeight alone gets a chunk of its own). Every index appears exactly once, in order.
 */
export function chunkIndices(
  n: number,
  weight: (i: number) => number,
  maxCount: number,
  maxWeight: number,
): number[][] {
  if (!(maxCount >= 1)) throw new Error(`maxCount must be at least 1 (got ${maxCount})`);
  const out: number[][] = [];
  let cur: number[] = [];
  let w = 0;
  for (let i = 0; i < n; i++) {
    const wi = Math.max(0, weight(i));
    if (cur.length > 0 && (cur.length >= maxCount || w + wi > maxWeight)) {
      out.push(cur);
      cur = [];
      w = 0;
    }
    cur.push(i);
    w += wi;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
