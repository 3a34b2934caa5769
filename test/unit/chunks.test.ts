import { describe, expect, it } from 'vitest';
import { CHUNK_OBJECTS, CHUNK_WEIGHT, chunkIndices } from '../../core/chunks';

describe('chunkIndices (bulk batch payload bounds)', () => {
  it('keeps every index once, in order, within the count bound', () => {
    const c = chunkIndices(123, () => 1, 50, Infinity);
    expect(c.map((x) => x.length)).toEqual([50, 50, 23]);
    expect(c.flat()).toEqual(Array.from({ length: 123 }, (_, i) => i));
  });

  it('cuts by weight: crowded images get smaller chunks', () => {
    const boxes = [10, 100, 100, 5, 800, 2000, 1];
    const c = chunkIndices(boxes.length, (i) => 1 + boxes[i], CHUNK_OBJECTS, CHUNK_WEIGHT);
    expect(c).toEqual([[0, 1, 2, 3], [4], [5], [6]]);
    for (const chunk of c) {
      const w = chunk.reduce((a, i) => a + 1 + boxes[i], 0);
      // Only an item heavier than the bound on its own may exceed it.
      expect(w <= CHUNK_WEIGHT || chunk.length === 1).toBe(true);
    }
  });

  it('a typical batch of 50 frames (~15 boxes each) stays one call', () => {
    expect(chunkIndices(50, () => 16, CHUNK_OBJECTS, CHUNK_WEIGHT)).toHaveLength(1);
  });

  it('handles empty input and rejects a zero count bound', () => {
    expect(chunkIndices(0, () => 1, 50, 10)).toEqual([]);
    expect(() => chunkIndices(3, () => 1, 0, 10)).toThrow(/maxCount/);
  });
});
