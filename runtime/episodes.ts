/**
 * Alert episodes from frame scores, as operators count alerts (Frigate's review items: one time span per
 * alert, not one per frame). Pure and streaming: the production path (methods/cctv-attributes/method.ts, frame
 * by frame across video segments, with the state carried as JSON) and the evaluation (bench/, a whole clip at
 * once through `episodesOf`) run this one implementation.
 *
 * Input per frame: `level`, the frame score on the scale of the alert threshold (1 = at the scene model's
 * threshold; the method's smoothed score divided by its threshold), and optionally `peak`, the value that picks
 * the episode's peak frame (default `level`; production passes the unsmoothed score, so the peak frame is one
 * where an object itself was flagged).
 *
 * Rules (hysteresis with persistence):
 *  - an episode **opens** when `level` stays above `high` for `openFrames` consecutive frames; it starts at the
 *    first of those frames and the alert is raised at the last (`openedAt`: the time an operator would see it);
 *  - an open episode **ends** at its last frame with `level` ≥ `low` once `level` drops below `low`
 *    (low ≤ high: a score wavering around the threshold does not split one event into many alerts);
 *  - an episode that ended is **merged** with the next one when that one opens within `mergeGapFrames` frames
 *    of its end; it is final (emitted) only when `mergeGapFrames` frames passed without that, or at the end of
 *    the footage (`finish`).
 */

export interface EpisodeOptions {
  /** Level an episode needs to open (1 = the scene model's threshold). */
  high: number;
  /** Level below which an open episode ends (≤ high). */
  low: number;
  /** Consecutive frames above `high` before the alert is raised (≥ 1). */
  openFrames: number;
  /** Episodes closer than this many frames (end of one to start of the next) are one alert (≥ 0). */
  mergeGapFrames: number;
}

/** The same settings in seconds, as a deployment states them (frames depend on the analysed frame rate). */
export interface EpisodeSettings {
  high: number;
  low: number;
  /** Seconds above `high` before the alert is raised (at least one frame). */
  openS: number;
  /** Episodes closer than this many seconds are one alert. */
  mergeGapS: number;
}

/**
 * Defaults, chosen on the evaluation's tuning splits (bench/eval-cctv-attributes.ts --split validation and
 * --split shift; docs/eval/cctv-attributes/episodes-tuning.md), never on its test split: opening at 0.8 of the
 * frame threshold caught 26 of 30 episodes on shift and 11 of 12 on validation (21 and 9 at 1.0) with no more
 * false alerts; 0.7 added two false alerts on shift; 0.1 s of persistence added one, 0.5 s and more missed
 * episodes; the merge gap (1-6 s) and the closing level (0.6-0.8) changed nothing there.
 */
export const DEFAULT_EPISODE_SETTINGS: EpisodeSettings = { high: 0.8, low: 0.7, openS: 0.3, mergeGapS: 3 };

/** Settings in seconds → options in frames at `fps` analysed frames per second. */
export function episodeOptionsAt(fps: number, st: EpisodeSettings = DEFAULT_EPISODE_SETTINGS): EpisodeOptions {
  if (!(fps > 0)) throw new EpisodeOptionsError(`fps must be positive, got ${fps}`);
  return checkEpisodeOptions({
    high: st.high,
    low: st.low,
    openFrames: Math.max(1, Math.round(st.openS * fps)),
    mergeGapFrames: Math.max(0, Math.round(st.mergeGapS * fps)),
  });
}

export interface EpisodeFrame {
  frame: number;
  timeS: number;
  level: number;
  /** Picks the peak frame (default: level). */
  peak?: number;
}

export interface Episode {
  /** First frame of the run above `high` that opened it. */
  start: number;
  startS: number;
  /** Last frame with level ≥ low (the end of its last merged part). */
  end: number;
  endS: number;
  /** Frame at which the alert was raised (start + openFrames − 1 of the first part). */
  openedAt: number;
  openedS: number;
  /** Frame with the highest `peak` (or level) from its start to its end. */
  peakFrame: number;
  peakS: number;
  peakValue: number;
  /** Highest level in the episode. */
  maxLevel: number;
  /** Parts merged into it (1 = none). */
  parts: number;
}

/** JSON-serialisable state between calls (and between video segments). */
export interface EpisodeState {
  /** Frames of the current run above `high` (not yet open): first frame, its time, best peak so far. */
  run: { count: number; first: EpisodeFrame; best: EpisodeFrame; maxLevel: number } | null;
  /** The open episode, or the one that ended and may still merge. */
  current: Episode | null;
  /** Whether `current` is open (false: ended, waiting out the merge gap). */
  open: boolean;
}

export class EpisodeOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EpisodeOptionsError';
  }
}

