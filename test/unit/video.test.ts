import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import {
  frameTriplets,
  probeVideo,
  readFrames,
  readSegment,
  sampleTriplets,
  segmentIndices,
  selectExpr,
  type VideoFrame,
} from '../../media/video';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const HAVE_VTEST = fs.existsSync(VTEST);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-video-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('sampleTriplets', () => {
  it('keeps t - offset >= 0 and t + offset < total', () => {
    expect(sampleTriplets(20, 5)).toEqual([3, 8, 13]);
    expect(sampleTriplets(17, 5)).toEqual([3, 8, 13]); // 13 + 3 = 16 < 17
    expect(sampleTriplets(16, 5)).toEqual([3, 8]); // 13 + 3 = 16 is out
    expect(sampleTriplets(7, 1)).toEqual([3]);
    expect(sampleTriplets(6, 1)).toEqual([]);
    expect(sampleTriplets(0, 1)).toEqual([]);
    expect(sampleTriplets(5, 2, 0)).toEqual([0, 2, 4]);
    expect(sampleTriplets(10, 2, 1)).toEqual([1, 3, 5, 7]);
    expect(sampleTriplets(795, 10).at(-1)).toBe(783);
    expect(sampleTriplets(795, 10)).toHaveLength(79);
  });

  it('rejects invalid arguments', () => {
    expect(() => sampleTriplets(10, 0)).toThrow(RangeError);
    expect(() => sampleTriplets(-1, 1)).toThrow(RangeError);
    expect(() => sampleTriplets(10.5, 1)).toThrow(RangeError);
    expect(() => sampleTriplets(10, 1, -1)).toThrow(RangeError);
  });
});

