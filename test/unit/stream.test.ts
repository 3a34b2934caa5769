/**
 * ingest/stream.ts against a real stream server: ffmpeg serves vtest.avi as HTTP MPEG-TS on loopback (what
 * an IP camera serves); the recorder cuts it into segments. The camera is then killed and started again:
 * the recorder reconnects, records the gap, and goes on.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { freePort, startCamera } from '../../demo/camera';
import { afterEach, describe, expect, it } from 'vitest';
import { ffmpegStreamArgs, recordStream, type SegmentUpload, type StreamEvent } from '../../ingest/stream';
import { probeVideo } from '../../media/video';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
let camera: ChildProcess | undefined;

afterEach(() => {
  camera?.kill('SIGKILL');
});

describe('recordStream', () => {
  it('builds ffmpeg arguments that copy the video into numbered MPEG-TS segments', () => {
    const a = ffmpegStreamArgs('rtsp://cam/1', '/tmp/x', 2, 5000);
    expect(a).toEqual(
      expect.arrayContaining([
        '-rtsp_transport',
        'tcp',
        '-c',
        'copy',
        '-f',
        'segment',
        '-segment_time',
        '2',
        '-reset_timestamps',
        '1',
      ]),
    );
  });

  it('records segments with capture times, survives the camera dropping, and records the gap', async () => {
    if (!fs.existsSync(VTEST)) throw new Error(`${VTEST} missing: infra/install.sh installs opencv-doc`);
    const port = await freePort();
    camera = startCamera(VTEST, port).proc;
    const uploads: Array<SegmentUpload & { bytes: Buffer }> = [];
    const events: StreamEvent[] = [];
    const ac = new AbortController();
    let restarted = false;
    const done = recordStream(
      {
        url: `http://127.0.0.1:${port}/cam`,
        name: 'cam1',
        scene: 'vtest',
        segmentSeconds: 1,
        prefix: 'streams/',
        minBackoffMs: 300,
        maxBackoffMs: 1000,
        readTimeoutMs: 3000,
        stallTimeoutMs: 10_000,
        maxBadConnects: 3,
        maxSegments: 6,
        signal: ac.signal,
      },
      async (u) => {
        uploads.push({ ...u, bytes: fs.readFileSync(u.file) });
        if (uploads.length === 3 && !restarted) {
          // The camera drops after three segments and comes back two seconds later.
          restarted = true;
          camera!.kill('SIGKILL');
          setTimeout(() => (camera = startCamera(VTEST, port).proc), 2000);
        }
      },
      (e) => events.push(e),
    );
    const stats = await done;
    expect(stats.segments).toBe(6);
    expect(stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(stats.gaps.length).toBeGreaterThanOrEqual(1);
    expect(events.some((e) => e.kind === 'gap')).toBe(true);
    const times = uploads.map((u) => Date.parse(u.metadata['lookout-captured-at']));
    expect(times.every((t, i) => i === 0 || t > times[i - 1])).toBe(true);
    expect(uploads[0].metadata).toMatchObject({ 'lookout-stream': 'cam1', 'lookout-scene': 'vtest' });
    expect(uploads[0].objectName).toMatch(/^streams\/cam1\/\d{4}-\d\d-\d\dT.*-000000\.ts$/);
    // Each segment is a playable video of about a second of the camera's frames.
    const tmp = `${fs.mkdtempSync('/tmp/lookout-seg-')}/s.ts`;
    fs.writeFileSync(tmp, uploads[1].bytes);
    const info = await probeVideo(tmp);
    expect(info.width).toBe(768);
    expect(info.frames).toBeGreaterThanOrEqual(5);
  }, 90_000);
});

describe('recordStream over a long run', () => {
  it('leaves no abort listeners behind on its signal (it sleeps ten times a second while recording)', async () => {
    if (!fs.existsSync(VTEST)) throw new Error(`${VTEST} missing: infra/install.sh installs opencv-doc`);
    const port = await freePort();
    camera = startCamera(VTEST, port).proc;
    const ac = new AbortController();
    let added = 0;
    let removed = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((type: string, ...rest: unknown[]) => {
      if (type === 'abort') added++;
      return (add as (...a: unknown[]) => void)(type, ...rest);
    }) as typeof ac.signal.addEventListener;
    ac.signal.removeEventListener = ((type: string, ...rest: unknown[]) => {
      if (type === 'abort') removed++;
      return (remove as (...a: unknown[]) => void)(type, ...rest);
    }) as typeof ac.signal.removeEventListener;
    const stats = await recordStream(
      {
        url: `http://127.0.0.1:${port}/cam`,
        name: 'cam1',
        segmentSeconds: 1,
        prefix: 'streams/',
        minBackoffMs: 300,
        maxBackoffMs: 1000,
        readTimeoutMs: 3000,
        stallTimeoutMs: 10_000,
        maxBadConnects: 3,
        maxSegments: 3,
        signal: ac.signal,
      },
      async () => {},
    );
    expect(stats.segments).toBe(3);
    expect(added).toBeGreaterThan(10); // dozens of sleeps happened
    expect(added - removed).toBeLessThanOrEqual(1);
  }, 60_000);
});
