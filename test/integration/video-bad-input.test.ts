/**
 * Bad live and video input on the real stack (issue 12): real ffmpeg, real HTTP sources on loopback, the
 * real bucket, workers and BigQuery emulator. Each case ends in a clear failed row or a recorded gap (or,
 * for a live source that answers with no usable video, a named error after a bounded number of tries),
 * never a crash, a stuck workflow or an endless retry.
 *
 * Live sources: a corrupt stream (random bytes), an endless stream that never yields a frame (MPEG-TS null
 * packets trickling in: ffmpeg would probe it for ever), an audio-only stream, and a camera that stops mid-way
 * and never comes back. Files: random bytes, audio only, a 10,000 × 10,000 video, a video cut off mid-way.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { freePort, startCamera } from '../../demo/camera';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  recordStream,
  STREAM_DEFAULTS,
  StreamInputError,
  type StreamEvent,
  type StreamOptions,
} from '../../ingest/stream';
import { cutVideo } from '../../cli/scene';
import { VTEST } from '../../demo/samples';
import { cfg, samplesDir, storage, uniqueRun, upload, waitForRows } from './helpers';

interface Row {
  status: string;
  error_class: string | null;
  error_message: string | null;
  attempts: number;
  details: string | null;
  workflow_id: string;
}

const servers: http.Server[] = [];
const procs: ChildProcess[] = [];

afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
});

/** An HTTP "camera" that answers every connection with `feed` (what a broken camera or encoder would send). */
async function source(feed: (res: http.ServerResponse, req: http.IncomingMessage) => void): Promise<string> {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp2t' });
    feed(res, req);
  });
  server.keepAliveTimeout = 0;
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  servers.push(server);
  // Destroy open connections on close, so afterEach does not wait for a client that never hangs up.
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  return `http://127.0.0.1:${port}/cam`;
}

/** Writes chunks every `everyMs` until the client hangs up. */
function trickle(res: http.ServerResponse, everyMs: number, chunk: () => Buffer): void {
  const t = setInterval(() => res.write(chunk()), everyMs);
  res.on('close', () => clearInterval(t));
}

function options(url: string, over: Partial<StreamOptions> = {}): StreamOptions {
  return {
    ...STREAM_DEFAULTS,
    url,
    name: 'bad',
    segmentSeconds: 1,
    minBackoffMs: 200,
    maxBackoffMs: 800,
    readTimeoutMs: 3000,
    stallTimeoutMs: 4000,
    maxBadConnects: 3,
    ...over,
  };
}

/** Runs the recorder and expects it to give up with StreamInputError; returns the error, the events and the uploads. */
async function expectGivesUp(
  url: string,
): Promise<{ err: StreamInputError; events: StreamEvent[]; uploads: number; ms: number }> {
  const events: StreamEvent[] = [];
  let uploads = 0;
  const t0 = Date.now();
  const err = await recordStream(
    options(url),
    async () => void uploads++,
    (e) => events.push(e),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StreamInputError);
  return { err: err as StreamInputError, events, uploads, ms: Date.now() - t0 };
}

