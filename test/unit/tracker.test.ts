import { describe, expect, it } from 'vitest';
import { Tracker, TrackerError, type TrackerDetection } from '../../runtime/tracker';

const person = (x: number, y: number, w = 20, h = 50): TrackerDetection => ({
  label: 'person',
  score: 0.9,
  x,
  y,
  w,
  h,
});

/** Runs frames [first, first+1, ...] and returns the track id given to each detection, frame by frame. */
function run(tr: Tracker, frames: TrackerDetection[][], first = 0): number[][] {
  return frames.map((dets, k) => {
    const out = tr.update(first + k, dets);
    const ids = new Array<number>(dets.length);
    for (const o of out) ids[o.detection] = o.trackId;
    return ids;
  });
}

describe('Tracker', () => {
  it('confirms a track after minHits frames and keeps one id for a walking person', () => {
    const tr = new Tracker({ minHits: 3 });
    const outs = Array.from({ length: 6 }, (_, f) => tr.update(f, [person(100 + 4 * f, 200)]));
    expect(new Set(outs.map((o) => o[0].trackId)).size).toBe(1);
    expect(outs.map((o) => o[0].confirmed)).toEqual([false, false, true, true, true, true]);
    expect(outs[5][0].history).toHaveLength(6);
    expect(outs[5][0].firstFrame).toBe(0);
  });

  it('keeps identities of two people whose paths cross', () => {
    const tr = new Tracker();
    // A walks right, B walks left along the same row; they overlap around frame 10.
    const frames = Array.from({ length: 21 }, (_, f) => [person(100 + 5 * f, 200), person(200 - 5 * f, 204)]);
    const ids = run(tr, frames);
    const a = ids[0][0];
    const b = ids[0][1];
    expect(a).not.toBe(b);
    // Before and after the crossing each keeps its id (constant-velocity prediction carries it through).
    expect(ids[20][0]).toBe(a);
    expect(ids[20][1]).toBe(b);
    expect(ids.every((r) => r[0] === a && r[1] === b)).toBe(true);
  });

  it('bridges a short occlusion and starts a new track after a long one', () => {
    const tr = new Tracker({ maxMisses: 5 });
    const path = (f: number) => person(50 + 6 * f, 300);
    const before = run(
      tr,
      Array.from({ length: 8 }, (_, f) => [path(f)]),
    );
    // Hidden for frames 8..11 (4 frames), seen again at 12 where the prediction puts it.
    const after = run(tr, [[path(12)], [path(13)]], 12);
    expect(after[0][0]).toBe(before[0][0]);
    // Hidden for 10 frames (more than maxMisses): the track is dropped and a new one is born.
    const late = run(tr, [[path(24)]], 24);
    expect(late[0][0]).not.toBe(before[0][0]);
  });

  it('follows a fast object through the centre-distance stage where IoU alone would lose it', () => {
    const fast = (f: number) => person(20 + 15 * f, 100, 20, 50); // 0.75 box widths per frame
    const withStage2 = run(
      new Tracker(),
      Array.from({ length: 8 }, (_, f) => [fast(f)]),
    );
    expect(new Set(withStage2.map((r) => r[0])).size).toBe(1);
    const iouOnly = run(
      new Tracker({ maxCentreDistance: 0 }),
      Array.from({ length: 8 }, (_, f) => [fast(f)]),
    );
    expect(new Set(iouOnly.map((r) => r[0])).size).toBeGreaterThan(1);
  });

  it('associates per class group: a car does not continue a person track, car/truck flips do', () => {
    const tr = new Tracker();
    tr.update(0, [person(100, 100)]);
    const o = tr.update(1, [{ label: 'car', score: 0.8, x: 100, y: 100, w: 20, h: 50 }]);
    const p = tr.update(2, [{ label: 'truck', score: 0.8, x: 101, y: 100, w: 20, h: 50 }]);
    expect(o[0].trackId).not.toBe(1);
    expect(p[0].trackId).toBe(o[0].trackId);
  });

  it('dies after maxMisses frames without detections', () => {
    const tr = new Tracker({ maxMisses: 2 });
    tr.update(0, [person(10, 10)]);
    tr.update(1, []);
    tr.update(2, []);
    expect(tr.liveTracks()).toHaveLength(1);
    tr.update(3, []);
    expect(tr.liveTracks()).toHaveLength(0);
  });

  it('records how long an object has stayed in place', () => {
    const tr = new Tracker();
    let last;
    for (let f = 0; f < 30; f++) last = tr.update(f, [person(300 + (f % 2), 200)]); // jitter of 1 px
    expect(last![0].still.frame).toBe(0);
    const walker = new Tracker();
    for (let f = 0; f < 30; f++) last = walker.update(f, [person(300 + 5 * f, 200)]);
    expect(last![0].still.frame).toBeGreaterThan(20);
  });

  it('resumes from a JSON state with results identical to an uninterrupted run', () => {
    // Several people, births, a death, a crossing; split at frame 13.
    const frames: TrackerDetection[][] = Array.from({ length: 30 }, (_, f) => {
      const d = [person(100 + 5 * f, 200), person(260 - 5 * f, 203)];
      if (f >= 5 && f < 18) d.push(person(400, 100 + 2 * f, 15, 40));
      if (f >= 20) d.push({ label: 'car', score: 0.7, x: 50 + 3 * f, y: 400, w: 80, h: 40 });
      return d;
    });
    const whole = new Tracker();
    const ref = frames.map((d, f) => whole.update(f, d));
    const first = new Tracker();
    const a = frames.slice(0, 13).map((d, f) => first.update(f, d));
    const json = JSON.parse(JSON.stringify(first.state()));
    const resumed = new Tracker({}, json);
    const b = frames.slice(13).map((d, k) => resumed.update(13 + k, d));
    expect([...a, ...b]).toEqual(ref);
    expect(resumed.state()).toEqual(whole.state());
  });

  it('rejects frames out of order, invalid boxes and foreign state', () => {
    const tr = new Tracker();
    tr.update(5, []);
    expect(() => tr.update(5, [])).toThrow(TrackerError);
    expect(() => tr.update(6, [person(0, 0, 0, 10)])).toThrow(/invalid box/);
    expect(() => new Tracker({}, { format: 'x' } as never)).toThrow(/not a tracker state/);
    expect(() => new Tracker({ minHits: 0 })).toThrow(/minHits/);
  });
});
