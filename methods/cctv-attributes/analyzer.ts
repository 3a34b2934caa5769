/**
 * SegmentAnalyzer: decoded frames in order -> detections (injected detector) -> tracks -> per-object
 * observations (velocity, dwell, optional appearance vector), with all carried state exportable as JSON so
 * the next segment of the same video, analysed by another activity call, continues the tracks.
 *
 * The same code serves the fit (normal footage) and the scoring (segments to analyse), so the attributes
 * the model was fitted on are computed exactly as the ones it scores.
 */
import type { Box } from '../../core/types';
import type { DecodedImage } from '../../media/image';
import { timeSync } from '../../runtime/steps';
import { Tracker, type TrackedDetection, type TrackerOptions, type TrackerState } from '../../runtime/tracker';
import {
  poseLayout,
  trackVelocity,
  type FrameObservations,
  type ObjectObservation,
  type PoseObservation,
} from './observations';

/** A decoded frame: media/video's VideoFrame has this shape. */
export interface RgbFrame {
  index: number;
  /** Interleaved RGB24, width × height × 3 bytes. */
  rgb: Buffer;
  width: number;
  height: number;
}

/** runtime/detector's OnnxDetector satisfies this. */
export interface FrameDetector {
  detect(img: DecodedImage): Promise<{ boxes: Box[] }>;
}

/** Appearance vectors for boxes of one frame (runtime/embedder's RgbCropEmbedder satisfies this). */
export interface CropEmbedder {
  embedCrops(
    frame: { rgb: Buffer; width: number; height: number },
    boxes: ReadonlyArray<{ x: number; y: number; w: number; h: number }>,
  ): Promise<Float32Array[]>;
}

/** Keypoints of the person in each box (runtime/pose's OnnxPoseEstimator satisfies this). */
export interface PoseEstimator {
  estimate(
    frame: { rgb: Buffer; width: number; height: number },
    boxes: ReadonlyArray<{ x: number; y: number; w: number; h: number }>,
  ): Promise<Array<Array<{ x: number; y: number; score: number }>>>;
}

export interface AnalyzerOptions {
  /** Frames per second of the video (frame indices are converted to seconds with it). */
  fps: number;
  /** Detections below this confidence are dropped (default 0: the detector's own threshold applies). */
  minScore?: number;
  /** At most this many detections per frame, the most confident (default 50). */
  maxObjects?: number;
  /** Velocity from the track's boxes of the last this many frames (default 10). */
  velocityWindow?: number;
  /**
   * Appearance vectors: a track's object is embedded when its frame index is a multiple of this, or when
   * the track has none yet; in between, the track's last vector is reused (default 1: every frame).
   */
  embedEvery?: number;
  /**
   * Pose (with a pose estimator): a person's keypoints are measured when the frame index is a multiple of this,
   * or when the track has none yet; in between the track's last pose is carried (default: embedEvery).
   */
  poseEvery?: number;
  /** Boxes shorter than this (pixels) get no pose: MoveNet on a 30-pixel person is guesswork (default 40). */
  poseMinHeight?: number;
  tracker?: Partial<TrackerOptions>;
}

export interface AnalyzerState {
  format: 'lookout-cctv-segment';
  version: 1;
  tracker: TrackerState;
  /** Last appearance vector per live track (base64 of float32 LE), for embedEvery > 1. */
  embeddings: Record<string, string>;
  /** Last pose measurement per live track (with a pose estimator). */
  poses?: Record<string, { frame: number; layout: number[]; scores: number[]; motion: number[] | null }>;
  lastFrame: number;
}

export class AnalyzerError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.name = 'AnalyzerError';
  }
}

function f32ToB64(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

function b64ToF32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.length / 4);
  Buffer.from(out.buffer).set(b);
  return out;
}

export class SegmentAnalyzer {
  private readonly tracker: Tracker;
  private readonly embeddings = new Map<number, Float32Array>();
  private readonly poses = new Map<number, NonNullable<AnalyzerState['poses']>[string]>();
  private lastFrame: number;
  private readonly fps: number;
  private readonly minScore: number;
  private readonly maxObjects: number;
  private readonly velocityWindow: number;
  private readonly embedEvery: number;
  private readonly poseEvery: number;
  private readonly poseMinHeight: number;

