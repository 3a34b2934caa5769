/** Small image operations on raw pixel buffers (crops, grayscale, Sobel), shared by the pipelines. */

export interface Gray {
  data: Float32Array; // values in [0, 1]
  width: number;
  height: number;
}

/** Crops box (pixels) from interleaved RGB and resizes to size x size grayscale in [0, 1] (bilinear). */
export function cropGray(rgb: Buffer | Uint8Array, width: number, height: number, box: { x: number; y: number; w: number; h: number }, size: number): Gray {
  const out = new Float32Array(size * size);
  const x0 = Math.max(0, Math.min(width - 1, box.x));
  const y0 = Math.max(0, Math.min(height - 1, box.y));
  const bw = Math.max(1, Math.min(width - x0, box.w));
  const bh = Math.max(1, Math.min(height - y0, box.h));
  const px = (x: number, y: number) => {
    const i = (y * width + x) * 3;
    return (0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2]) / 255;
  };
  for (let j = 0; j < size; j++) {
    const sy = y0 + ((j + 0.5) * bh) / size - 0.5;
    const yA = Math.max(0, Math.min(height - 1, Math.floor(sy)));
    const yB = Math.min(height - 1, yA + 1);
    const fy = Math.min(1, Math.max(0, sy - yA));
    for (let i = 0; i < size; i++) {
      const sx = x0 + ((i + 0.5) * bw) / size - 0.5;
      const xA = Math.max(0, Math.min(width - 1, Math.floor(sx)));
      const xB = Math.min(width - 1, xA + 1);
      const fx = Math.min(1, Math.max(0, sx - xA));
      const top = px(xA, yA) * (1 - fx) + px(xB, yA) * fx;
      const bot = px(xA, yB) * (1 - fx) + px(xB, yB) * fx;
      out[j * size + i] = top * (1 - fy) + bot * fy;
    }
  }
  return { data: out, width: size, height: size };
}

/** Gradient magnitude sqrt(Gx^2 + Gy^2) with the 3x3 Sobel kernel; borders replicate edge pixels. */
export function sobelMagnitude(g: Gray): Gray {
  const { width: w, height: h, data } = g;
  const out = new Float32Array(w * h);
  const at = (x: number, y: number) => data[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      out[y * w + x] = Math.sqrt(gx * gx + gy * gy);
    }
  }
  return { data: out, width: w, height: h };
}

export function meanStd(a: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const v of a) s += v;
  const mean = a.length ? s / a.length : 0;
  let q = 0;
  for (const v of a) q += (v - mean) * (v - mean);
  return { mean, std: a.length ? Math.sqrt(q / a.length) : 0 };
}