describe('live input that gives no usable video', () => {
  it('a corrupt stream (random bytes): three bad connections, then a named error, nothing uploaded', async () => {
    const url = await source((res) => trickle(res, 50, () => crypto.randomBytes(16_384)));
    const { err, events, uploads } = await expectGivesUp(url);
    expect(err.errorClass).toBe('UnsupportedMedia');
    expect(err.reasons).toHaveLength(3);
    expect(err.message).toContain(url);
    expect(uploads).toBe(0);
    const retries = events.filter((e) => e.kind === 'reconnecting');
    expect(retries).toHaveLength(2); // tries 1 and 2 back off; the third gives up
    expect(retries.every((e) => e.kind === 'reconnecting' && e.badInput)).toBe(true);
  }, 60_000);

  it('an endless stream that never yields a frame: the stall watchdog ends each connection, then a named error', async () => {
    // MPEG-TS null packets (PID 0x1FFF), ten a second: bytes keep coming, so ffmpeg's read timeout never fires,
    // and it would probe them for ever.
    const nullPacket = Buffer.alloc(188, 0xff);
    nullPacket.set([0x47, 0x1f, 0xff, 0x10]);
    const url = await source((res) => trickle(res, 100, () => nullPacket));
    const { err, uploads, ms } = await expectGivesUp(url);
    expect(err.reasons.every((r) => /no video frame within 4 s/.test(r))).toBe(true);
    expect(uploads).toBe(0);
    // Three connections of about the stall timeout each, plus backoff: bounded, not endless.
    expect(ms).toBeGreaterThanOrEqual(3 * 4000);
    expect(ms).toBeLessThan(60_000);
  }, 90_000);

  it('an audio-only stream: no video stream to record, a named error after three tries', async () => {
    const url = await source((res, req) => {
      const p = spawn(
        'ffmpeg',
        [
          '-nostdin',
          '-v',
          'error',
          '-re',
          '-f',
          'lavfi',
          '-i',
          'sine=frequency=440:sample_rate=48000',
          '-c:a',
          'aac',
          '-f',
          'mpegts',
          'pipe:1',
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      procs.push(p);
      p.stdout.pipe(res);
      req.on('close', () => p.kill('SIGKILL'));
    });
    const { err, uploads } = await expectGivesUp(url);
    expect(err.reasons.join(' ')).toMatch(/matches no streams|no video|does not contain/i);
    expect(uploads).toBe(0);
  }, 60_000);
});

describe('a camera that stops mid-way', () => {
  it('what it sent is analysed (a row per frame and a summary per segment); the recorder keeps reconnecting with capped backoff, no crash', async () => {
    const port = await freePort();
    const camera = startCamera(VTEST, port).proc;
    procs.push(camera);
    const run = uniqueRun('stream-stop');
    const bucket = storage.bucket(cfg.gcs.bucket);
    const uploaded: string[] = [];
    const events: StreamEvent[] = [];
    const ac = new AbortController();
    let killedAt: number | undefined;
    const stats = await recordStream(
      options(`http://127.0.0.1:${port}/cam`, {
        name: run,
        prefix: `${run}/`,
        metadata: { 'lookout-run': run, 'lookout-pipeline': 'objects' },
        signal: ac.signal,
        maxBadConnects: 3,
      }),
      async (u) => {
        await bucket.upload(u.file, {
          destination: u.objectName,
          resumable: false,
          contentType: u.contentType,
          metadata: { metadata: u.metadata },
        });
        uploaded.push(u.objectName);
        // The camera dies after two segments and never comes back.
        if (uploaded.length === 2) {
          camera.kill('SIGKILL');
          killedAt = events.length;
        }
      },
      (e) => {
        events.push(e);
        // Four reconnect attempts against the dead camera: enough to see the backoff reach its cap.
        if (killedAt !== undefined && events.slice(killedAt).filter((x) => x.kind === 'reconnecting').length >= 4)
          ac.abort();
      },
    );
    expect(stats.segments).toBeGreaterThanOrEqual(2);
    // (Before the kill, a first connection may have been refused while the camera started listening.)
    const retries = events
      .slice(killedAt)
      .filter((e): e is Extract<StreamEvent, { kind: 'reconnecting' }> => e.kind === 'reconnecting');
    expect(retries.length).toBeGreaterThanOrEqual(4);
    // A camera that cannot be reached is away, not bad input: retried without limit, backoff doubling to its cap.
    expect(retries.every((e) => !e.badInput)).toBe(true);
    expect(retries.map((e) => e.inMs).slice(0, 4)).toEqual([200, 400, 800, 800]);
    // Every uploaded segment (the torn last one included, if it probed) becomes frame rows plus one summary row.
    const rows = await waitForRows<Row>(
      `run_tag = @run AND JSON_VALUE(details, '$.kind') = 'video-summary'`,
      { run },
      stats.segments,
      300_000,
    );
    expect(rows).toHaveLength(stats.segments);
    for (const r of rows) {
      expect(r.status).toBe('ok');
      const d = JSON.parse(r.details!) as { frames: number; frames_ok: number };
      expect(d.frames).toBeGreaterThan(0);
      expect(d.frames_ok).toBe(d.frames);
    }
  }, 400_000);
});

describe('video files that cannot be analysed: one clear failed row each', () => {
  const dir = path.join(samplesDir, 'bad-video');
  fs.mkdirSync(dir, { recursive: true });
  const ffmpeg = (args: string[]) =>
    execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });

  async function analyse(name: string, data: Buffer, contentType: string): Promise<Row> {
    const run = uniqueRun('badvid');
    await upload(cfg.gcs.bucket, `${run}/${name}`, data, contentType, {
      'lookout-run': run,
      'lookout-pipeline': 'objects',
    });
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 1, 180_000);
    expect(rows).toHaveLength(1);
    return rows[0];
  }

  it('random bytes named .mp4: UnsupportedMedia, one attempt', async () => {
    const r = await analyse('corrupt.mp4', crypto.randomBytes(200_000), 'video/mp4');
    expect(r.status).toBe('failed');
    expect(['UnsupportedMedia', 'CorruptImage']).toContain(r.error_class);
    expect(r.attempts).toBe(1);
  });

  it('bytes ffprobe can only guess to be raw H.263 (random bytes, 1 in 200 of them), named .mp4: one failed row, not a frame of garbage', async () => {
    const bytes = fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'video', 'random-bytes-guessed-h263.mp4'));
    const r = await analyse('guessed-h263.mp4', bytes, 'video/mp4');
    expect(r.status).toBe('failed');
    expect(r.error_class).toBe('UnsupportedMedia');
    expect(r.error_message).toMatch(/probe score 25/);
    expect(r.attempts).toBe(1);
  });

  it('an audio-only file: UnsupportedMedia "has no video stream"', async () => {
    const f = path.join(dir, 'audio-only.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:a', 'aac', f]);
    const r = await analyse('audio-only.mp4', fs.readFileSync(f), 'video/mp4');
    expect(r.status).toBe('failed');
    expect(r.error_class).toBe('UnsupportedMedia');
    expect(r.error_message).toMatch(/no video stream/);
    expect(r.attempts).toBe(1);
  });

  it('a 10,000 × 10,000 video: TooManyPixels before any frame is decoded', async () => {
    const f = path.join(dir, 'huge.avi');
    if (!fs.existsSync(f))
      ffmpeg([
        '-f',
        'lavfi',
        '-i',
        'color=c=gray:size=10000x10000:rate=2',
        '-frames:v',
        '2',
        '-c:v',
        'mjpeg',
        '-q:v',
        '10',
        f,
      ]);
    const r = await analyse('huge.avi', fs.readFileSync(f), 'video/x-msvideo');
    expect(r.status).toBe('failed');
    expect(r.error_class).toBe('TooManyPixels');
    expect(r.error_message).toMatch(/10000x10000/);
    expect(r.attempts).toBe(1);
  });

  it('a video cut off mid-way: the frames before the cut are analysed, the summary counts them, nothing hangs', async () => {
    const whole = cutVideo(VTEST, path.join(dir, 'vtest-0-60.avi'), 0, 60);
    const bytes = fs.readFileSync(whole);
    const run = uniqueRun('truncated');
    await upload(
      cfg.gcs.bucket,
      `${run}/cut.avi`,
      bytes.subarray(0, Math.floor(bytes.length * 0.5)),
      'video/x-msvideo',
      { 'lookout-run': run, 'lookout-pipeline': 'objects' },
    );
    const [summary] = await waitForRows<Row>(
      `run_tag = @run AND JSON_VALUE(details, '$.kind') = 'video-summary'`,
      { run },
      1,
      180_000,
    );
    const d = JSON.parse(summary.details!) as { frames: number; frames_ok: number };
    expect(d.frames).toBeGreaterThan(10);
    expect(d.frames).toBeLessThan(60);
    const frames = await waitForRows<Row>(
      `run_tag = @run AND JSON_VALUE(details, '$.kind') IS NULL`,
      { run },
      d.frames,
      60_000,
    );
    expect(frames).toHaveLength(d.frames);
    expect(frames.every((r) => r.status === 'ok')).toBe(true);
  });
});
