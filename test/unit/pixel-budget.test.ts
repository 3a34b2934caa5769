/**
 * The pixel budget shared by concurrent decodes: a semaphore weighted by width x height (read from the
 * image header before anything is decoded), so the decoders' memory is bounded by the budget, not by how
 * many objects a worker happens to be handed at once.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { decodeImage } from '../../media/image';
import { PixelBudget } from '../../media/pixel-budget';

const tick = () => new Promise((r) => setImmediate(r));

describe('PixelBudget', () => {
  it('lets weighted work in while it fits, and queues the rest in arrival order', async () => {
    const b = new PixelBudget(100);
    const order: string[] = [];
    const r1 = await b.acquire(60);
    const p2 = b.acquire(50).then((r) => (order.push('b'), r));
    const p3 = b.acquire(10).then((r) => (order.push('c'), r)); // fits, but arrived after b: waits (no starvation of large images)
    await tick();
    expect(b.inUse).toBe(60);
    expect(b.waiting).toBe(2);
    r1();
    const [r2, r3] = await Promise.all([p2, p3]);
    expect(order).toEqual(['b', 'c']);
    expect(b.inUse).toBe(60);
    r2();
    r3();
    r3(); // releasing twice is harmless
    expect(b.inUse).toBe(0);
    expect(b.peak).toBe(60);
  });

  it('runs a request larger than the whole budget alone, instead of never', async () => {
    const b = new PixelBudget(100);
    const small = await b.acquire(30);
    let bigIn = false;
    const big = b.acquire(250).then((r) => ((bigIn = true), r));
    await tick();
    expect(bigIn).toBe(false);
    small();
    const rb = await big;
    expect(b.inUse).toBe(250);
    const after = b.acquire(1);
    await tick();
    expect(b.waiting).toBe(1);
    rb();
    (await after)();
    expect(b.inUse).toBe(0);
  });

  it('never exceeds the budget under many concurrent tasks, and releases on failure', async () => {
    const b = new PixelBudget(1000);
    let inside = 0;
    let maxInside = 0;
    const work = Array.from({ length: 200 }, (_, i) =>
      b.run(50 + ((i * 37) % 400), async () => {
        inside += 50 + ((i * 37) % 400);
        maxInside = Math.max(maxInside, inside);
        await new Promise((r) => setTimeout(r, (i * 7) % 5));
        inside -= 50 + ((i * 37) % 400);
        if (i % 10 === 0) throw new Error('decode failed');
        return i;
      }),
    );
    const results = await Promise.allSettled(work);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(20);
    expect(maxInside).toBeLessThanOrEqual(1000);
    expect(b.peak).toBe(maxInside);
    expect(b.inUse).toBe(0);
    expect(b.waiting).toBe(0);
  });
});

describe('decodeImage under a pixel budget', () => {
  it('holds concurrent decodes to the budget (here: two 4-megapixel images at a time)', async () => {
    const png = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: { r: 9, g: 99, b: 199 } } })
      .png()
      .toBuffer();
    const budget = new PixelBudget(8_000_000);
    const imgs = await Promise.all(
      Array.from({ length: 6 }, () => decodeImage(png, { maxPixels: 100_000_000, pixelBudget: budget })),
    );
    expect(imgs.every((i) => i.width === 2000 && i.data.length === 2000 * 2000 * 3 && i.data[2] === 199)).toBe(true);
    expect(budget.peak).toBe(8_000_000);
    expect(budget.inUse).toBe(0);
  });

  it('a budget given as a number is one budget for the whole process', async () => {
    const png = await sharp({ create: { width: 10, height: 10, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .png()
      .toBuffer();
    const img = await decodeImage(png, { maxPixels: 1000, pixelBudget: 12_345 });
    expect(img.width).toBe(10);
    expect(PixelBudget.shared(12_345)).toBe(PixelBudget.shared(12_345));
    expect(PixelBudget.shared(12_345).peak).toBe(100);
  });

  it('LOOKOUT_DECODE_PIXEL_BUDGET sets it; the default is 200 megapixels', () => {
    expect(loadConfig({}).limits.decodePixelBudget).toBe(200_000_000);
    expect(loadConfig({ LOOKOUT_DECODE_PIXEL_BUDGET: '50000000' }).limits.decodePixelBudget).toBe(50_000_000);
    expect(() => loadConfig({ LOOKOUT_DECODE_PIXEL_BUDGET: '0' })).toThrow(/LOOKOUT_DECODE_PIXEL_BUDGET/);
  });
});
