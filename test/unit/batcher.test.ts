import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../runtime/batcher';

describe('DynamicBatcher', () => {
  it('gathers concurrent requests into one run and returns results in order', async () => {
    const seen: number[][] = [];
    const b = new DynamicBatcher<number, number>({ maxBatchSize: 8, maxQueueDelayMs: 20 }, async (xs) => {
      seen.push(xs);
      return xs.map((x) => x * 10);
    });
    const rs = await Promise.all([1, 2, 3, 4].map((x) => b.submit(x)));
    expect(rs.map((r) => r.output)).toEqual([10, 20, 30, 40]);
    expect(seen).toEqual([[1, 2, 3, 4]]);
    expect(rs.every((r) => r.batchSize === 4)).toBe(true);
  });

  it('never exceeds the maximum batch size', async () => {
    const sizes: number[] = [];
    const b = new DynamicBatcher<number, number>({ maxBatchSize: 3, maxQueueDelayMs: 5 }, async (xs) => {
      sizes.push(xs.length);
      return xs;
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(i)));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.reduce((a, c) => a + c, 0)).toBe(10);
  });

  it('fails only the bad item of a failing batch', async () => {
    const b = new DynamicBatcher<number, number>({ maxBatchSize: 4, maxQueueDelayMs: 20 }, async (xs) => {
      if (xs.includes(13)) throw new Error('bad input 13');
      return xs.map((x) => x + 1);
    });
    const rs = await Promise.allSettled([1, 13, 3].map((x) => b.submit(x)));
    expect(rs[0]).toEqual(
      expect.objectContaining({ status: 'fulfilled', value: expect.objectContaining({ output: 2 }) }),
    );
    expect(rs[1].status).toBe('rejected');
    expect((rs[1] as PromiseRejectedResult).reason.message).toBe('bad input 13');
    expect(rs[2]).toEqual(
      expect.objectContaining({ status: 'fulfilled', value: expect.objectContaining({ output: 4 }) }),
    );
  });

  it('with maxBatchSize 1 runs every item alone', async () => {
    const sizes: number[] = [];
    const b = new DynamicBatcher<number, number>({ maxBatchSize: 1, maxQueueDelayMs: 0 }, async (xs) => {
      sizes.push(xs.length);
      return xs;
    });
    await Promise.all([1, 2, 3].map((x) => b.submit(x)));
    expect(sizes).toEqual([1, 1, 1]);
  });
});
