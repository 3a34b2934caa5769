import { describe, expect, it } from 'vitest';
import { cropRgbTensor } from '../../media/vision';

describe('cropRgbTensor', () => {
  const W = 20;
  const H = 10;
  // Left half red (200, 10, 0), right half blue (0, 10, 100).
  const rgb = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) rgb.set(x < 10 ? [200, 10, 0] : [0, 10, 100], (y * W + x) * 3);
  const pre = { width: 4, height: 4, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] };

  it('normalises per channel in planar CHW order', () => {
    const t = cropRgbTensor(rgb, W, H, { x: 0, y: 0, w: 8, h: 10 }, pre);
    expect(t).toHaveLength(48);
    expect(t[0]).toBeCloseTo((200 / 255 - 0.5) / 0.25, 5); // R plane
    expect(t[16]).toBeCloseTo((10 / 255 - 0.5) / 0.5, 5); // G plane
    expect(t[47]).toBeCloseTo((0 - 0.5) / 1, 5); // B plane
  });

  it('crops the box (plus margin, clipped) and swaps to BGR on request', () => {
    const right = cropRgbTensor(rgb, W, H, { x: 12, y: 2, w: 6, h: 6 }, { ...pre, channels: 'BGR' }, 0.2);
    expect(right[0]).toBeCloseTo((100 / 255 - 0.5) / 0.25, 5); // first plane is blue
    expect(right[32]).toBeCloseTo((0 - 0.5) / 1, 5); // last plane is red
  });
});
