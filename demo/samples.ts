/**
 * Sample data for the demo and tests, made from Debian's opencv-doc package
 * (real photographs and the vtest.avi pedestrian clip), plus deliberately bad
 * objects (truncated JPEG, a text file) that must end as failed rows.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const OPENCV_DATA = '/usr/share/doc/opencv-doc/examples/data';
export const VTEST = path.join(OPENCV_DATA, 'vtest.avi');

/** Real photos from opencv-doc: people, animals, vehicles, fruit, indoor scenes. */
export const SAMPLE_PHOTOS = ['messi5.jpg', 'basketball1.png', 'baboon.jpg', 'fruits.jpg', 'home.jpg', 'building.jpg'];

export interface Sample {
  file: string;
  contentType: string;
  /** What a correct pipeline must do with it. */
  expect: 'ok' | 'failed';
}

export function requireSampleSource(): void {
  if (!fs.existsSync(OPENCV_DATA)) {
    throw new Error(`sample images not found at ${OPENCV_DATA}: install Debian's opencv-doc (infra/install.sh does) `);
  }
}

/** Extracts frame numbers (0-based) of vtest.avi as JPEG files into dir. */
export function extractFrames(dir: string, frames: number[], video = VTEST): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return frames.map((n) => {
    const out = path.join(dir, `vtest_${String(n).padStart(4, '0')}.jpg`);
    if (!fs.existsSync(out)) {
      execFileSync(
        'ffmpeg',
        ['-v', 'error', '-y', '-i', video, '-vf', `select=eq(n\\,${n})`, '-frames:v', '1', '-q:v', '3', out],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
    }
    return out;
  });
}

export function prepareSamples(dir: string): Sample[] {
  requireSampleSource();
  fs.mkdirSync(dir, { recursive: true });
  const samples: Sample[] = [];
  for (const f of SAMPLE_PHOTOS) {
    const src = path.join(OPENCV_DATA, f);
    if (!fs.existsSync(src)) continue;
    const dst = path.join(dir, f);
    if (!fs.existsSync(dst)) fs.copyFileSync(src, dst);
    samples.push({ file: dst, contentType: f.endsWith('.png') ? 'image/png' : 'image/jpeg', expect: 'ok' });
  }
  for (const f of extractFrames(dir, [100, 400, 700]))
    samples.push({ file: f, contentType: 'image/jpeg', expect: 'ok' });
  // Bad input: a JPEG cut in half, and a text file that claims to be an image.
  const truncated = path.join(dir, 'truncated.jpg');
  const whole = fs.readFileSync(path.join(OPENCV_DATA, 'messi5.jpg'));
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
  samples.push({ file: truncated, contentType: 'image/jpeg', expect: 'failed' });
  const text = path.join(dir, 'not-an-image.jpg');
  fs.writeFileSync(text, 'this is not an image\n');
  samples.push({ file: text, contentType: 'image/jpeg', expect: 'failed' });
  return samples;
}
