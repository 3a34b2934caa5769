import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  alertsOverChunk,
  chunkKey,
  coreset,
  eligibility,
  normalTimeline,
  refitNormal,
  type FootageChunk,
  type NormalChunk,
  type PendingChunk,
} from '../../methods/cctv-attributes/online';
import { decodeChunks, encodeChunks } from '../../methods/cctv-attributes/method';
import type { FrameObservations } from '../../methods/cctv-attributes';

const frames = (from: number, n: number): FrameObservations[] =>
  Array.from({ length: n }, (_, i) => ({
    frame: from + i,
    timeS: (from + i) / 10,
    width: 384,
    height: 576,
    objects: [],
  }));
const chunk = (over: Partial<FootageChunk>): FootageChunk => ({ id: 'c', endS: 100, alerts: [], ...over });

describe('learning normal as footage flows: the drift guard', () => {
  it('alert-free footage joins once it is old enough; a slow change waits for the minimum age', () => {
    expect(eligibility(chunk({}), 100 + 3600, { minAgeS: 3600 })).toBe('joins');
    expect(eligibility(chunk({}), 100 + 3599, { minAgeS: 3600 })).toBe('too-young');
  });

  it('footage under an alert joins only when every alert over it was dismissed; a confirmed alert never becomes normal', () => {
    const later = 1e6;
    expect(
      eligibility(chunk({ alerts: [{ verdict: 'dismissed' }, { verdict: 'dismissed' }] }), later, { minAgeS: 60 }),
    ).toBe('joins');
    expect(eligibility(chunk({ alerts: [{ verdict: 'dismissed' }, { verdict: null }] }), later, { minAgeS: 60 })).toBe(
      'unjudged-alert',
    );
    expect(
      eligibility(chunk({ alerts: [{ verdict: 'dismissed' }, { verdict: 'confirmed' }] }), later, { minAgeS: 60 }),
    ).toBe('confirmed-alert');
  });

  it('an episode still open keeps its footage out; a confirmed alert wins over everything', () => {
    expect(eligibility(chunk({ alerts: [{ verdict: 'open' }] }), 1e6, { minAgeS: 0 })).toBe('open-episode');
    expect(eligibility(chunk({ alerts: [{ verdict: 'open' }, { verdict: 'confirmed' }] }), 1e6, { minAgeS: 0 })).toBe(
      'confirmed-alert',
    );
  });

  it("finds the alerts over a chunk from its video's alert rows, and open episodes until the video is finished", () => {
    const spans = [
      { start: 10, end: 30, verdict: 'dismissed' as const },
      { start: 150, end: 160, verdict: 'confirmed' as const },
    ];
    // Frames 0-99: the first span overlaps; episode 90 has no row yet (open, while the video is analysed).
    expect(alertsOverChunk({ first: 0, last: 99, episodeStarts: [10, 90] }, { finished: false, spans })).toEqual([
      { verdict: 'dismissed' },
      { verdict: 'open' },
    ]);
    // Finished video: a start without a row was a run that never opened.
    expect(alertsOverChunk({ first: 0, last: 99, episodeStarts: [10, 90] }, { finished: true, spans })).toEqual([
      { verdict: 'dismissed' },
    ]);
    expect(alertsOverChunk({ first: 100, last: 199, episodeStarts: [] }, { finished: true, spans })).toEqual([
      { verdict: 'confirmed' },
    ]);
    expect(alertsOverChunk({ first: 31, last: 149, episodeStarts: [] }, { finished: true, spans })).toEqual([]);
  });
});

