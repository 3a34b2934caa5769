/**
 * Video frames through ffmpeg/ffprobe child processes (spawned directly, never through a shell).
 *
 * - probeVideo: dimensions, frame rate and frame count of the first video stream;
 * - sampleTriplets: which frames t to analyse (pure);
 * - readFrames: decodes chosen frames to raw RGB24 by streaming ffmpeg's stdout once;
 * - frameTriplets: frames t−offset, t, t+offset for each t, each frame decoded once.
 *
 * Unusable input becomes BadInputError (ObjectNotFound, EmptyObject, UnsupportedMedia, CorruptImage);
 * a missing ffmpeg binary is a SetupError. Every child process has a time limit and is killed on error,
 * abort or early exit.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BadInputError, SetupError } from '../core/errors';

export interface VideoInfo {
  width: number;
  height: number;
  /** Frame count: the container's when it records one, else duration × fps (an estimate). */
  frames: number;
  /** Whether `frames` came from the container (nb_frames / packet count) rather than duration × fps. */
  framesExact: boolean;
  fps: number;
  /** Seconds, when known. */
  duration: number | null;
  codec: string;
}

export interface VideoFrame {
  index: number;
  width: number;
  height: number;
  /** Interleaved RGB24, width × height × 3 bytes. */
  rgb: Buffer;
}

const STDERR_KEEP = 4000;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function ffmpegMissing(bin: string, err: Error): SetupError {
  return new SetupError(
    'FfmpegUnavailable',
    `${bin} could not be started (${err.message}); install ffmpeg (e.g. apt-get install ffmpeg)`,
    err,
  );
}

/** Runs a short-lived tool with a time limit; the output is collected in memory (for ffprobe's JSON). */
function runTool(bin: string, args: string[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    opts.signal?.throwIfAborted();
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (c: string) => {
      stdout += c;
      if (stdout.length > 4 << 20) proc.kill('SIGKILL'); // runaway output: give up
    });
    proc.stderr.on('data', (c: string) => (stderr = (stderr + c).slice(-STDERR_KEEP)));
    const onAbort = () => proc.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, opts.timeoutMs);
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    proc.on('error', (err) => finish(() => reject(ffmpegMissing(bin, err))));
    proc.on('close', (code) =>
      finish(() => {
        if (opts.signal?.aborted) reject(opts.signal.reason);
        else resolve({ code, stdout, stderr, timedOut });
      }),
    );
  });
}

/** A local path for ffmpeg: absolute, behind the file: protocol so names like "pipe:x" or "-y" are read as files. */
function ffInput(file: string): string {
  return `file:${path.resolve(file)}`;
}

function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim() !== '');
  return (line ?? '').trim();
}

async function checkFile(file: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch (err) {
    throw new BadInputError(
      'ObjectNotFound',
      `video ${file} does not exist or cannot be read (${(err as Error).message})`,
      err,
    );
  }
  if (!st.isFile()) throw new BadInputError('UnsupportedMedia', `video ${file} is not a regular file`);
  if (st.size === 0) throw new BadInputError('EmptyObject', `video ${file} is empty (0 bytes)`);
}

function parseRate(r: unknown): number {
  if (typeof r !== 'string') return 0;
  const [a, b] = r.split('/').map(Number);
  const v = b === undefined ? a : b ? a / b : 0;
  return Number.isFinite(v) && v > 0 ? v : 0;
}

function posNum(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export interface ProbeOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * ffprobe's score for a format it recognised (AVPROBE_SCORE_EXTENSION: a container signature such as MPEG-TS
 * reaches it, MP4/AVI/Matroska score 100). Below it, ffprobe only guessed a raw stream from byte patterns: of
 * 400 files of 200 kB random bytes named .mp4, 6 "were" raw H.263 streams (score 25) and 2 of them even had
 * dimensions and one frame of garbage, which was then analysed as a picture (two rows for one bad upload).
 */
const CONFIDENT_PROBE_SCORE = 50;

