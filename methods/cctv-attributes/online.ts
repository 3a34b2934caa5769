/**
 * Learning normal as footage flows: which analysed footage may join a scene's normal model, and how much of it
 * is kept. Pure policy (no I/O); method.ts's refitScene runs it in production (stored chunks of observations,
 * verdicts from the review UI, a new scene version per refit) and bench/online-normal.ts measures it.
 *
 * Drift guard:
 *  - footage during an alert joins only when every alert over it was **dismissed** by an operator; an alert an
 *    operator **confirmed** keeps its footage out for good, an alert nobody has judged yet keeps it out for now,
 *    and an episode still open (its alert row not written yet) keeps it out too;
 *  - footage joins only once it is at least `minAgeS` old, so a slow change (a bag left on a bench, a fence put up)
 *    is not absorbed before an operator had the time to see its alert.
 * Bounded memory (a coreset of the normal footage): the first fit's footage is always kept; of the joined chunks,
 * a bottom-k sample by a fixed hash of each chunk's id, up to `maxFrames` frames (see `coreset`). Every attribute's
 * statistics (counts, speed, direction, dwell, size per image cell) come from those frames, so none grows past
 * the bound; the appearance bank is a farthest-point (k-center) coreset of at most 2000 of their vectors on top.
 */
import { fitAttributeModel, type AttributeFitOptions, type AttributeModel, type FitReport } from './model';
import type { FrameObservations } from './observations';

export interface FootageChunk {
  id: string;
  /** When its last frame was filmed or analysed (seconds on any clock shared with `nowS`). */
  endS: number;
  /** Verdicts of the alerts that overlap it: null = not judged; 'open' = the episode has no alert row yet. */
  alerts: Array<{ verdict: 'confirmed' | 'dismissed' | 'open' | null }>;
}

export interface OnlineNormalOptions {
  /** Minimum age before footage may join (seconds). */
  minAgeS: number;
  /** Frames of joined footage kept at most (the first fit's frames come on top). */
  maxFrames: number;
}

export type Eligibility = 'joins' | 'too-young' | 'confirmed-alert' | 'open-episode' | 'unjudged-alert';

/** Whether a chunk of analysed footage may join the normal model now, and if not, why. */
export function eligibility(c: FootageChunk, nowS: number, o: Pick<OnlineNormalOptions, 'minAgeS'>): Eligibility {
  if (c.alerts.some((a) => a.verdict === 'confirmed')) return 'confirmed-alert';
  if (c.alerts.some((a) => a.verdict === 'open')) return 'open-episode';
  if (c.alerts.some((a) => a.verdict !== 'dismissed')) return 'unjudged-alert';
  if (nowS - c.endS < o.minAgeS) return 'too-young';
  return 'joins';
}

/** Whether an eligibility is final (the chunk can be let go of) or may change later (it waits). */
export function isFinal(e: Eligibility): boolean {
  return e === 'joins' || e === 'confirmed-alert';
}

/** An alert episode of a video as the results table holds it: its frames and its newest verdict. */
export interface AlertSpan {
  start: number;
  end: number;
  verdict: 'confirmed' | 'dismissed' | null;
}

/**
 * The alerts over a stored chunk of a video's frames [first, last]: the alert rows whose span overlaps it, and,
 * while the video's analysis has not finished, episodes the chunk saw open or pending (`episodeStarts`) whose row
 * is not there yet ('open'). Once the video is finished, a start without a row was a run that never opened.
 */
export function alertsOverChunk(
  chunk: { first: number; last: number; episodeStarts: number[] },
  video: { finished: boolean; spans: ReadonlyArray<AlertSpan> },
): FootageChunk['alerts'] {
  const over: FootageChunk['alerts'] = video.spans
    .filter((s) => s.start <= chunk.last && s.end >= chunk.first)
    .map((s) => ({ verdict: s.verdict }));
  if (!video.finished)
    for (const st of chunk.episodeStarts) if (!video.spans.some((s) => s.start === st)) over.push({ verdict: 'open' });
  return over;
}

/** A stretch of normal footage in the normal set: the first fit's ('fit') or a joined chunk. */
export interface NormalChunk {
  id: string;
  endS: number;
  frames: FrameObservations[];
}

