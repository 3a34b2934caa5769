/** Boxes, labels, scores and reasons drawn on a frame (SVG over the pixels, through sharp): what an operator sees. */
import sharp from 'sharp';
import type { Box } from '../core/types';
import type { DecodedImage } from './image';

/** A zone drawn on the frame: its outline in pixels and its name (runtime/zones.ts; `hit`: a rule of it broken). */
export interface DrawnZone {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  hit?: boolean;
}

/**
 * Draws the scene's zones (outlined, named; orange when one of their rules is broken), boxes (red: abnormal,
 * green: normal) and the frame score on the frame; returns JPEG bytes, or RGB24 of the frame's size for
 * `output: 'rgb'` (frames of an alert clip).
 */
export async function annotate(
  img: DecodedImage,
  objects: Array<Box & { anomalyScore?: number; abnormal?: boolean; note?: string }>,
  title: string,
  output: 'jpeg' | 'rgb' = 'jpeg',
  zones: ReadonlyArray<DrawnZone> = [],
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
  const polys = zones
    .map((z) => {
      const color = z.hit ? '#ff9f1c' : '#4cc9f0';
      const pts = z.points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
      const [lx, ly] = z.points.reduce((a, p) => (p[1] < a[1] ? p : a), z.points[0]);
      return (
        `<polygon points="${pts}" fill="${color}" fill-opacity="${z.hit ? 0.18 : 0.08}" stroke="${color}" stroke-width="2" stroke-dasharray="${z.hit ? '' : '6 4'}"/>` +
        `<text x="${lx.toFixed(1)}" y="${Math.max(34, ly + 14).toFixed(1)}" font-family="sans-serif" font-size="13" fill="${color}">${esc(z.name)}</text>`
      );
    })
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">${polys}<rect x="0" y="0" width="${Math.min(img.width, 420)}" height="22" fill="black" fill-opacity="0.55"/><text x="6" y="16" font-family="sans-serif" font-size="14" fill="white">${esc(title)}</text>${rects}</svg>`;
  const drawn = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).composite([
    { input: Buffer.from(svg), top: 0, left: 0 },
  ]);
  return output === 'jpeg' ? drawn.jpeg({ quality: 85 }).toBuffer() : drawn.removeAlpha().raw().toBuffer();
}
