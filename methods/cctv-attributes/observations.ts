/**
 * What the cctv-attributes method knows about each detected object in a frame: its box, its track, the
 * track's velocity, how long it has stayed in place, and optionally a deep appearance vector. The same
 * observations feed the fit (normal footage) and the scoring (segments to analyse).
 */
import type { TrackPoint } from '../../runtime/tracker';

export interface ObjectObservation {
  label: string;
  /** Detector confidence. */
  score: number;
  /** Pixels: top-left corner, width, height. */
  x: number;
  y: number;
  w: number;
  h: number;
  /** Null when no tracker ran (e.g. single images). */
  trackId: number | null;
  /** Whether the track is confirmed (matched in enough frames); tentative tracks may be clutter. */
  confirmed: boolean;
  /**
   * Velocity of the box's foot point (bottom centre) in pixels per second, a least-squares fit over the
   * track's recent boxes; null while the track is too short for an estimate.
   */
  velocity: { vx: number; vy: number } | null;
  /** Seconds the object has stayed near where it is now (within a radius of ~¾ box height). */
  dwellS: number;
  /** Seconds since its track began. */
  trackAgeS: number;
  /** Appearance vector (e.g. 1280 MobileNetV2 features); absent when no embedder ran. */
  embedding?: Float32Array;
  /** Body keypoints of a person (the optional pose step, runtime/pose.ts); absent when it did not run. */
  pose?: PoseObservation;
}

/**
 * A person's 17 COCO keypoints relative to their box, and how the limbs moved relative to the box. Measured at
 * the pose step's cadence; frames in between carry the track's last measurement (`ageS` says how old).
 */
export interface PoseObservation {
  /** 34 numbers: (x, y) per keypoint in box heights from the box centre (x right, y down), COCO order. */
  layout: number[];
  /** 17 model confidences, 0..1. */
  scores: number[];
  /**
   * 34 numbers: (dx, dy) per keypoint in box heights per second, relative to the box (the body's own movement
   * is removed), from the track's previous pose measurement; null for a track's first measurement.
   */
  motion: number[] | null;
  /** Seconds since the keypoints were measured (0 on a pose-step frame). */
  ageS: number;
}

/** Box-relative layout of frame-pixel keypoints: (x − centre x) / h, (y − centre y) / h per keypoint. */
export function poseLayout(
  box: { x: number; y: number; w: number; h: number },
  keypoints: ReadonlyArray<{ x: number; y: number }>,
): number[] {
  const cx = box.x + box.w / 2;
  const cy = box.y + box.h / 2;
  const h = Math.max(1, box.h);
  return keypoints.flatMap((k) => [(k.x - cx) / h, (k.y - cy) / h]);
}

export interface FrameObservations {
  /** Frame index in the video. */
  frame: number;
  /** Seconds from the start of the video (frame / fps). */
  timeS: number;
  width: number;
  height: number;
  objects: ObjectObservation[];
}

/** Foot point: where the object touches the ground (bottom centre of its box). */
export function footPoint(o: { x: number; y: number; w: number; h: number }): { x: number; y: number } {
  return { x: o.x + o.w / 2, y: o.y + o.h };
}

/**
 * Foot-point velocity in pixels per frame from a track's history: least-squares slope over the points
 * within the last `window` frames. Null with fewer than `minPoints` points or a span under `minPoints - 1`
 * frames (two boxes a frame apart give a velocity dominated by box jitter).
 */
export function trackVelocity(
  history: ReadonlyArray<TrackPoint>,
  window: number,
  minPoints = 3,
): { vx: number; vy: number } | null {
  if (history.length === 0) return null;
  const last = history[history.length - 1].frame;
  const pts = history.filter((p) => p.frame > last - window);
  if (pts.length < minPoints) return null;
  const span = pts[pts.length - 1].frame - pts[0].frame;
  if (span < minPoints - 1) return null;
  let st = 0;
  let sx = 0;
  let sy = 0;
  for (const p of pts) {
    st += p.frame;
    sx += p.x + p.w / 2;
    sy += p.y + p.h;
  }
  const n = pts.length;
  const mt = st / n;
  const mx = sx / n;
  const my = sy / n;
  let stt = 0;
  let stx = 0;
  let sty = 0;
  for (const p of pts) {
    const dt = p.frame - mt;
    stt += dt * dt;
    stx += dt * (p.x + p.w / 2 - mx);
    sty += dt * (p.y + p.h - my);
  }
  if (stt === 0) return null;
  return { vx: stx / stt, vy: sty / stt };
}
