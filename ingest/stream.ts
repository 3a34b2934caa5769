/**
 * Live camera streams: `lookout stream URL --scene NAME`. ffmpeg reads what IP cameras serve (RTSP, HTTP
 * MPEG-TS, HLS), cuts it into short segments without re-encoding (the segment muxer cuts at keyframes), and
 * each finished segment is uploaded to the inbox bucket with its scene, stream name and capture time in the
 * object metadata. From there the usual path analyses it: event → dispatcher → analyzeVideo (segments) → a
 * row per frame. A camera that drops is reconnected with capped backoff; the gap is reported (and counted),
 * never a crash.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BadInputError } from '../core/errors';
import { probeVideo } from '../media/video';

export interface StreamOptions {
  url: string;
  /** Stream name: object names are <prefix><name>/<capture start>-<n>.ts */
  name: string;
  scene?: string;
  pipeline?: string;
  /** Target segment length in seconds (the muxer cuts at the next keyframe after it). */
  segmentSeconds: number;
  prefix: string;
  /** Extra object metadata (e.g. lookout-run). */
  metadata?: Record<string, string>;
  /** Reconnect delays: from minBackoffMs doubling to maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** ffmpeg gives up on a silent input after this long (then we reconnect). */
  readTimeoutMs: number;
  /**
   * A connection on which no segment grows for this long is dropped (ffmpeg killed) and counts as bad input:
   * a source that keeps sending bytes without a video frame (ffmpeg would probe it forever) or freezes mid-way.
   */
  stallTimeoutMs: number;
  /**
   * Give up (StreamInputError) after this many connections in a row that reached the source but gave no video:
   * corrupt data, no video stream (audio only), no frame before stallTimeoutMs. A camera that cannot be reached
   * at all is retried without limit (it is away, and comes back); one that answers with unusable data is not.
   */
  maxBadConnects: number;
  /** Stop after this many segments (0: run until stopped). */
  maxSegments: number;
  signal?: AbortSignal;
}

export const STREAM_DEFAULTS = {
  segmentSeconds: 2,
  prefix: 'streams/',
  minBackoffMs: 1000,
  maxBackoffMs: 30_000,
  readTimeoutMs: 10_000,
  stallTimeoutMs: 30_000,
  maxBadConnects: 3,
  maxSegments: 0,
};

/** The source answers, but with nothing Lookout can analyse (see StreamOptions.maxBadConnects): retrying cannot help. */
export class StreamInputError extends BadInputError {
  constructor(
    readonly url: string,
    readonly reasons: string[],
    readonly stats: StreamStats,
  ) {
    super(
      'UnsupportedMedia',
      `${url} gave no usable video on ${reasons.length} connections in a row (last: ${reasons[reasons.length - 1]}); not retrying`,
    );
  }
}

/**
 * ffmpeg's own words for a source that answered with something that is not (or has no) video. Anything else
 * (connection refused, timed out, reset, 404) is a camera away: retried without limit.
 */
const BAD_INPUT_RE =
  /Invalid data found|matches no streams|does not contain any stream|Could not find codec parameters|no video stream|Output file .* does not contain/i;

export interface SegmentUpload {
  file: string;
  objectName: string;
  metadata: Record<string, string>;
  contentType: string;
}

export type StreamEvent =
  | { kind: 'connected'; attempt: number }
  | { kind: 'segment'; objectName: string; capturedAt: string; durationS: number; bytes: number }
  | { kind: 'gap'; from: string; to: string; reason: string }
  | { kind: 'reconnecting'; inMs: number; reason: string; badInput: boolean }
  | { kind: 'upload-failed'; objectName: string; error: string };

export interface StreamStats {
  segments: number;
  bytes: number;
  reconnects: number;
  gaps: Array<{ from: string; to: string; reason: string }>;
  uploadFailures: number;
}