  constructor(
    private readonly deps: { detector: FrameDetector; embedder?: CropEmbedder; pose?: PoseEstimator },
    opts: AnalyzerOptions,
    state?: AnalyzerState,
  ) {
    if (!(opts.fps > 0)) throw new AnalyzerError(`fps must be positive, got ${opts.fps}`);
    this.fps = opts.fps;
    this.minScore = opts.minScore ?? 0;
    this.maxObjects = opts.maxObjects ?? 50;
    this.velocityWindow = opts.velocityWindow ?? 10;
    this.embedEvery = opts.embedEvery ?? 1;
    if (!(Number.isInteger(this.embedEvery) && this.embedEvery >= 1))
      throw new AnalyzerError(`embedEvery must be a positive integer, got ${opts.embedEvery}`);
    this.poseEvery = opts.poseEvery ?? this.embedEvery;
    if (!(Number.isInteger(this.poseEvery) && this.poseEvery >= 1))
      throw new AnalyzerError(`poseEvery must be a positive integer, got ${opts.poseEvery}`);
    this.poseMinHeight = opts.poseMinHeight ?? 40;
    if (state) {
      if (state.format !== 'lookout-cctv-segment' || state.version !== 1)
        throw new AnalyzerError(`not a segment analyzer state (format ${JSON.stringify(state.format)})`);
      this.tracker = new Tracker({}, state.tracker);
      for (const [id, b64] of Object.entries(state.embeddings)) this.embeddings.set(Number(id), b64ToF32(b64));
      for (const [id, p] of Object.entries(state.poses ?? {})) this.poses.set(Number(id), p);
      this.lastFrame = state.lastFrame;
    } else {
      this.tracker = new Tracker(opts.tracker ?? {});
      this.lastFrame = -1;
    }
  }

  /** Everything needed to continue with the next frame, as plain JSON. */
  state(): AnalyzerState {
    const live = new Set(this.tracker.liveTracks().map((t) => t.id));
    const embeddings: Record<string, string> = {};
    for (const [id, v] of this.embeddings) if (live.has(id)) embeddings[String(id)] = f32ToB64(v);
    const poses: NonNullable<AnalyzerState['poses']> = {};
    for (const [id, p] of this.poses) if (live.has(id)) poses[String(id)] = p;
    return {
      format: 'lookout-cctv-segment',
      version: 1,
      tracker: this.tracker.state(),
      embeddings,
      ...(this.poses.size ? { poses } : {}),
      lastFrame: this.lastFrame,
    };
  }

  /** Detects, tracks and describes the objects of one frame; frames must come in increasing index order. */
  async analyzeFrame(frame: RgbFrame): Promise<FrameObservations> {
    this.check(frame, this.lastFrame);
    return this.describe(frame, await this.detect(frame));
  }

  /**
   * The frames' observations, in order, with the next frame read and its detection started while the caller
   * works on the current one (scores, rows): ffmpeg's decoding, sharp's resize and the detector's queue wait then
   * overlap the rest of the frame's work instead of following it. The next detection starts only once the
   * current one is done, so each runs alone as before (a batch of one: the same boxes as frame by frame).
   */
  async *frames(
    frames: Iterable<RgbFrame> | AsyncIterable<RgbFrame>,
  ): AsyncGenerator<{ frame: RgbFrame; observations: FrameObservations }, void, undefined> {
    const it =
      Symbol.asyncIterator in frames
        ? (frames as AsyncIterable<RgbFrame>)[Symbol.asyncIterator]()
        : (async function* () {
            yield* frames as Iterable<RgbFrame>;
          })();
    let last = this.lastFrame;
    type Ahead = { frame: RgbFrame; det: { boxes: Box[] } } | null;
    // Reads the next frame and detects it; a failure surfaces when that frame's turn comes.
    const ahead = async (): Promise<Ahead> => {
      const r = await it.next();
      if (r.done) return null;
      this.check(r.value, last);
      last = r.value.index;
      return { frame: r.value, det: await this.detect(r.value) };
    };
    try {
      let next: Promise<Ahead> = ahead();
      for (;;) {
        const cur = await next;
        if (!cur) return;
        next = ahead();
        next.catch(() => {}); // observed when awaited above; the caller may stop before
        yield { frame: cur.frame, observations: await this.describe(cur.frame, cur.det) };
      }
    } finally {
      await it.return?.();
    }
  }

  private check(frame: RgbFrame, last: number): void {
    if (frame.index <= last)
      throw new AnalyzerError(`frame ${frame.index} is not after frame ${last}: frames must come in order`);
    if (frame.rgb.length !== frame.width * frame.height * 3)
      throw new AnalyzerError(`frame ${frame.index}: ${frame.rgb.length} bytes for ${frame.width}x${frame.height} RGB`);
  }

  private detect(frame: RgbFrame): Promise<{ boxes: Box[] }> {
    return this.deps.detector.detect({ data: frame.rgb, width: frame.width, height: frame.height, format: 'raw' });
  }

