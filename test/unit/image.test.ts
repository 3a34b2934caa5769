import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import { decodeImage } from '../../media/image';

async function png(w: number, h: number): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .png()
    .toBuffer();
}

async function errorClass(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    return (err as BadInputError).errorClass;
  }
}

describe('decodeImage', () => {
  it('decodes to raw RGB with dimensions and format', async () => {
    const img = await decodeImage(await png(7, 5), { maxPixels: 1000 });
    expect([img.width, img.height, img.format, img.data.length]).toEqual([7, 5, 'png', 7 * 5 * 3]);
    expect([img.data[0], img.data[1], img.data[2]]).toEqual([200, 10, 10]);
  });

  it('classifies bad input with stable error classes', async () => {
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .jpeg()
      .toBuffer();
    expect(await errorClass(decodeImage(Buffer.alloc(0), { maxPixels: 1000 }))).toBe('EmptyObject');
    expect(await errorClass(decodeImage(Buffer.from('hello, not an image'), { maxPixels: 1000 }))).toBe('NotAnImage');
    expect(await errorClass(decodeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2)), { maxPixels: 100000 }))).toBe(
      'CorruptImage',
    );
    expect(await errorClass(decodeImage(await png(100, 100), { maxPixels: 5000 }))).toBe('TooManyPixels');
  });
});
