/** Boxes, labels, scores and reasons drawn on a frame (SVG over the pixels, through sharp): what an operator sees. */
import sharp from 'sharp';
import type { Box } from '../core/types';
import type { DecodedImage } from './image';

/**
 * Draws boxes (red: abnormal, green: normal) and the frame score on the frame; returns JPEG bytes, or RGB24 of
 * the frame's size for `output: 'rgb'` (frames of an alert clip).
 */
export async function annotate(
  img: DecodedImage,
  objects: Array<Box & { anomalyScore?: number; abnormal?: boolean; note?: string }>,
  title: string,
  output: 'jpeg' | 'rgb' = 'jpeg',
): Promise<Buffer> {
  const esc = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rects = objects
    .map((o) => {
      const color = o.abnormal ? '#ff2020' : '#20d040';
      const label = `${o.label}${o.anomalyScore !== undefined ? ` ${o.anomalyScore.toFixed(2)}` : ''}${o.note ? `: ${o.note}` : ''}`;
      return (
        `<rect x="${o.x.toFixed(1)}" y="${o.y.toFixed(1)}" width="${o.w.toFixed(1)}" height="${o.h.toFixed(1)}" fill="none" stroke="${color}" stroke-width="${o.abnormal ? 3 : 1.5}"/>` +
        `<text x="${o.x.toFixed(1)}" y="${Math.max(10, o.y - 3).toFixed(1)}" font-family="sans-serif" font-size="12" fill="${color}">${esc(label)}</text>`
      );
    })
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}"><rect x="0" y="0" width="${Math.min(img.width, 420)}" height="22" fill="black" fill-opacity="0.55"/><text x="6" y="16" font-family="sans-serif" font-size="14" fill="white">${esc(title)}</text>${rects}</svg>`;
  const drawn = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).composite([
    { input: Buffer.from(svg), top: 0, left: 0 },
  ]);
  return output === 'jpeg' ? drawn.jpeg({ quality: 85 }).toBuffer() : drawn.removeAlpha().raw().toBuffer();
}