/** Raw streams with no container, which ffprobe can only guess: accepted when the file's own extension names them. */
const RAW_FORMAT_EXTENSIONS: Record<string, readonly string[]> = {
  jpeg_pipe: ['.mjpeg', '.mjpg', '.mjp'],
  mjpeg: ['.mjpeg', '.mjpg', '.mjp'],
  h261: ['.h261'],
  h263: ['.h263'],
  m4v: ['.m4v', '.cmp'],
  mpegvideo: ['.mpg', '.mpeg', '.m1v', '.m2v'],
};

/** Whether a format ffprobe reports with `score` is trusted for `file` (see CONFIDENT_PROBE_SCORE). */
function trustedProbe(file: string, formatName: string, score: number): boolean {
  if (score >= CONFIDENT_PROBE_SCORE) return true;
  const ext = path.extname(file).toLowerCase();
  return formatName.split(',').some((f) => RAW_FORMAT_EXTENSIONS[f]?.includes(ext) ?? false);
}

/** Dimensions, frame rate and frame count of the first video stream (ffprobe). */
export async function probeVideo(file: string, opts: ProbeOptions = {}): Promise<VideoInfo> {
  await checkFile(file);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const args = [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,width,height,nb_frames,r_frame_rate,avg_frame_rate,duration:format=duration,format_name,probe_score',
    '-of',
    'json',
    ffInput(file),
  ];
  const r = await runTool('ffprobe', args, { timeoutMs, signal: opts.signal });
  if (r.timedOut)
    throw new BadInputError('CorruptImage', `ffprobe did not finish reading ${file} within ${timeoutMs / 1000} s`);
  const msg = firstLine(r.stderr);
  if (r.code !== 0) {
    // ffprobe's exit code does not say why it failed; its stderr does. Read here, at the boundary, into a typed error.
    if (/Invalid data found|Unknown input format|not supported/i.test(r.stderr)) {
      throw new BadInputError(
        'UnsupportedMedia',
        `${file} is not a readable video: ${msg || `ffprobe exited with ${r.code}`}`,
      );
    }
    throw new BadInputError('CorruptImage', `ffprobe could not read ${file}: ${msg || `exit code ${r.code}`}`);
  }
  let parsed: { streams?: Array<Record<string, unknown>>; format?: Record<string, unknown> };
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch (err) {
    throw new BadInputError(
      'CorruptImage',
      `ffprobe gave unreadable output for ${file}: ${(err as Error).message}`,
      err,
    );
  }
  const s = parsed.streams?.[0];
  if (!s) throw new BadInputError('UnsupportedMedia', `${file} has no video stream${msg ? ` (${msg})` : ''}`);
  const formatName = typeof parsed.format?.format_name === 'string' ? parsed.format.format_name : '';
  const score = Number(parsed.format?.probe_score ?? CONFIDENT_PROBE_SCORE);
  if (!trustedProbe(file, formatName, score)) {
    throw new BadInputError(
      'UnsupportedMedia',
      `${file} is not a readable video: its bytes match no container format; ffprobe could only guess a raw ${formatName || 'video'} stream (probe score ${score} of 100), which its name does not declare`,
    );
  }
  const width = posNum(s.width);
  const height = posNum(s.height);
  if (!width || !height)
    throw new BadInputError('CorruptImage', `${file}: the video stream has no dimensions${msg ? ` (${msg})` : ''}`);
  const fps = parseRate(s.avg_frame_rate) || parseRate(s.r_frame_rate);
  const duration = posNum(s.duration) || posNum(parsed.format?.duration) || null;
  // Count the packets (demux only, no decoding): container headers can overstate the frame count (a cut
  // that kept its timestamps says 795 frames for 295), and a triplet past the real end would fail the video.
  const c = await runTool(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-count_packets',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'csv=p=0',
      ffInput(file),
    ],
    {
      timeoutMs,
      signal: opts.signal,
    },
  );
  let frames = c.code === 0 && !c.timedOut ? Math.floor(posNum(c.stdout.trim().split(/[\s,]/)[0])) : 0;
  let framesExact = frames > 0;
  if (!frames) {
    frames = Math.floor(posNum(s.nb_frames));
    framesExact = frames > 0;
  }
  if (!frames && duration && fps) frames = Math.round(duration * fps);
  return {
    width,
    height,
    frames,
    framesExact,
    fps,
    duration,
    codec: typeof s.codec_name === 'string' ? s.codec_name : '',
  };
}