describe('learning normal as footage flows: the bounded normal set (coreset)', () => {
  const c = (id: string, endS: number, n: number): NormalChunk => ({ id, endS, frames: frames(endS * 10, n) });

  it('keeps the first fit always and never more than maxFrames joined frames, whatever flows in', () => {
    const first = c('fit', 0, 50);
    const joined = Array.from({ length: 200 }, (_, i) => c(`v/clip#1@${i * 100}`, 100 + i, 10 + (i % 7)));
    for (const max of [0, 25, 100, 1000]) {
      const { kept, dropped } = coreset([first, ...joined], max);
      expect(kept[0]).toBe(first);
      const n = kept.slice(1).reduce((s, k) => s + k.frames.length, 0);
      expect(n).toBeLessThanOrEqual(max);
      expect(kept.length - 1 + dropped.length).toBe(joined.length);
      // Time order after the first fit.
      const ends = kept.slice(1).map((k) => k.endS);
      expect(ends).toEqual([...ends].sort((a, b) => a - b));
    }
  });

  it('is a sample over all of history, not the newest window, and a chunk dropped once never comes back', () => {
    const first = c('fit', 0, 10);
    let set: NormalChunk[] = [first];
    const everDropped = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const { kept, dropped } = coreset([...set, c(`cam/a.avi#1@${i}`, 100 + i, 10)], 200);
      for (const d of dropped) everDropped.add(d);
      for (const k of kept) expect(everDropped.has(k.id)).toBe(false);
      set = kept;
    }
    expect(set.length - 1).toBe(20);
    const ends = set.slice(1).map((k) => k.endS - 100);
    // Kept chunks come from the whole stream (old and new), by their fixed keys.
    expect(Math.min(...ends)).toBeLessThan(100);
    expect(Math.max(...ends)).toBeGreaterThan(200);
    const keys = set.slice(1).map((k) => chunkKey(k.id));
    expect(Math.max(...keys)).toBeLessThan(Math.min(...[...everDropped].map(chunkKey)));
  });

  it('lays chunks out as one timeline: frames increasing, steps kept, tracks made unique per chunk', () => {
    const a: NormalChunk = {
      id: 'fit',
      endS: 0,
      frames: [0, 2, 4].map((fr) => ({
        frame: fr,
        timeS: fr / 10,
        width: 8,
        height: 6,
        objects: [
          {
            label: 'person',
            score: 1,
            x: 0,
            y: 0,
            w: 1,
            h: 1,
            trackId: 3,
            confirmed: true,
            velocity: null,
            dwellS: 0,
            trackAgeS: 0,
          },
        ],
      })),
    };
    const b: NormalChunk = { ...a, id: 'x', endS: 5 };
    const t = normalTimeline([a, b]);
    expect(t.map((f) => f.frame)).toEqual([0, 2, 4, 5, 7, 9]);
    for (let i = 1; i < t.length; i++) expect(t[i].timeS).toBeGreaterThan(t[i - 1].timeS);
    expect(t.map((f) => f.objects[0].trackId)).toEqual([1, 1, 1, 2, 2, 2]);
  });
});