/** ffmpeg arguments: read the camera, copy the video stream into numbered MPEG-TS segments in `dir`. */
export function ffmpegStreamArgs(url: string, dir: string, segmentSeconds: number, readTimeoutMs: number): string[] {
  const input: string[] = [];
  if (/^rtsps?:/i.test(url)) input.push('-rtsp_transport', 'tcp', '-timeout', String(readTimeoutMs * 1000));
  else if (/^https?:/i.test(url)) input.push('-rw_timeout', String(readTimeoutMs * 1000));
  return [
    '-nostdin',
    '-v',
    'error',
    ...input,
    // Probe one second, not ffmpeg's default five: the first segment (and every alert in it) comes sooner.
    '-analyzeduration',
    '1000000',
    '-probesize',
    '1000000',
    '-i',
    url,
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    String(segmentSeconds),
    '-segment_format',
    'mpegts',
    '-reset_timestamps',
    '1',
    path.join(dir, 'seg-%06d.ts'),
  ];
}

/**
 * Runs until stopped (signal) or maxSegments: connect, record, upload; on a drop, back off and reconnect.
 * A segment is finished when ffmpeg has opened the next one (or has exited); its capture time is when
 * ffmpeg opened it, i.e. when its first frame arrived. (ffmpeg's own segment list is not used: on a pipe it
 * is only flushed at exit.) `upload` puts a finished segment in the bucket; a failed upload is retried with
 * backoff, so nothing recorded is lost while the bucket is briefly away.
 */