/**
 * The frame indices t to analyse: offset, offset + every, offset + 2·every, … with t − offset >= 0 and
 * t + offset < totalFrames.
 */
export function sampleTriplets(totalFrames: number, every: number, offset = 3): number[] {
  if (!Number.isInteger(totalFrames) || totalFrames < 0)
    throw new RangeError(`sampleTriplets: totalFrames must be a non-negative integer, got ${totalFrames}`);
  if (!Number.isInteger(every) || every < 1)
    throw new RangeError(`sampleTriplets: every must be a positive integer, got ${every}`);
  if (!Number.isInteger(offset) || offset < 0)
    throw new RangeError(`sampleTriplets: offset must be a non-negative integer, got ${offset}`);
  const out: number[] = [];
  for (let t = offset; t + offset < totalFrames; t += every) out.push(t);
  return out;
}

export interface ReadFramesOptions {
  /** Decode at most this many of the (sorted, de-duplicated) indices. */
  maxFrames?: number;
  signal?: AbortSignal;
  /** Skip the probe when the caller already knows the dimensions. */
  width?: number;
  height?: number;
  /** Give up when ffmpeg produces no output for this long while we wait for it. Default 60 s. */
  stallTimeoutMs?: number;
  /**
   * Longest select expression to hand ffmpeg (default 30,000 characters); beyond it every frame up to the
   * last wanted one is converted and the unwanted ones are dropped here (slower, same result).
   */
  maxSelectExpr?: number;
}

/**
 * An ffmpeg select expression true exactly for the sorted indices: runs of consecutive indices become
 * between(), and the terms are summed in nested groups of 16, since ffmpeg's expression parser rejects
 * long flat sums (it fails somewhere between 100 and 200 terms).
 */
export function selectExpr(sorted: readonly number[]): string {
  let terms: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    terms.push(j === i ? `eq(n\\,${sorted[i]})` : `between(n\\,${sorted[i]}\\,${sorted[j]})`);
    i = j + 1;
  }
  while (terms.length > 16) {
    const grouped: string[] = [];
    for (let i = 0; i < terms.length; i += 16) grouped.push(`(${terms.slice(i, i + 16).join('+')})`);
    terms = grouped;
  }
  return terms.join('+');
}

/**
 * Decodes the frames at `indices` (0-based decode order, as ffmpeg's select filter counts them) to RGB24,
 * streaming ffmpeg's stdout once. Frames come in ascending index order, de-duplicated; at most one frame
 * is buffered here (plus the pipe). Breaking out of the loop, an abort or an error kills ffmpeg.
 * Throws BadInputError('CorruptImage') when the video ends before a requested frame.
 */
export async function* readFrames(
  file: string,
  indices: readonly number[],
  opts: ReadFramesOptions = {},
): AsyncGenerator<VideoFrame, void, undefined> {
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0)
      throw new RangeError(`readFrames: frame index ${i} is not a non-negative integer`);
  }
  let wanted = [...new Set(indices)].sort((a, b) => a - b);
  if (opts.maxFrames !== undefined) wanted = wanted.slice(0, Math.max(0, opts.maxFrames));
  if (wanted.length === 0) return;
  const { signal } = opts;
  signal?.throwIfAborted();
  let width = opts.width ?? 0;
  let height = opts.height ?? 0;
  if (!width || !height) ({ width, height } = await probeVideo(file, { signal }));
  else await checkFile(file);
  const frameBytes = width * height * 3;
  const stallMs = opts.stallTimeoutMs ?? 60_000;

  const expr = selectExpr(wanted);
  const useSelect = expr.length <= (opts.maxSelectExpr ?? 30_000);
  const last = wanted[wanted.length - 1];
  const args = ['-v', 'error', '-nostdin', '-noautorotate', '-i', ffInput(file), '-map', '0:v:0'];
  if (useSelect) args.push('-vf', `select=${expr}`);
  args.push(
    '-fps_mode',
    'passthrough',
    '-frames:v',
    String(useSelect ? wanted.length : last + 1),
    '-an',
    '-sn',
    '-dn',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  );

  let outCount = 0; // frames ffmpeg has written
  let emitted = 0; // frames yielded
  const wantedSet = useSelect ? null : new Set(wanted);
  for await (const rgb of ffmpegRawFrames(args, file, frameBytes, { signal, stallMs })) {
    const index = useSelect ? wanted[outCount] : outCount;
    outCount++;
    if (wantedSet && !wantedSet.has(index)) continue;
    emitted++;
    yield { index, width, height, rgb };
  }
  if (emitted < wanted.length) {
    throw new BadInputError(
      'CorruptImage',
      `video ${file} ended before frame ${wanted[emitted]} (${emitted} of ${wanted.length} requested frames decoded)`,
    );
  }
}

