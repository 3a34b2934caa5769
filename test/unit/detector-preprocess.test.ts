/** runtime/detector.ts preprocess: the lookup-table normalisation gives exactly the per-pixel formula's values. */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { preprocess } from '../../runtime/detector';
import { seededRandom } from '../../runtime/knn';

describe('detector preprocess', () => {
  it('lays out (v * scale - mean[c]) / std[c] bit for bit, NCHW and NHWC, RGB and BGR', async () => {
    const rand = seededRandom(3);
    const img = {
      data: Buffer.from(Array.from({ length: 40 * 30 * 3 }, () => Math.floor(rand() * 256))),
      width: 40,
      height: 30,
      format: 'raw' as const,
    };
    const resized = await sharp(img.data, { raw: { width: 40, height: 30, channels: 3 } })
      .resize(32, 24, { fit: 'fill' })
      .raw()
      .toBuffer();
    for (const channels of ['RGB', 'BGR'] as const)
      for (const layout of ['NCHW', 'NHWC']) {
        const pre = {
          width: 32,
          height: 24,
          resize: 'fill' as const,
          channels,
          scale: 1 / 255,
          mean: [0.485, 0.456, 0.406],
          std: [0.229, 0.224, 0.225],
        };
        const got = await preprocess(img, pre, layout);
        const want = new Float32Array(3 * 32 * 24);
        const order = channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
        for (let p = 0; p < 32 * 24; p++)
          for (let c = 0; c < 3; c++) {
            const v = (resized[p * 3 + order[c]] * pre.scale - pre.mean[c]) / pre.std[c];
            want[layout === 'NCHW' ? c * 32 * 24 + p : p * 3 + c] = v;
          }
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
      }
  });
});