export async function recordStream(
  opts: StreamOptions,
  upload: (u: SegmentUpload) => Promise<void>,
  onEvent: (e: StreamEvent) => void = () => {},
): Promise<StreamStats> {
  const stats: StreamStats = { segments: 0, bytes: 0, reconnects: 0, gaps: [], uploadFailures: 0 };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-stream-'));
  let backoff = opts.minBackoffMs;
  let lastEnd: number | undefined;
  let attempt = 0;
  const badReasons: string[] = [];
  const enough = () => opts.maxSegments > 0 && stats.segments >= opts.maxSegments;
  try {
    while (!opts.signal?.aborted && !enough()) {
      attempt++;
      const dir = path.join(root, String(attempt));
      fs.mkdirSync(dir);
      let reason = 'stream ended';
      let gotSegment = false;
      let stalled = false;
      const proc = spawn('ffmpeg', ffmpegStreamArgs(opts.url, dir, opts.segmentSeconds, opts.readTimeoutMs), {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (c: string) => (stderr = (stderr + c).slice(-2000)));
      let exitCode: number | null | undefined;
      proc.on('error', (err) => {
        reason = `ffmpeg could not start: ${err.message}`;
        exitCode = null;
      });
      proc.on('close', (code) => (exitCode = code ?? null));
      const stop = () => proc.kill('SIGTERM');
      opts.signal?.addEventListener('abort', stop, { once: true });
      onEvent({ kind: 'connected', attempt });
      // Capture times: the connection's start plus the durations of the segments before (what a live camera sends
      // arrives as it is filmed); each finished segment's duration comes from the file itself.
      const connectedAt = Date.now();
      let elapsedS = 0;
      // Progress = a segment file appeared or grew; none for stallTimeoutMs and ffmpeg is stopped here (it
      // would otherwise probe a frameless source, or wait on a frozen one, for as long as bytes trickle in).
      let lastProgressAt = connectedAt;
      let lastSeen = '';
      try {
        for (;;) {
          const exited = exitCode !== undefined;
          const files = fs
            .readdirSync(dir)
            .filter((f) => f.endsWith('.ts'))
            .sort();
          const newest = files.length
            ? `${files[files.length - 1]}:${fs.statSync(path.join(dir, files[files.length - 1]), { throwIfNoEntry: false })?.size ?? 0}`
            : '';
          if (newest !== lastSeen) {
            lastSeen = newest;
            lastProgressAt = Date.now();
          }
          // Every file but the newest is finished; once ffmpeg has exited, the newest too.
          const done = exited ? files : files.slice(0, -1);
          for (const f of done) {
            const full = path.join(dir, f);
            const bytes = fs.statSync(full).size;
            if (bytes === 0) {
              fs.rmSync(full, { force: true });
              continue;
            }
            const info = await probeVideo(full).catch(() => undefined);
            if (!info) {
              // A torn last segment (the camera dropped mid-write) that does not even probe: nothing to analyse.
              fs.rmSync(full, { force: true });
              continue;
            }
            const durationS = info.duration ?? info.frames / (info.fps || 1);
            const capturedMs = connectedAt + elapsedS * 1000;
            elapsedS += durationS;
            if (!gotSegment && lastEnd !== undefined && capturedMs - lastEnd > opts.segmentSeconds * 1000 + 1000) {
              const gap = {
                from: new Date(lastEnd).toISOString(),
                to: new Date(capturedMs).toISOString(),
                reason: 'camera reconnected',
              };
              stats.gaps.push(gap);
              onEvent({ kind: 'gap', ...gap });
            }
            gotSegment = true;
            backoff = opts.minBackoffMs;
            lastEnd = capturedMs + durationS * 1000;
            const capturedAt = new Date(capturedMs).toISOString();
            const objectName = `${opts.prefix}${opts.name}/${capturedAt.replace(/[:.]/g, '-')}-${String(stats.segments).padStart(6, '0')}.ts`;
            const metadata: Record<string, string> = {
              ...opts.metadata,
              'lookout-stream': opts.name,
              'lookout-captured-at': capturedAt,
              ...(opts.scene ? { 'lookout-scene': opts.scene } : {}),
              ...(opts.pipeline ? { 'lookout-pipeline': opts.pipeline } : {}),
            };
            for (let tries = 1; ; tries++) {
              try {
                await upload({ file: full, objectName, metadata, contentType: 'video/mp2t' });
                break;
              } catch (err) {
                stats.uploadFailures++;
                onEvent({ kind: 'upload-failed', objectName, error: (err as Error).message });
                if (opts.signal?.aborted || tries >= 10) throw err;
                await sleep(Math.min(opts.maxBackoffMs, opts.minBackoffMs * 2 ** (tries - 1)), opts.signal);
              }
            }
            fs.rmSync(full, { force: true });
            stats.segments++;
            stats.bytes += bytes;
            onEvent({ kind: 'segment', objectName, capturedAt, durationS, bytes });
            if (enough()) break;
          }
          if (exited || enough() || opts.signal?.aborted) break;
          if (Date.now() - lastProgressAt > opts.stallTimeoutMs) {
            stalled = true;
            reason = gotSegment
              ? `no new video for ${opts.stallTimeoutMs / 1000} s`
              : `no video frame within ${opts.stallTimeoutMs / 1000} s of connecting`;
            break;
          }
          await sleep(100, opts.signal);
        }
      } finally {
        opts.signal?.removeEventListener('abort', stop);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      }
      if (!stalled && exitCode !== undefined && exitCode !== 0 && exitCode !== null) {
        // ffmpeg's last line is often advice ("To ignore this, add a trailing '?'"); the line that says what was wrong comes first.
        const lines = stderr.trim().split('\n');
        reason = lines.find((l) => BAD_INPUT_RE.test(l)) ?? (lines.pop() || `ffmpeg exited with ${exitCode}`);
      }
      if (opts.signal?.aborted || enough()) break;
      // A connection that delivered video resets the count; one that reached the source and got no video adds to it.
      const badInput = !gotSegment && (stalled || BAD_INPUT_RE.test(stderr));
      if (gotSegment) badReasons.length = 0;
      if (badInput) {
        badReasons.push(reason);
        if (badReasons.length >= opts.maxBadConnects) throw new StreamInputError(opts.url, [...badReasons], stats);
      } else if (!gotSegment) badReasons.length = 0;
      stats.reconnects++;
      onEvent({ kind: 'reconnecting', inMs: backoff, reason, badInput });
      await sleep(backoff, opts.signal);
      backoff = Math.min(opts.maxBackoffMs, backoff * 2);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return stats;
}

/** Resolves after ms, or at once on abort. The abort listener goes when the timer fires: the recorder sleeps ten times a second for as long as it runs, and a listener left behind each time grew without bound. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