export function checkEpisodeOptions(o: EpisodeOptions): EpisodeOptions {
  if (!(Number.isFinite(o.high) && Number.isFinite(o.low) && o.low <= o.high))
    throw new EpisodeOptionsError(`episode levels need low ≤ high, got low ${o.low}, high ${o.high}`);
  if (!(Number.isInteger(o.openFrames) && o.openFrames >= 1))
    throw new EpisodeOptionsError(`openFrames must be a positive integer, got ${o.openFrames}`);
  if (!(Number.isInteger(o.mergeGapFrames) && o.mergeGapFrames >= 0))
    throw new EpisodeOptionsError(`mergeGapFrames must be a non-negative integer, got ${o.mergeGapFrames}`);
  return o;
}

/** What one frame changed. */
export interface EpisodeStep {
  /** An alert was raised at this frame (a new episode, not a merge into an earlier one). */
  opened: Episode | null;
  /** This frame is the new peak of the episode (pending, open or merging) it belongs to. */
  newPeak: boolean;
  /** Whether this frame lies inside an open episode. */
  active: boolean;
  /** Episodes that became final (at most one per frame). */
  closed: Episode[];
}

const peakOf = (f: EpisodeFrame) => f.peak ?? f.level;

export class EpisodeTracker {
  private s: EpisodeState;
  readonly opts: EpisodeOptions;

  constructor(opts: EpisodeOptions, state?: EpisodeState) {
    this.opts = checkEpisodeOptions({ ...opts });
    this.s = state ? (JSON.parse(JSON.stringify(state)) as EpisodeState) : { run: null, current: null, open: false };
  }

  /** The open (or merging) episode, if any (a copy). */
  get current(): Episode | null {
    return this.s.current ? { ...this.s.current } : null;
  }

  /** Whether frames above `high` are pending (not yet enough to open). */
  get pending(): boolean {
    return this.s.run !== null;
  }

  state(): EpisodeState {
    return JSON.parse(JSON.stringify(this.s)) as EpisodeState;
  }

  push(f: EpisodeFrame): EpisodeStep {
    const o = this.opts;
    const s = this.s;
    const step: EpisodeStep = { opened: null, newPeak: false, active: false, closed: [] };
    const cur = s.current;
    if (cur && s.open) {
      if (f.level >= o.low) {
        cur.end = f.frame;
        cur.endS = f.timeS;
        cur.maxLevel = Math.max(cur.maxLevel, f.level);
        if (peakOf(f) > cur.peakValue) {
          cur.peakFrame = f.frame;
          cur.peakS = f.timeS;
          cur.peakValue = peakOf(f);
          step.newPeak = true;
        }
        step.active = true;
        return step;
      }
      s.open = false; // ended at its last frame ≥ low; may still merge
    }
    // The gap runs from the end of the last episode to the start of the run that may reopen it.
    const candidateStart = f.level > o.high ? (s.run?.first.frame ?? f.frame) : f.frame;
    if (s.current && !s.open && candidateStart - s.current.end > o.mergeGapFrames) {
      step.closed.push(s.current);
      s.current = null;
    }
    if (f.level > o.high) {
      if (!s.run) s.run = { count: 0, first: f, best: f, maxLevel: f.level };
      s.run.count++;
      s.run.maxLevel = Math.max(s.run.maxLevel, f.level);
      if (peakOf(f) > peakOf(s.run.best)) s.run.best = f;
      // A pending run's new best is a peak candidate only when it would beat the episode it may merge into.
      step.newPeak = s.run.best === f && (!s.current || peakOf(f) > s.current.peakValue);
      if (s.run.count >= o.openFrames) {
        const { first, best, maxLevel } = s.run;
        s.run = null;
        if (s.current) {
          // Merge into the episode that ended less than the gap ago: no new alert.
          const c = s.current;
          c.end = f.frame;
          c.endS = f.timeS;
          c.parts++;
          c.maxLevel = Math.max(c.maxLevel, maxLevel);
          if (peakOf(best) > c.peakValue)
            Object.assign(c, { peakFrame: best.frame, peakS: best.timeS, peakValue: peakOf(best) });
        } else {
          s.current = {
            start: first.frame,
            startS: first.timeS,
            end: f.frame,
            endS: f.timeS,
            openedAt: f.frame,
            openedS: f.timeS,
            peakFrame: best.frame,
            peakS: best.timeS,
            peakValue: peakOf(best),
            maxLevel,
            parts: 1,
          };
          step.opened = s.current;
        }
        s.open = true;
        step.active = true;
      }
    } else {
      s.run = null;
    }
    return step;
  }

  /** End of the footage: the open or merging episode becomes final. */
  finish(): Episode[] {
    const out = this.s.current ? [this.s.current] : [];
    this.s = { run: null, current: null, open: false };
    return out;
  }
}

/** Every episode of a whole clip (frames in order). */
export function episodesOf(frames: Iterable<EpisodeFrame>, opts: EpisodeOptions): Episode[] {
  const t = new EpisodeTracker(opts);
  const out: Episode[] = [];
  for (const f of frames) out.push(...t.push(f).closed);
  out.push(...t.finish());
  return out;
}