/**
 * Runs ffmpeg with `args` (raw RGB24 frames on stdout) and yields each whole frame as its own buffer, streaming:
 * at most one frame is buffered here (plus the pipe). A stall, an abort, an error or an early exit of the caller
 * kills ffmpeg; how ffmpeg ended becomes a typed error (BadInputError for the video, SetupError for no ffmpeg).
 */
async function* ffmpegRawFrames(
  args: string[],
  file: string,
  frameBytes: number,
  opts: { signal?: AbortSignal; stallMs: number },
): AsyncGenerator<Buffer, void, undefined> {
  const { signal, stallMs } = opts;
  signal?.throwIfAborted(); // the listener below only hears later aborts
  const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c: string) => (stderr = (stderr + c).slice(-STDERR_KEEP)));
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    proc.on('error', (err) => {
      spawnError = err;
      resolve(null);
    });
    proc.on('close', (code) => resolve(code));
  });
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  signal?.addEventListener('abort', kill, { once: true });
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  let cur = Buffer.allocUnsafe(frameBytes);
  let filled = 0;
  const it = proc.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (;;) {
      timer = setTimeout(() => {
        stalled = true;
        kill();
      }, stallMs);
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (err) {
        if (spawnError || stalled || signal?.aborted) break;
        throw new BadInputError('CorruptImage', `reading frames of ${file} failed: ${(err as Error).message}`, err);
      } finally {
        clearTimeout(timer);
      }
      if (r.done) break;
      const chunk = r.value;
      let pos = 0;
      while (pos < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - pos);
        chunk.copy(cur, filled, pos, pos + n);
        filled += n;
        pos += n;
        if (filled < frameBytes) continue;
        filled = 0;
        const frame = cur;
        cur = Buffer.allocUnsafe(frameBytes);
        yield frame;
      }
    }
    const code = await exited;
    if (spawnError) throw ffmpegMissing('ffmpeg', spawnError);
    signal?.throwIfAborted();
    if (stalled)
      throw new BadInputError('CorruptImage', `ffmpeg produced no frames of ${file} for ${stallMs / 1000} s`);
    if (code !== 0) {
      const msg = firstLine(stderr) || `exit code ${code}`;
      if (/Invalid data found|Unknown input format/i.test(stderr))
        throw new BadInputError('UnsupportedMedia', `${file} is not a readable video: ${msg}`);
      throw new BadInputError('CorruptImage', `ffmpeg could not decode ${file}: ${msg}`);
    }
    if (filled !== 0)
      throw new BadInputError(
        'CorruptImage',
        `ffmpeg output for ${file} ended inside a frame (${filled} of ${frameBytes} bytes): the frame size changed mid-stream?`,
      );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', kill);
    kill();
    proc.stdout.destroy();
  }
}

export interface Triplet {
  t: number;
  prev: VideoFrame; // t − offset
  cur: VideoFrame; // t
  next: VideoFrame; // t + offset
}

export interface TripletOptions extends Omit<ReadFramesOptions, 'maxFrames'> {
  /** Default 3. */
  offset?: number;
}