describe('selectExpr', () => {
  it('merges runs and nests long sums', () => {
    expect(selectExpr([3, 100, 101, 102, 110])).toBe('eq(n\\,3)+between(n\\,100\\,102)+eq(n\\,110)');
    const long = selectExpr(Array.from({ length: 300 }, (_, i) => i * 2));
    expect(long.startsWith('((eq(n\\,0)+eq(n\\,2)')).toBe(true);
    expect(long.match(/eq\(/g)).toHaveLength(300);
  });
});

describe('video decoding', () => {
  it.skipIf(!HAVE_VTEST)('probes vtest.avi', async () => {
    const info = await probeVideo(VTEST);
    expect([info.width, info.height]).toEqual([768, 576]);
    expect(info.frames).toBe(795);
    expect(info.fps).toBeCloseTo(10, 6);
  });

  it.skipIf(!HAVE_VTEST)('decodes frames 3, 100 and 103 in order, de-duplicated', async () => {
    const frames = await collect(readFrames(VTEST, [103, 3, 100, 100]));
    expect(frames.map((f) => f.index)).toEqual([3, 100, 103]);
    for (const f of frames) {
      expect([f.width, f.height, f.rgb.length]).toEqual([768, 576, 768 * 576 * 3]);
    }
    const [, f100, f103] = frames;
    expect(f100.rgb.equals(f103.rgb)).toBe(false);
    // People move: a real fraction of the pixels changes between 100 and 103, but most of the scene is static.
    let changed = 0;
    for (let i = 0; i < f100.rgb.length; i++) if (Math.abs(f100.rgb[i] - f103.rgb[i]) > 30) changed++;
    expect(changed / f100.rgb.length).toBeGreaterThan(0.001);
    expect(changed / f100.rgb.length).toBeLessThan(0.5);
    // The same frames through the decode-everything-and-filter path are byte-identical.
    const slow = await collect(readFrames(VTEST, [3, 100, 103], { maxSelectExpr: 0 }));
    expect(slow.map((f) => f.index)).toEqual([3, 100, 103]);
    slow.forEach((f, i) => expect(f.rgb.equals(frames[i].rgb)).toBe(true));
  });

  it.skipIf(!HAVE_VTEST)('yields triplets t-3, t, t+3 with each frame decoded once', async () => {
    const triplets = await collect(frameTriplets(VTEST, [100, 6, 3]));
    expect(triplets.map((t) => [t.t, t.prev.index, t.cur.index, t.next.index])).toEqual([
      [3, 0, 3, 6],
      [6, 3, 6, 9],
      [100, 97, 100, 103],
    ]);
    // Frame 6 is shared by the first two triplets: the very same buffer.
    expect(triplets[1].cur).toBe(triplets[0].next);
    expect(triplets[1].prev).toBe(triplets[0].cur);
    const direct = await collect(readFrames(VTEST, [97]));
    expect(triplets[2].prev.rgb.equals(direct[0].rgb)).toBe(true);
  });

  it.skipIf(!HAVE_VTEST)('stops ffmpeg on early exit and abort, and reports frames past the end', async () => {
    const seen: number[] = [];
    for await (const f of readFrames(VTEST, [1, 2, 3, 400, 700])) {
      seen.push(f.index);
      if (f.index === 2) break;
    }
    expect(seen).toEqual([1, 2]);

    const ac = new AbortController();
    const got: VideoFrame[] = [];
    const err = await rejection(
      (async () => {
        for await (const f of readFrames(VTEST, [5, 6, 7, 500], { signal: ac.signal })) {
          got.push(f);
          ac.abort();
        }
      })(),
    );
    expect(err.name).toBe('AbortError');
    expect(got).toHaveLength(1);

    const past = await rejection(collect(readFrames(VTEST, [794, 795])));
    expect(past).toBeInstanceOf(BadInputError);
    expect((past as BadInputError).errorClass).toBe('CorruptImage');
    expect(past.message).toMatch(/ended before frame 795/);
  });

  it('rejects a text file, an empty file and a missing file as bad input', async () => {
    const txt = path.join(tmp, 'notes.avi');
    fs.writeFileSync(txt, 'this is a text file, not a video\n'.repeat(20));
    const e1 = await rejection(probeVideo(txt));
    expect(e1).toBeInstanceOf(BadInputError);
    expect((e1 as BadInputError).errorClass).toBe('UnsupportedMedia');
    expect(e1.message).toMatch(/Invalid data found/);
    const e2 = await rejection(collect(readFrames(txt, [0])));
    expect((e2 as BadInputError).errorClass).toBe('UnsupportedMedia');
    // Without the probe (dimensions given), ffmpeg's own failure is classified the same way.
    const e3 = await rejection(collect(readFrames(txt, [0], { width: 64, height: 48 })));
    expect(e3).toBeInstanceOf(BadInputError);
    expect((e3 as BadInputError).errorClass).toBe('UnsupportedMedia');
    expect(e3.message).toMatch(/Invalid data found/);

    const empty = path.join(tmp, 'empty.mp4');
    fs.writeFileSync(empty, '');
    expect(((await rejection(probeVideo(empty))) as BadInputError).errorClass).toBe('EmptyObject');
    expect(((await rejection(probeVideo(path.join(tmp, 'missing.mp4')))) as BadInputError).errorClass).toBe(
      'ObjectNotFound',
    );
  });
});

describe('formats ffprobe only guesses', () => {
  const fixture = path.join(__dirname, '..', 'fixtures', 'video', 'random-bytes-guessed-h263.mp4');
  const ffmpeg = (args: string[]) =>
    execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });

  it('random bytes that ffprobe takes for a raw H.263 stream (score 25) are UnsupportedMedia, whatever they are named', async () => {
    // The fixture really does probe as a 704x576 H.263 stream: without the check it would be analysed.
    const raw = execFileSync('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_name,width:format=probe_score',
      '-of',
      'json',
      fixture,
    ]).toString();
    expect(raw).toMatch(/"h263"/);
    expect(raw).toMatch(/"probe_score": 25/);
    const e = await rejection(probeVideo(fixture));
    expect(e).toBeInstanceOf(BadInputError);
    expect((e as BadInputError).errorClass).toBe('UnsupportedMedia');
    expect(e.message).toMatch(/match no container format.*raw h263 stream \(probe score 25 of 100\)/);
    const asAvi = path.join(tmp, 'guessed.avi');
    fs.copyFileSync(fixture, asAvi);
    expect(((await rejection(probeVideo(asAvi))) as BadInputError).errorClass).toBe('UnsupportedMedia');
  });

  it('a raw stream is read when its extension names it (MJPEG as .mjpeg, H.263 as .h263); MPEG-TS (score 50) always', async () => {
    const mjpeg = path.join(tmp, 'cam.mjpeg');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '1', '-c:v', 'mjpeg', '-f', 'mjpeg', mjpeg]);
    const m = await probeVideo(mjpeg);
    expect([m.width, m.height, m.frames]).toEqual([160, 120, 10]);
    const h263 = path.join(tmp, 'cam.h263');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=176x144:rate=10', '-t', '1', '-c:v', 'h263', '-f', 'h263', h263]);
    expect((await probeVideo(h263)).width).toBe(176);
    const ts = path.join(tmp, 'segment.ts');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '1', '-c:v', 'mpeg2video', '-f', 'mpegts', ts]);
    expect((await probeVideo(ts)).height).toBe(120);
    // The same MJPEG bytes under a container's name are a guess, not a declared raw stream.
    const misnamed = path.join(tmp, 'cam-mjpeg.mp4');
    fs.copyFileSync(mjpeg, misnamed);
    expect(((await rejection(probeVideo(misnamed))) as BadInputError).errorClass).toBe('UnsupportedMedia');
  });
});