/** A chunk's fixed priority in the coreset: FNV-1a of its id, in [0, 1). */
export function chunkKey(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

/**
 * The normal set, bounded: the first fit's chunk (id 'fit') always, then joined chunks by ascending chunkKey
 * while they fit in `maxFrames` frames (a bottom-k sample: uniform over all the footage that ever joined, so a
 * scene keeps some of last month's normal as well as today's; deterministic, and a chunk dropped once never comes
 * back). Returns the kept chunks in time order and the ids left out.
 */
export function coreset(
  chunks: ReadonlyArray<NormalChunk>,
  maxFrames: number,
): { kept: NormalChunk[]; dropped: string[] } {
  const first = chunks.filter((c) => c.id === 'fit');
  const rest = chunks
    .filter((c) => c.id !== 'fit')
    .sort((a, b) => chunkKey(a.id) - chunkKey(b.id) || (a.id < b.id ? -1 : 1));
  const kept: NormalChunk[] = [];
  const dropped: string[] = [];
  let n = 0;
  for (const c of rest) {
    if (n + c.frames.length > maxFrames) {
      dropped.push(c.id);
      continue;
    }
    kept.push(c);
    n += c.frames.length;
  }
  kept.sort((a, b) => a.endS - b.endS || (a.id < b.id ? -1 : 1));
  return { kept: [...first, ...kept], dropped };
}

/**
 * The normal set as one timeline the fit can read: chunks back to back in the given order, frames renumbered so
 * they increase (keeping each chunk's own frame and time steps), track ids made unique per chunk (two videos'
 * track #3 are two people). The fit sorts by frame, cuts its calibration blocks by time and counts tracks.
 */
export function normalTimeline(chunks: ReadonlyArray<NormalChunk>): FrameObservations[] {
  const out: FrameObservations[] = [];
  let frame = -1;
  let timeS = 0;
  let nextTrack = 1;
  for (const c of chunks) {
    const tracks = new Map<number, number>();
    let prev: FrameObservations | undefined;
    for (const f of c.frames) {
      const df = prev && f.frame > prev.frame ? f.frame - prev.frame : 1;
      const dt = prev && f.timeS > prev.timeS ? f.timeS - prev.timeS : prev ? 0.1 : 0;
      frame += df;
      timeS += dt;
      prev = f;
      out.push({
        ...f,
        frame,
        timeS,
        objects: f.objects.map((o) => {
          if (o.trackId === null) return o;
          let t = tracks.get(o.trackId);
          if (t === undefined) tracks.set(o.trackId, (t = nextTrack++));
          return { ...o, trackId: t };
        }),
      });
    }
    timeS += 0.1;
  }
  return out;
}

/** A stored chunk of analysed footage waiting to join: its frames and the alerts over it. */
export interface PendingChunk extends FootageChunk {
  frames: FrameObservations[];
}

export interface RefitOutcome {
  /** The new normal set (null: nothing joined, no refit). */
  normal: NormalChunk[] | null;
  fitted: { model: AttributeModel; report: FitReport } | null;
  /** Chunk ids that joined this time, and frames of them. */
  joined: string[];
  joinedFrames: number;
  /** Chunk ids that will never join (confirmed alert): their stored observations can go. */
  refused: string[];
  /** Chunk ids left waiting (too young, unjudged or open alert), with why. */
  waiting: Array<{ id: string; why: Eligibility }>;
  /** Frames per reason a chunk did not join this time. */
  notJoined: Partial<Record<Eligibility, number>>;
  /** Joined chunk ids the coreset left out (this time or earlier ones). */
  dropped: string[];
}

/**
 * One refit, the production step (method.ts's refitScene runs it on stored chunks and verdicts; the bench on its
 * looped clip): the pending chunks that may join now join the current normal set, the set is cut to its coreset,
 * and the scene is fitted on it as `lookout fit` fits (fitAttributeModel, the same options). No chunk joins:
 * no refit.
 */
export function refitNormal(
  current: ReadonlyArray<NormalChunk>,
  pending: ReadonlyArray<PendingChunk>,
  nowS: number,
  o: OnlineNormalOptions,
  frameSize: { width: number; height: number },
  fitOptions: AttributeFitOptions,
): RefitOutcome {
  const joinedChunks: NormalChunk[] = [];
  const refused: string[] = [];
  const waiting: RefitOutcome['waiting'] = [];
  const notJoined: RefitOutcome['notJoined'] = {};
  for (const c of pending) {
    const e = eligibility(c, nowS, o);
    if (e === 'joins') joinedChunks.push({ id: c.id, endS: c.endS, frames: c.frames });
    else {
      notJoined[e] = (notJoined[e] ?? 0) + c.frames.length;
      if (e === 'confirmed-alert') refused.push(c.id);
      else waiting.push({ id: c.id, why: e });
    }
  }
  const base = {
    joined: joinedChunks.map((c) => c.id),
    joinedFrames: joinedChunks.reduce((s, c) => s + c.frames.length, 0),
    refused,
    waiting,
    notJoined,
  };
  if (joinedChunks.length === 0) return { ...base, normal: null, fitted: null, dropped: [] };
  const seen = new Set(current.map((c) => c.id));
  const { kept, dropped } = coreset([...current, ...joinedChunks.filter((c) => !seen.has(c.id))], o.maxFrames);
  const fitted = fitAttributeModel(normalTimeline(kept), frameSize, fitOptions);
  return { ...base, normal: kept, fitted, dropped };
}