describe('learning normal as footage flows: one refit (refitNormal, what lookout refit runs)', () => {
  // Synthetic scene: people walking right along one band of the frame, one box per frame, a track every 20 frames.
  const walk = (from: number, n: number, y = 300): FrameObservations[] =>
    Array.from({ length: n }, (_, i) => {
      const fr = from + i;
      return {
        frame: fr,
        timeS: fr / 10,
        width: 768,
        height: 576,
        objects: [
          {
            label: 'person',
            score: 0.9,
            x: 50 + (fr % 20) * 30,
            y,
            w: 30,
            h: 80,
            trackId: Math.floor(fr / 20),
            confirmed: true,
            velocity: { vx: 30, vy: 0 },
            dwellS: 0.5,
            trackAgeS: (fr % 20) / 10,
          },
        ],
      };
    });
  const size = { width: 768, height: 576 };
  const first: NormalChunk = { id: 'fit', endS: 0, frames: walk(0, 200) };
  const p = (id: string, endS: number, alerts: PendingChunk['alerts'], fr: FrameObservations[]): PendingChunk => ({
    id,
    endS,
    alerts,
    frames: fr,
  });

  it('joins alert-free and dismissed footage, never confirmed, waits for young or unjudged; bounded; a new model', () => {
    const pending = [
      p('free', 100, [], walk(1000, 50, 200)),
      p('dismissed', 100, [{ verdict: 'dismissed' }], walk(2000, 50, 100)),
      p('confirmed', 100, [{ verdict: 'confirmed' }], walk(3000, 50, 450)),
      p('unjudged', 100, [{ verdict: null }], walk(4000, 50)),
      p('young', 990, [], walk(5000, 50)),
    ];
    const out = refitNormal([first], pending, 1000, { minAgeS: 60, maxFrames: 80 }, size, { seed: 7 });
    expect(out.refused).toEqual(['confirmed']);
    expect(out.waiting).toEqual([
      { id: 'unjudged', why: 'unjudged-alert' },
      { id: 'young', why: 'too-young' },
    ]);
    expect(out.joined.sort()).toEqual(['dismissed', 'free']);
    // Bound: 80 joined frames at most, so one of the two 50-frame chunks is left out by the coreset.
    const ids = out.normal!.map((c) => c.id);
    expect(ids[0]).toBe('fit');
    expect(ids).not.toContain('confirmed');
    expect(out.normal!.slice(1).reduce((s, c) => s + c.frames.length, 0)).toBeLessThanOrEqual(80);
    expect(out.dropped).toHaveLength(1);
    expect(Number.isFinite(out.fitted!.model.threshold)).toBe(true);
    // The new model has seen what joined (the fit counts its objects), the old one had not.
    const counted = (cs: NormalChunk[]) => cs.reduce((s, c) => s + c.frames.length, 0);
    expect(out.fitted!.report.fitObjects).toBe(counted(out.normal!));
  });

  it('nothing may join: no refit', () => {
    const out = refitNormal(
      [first],
      [p('c', 0, [{ verdict: 'confirmed' }], walk(0, 20))],
      1e6,
      { minAgeS: 0, maxFrames: 100 },
      size,
      {},
    );
    expect(out.normal).toBeNull();
    expect(out.fitted).toBeNull();
    expect(out.refused).toEqual(['c']);
  });
});

describe('stored chunks of observations', () => {
  it('round-trip with their headers; a repeated appearance vector is written once and read back shared', () => {
    const v1 = new Float32Array([1, 2, 3]);
    const v2 = new Float32Array([4, 5, 6]);
    const obj = (trackId: number, embedding: Float32Array) => ({
      label: 'person',
      score: 1,
      x: 0,
      y: 0,
      w: 1,
      h: 1,
      trackId,
      confirmed: true,
      velocity: null,
      dwellS: 0,
      trackAgeS: 0,
      embedding,
    });
    const fr = [v1, v1, v2].map((v, i) => ({ frame: i, timeS: i / 10, width: 8, height: 6, objects: [obj(1, v)] }));
    const buf = encodeChunks([
      { header: { id: 'a', endS: 1 }, frames: fr },
      { header: { id: 'b', endS: 2 }, frames: [] },
    ]);
    expect(buf.toString().split('"=').length - 1).toBe(1);
    const back = decodeChunks<{ id: string }>(buf);
    expect(back.map((c) => c.header.id)).toEqual(['a', 'b']);
    expect(back[0].frames.map((f) => [...f.objects[0].embedding!])).toEqual([
      [1, 2, 3],
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(back[1].frames).toEqual([]);
  });
});

describe('bench/online-normal.ts', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'bench', 'online-normal.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  it('prints its usage with --help (exit 0) and refuses a missing dump or unknown option (exit 2)', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--obs OBS.v8/);
    expect(run().status).toBe(2);
    expect(run('--bogus').status).toBe(2);
  });
});

describe('lookout refit', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const lookout = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'lookout'), 'refit', ...args], { cwd: ROOT, encoding: 'utf8' });
  it('--help exits 0; no scene, a scene with --all, or --rollback without one scene exit 2 with a reason', () => {
    const help = lookout('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--rollback VERSION/);
    for (const [args, why] of [
      [[], /name one SCENE or more, or --all/],
      [['a', '--all'], /--all takes no SCENE/],
      [['--rollback', '1'], /take one SCENE/],
    ] as const) {
      const r = lookout(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(why);
    }
  });
});