  /** Tracking, appearance and observations of a detected frame (in order: the tracker's state moves on). */
  private async describe(frame: RgbFrame, det: { boxes: Box[] }): Promise<FrameObservations> {
    const { boxes, byDet } = timeSync('track', () => {
      const boxes = det.boxes
        .filter((b) => b.score >= this.minScore && b.w > 0 && b.h > 0)
        .sort((a, b) => b.score - a.score)
        .slice(0, this.maxObjects);
      const tracked = this.tracker.update(frame.index, boxes);
      this.lastFrame = frame.index;
      return { boxes, byDet: new Map(tracked.map((t) => [t.detection, t])) };
    });

    // Appearance: embed the boxes that need a fresh vector, in one call (the embedder batches).
    let vectors: Array<Float32Array | undefined> = [];
    if (this.deps.embedder) {
      const need = boxes.map((_, i) => {
        const t = byDet.get(i);
        return !t || frame.index % this.embedEvery === 0 || !this.embeddings.has(t.trackId);
      });
      const fresh = await this.deps.embedder.embedCrops(
        frame,
        boxes.filter((_, i) => need[i]),
      );
      let k = 0;
      vectors = boxes.map((_, i) => {
        const t = byDet.get(i);
        if (need[i]) {
          const v = fresh[k++];
          if (t) this.embeddings.set(t.trackId, v);
          return v;
        }
        return this.embeddings.get(t!.trackId);
      });
      const live = new Set(this.tracker.liveTracks().map((t) => t.id));
      for (const id of [...this.embeddings.keys()]) if (!live.has(id)) this.embeddings.delete(id);
    }

    const poses = this.deps.pose ? await this.posesOf(frame, boxes, byDet) : [];

    const objects: ObjectObservation[] = timeSync('track', () =>
      this.observe(frame.index, boxes, byDet, vectors, poses),
    );
    return { frame: frame.index, timeS: frame.index / this.fps, width: frame.width, height: frame.height, objects };
  }

  private observe(
    index: number,
    boxes: Box[],
    byDet: Map<number, TrackedDetection>,
    vectors: Array<Float32Array | undefined>,
    poses: Array<PoseObservation | undefined>,
  ): ObjectObservation[] {
    return boxes.map((b, i) => {
      const t = byDet.get(i);
      const v = t ? trackVelocity(t.history, this.velocityWindow) : null;
      const o: ObjectObservation = {
        label: b.label,
        score: b.score,
        x: b.x,
        y: b.y,
        w: b.w,
        h: b.h,
        trackId: t ? t.trackId : null,
        confirmed: t ? t.confirmed : false,
        velocity: v ? { vx: v.vx * this.fps, vy: v.vy * this.fps } : null,
        dwellS: t ? (index - t.still.frame) / this.fps : 0,
        trackAgeS: t ? (index - t.firstFrame) / this.fps : 0,
      };
      if (vectors[i]) o.embedding = vectors[i];
      if (poses[i]) o.pose = poses[i];
      return o;
    });
  }

  /**
   * Pose of the people among `boxes`: measured for tracks due at this frame (poseEvery) or without a pose yet,
   * carried from the track's last measurement otherwise. Limb motion = change of the box-relative layout since
   * the track's previous measurement (at most 2 s before), per second.
   */
  private async posesOf(
    frame: RgbFrame,
    boxes: ReadonlyArray<Box>,
    byDet: Map<number, { trackId: number }>,
  ): Promise<Array<PoseObservation | undefined>> {
    const people = boxes.map((b, i) => ({ b, i, t: byDet.get(i) })).filter((x) => x.b.label === 'person');
    const due = people.filter(
      (x) =>
        x.b.h >= this.poseMinHeight && (!x.t || frame.index % this.poseEvery === 0 || !this.poses.has(x.t.trackId)),
    );
    const kps = due.length
      ? await this.deps.pose!.estimate(
          frame,
          due.map((x) => x.b),
        )
      : [];
    const out: Array<PoseObservation | undefined> = new Array(boxes.length);
    due.forEach((x, k) => {
      const layout = poseLayout(x.b, kps[k]);
      const scores = kps[k].map((p) => p.score);
      const prev = x.t ? this.poses.get(x.t.trackId) : undefined;
      const dt = prev ? (frame.index - prev.frame) / this.fps : 0;
      const motion = prev && dt > 0 && dt <= 2 ? layout.map((v, j) => (v - prev.layout[j]) / dt) : null;
      if (x.t) this.poses.set(x.t.trackId, { frame: frame.index, layout, scores, motion });
      out[x.i] = { layout, scores, motion, ageS: 0 };
    });
    for (const x of people) {
      if (out[x.i] || !x.t) continue;
      const p = this.poses.get(x.t.trackId);
      if (p)
        out[x.i] = { layout: p.layout, scores: p.scores, motion: p.motion, ageS: (frame.index - p.frame) / this.fps };
    }
    const live = new Set(this.tracker.liveTracks().map((t) => t.id));
    for (const id of [...this.poses.keys()]) if (!live.has(id)) this.poses.delete(id);
    return out;
  }

  /** Analyses frames in order; returns their observations and the state to carry to the next segment. */
  async analyzeSegment(
    frames: Iterable<RgbFrame> | AsyncIterable<RgbFrame>,
  ): Promise<{ frames: FrameObservations[]; state: AnalyzerState }> {
    const out: FrameObservations[] = [];
    for await (const f of this.frames(frames)) out.push(f.observations);
    return { frames: out, state: this.state() };
  }
}
