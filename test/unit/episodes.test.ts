import { describe, expect, it } from 'vitest';
import {
  EpisodeOptionsError,
  EpisodeTracker,
  episodeOptionsAt,
  episodesOf,
  type EpisodeFrame,
  type EpisodeOptions,
  type EpisodeState,
} from '../../runtime/episodes';

/** Frames 0.. at 10 fps with the given levels. */
const frames = (levels: number[], peaks?: number[]): EpisodeFrame[] =>
  levels.map((level, i) => ({ frame: i, timeS: i / 10, level, ...(peaks ? { peak: peaks[i] } : {}) }));
const opts = (o: Partial<EpisodeOptions> = {}): EpisodeOptions => ({
  high: 1,
  low: 0.8,
  openFrames: 3,
  mergeGapFrames: 5,
  ...o,
});

describe('episodes (hysteresis, persistence, merging)', () => {
  it('opens only after openFrames consecutive frames above high, starting at the first of them', () => {
    // Two frames above (too short), then four above.
    const eps = episodesOf(frames([0, 1.2, 1.3, 0, 0, 0, 0, 0, 0, 1.1, 1.5, 1.2, 1.1, 0, 0]), opts());
    expect(eps).toHaveLength(1);
    expect(eps[0]).toMatchObject({ start: 9, openedAt: 11, end: 12, peakFrame: 10, peakValue: 1.5, parts: 1 });
    expect(eps[0].openedS).toBeCloseTo(1.1);
  });

  it('stays open between low and high (hysteresis) and ends at the last frame at or above low', () => {
    const eps = episodesOf(frames([1.2, 1.2, 1.2, 0.9, 0.85, 0.95, 0.5, 0, 0, 0, 0, 0]), opts());
    expect(eps).toHaveLength(1);
    expect(eps[0]).toMatchObject({ start: 0, end: 5 });
    // Without hysteresis (low = high) the same scores end the episode at frame 2.
    expect(episodesOf(frames([1.2, 1.2, 1.2, 0.9, 0.85, 0.95, 0.5]), opts({ low: 1 }))[0]).toMatchObject({ end: 2 });
  });

  it('merges episodes closer than the gap into one alert, keeps farther ones apart', () => {
    const lv = [1.2, 1.2, 1.2, 0, 0, 0, 1.3, 1.4, 1.3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.1, 1.1, 1.1, 0];
    const eps = episodesOf(frames(lv), opts({ mergeGapFrames: 5 }));
    expect(eps.map((e) => [e.start, e.end, e.parts, e.openedAt])).toEqual([
      [0, 8, 2, 2],
      [18, 20, 1, 20],
    ]);
    expect(eps[0].peakFrame).toBe(7);
    // Gap 0: three alerts.
    expect(episodesOf(frames(lv), opts({ mergeGapFrames: 0 }))).toHaveLength(3);
  });

  it('picks the peak frame by `peak` when given (the unsmoothed score in production)', () => {
    const eps = episodesOf(frames([1.5, 1.4, 1.3, 1.2], [0.9, 2.5, 1.0, 3.0]), opts());
    expect(eps[0]).toMatchObject({ peakFrame: 3, peakValue: 3, maxLevel: 1.5 });
  });

  it('gives the same episodes frame by frame with the state carried as JSON (video segments) as in one pass', () => {
    const lv = Array.from({ length: 200 }, (_, i) => 1 + 0.6 * Math.sin(i / 5) + 0.2 * Math.cos(i * 1.7));
    const whole = episodesOf(frames(lv), opts());
    expect(whole.length).toBeGreaterThan(3);
    const out = [];
    let state: EpisodeState | undefined;
    for (let s = 0; s < 200; s += 37) {
      const t = new EpisodeTracker(opts(), state ? (JSON.parse(JSON.stringify(state)) as EpisodeState) : undefined);
      for (const f of frames(lv).slice(s, s + 37)) out.push(...t.push(f).closed);
      state = t.state();
    }
    out.push(...new EpisodeTracker(opts(), state).finish());
    expect(out).toEqual(whole);
  });

  it('reports the opening frame once, the frames inside an open episode, and new peaks', () => {
    const t = new EpisodeTracker(opts());
    const steps = frames([1.1, 1.3, 1.2, 1.6, 0.9, 0.2]).map((f) => t.push(f));
    expect(steps.map((s) => !!s.opened)).toEqual([false, false, true, false, false, false]);
    expect(steps.map((s) => s.active)).toEqual([false, false, true, true, true, false]);
    expect(steps.map((s) => s.newPeak)).toEqual([true, true, false, true, false, false]);
    expect(t.finish()).toHaveLength(1);
  });

  it('states settings in seconds, converted at the analysed frame rate', () => {
    expect(episodeOptionsAt(10, { high: 1, low: 0.8, openS: 0.3, mergeGapS: 3 })).toEqual({
      high: 1,
      low: 0.8,
      openFrames: 3,
      mergeGapFrames: 30,
    });
    expect(episodeOptionsAt(25, { high: 1, low: 0.8, openS: 0.3, mergeGapS: 3 })).toEqual({
      high: 1,
      low: 0.8,
      openFrames: 8,
      mergeGapFrames: 75,
    });
    expect(episodeOptionsAt(1, { high: 1, low: 0.8, openS: 0.1, mergeGapS: 0 }).openFrames).toBe(1);
  });

  it('refuses options that cannot work', () => {
    expect(() => new EpisodeTracker(opts({ low: 1.2 }))).toThrow(EpisodeOptionsError);
    expect(() => new EpisodeTracker(opts({ openFrames: 0 }))).toThrow(/openFrames/);
    expect(() => new EpisodeTracker(opts({ mergeGapFrames: -1 }))).toThrow(/mergeGapFrames/);
  });
});
