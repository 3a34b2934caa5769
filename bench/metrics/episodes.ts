/**
 * Episode-level metrics of alerting, as operators judge a CCTV system (and tools like Frigate count review
 * items): false alerts per 10 minutes of normal footage, the share of anomaly episodes caught, and the time
 * from an anomaly's start to its alert. Pure functions over frame spans; the alerts themselves come from
 * runtime/episodes.ts (the production code), never from a second implementation here.
 */

/** An alert as runtime/episodes.ts gives it (frames inclusive): when it spans and when it was raised. */
export interface AlertSpan {
  start: number;
  end: number;
  openedAt: number;
}

/** A labelled anomaly episode (frames inclusive). */
export interface AnomalySpan {
  start: number;
  end: number;
}

export interface EpisodeMatch {
  /** Per anomaly: caught (an alert overlaps it) and the seconds from its start to the first overlapping alert's opening (0 when raised before). */
  anomalies: Array<{ caught: boolean; latencyS: number | null }>;
  /** Alerts that overlap no anomaly. */
  falseAlerts: AlertSpan[];
}

const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) =>
  a.start <= b.end && b.start <= a.end;

/** Matches the alerts of one clip to its labelled anomalies (same frame numbering; fps for seconds). */
export function matchEpisodes(
  alerts: ReadonlyArray<AlertSpan>,
  anomalies: ReadonlyArray<AnomalySpan>,
  fps: number,
): EpisodeMatch {
  if (!(fps > 0)) throw new RangeError(`fps must be positive, got ${fps}`);
  return {
    anomalies: anomalies.map((an) => {
      const hits = alerts.filter((al) => overlaps(al, an));
      if (hits.length === 0) return { caught: false, latencyS: null };
      const first = Math.min(...hits.map((h) => h.openedAt));
      return { caught: true, latencyS: Math.max(0, first - an.start) / fps };
    }),
    falseAlerts: alerts.filter((al) => !anomalies.some((an) => overlaps(al, an))),
  };
}

/** False alerts per 10 minutes: `count` alerts on `seconds` of normal footage (NaN without footage). */
export function falseAlertsPer10Min(count: number, seconds: number): number {
  return seconds > 0 ? (600 * count) / seconds : NaN;
}

/** Median (mean of the two middle values for an even count); NaN for none. */
export function median(xs: ReadonlyArray<number>): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface EpisodeSummary {
  anomalyEpisodes: number;
  caught: number;
  caughtShare: number;
  medianTimeToAlertS: number;
  falseAlerts: number;
  normalSeconds: number;
  falseAlertsPer10Min: number;
}

/**
 * The headline figures over several clips: caught share and median time to alert over every anomaly, false
 * alerts per 10 minutes over the normal footage given (`normalSeconds`) and the false alerts found there.
 */
export function summariseEpisodes(
  matches: ReadonlyArray<EpisodeMatch>,
  normal: { falseAlerts: number; seconds: number },
): EpisodeSummary {
  const all = matches.flatMap((m) => m.anomalies);
  const caught = all.filter((a) => a.caught);
  return {
    anomalyEpisodes: all.length,
    caught: caught.length,
    caughtShare: all.length ? caught.length / all.length : NaN,
    medianTimeToAlertS: median(caught.map((a) => a.latencyS!)),
    falseAlerts: normal.falseAlerts,
    normalSeconds: normal.seconds,
    falseAlertsPer10Min: falseAlertsPer10Min(normal.falseAlerts, normal.seconds),
  };
}
