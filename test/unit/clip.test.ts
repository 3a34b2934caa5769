/**
 * Alert clips (media/clip.ts) with the real ffmpeg on real frames (vtest.avi): one clip per alert, frames from
 * `pre` before the first flagged frame to `post` after the last, each drawn with its own boxes; the MP4 decodes
 * (ffprobe) with exactly the frames that went in.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { annotate } from '../../media/annotate';
import { AlertClips, encodeClip, type ClipFrame } from '../../media/clip';
import { probeVideo, readSegment } from '../../media/video';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

/** ffprobe's decoded frame count, codec and size of an MP4. */
function probe(mp4: Buffer): { frames: number; codec: string; width: number; height: number } {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'clip-test-')), 'c.mp4');
  fs.writeFileSync(f, mp4);
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=codec_name,width,height,nb_read_frames',
      '-of',
      'json',
      f,
    ],
    { encoding: 'utf8' },
  );
  const s = (
    JSON.parse(out) as { streams: Array<{ codec_name: string; width: number; height: number; nb_read_frames: string }> }
  ).streams[0];
  return { frames: Number(s.nb_read_frames), codec: s.codec_name, width: s.width, height: s.height };
}

describe('alert clips', () => {
  it('encodes RGB frames to an H.264 MP4 that decodes to the same number of frames (odd sizes padded)', async () => {
    const frames = Array.from({ length: 7 }, (_, i) => ({
      rgb: Buffer.alloc(33 * 21 * 3, i * 30),
      width: 33,
      height: 21,
    }));
    const { mp4, frames: n } = await encodeClip(frames, 10);
    expect(n).toBe(7);
    expect(probe(mp4)).toEqual({ frames: 7, codec: 'h264', width: 34, height: 22 });
  });

  it('cuts one clip per alert around the flagged frames, each frame drawn with its own boxes', async () => {
    if (!fs.existsSync(VTEST)) throw new Error(`${VTEST} missing: infra/install.sh installs opencv-doc`);
    const info = await probeVideo(VTEST);
    const saved: Array<{ name: string; mp4: Buffer; from: number; to: number; frames: number }> = [];
    const drawnIndices: number[] = [];
    const clips = new AlertClips<{ box: number }>({
      fps: info.fps,
      pre: 20,
      post: 20,
      draw: async (c: ClipFrame<{ box: number }>) => {
        drawnIndices.push(c.index);
        return annotate(
          { data: c.rgb, width: c.width, height: c.height, format: 'raw' },
          [
            {
              classId: 0,
              label: 'person',
              score: 0.9,
              x: c.marks.box,
              y: 100,
              w: 40,
              h: 90,
              abnormal: true,
              note: 'test',
            },
          ],
          `frame ${c.index}`,
          'rgb',
        );
      },
      nameFor: (first) => `alert-f${first}.mp4`,
      save: async (name, mp4, i) => void saved.push({ name, mp4, ...i }),
    });
    const flagged = new Set([25, 27, 55]);
    const rowClip = new Map<number, string | undefined>();
    for await (const f of readSegment(VTEST, { start: 0, end: 60, stride: 1 }, info)) {
      rowClip.set(f.index, await clips.push({ ...f, marks: { box: 10 + f.index * 5 } }, flagged.has(f.index)));
    }
    await clips.end();

    // Flagged frames 25 and 27 are one alert: frames 5 (20 before) to 47 (20 after 27). Frame 55 starts another,
    // whose frames before it are only those after the first clip closed (48-54), and which the segment's end cuts at 59.
    expect(saved.map((s) => [s.name, s.from, s.to, s.frames])).toEqual([
      ['alert-f25.mp4', 5, 47, 43],
      ['alert-f55.mp4', 48, 59, 12],
    ]);
    for (const s of saved) expect(probe(s.mp4)).toEqual({ frames: s.frames, codec: 'h264', width: 768, height: 576 });
    // Rows: flagged frames carry their alert's clip, others none.
    expect([...rowClip].filter(([, c]) => c !== undefined)).toEqual([
      [25, 'alert-f25.mp4'],
      [27, 'alert-f25.mp4'],
      [55, 'alert-f55.mp4'],
    ]);
    // Only frames that went into a clip were drawn (frames 0-4 never were).
    expect(drawnIndices).toEqual([
      ...Array.from({ length: 43 }, (_, i) => 5 + i),
      ...Array.from({ length: 12 }, (_, i) => 48 + i),
    ]);
  }, 60_000);

  it('writes no clip when nothing is flagged', async () => {
    const saved: string[] = [];
    const clips = new AlertClips<null>({
      fps: 10,
      pre: 5,
      post: 5,
      draw: async (c) => c.rgb,
      nameFor: (n) => `c${n}`,
      save: async (n) => void saved.push(n),
    });
    for (let i = 0; i < 30; i++)
      expect(
        await clips.push({ index: i, rgb: Buffer.alloc(8 * 8 * 3), width: 8, height: 8, marks: null }, false),
      ).toBeUndefined();
    await clips.end();
    expect(saved).toEqual([]);
  });
});
