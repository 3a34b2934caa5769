import { describe, expect, it } from 'vitest';
import { falseAlertsPer10Min, matchEpisodes, median, summariseEpisodes } from '../../bench/metrics/episodes';

describe('episode metrics', () => {
  it('an anomaly is caught by any overlapping alert; time to alert from its start to the first opening', () => {
    const m = matchEpisodes(
      [
        { start: 12, end: 30, openedAt: 14 },
        { start: 50, end: 55, openedAt: 52 },
        { start: 100, end: 120, openedAt: 102 },
      ],
      [
        { start: 10, end: 40 },
        { start: 56, end: 70 },
        { start: 105, end: 110 },
      ],
      10,
    );
    expect(m.anomalies).toEqual([
      { caught: true, latencyS: 0.4 },
      { caught: false, latencyS: null },
      // raised before the labelled start (the object was already odd): no negative latency
      { caught: true, latencyS: 0 },
    ]);
    expect(m.falseAlerts).toEqual([{ start: 50, end: 55, openedAt: 52 }]);
  });

  it('summarises caught share, median time to alert and false alerts per 10 minutes', () => {
    const a = matchEpisodes(
      [{ start: 0, end: 5, openedAt: 2 }],
      [
        { start: 0, end: 9 },
        { start: 20, end: 29 },
      ],
      10,
    );
    const b = matchEpisodes([{ start: 3, end: 9, openedAt: 8 }], [{ start: 0, end: 9 }], 10);
    const s = summariseEpisodes([a, b], { falseAlerts: 3, seconds: 120 });
    expect(s).toMatchObject({ anomalyEpisodes: 3, caught: 2, falseAlerts: 3, normalSeconds: 120 });
    expect(s.caughtShare).toBeCloseTo(2 / 3);
    expect(s.medianTimeToAlertS).toBeCloseTo(0.5);
    expect(s.falseAlertsPer10Min).toBeCloseTo(15);
  });

  it('median and rate edge cases', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(falseAlertsPer10Min(1, 600)).toBe(1);
    expect(falseAlertsPer10Min(0, 0)).toBeNaN();
    expect(() => matchEpisodes([], [], 0)).toThrow(RangeError);
  });
});
