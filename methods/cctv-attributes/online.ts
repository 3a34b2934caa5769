/**
 * Learning normal as footage flows: which analysed footage may join a scene's normal model, and how much of it
 * is kept. Pure policy (no I/O); the refit itself is fitAttributeModel, as for the first fit, and each refit is
 * a new version of the scene model.
 *
 * Drift guard:
 *  - footage during an alert joins only when every alert over it was **dismissed** by an operator; an alert an
 *    operator **confirmed** keeps its footage out for good, and an alert nobody has judged yet keeps it out for now;
 *  - footage joins only once it is at least `minAgeS` old, so a slow change (a bag left on a bench, a fence put up)
 *    is not absorbed before an operator had the time to see its alert;
 * Bounded memory: the first fit's footage is kept, the newest joined footage up to `maxFrames` frames in all
 * (the appearance bank is a farthest-point coreset of at most 2000 vectors on top of that).
 */
import type { FrameObservations } from './observations';

export interface FootageChunk {
  id: string;
  /** When its last frame was filmed (seconds on any clock shared with `nowS`). */
  endS: number;
  /** Verdicts of the alerts that overlap it: null = not judged. */
  alerts: Array<{ verdict: 'confirmed' | 'dismissed' | null }>;
}

export interface OnlineNormalOptions {
  /** Minimum age before footage may join (seconds). */
  minAgeS: number;
  /** Frames of joined footage kept at most (the first fit's frames come on top). */
  maxFrames: number;
}

export type Eligibility = 'joins' | 'too-young' | 'confirmed-alert' | 'unjudged-alert';

/** Whether a chunk of analysed footage may join the normal model now, and if not, why. */
export function eligibility(c: FootageChunk, nowS: number, o: Pick<OnlineNormalOptions, 'minAgeS'>): Eligibility {
  if (c.alerts.some((a) => a.verdict === 'confirmed')) return 'confirmed-alert';
  if (c.alerts.some((a) => a.verdict !== 'dismissed')) return 'unjudged-alert';
  if (nowS - c.endS < o.minAgeS) return 'too-young';
  return 'joins';
}

/**
 * The frames to refit on: the first fit's frames, then the joined chunks' frames, newest first, up to
 * `maxFrames` (whole chunks), returned in time order.
 */
export function normalFrames(
  first: FrameObservations[],
  joined: Array<{ endS: number; frames: FrameObservations[] }>,
  maxFrames: number,
): FrameObservations[] {
  const keep: FrameObservations[][] = [];
  let n = 0;
  for (const c of [...joined].sort((a, b) => b.endS - a.endS)) {
    if (n + c.frames.length > maxFrames) break;
    keep.push(c.frames);
    n += c.frames.length;
  }
  return [...first, ...keep.reverse().flat()];
}