describe('frame count', () => {
  it.skipIf(!HAVE_VTEST)('counts the frames a cut really has, not what its header claims', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-cut-'));
    try {
      const out = path.join(dir, 'cut.avi');
      // A cut that keeps its timestamps: the AVI header then states more frames than the file holds.
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-i',
        VTEST,
        '-vf',
        'select=between(n\\,100\\,139)',
        '-fps_mode',
        'passthrough',
        '-c:v',
        'mjpeg',
        '-q:v',
        '5',
        out,
      ]);
      const info = await probeVideo(out);
      expect(info.frames).toBe(40);
      expect(info.framesExact).toBe(true);
      const last = sampleTriplets(info.frames, 5).at(-1)!;
      const got: number[] = [];
      for await (const f of readFrames(out, [last + 3])) got.push(f.index);
      expect(got).toEqual([last + 3]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readSegment', () => {
  it('decodes a segment from the middle of a video exactly as decoding from the start would', async () => {
    if (!fs.existsSync(VTEST)) throw new Error(`${VTEST} missing: infra/install.sh installs opencv-doc`);
    const info = await probeVideo(VTEST);
    for (const r of [
      { start: 0, end: 4, stride: 1 },
      { start: 101, end: 112, stride: 3 },
      { start: 780, end: 795, stride: 5 },
    ]) {
      const seg: Array<{ index: number; rgb: Buffer }> = [];
      for await (const f of readSegment(VTEST, r, info)) seg.push(f);
      expect(seg.map((f) => f.index)).toEqual(segmentIndices(r));
      let k = 0;
      for await (const f of readFrames(VTEST, segmentIndices(r), { width: info.width, height: info.height })) {
        expect(f.index).toBe(seg[k].index);
        expect(f.rgb.equals(seg[k].rgb)).toBe(true);
        k++;
      }
      expect(k).toBe(seg.length);
    }
  }, 60_000);

  it('refuses a malformed range', async () => {
    const gen = readSegment('/nonexistent.avi', { start: 5, end: 2, stride: 0 }, { fps: 10, width: 2, height: 2 });
    await expect(gen.next()).rejects.toThrow(RangeError);
  });
});