/**
 * For each t (ascending, de-duplicated) yields the frames t − offset, t and t + offset. Every frame is
 * decoded once; only the frames of the pending triplets are held. A frame shared by two triplets is the
 * same Buffer in both: treat frames as read-only.
 */
export async function* frameTriplets(
  file: string,
  ts: readonly number[],
  opts: TripletOptions = {},
): AsyncGenerator<Triplet, void, undefined> {
  const offset = opts.offset ?? 3;
  if (!Number.isInteger(offset) || offset < 0)
    throw new RangeError(`frameTriplets: offset must be a non-negative integer, got ${offset}`);
  const times = [...new Set(ts)].sort((a, b) => a - b);
  for (const t of times) {
    if (!Number.isInteger(t) || t - offset < 0)
      throw new RangeError(`frameTriplets: t = ${t} needs frame ${t - offset}, which does not exist`);
  }
  if (times.length === 0) return;
  const needed = [...new Set(times.flatMap((t) => [t - offset, t, t + offset]))];
  const held = new Map<number, VideoFrame>();
  let p = 0;
  const { offset: _offset, ...readOpts } = opts;
  for await (const f of readFrames(file, needed, readOpts)) {
    held.set(f.index, f);
    while (p < times.length && times[p] + offset <= f.index) {
      const t = times[p++];
      const get = (i: number) => {
        const fr = held.get(i);
        if (!fr) throw new Error(`frameTriplets: frame ${i} missing (bug)`);
        return fr;
      };
      yield { t, prev: get(t - offset), cur: get(t), next: get(t + offset) };
      const low = p < times.length ? times[p] - offset : Infinity;
      for (const i of held.keys()) if (i < low) held.delete(i);
    }
  }
}

export interface SegmentRange {
  /** First frame (0-based decode order). */
  start: number;
  /** One past the last frame. */
  end: number;
  /** Every `stride`-th frame from `start`. */
  stride: number;
}

/** Frame indices of a segment: start, start+stride, … < end. */
export function segmentIndices(r: SegmentRange): number[] {
  const out: number[] = [];
  for (let i = r.start; i < r.end; i += r.stride) out.push(i);
  return out;
}

/**
 * Decodes one segment of a video (frames start, start+stride, … < end) without decoding what comes before
 * it: ffmpeg seeks (input -ss, accurate: it decodes from the previous keyframe and drops frames before the
 * position) to half a frame before `start`, then a select filter keeps every stride-th frame. A long video
 * is then read segment by segment at a cost proportional to the segment, not to its position.
 * Needs a constant frame rate `fps` (probeVideo's); frames come as readFrames yields them, index = start + k·stride.
 */
export async function* readSegment(
  file: string,
  r: SegmentRange,
  video: { fps: number; width: number; height: number },
  opts: { signal?: AbortSignal; stallTimeoutMs?: number } = {},
): AsyncGenerator<VideoFrame, void, undefined> {
  if (!(
    Number.isInteger(r.start) &&
    r.start >= 0 &&
    Number.isInteger(r.end) &&
    r.end >= r.start &&
    Number.isInteger(r.stride) &&
    r.stride >= 1
  )) {
    throw new RangeError(`readSegment: bad range ${JSON.stringify(r)}`);
  }
  const wanted = segmentIndices(r);
  if (wanted.length === 0) return;
  await checkFile(file);
  const { signal } = opts;
  const { width, height } = video;
  const frameBytes = width * height * 3;
  const stallMs = opts.stallTimeoutMs ?? 60_000;
  const args = ['-v', 'error', '-nostdin', '-noautorotate'];
  if (r.start > 0) args.push('-ss', ((r.start - 0.5) / video.fps).toFixed(6));
  args.push('-i', ffInput(file), '-map', '0:v:0');
  if (r.stride > 1) args.push('-vf', `select=not(mod(n\\,${r.stride}))`);
  args.push(
    '-fps_mode',
    'passthrough',
    '-frames:v',
    String(wanted.length),
    '-an',
    '-sn',
    '-dn',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  );
  let k = 0;
  for await (const rgb of ffmpegRawFrames(args, file, frameBytes, { signal, stallMs }))
    yield { index: wanted[k++], width, height, rgb };
}
