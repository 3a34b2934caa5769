/** Small image operations on raw pixel buffers (crops, grayscale, Sobel), shared by the pipelines. */

export interface Gray {
  data: Float32Array; // values in [0, 1]
  width: number;
  height: number;
}

/** Crops box (pixels) from interleaved RGB and resizes to size x size grayscale in [0, 1] (bilinear). */
export function cropGray(
  rgb: Buffer | Uint8Array,
  width: number,
  height: number,
  box: { x: number; y: number; w: number; h: number },
  size: number,
): Gray {
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
      const gx =
        at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy =
        at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
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

/**
 * Crops box (pixels, grown by `margin` of its size on each side, clipped to the image) from interleaved RGB,
 * resizes it to width × height (bilinear) and lays it out as planar CHW float32, value = (v·scale − mean[c]) / std[c]
 * per channel, in RGB or BGR order: the input an ImageNet backbone expects.
 */
export function cropRgbTensor(
  rgb: Buffer | Uint8Array,
  width: number,
  height: number,
  box: { x: number; y: number; w: number; h: number },
  pre: {
    width: number;
    height: number;
    scale: number;
    mean: number[];
    std: number[];
    channels?: 'RGB' | 'BGR' | 'GRAY';
  },
  margin = 0,
  out = new Float32Array(3 * pre.width * pre.height),
): Float32Array {
  const bx = box.x - margin * box.w;
  const by = box.y - margin * box.h;
  const x0 = Math.max(0, Math.min(width - 1, bx));
  const y0 = Math.max(0, Math.min(height - 1, by));
  const bw = Math.max(1, Math.min(width - x0, box.w * (1 + 2 * margin) - (x0 - bx)));
  const bh = Math.max(1, Math.min(height - y0, box.h * (1 + 2 * margin) - (y0 - by)));
  const { width: ow, height: oh } = pre;
  const plane = ow * oh;
  const order = pre.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  // mean/std are per output channel (the model's channel order), as in the detector's preprocessing.
  const a = [0, 1, 2].map((k) => pre.scale / pre.std[k]);
  const b = [0, 1, 2].map((k) => -pre.mean[k] / pre.std[k]);
  for (let j = 0; j < oh; j++) {
    const sy = y0 + ((j + 0.5) * bh) / oh - 0.5;
    const yA = Math.max(0, Math.min(height - 1, Math.floor(sy)));
    const yB = Math.min(height - 1, yA + 1);
    const fy = Math.min(1, Math.max(0, sy - yA));
    for (let i = 0; i < ow; i++) {
      const sx = x0 + ((i + 0.5) * bw) / ow - 0.5;
      const xA = Math.max(0, Math.min(width - 1, Math.floor(sx)));
      const xB = Math.min(width - 1, xA + 1);
      const fx = Math.min(1, Math.max(0, sx - xA));
      const p00 = (yA * width + xA) * 3;
      const p01 = (yA * width + xB) * 3;
      const p10 = (yB * width + xA) * 3;
      const p11 = (yB * width + xB) * 3;
      for (let k = 0; k < 3; k++) {
        const c = order[k]; // output channel k reads source channel c
        const v =
          (rgb[p00 + c] * (1 - fx) + rgb[p01 + c] * fx) * (1 - fy) + (rgb[p10 + c] * (1 - fx) + rgb[p11 + c] * fx) * fy;
        out[k * plane + j * ow + i] = v * a[k] + b[k];
      }
    }
  }
  return out;
}
