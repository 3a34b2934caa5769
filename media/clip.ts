/**
 * Short annotated MP4 clips of alerts: what an operator opens to see an alert happen, a few seconds around it.
 *
 * - encodeClip: RGB24 frames → H.264 MP4 through an ffmpeg child process (frames on its stdin, back-pressured;
 *   the MP4 goes to a temporary file, since +faststart rewrites the file after encoding).
 * - AlertClips: follows a segment's frames in order and cuts one clip per alert: up to `pre` frames before the
 *   first flagged frame, every frame while flagged frames keep coming, and `post` frames after the last one;
 *   flagged frames closer than `post` belong to the same alert (one clip, not one per frame). Each frame in a
 *   clip is drawn with its own boxes. A clip is cut at the segment's end (the frames of the next segment are
 *   decoded by another activity, possibly on another worker).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SetupError, TransientError } from '../core/errors';

export interface RgbFrame {
  rgb: Buffer;
  width: number;
  height: number;
}

/** An ffmpeg encoding MP4 from raw frames written one by one; `finish` returns the MP4 bytes and the frame count. */
export class ClipEncoder {
  private readonly proc;
  private readonly file: string;
  private readonly dir: string;
  private stderr = '';
  private frames = 0;
  private readonly exited: Promise<number | null>;
  private spawnError: Error | undefined;

  constructor(
    readonly width: number,
    readonly height: number,
    fps: number,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-clip-'));
    this.file = path.join(this.dir, 'clip.mp4');
    // yuv420p needs even dimensions: pad by one pixel where needed. veryfast: a clip costs little next to analysis.
    const args = [
      '-nostdin',
      '-v',
      'error',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${width}x${height}`,
      '-r',
      String(fps),
      '-i',
      'pipe:0',
      '-vf',
      'pad=ceil(iw/2)*2:ceil(ih/2)*2',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '26',
      '-pix_fmt',
      'yuv420p',
      '-movflags',
      '+faststart',
      '-y',
      this.file,
    ];
    this.proc = spawn('ffmpeg', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (c: string) => (this.stderr = (this.stderr + c).slice(-2000)));
    this.proc.stdin.on('error', () => {}); // ffmpeg gone: reported by finish()
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.spawnError = err;
        resolve(null);
      });
      this.proc.on('close', (code) => resolve(code));
    });
  }

  /** Writes one frame; resolves when ffmpeg has taken it (so at most a pipe's worth of frames is held). */
  async write(f: RgbFrame): Promise<void> {
    if (f.width !== this.width || f.height !== this.height || f.rgb.length !== f.width * f.height * 3) {
      throw new RangeError(
        `clip frame ${f.width}x${f.height} (${f.rgb.length} bytes) in a ${this.width}x${this.height} clip`,
      );
    }
    this.frames++;
    if (!this.proc.stdin.write(f.rgb)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.proc.stdin.off('drain', done);
          this.proc.off('close', done);
          resolve();
        };
        this.proc.stdin.once('drain', done);
        this.proc.once('close', done);
      });
    }
  }

  async finish(): Promise<{ mp4: Buffer; frames: number }> {
    this.proc.stdin.end();
    const code = await this.exited;
    try {
      if (this.spawnError)
        throw new SetupError(
          'FfmpegUnavailable',
          `ffmpeg could not be started (${this.spawnError.message}); install ffmpeg`,
          this.spawnError,
        );
      if (code !== 0)
        throw new TransientError(
          'ClipEncodeFailed',
          `ffmpeg could not encode the alert clip: ${this.stderr.trim().split('\n')[0] || `exit code ${code}`}`,
        );
      return { mp4: await fs.promises.readFile(this.file), frames: this.frames };
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** Stops without a clip (an error elsewhere). */
  abort(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    void this.exited.then(() => fs.rmSync(this.dir, { recursive: true, force: true }));
  }
}

/** Encodes frames to one MP4. */
export async function encodeClip(
  frames: Iterable<RgbFrame> | AsyncIterable<RgbFrame>,
  fps: number,
): Promise<{ mp4: Buffer; frames: number }> {
  let enc: ClipEncoder | undefined;
  try {
    for await (const f of frames) {
      enc ??= new ClipEncoder(f.width, f.height, fps);
      await enc.write(f);
    }
  } catch (err) {
    enc?.abort();
    throw err;
  }
  if (!enc) throw new RangeError('encodeClip: no frames');
  return enc.finish();
}

export interface ClipFrame<T> extends RgbFrame {
  index: number;
  /** What to draw on the frame (its own boxes), passed to `draw`. */
  marks: T;
}

export interface AlertClipOptions<T> {
  fps: number;
  /** Frames kept before the first flagged frame. */
  pre: number;
  /** Frames after the last flagged frame; a flagged frame within them extends the same alert. */
  post: number;
  /** Draws a frame's marks: RGB24 of the same size. */
  draw: (f: ClipFrame<T>) => Promise<Buffer>;
  /** Where a clip starting at flagged frame `first` will be stored (known before it is written, for the rows). */
  nameFor: (first: number) => string;
  /** Stores a finished clip. */
  save: (name: string, mp4: Buffer, info: { first: number; from: number; to: number; frames: number }) => Promise<void>;
}

/**
 * One clip per alert over a segment's frames, fed in order. `push` returns the clip name the frame's row should
 * carry (for a flagged frame), so rows can be written before the clip is finished. Holds at most `pre` frames.
 */
export class AlertClips<T> {
  private readonly recent: Array<ClipFrame<T>> = [];
  private open:
    { enc: ClipEncoder; name: string; first: number; from: number; to: number; lastFlagged: number } | undefined;
  readonly written: Array<{ name: string; first: number; from: number; to: number; frames: number }> = [];

  constructor(private readonly opts: AlertClipOptions<T>) {}

  async push(f: ClipFrame<T>, flagged: boolean): Promise<string | undefined> {
    const o = this.opts;
    if (this.open) {
      await this.feed(f);
      if (flagged) this.open.lastFlagged = f.index;
      else if (f.index - this.open.lastFlagged >= o.post) await this.close();
      return flagged ? this.open?.name : undefined;
    }
    if (!flagged) {
      if (o.pre > 0) {
        this.recent.push(f);
        if (this.recent.length > o.pre) this.recent.shift();
      }
      return undefined;
    }
    const name = o.nameFor(f.index);
    const from = this.recent[0]?.index ?? f.index;
    this.open = {
      enc: new ClipEncoder(f.width, f.height, o.fps),
      name,
      first: f.index,
      from,
      to: from,
      lastFlagged: f.index,
    };
    try {
      for (const r of this.recent.splice(0)) await this.feed(r);
      await this.feed(f);
    } catch (err) {
      this.abort();
      throw err;
    }
    return name;
  }

  /** Ends the segment: an alert still open is cut here. */
  async end(): Promise<void> {
    this.recent.length = 0;
    if (this.open) await this.close();
  }

  /** Drops an open clip (the segment failed). */
  abort(): void {
    this.open?.enc.abort();
    this.open = undefined;
    this.recent.length = 0;
  }

  private async feed(f: ClipFrame<T>): Promise<void> {
    await this.open!.enc.write({ rgb: await this.opts.draw(f), width: f.width, height: f.height });
    this.open!.to = f.index;
  }

  private async close(): Promise<void> {
    const a = this.open!;
    this.open = undefined;
    const { mp4, frames } = await a.enc.finish();
    const info = { first: a.first, from: a.from, to: a.to, frames };
    await this.opts.save(a.name, mp4, info);
    this.written.push({ name: a.name, ...info });
  }
}
