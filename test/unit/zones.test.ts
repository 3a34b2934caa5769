/** runtime/zones.ts: the zones file's validation, each rule at its boundaries, state across segments, rule episodes. */
import { describe, expect, it } from 'vitest';
import {
  RuleAlerts,
  ZoneRules,
  ZonesError,
  angleBetween,
  headingOf,
  inZone,
  ruleReasons,
  validateZones,
  type RuleAlertState,
  type RuleFrame,
  type RuleObject,
  type ZonesDoc,
} from '../../runtime/zones';

const CLASSES = ['person', 'bicycle', 'car'];
const W = 1000;
const H = 500;
/** The bottom-right quarter of the frame. */
const QUARTER: Array<[number, number]> = [
  [0.5, 0.5],
  [1, 0.5],
  [1, 1],
  [0.5, 1],
];

function doc(rules: unknown[], extra: Record<string, unknown> = {}): ZonesDoc {
  return validateZones({ zones: [{ name: 'yard', points: QUARTER, rules, ...extra }] }, { classes: CLASSES });
}

/** A confirmed track whose foot point is at (fx, fy) pixels, box 20 × 100. */
function obj(id: number, fx: number, fy: number, o: Partial<RuleObject> = {}): RuleObject {
  return {
    label: 'person',
    x: fx - 10,
    y: fy - 100,
    w: 20,
    h: 100,
    trackId: id,
    confirmed: true,
    velocity: null,
    ...o,
  };
}

const frame = (i: number, objects: RuleObject[], fps = 10): RuleFrame => ({
  frame: i,
  timeS: i / fps,
  width: W,
  height: H,
  objects,
});

function problemsOf(input: unknown): string[] {
  try {
    validateZones(input, { classes: CLASSES });
  } catch (e) {
    expect(e).toBeInstanceOf(ZonesError);
    expect((e as ZonesError).errorClass).toBe('InvalidZones');
    return (e as ZonesError).problems;
  }
  throw new Error('expected a ZonesError');
}

describe('zones file validation', () => {
  it('accepts a valid file and normalises it (closing point dropped, format stamped, names trimmed)', () => {
    const d = validateZones(
      {
        zones: [
          {
            name: ' loading bay ',
            points: [...QUARTER, QUARTER[0]],
            metresPerPixel: 0.02,
            rules: [
              { type: 'no-entry', classes: ['person', 'person'] },
              { type: 'loitering', seconds: 20 },
              { type: 'direction', angle: 90, tolerance: 45 },
              { type: 'speed-limit', max: 2.5, unit: 'm/s', classes: ['bicycle'] },
            ],
          },
        ],
      },
      { classes: CLASSES },
    );
    expect(d.format).toBe('lookout-zones');
    expect(d.zones[0].name).toBe('loading bay');
    expect(d.zones[0].points).toEqual(QUARTER);
    expect(d.zones[0].rules[0]).toEqual({ type: 'no-entry', classes: ['person'] });
    expect(d.zones[0].rules[3]).toEqual({ type: 'speed-limit', max: 2.5, unit: 'm/s', classes: ['bicycle'] });
    // An empty list is valid: a scene without zones.
    expect(validateZones({ zones: [] }).zones).toEqual([]);
    // The stored form validates again unchanged.
    expect(validateZones(JSON.parse(JSON.stringify(d)), { classes: CLASSES })).toEqual(d);
  });

  it('refuses too few points, points outside 0..1, a self-intersecting polygon and one with no area', () => {
    const z = (points: unknown) => ({ zones: [{ name: 'z', points, rules: [{ type: 'loitering', seconds: 5 }] }] });
    expect(
      problemsOf(
        z([
          [0, 0],
          [1, 1],
        ]),
      ),
    ).toEqual(["zone 'z': a zone needs at least 3 points, got 2"]);
    expect(
      problemsOf(
        z([
          [0, 0],
          [640, 0],
          [640, 480],
        ]),
      )[0],
    ).toMatch(/point 2 \[640, 0\] is outside the frame \(coordinates are normalised/);
    // A bow tie: its edges cross in the middle.
    expect(
      problemsOf(
        z([
          [0.1, 0.1],
          [0.9, 0.9],
          [0.9, 0.1],
          [0.1, 0.9],
        ]),
      )[0],
    ).toMatch(/crosses itself \(near \[0\.500, 0\.500\]\)/);
    expect(
      problemsOf(
        z([
          [0.1, 0.1],
          [0.5, 0.5],
          [0.9, 0.9],
        ]),
      )[0],
    ).toMatch(/enclose no area/);
    expect(
      problemsOf(
        z([
          [0.1, 0.1],
          [0.5, 'x'],
          [0.9, 0.9],
        ]),
      )[0],
    ).toMatch(/point 2 is not an \[x, y\] pair/);
  });

  it('refuses unknown rules, unknown classes, missing or bad settings, typos, duplicate names, and lists every problem', () => {
    const p = problemsOf({
      zones: [
        {
          name: 'door',
          points: QUARTER,
          rules: [
            { type: 'no-entry', classes: ['persn'] },
            { type: 'loiter', seconds: 3 },
            { type: 'loitering', second: 3 },
            { type: 'direction', angle: 400, tolerance: 45 },
            { type: 'speed-limit', max: 2, unit: 'm/s' },
            { type: 'no-entry' },
          ],
        },
        { name: 'door', points: QUARTER, rules: [] },
      ],
    });
    expect(p).toEqual([
      `zone 'door', rule 1 (no-entry): unknown class "persn" (the detector knows e.g. person, bicycle, car)`,
      `zone 'door', rule 2: unknown rule type "loiter" (one of no-entry, loitering, direction, speed-limit)`,
      `zone 'door', rule 3 (loitering): unknown setting "second" (seconds, classes)`,
      `zone 'door', rule 3 (loitering): needs "seconds"`,
      `zone 'door', rule 4 (direction): angle must be a number of degrees in 0..360 (0 = up, 90 = right)`,
      `zone 'door', rule 5 (speed-limit): a limit in m/s needs the zone's "metresPerPixel"`,
      `zone 'door', rule 6 (no-entry): needs "classes"`,
      `zone 'door': two zones have this name`,
      `zone 'door': needs rules (a list of at least one: no-entry, loitering, direction, speed-limit)`,
    ]);
    expect(() => validateZones([])).toThrow(/a zones file is a JSON object/);
    expect(() => validateZones({ zone: [] })).toThrow(/"zones" must be an array/);
    expect(problemsOf({ zones: [{ points: QUARTER, rules: [{ type: 'loitering', seconds: 1 }] }] })).toEqual([
      'zone 1: needs a name',
    ]);
    // The message of one error with many problems counts them.
    expect(() => validateZones({ zones: [{ name: 'a', points: [], rules: [] }] })).toThrow(/^2 problems: /);
  });
});

describe('geometry', () => {
  it('point in polygon (edge inside), compass headings on the picture and angles between them', () => {
    const z = { points: QUARTER };
    expect(inZone(z, 0.75, 0.75)).toBe(true);
    expect(inZone(z, 0.5, 0.75)).toBe(true);
    expect(inZone(z, 0.49, 0.75)).toBe(false);
    expect(headingOf(0, -1)).toBe(0);
    expect(headingOf(1, 0)).toBe(90);
    expect(headingOf(0, 1)).toBe(180);
    expect(headingOf(-1, 0)).toBe(270);
    expect(angleBetween(350, 10)).toBe(20);
    expect(angleBetween(90, 270)).toBe(180);
  });
});

describe('rules on tracks, at the foot point', () => {
  it('no-entry: a confirmed person whose feet are in the zone; not a car, not a tentative track, not a head inside with feet outside', () => {
    const r = new ZoneRules(doc([{ type: 'no-entry', classes: ['person'] }]));
    const hits = r.evaluate(
      frame(0, [
        obj(1, 800, 400),
        obj(2, 800, 400, { label: 'car' }),
        obj(3, 800, 400, { confirmed: false }),
        obj(4, 800, 240), // box reaches into the zone (y 140..240 < 250): its feet are outside
        obj(5, 400, 400),
        obj(6, 800, 400, { trackId: null }),
      ]),
    );
    expect(hits.map((h) => [h.trackId, h.text])).toEqual([[1, "person #1 in zone 'yard' (no entry for person)"]]);
    expect(hits[0]).toMatchObject({ key: '0:0', zone: 'yard', object: 0 });
  });

  it('loitering: fires once the time in the zone reaches the limit; a short exit keeps the count, a longer one restarts it', () => {
    const r = new ZoneRules(doc([{ type: 'loitering', seconds: 2 }]));
    const inside = (i: number) => r.evaluate(frame(i, [obj(7, 800, 400)]));
    for (let i = 0; i < 20; i++) expect(inside(i), `frame ${i}`).toEqual([]);
    const [hit] = inside(20); // 2.0 s after entering at frame 0
    expect(hit.value).toBeCloseTo(2, 9);
    expect(hit.text).toBe("person #7 loitering 2 s in zone 'yard' (limit 2 s)");
    // Out of the zone for 1 s (the grace): still counted from frame 0.
    for (let i = 21; i <= 30; i++) expect(r.evaluate(frame(i, [obj(7, 100, 100)]))).toEqual([]);
    expect(inside(31)[0].value).toBeCloseTo(3.1, 9);
    // Out for more than the grace: it left; the count restarts at re-entry.
    for (let i = 32; i <= 43; i++) r.evaluate(frame(i, []));
    expect(inside(44)).toEqual([]);
    expect(r.state().inside['0|7']).toEqual({ sinceS: 4.4, lastInS: 4.4 });
  });

  it('direction: against the allowed heading beyond the tolerance, only while moving', () => {
    // Allowed: up (0°) ± 45°.
    const r = new ZoneRules(doc([{ type: 'direction', angle: 0, tolerance: 45 }]));
    const moving = (vx: number, vy: number) => r.evaluate(frame(0, [obj(1, 800, 400, { velocity: { vx, vy } })]));
    expect(moving(0, -100)).toEqual([]); // up
    expect(moving(100, -100)).toEqual([]); // exactly 45°: inside the tolerance
    const [down] = moving(0, 100);
    expect(down.value).toBe(180);
    expect(down.text).toBe("person #1 moving down (180°) in zone 'yard' (allowed 0° ± 45°)");
    expect(moving(100, -90)).toHaveLength(1); // 48°
    // Slower than 0.3 box heights (100 px) per second: standing, no direction.
    expect(moving(0, 29)).toEqual([]);
    expect(moving(0, 31)).toHaveLength(1);
    expect(r.evaluate(frame(1, [obj(1, 800, 400)]))).toEqual([]); // no velocity yet
  });

  it('speed-limit: above the limit in px/s, or in m/s with the zone calibration', () => {
    const px = new ZoneRules(doc([{ type: 'speed-limit', max: 200 }]));
    const at = (r: ZoneRules, vx: number) => r.evaluate(frame(0, [obj(1, 800, 400, { velocity: { vx, vy: 0 } })]));
    expect(at(px, 200)).toEqual([]);
    expect(at(px, 201)[0].text).toBe("person #1 at 201.0 px/s in zone 'yard' (limit 200 px/s)");
    const ms = new ZoneRules(doc([{ type: 'speed-limit', max: 3, unit: 'm/s' }], { metresPerPixel: 0.02 }));
    expect(at(ms, 150)).toEqual([]); // 3.0 m/s
    expect(at(ms, 160)[0].value).toBeCloseTo(3.2, 9);
  });

  it('classes restrict a rule; a track in two zones is judged in each', () => {
    const d = validateZones(
      {
        zones: [
          { name: 'a', points: QUARTER, rules: [{ type: 'loitering', seconds: 0.1, classes: ['car'] }] },
          {
            name: 'b',
            points: [
              [0, 0],
              [1, 0],
              [1, 1],
            ],
            rules: [{ type: 'no-entry', classes: ['car'] }],
          },
        ],
      },
      { classes: CLASSES },
    );
    const r = new ZoneRules(d);
    r.evaluate(frame(0, [obj(1, 800, 400, { label: 'car' }), obj(2, 800, 400)]));
    const hits = r.evaluate(frame(1, [obj(1, 800, 400, { label: 'car' }), obj(2, 800, 400)]));
    expect(hits.map((h) => `${h.zone}:${h.trackId}`)).toEqual(['a:1', 'b:1']);
  });
});

/** A person walking into the zone at frame 10, staying to frame 29, leaving; back at 33-35; again at 80-84. */
function footage(): RuleFrame[] {
  return Array.from({ length: 100 }, (_, i) => {
    const inZone = (i >= 10 && i < 30) || (i >= 33 && i < 36) || (i >= 80 && i < 85);
    return frame(i, [inZone ? obj(3, 800, 400) : obj(3, 100, 100)]);
  });
}

describe('rule alert episodes', () => {
  const d = () => doc([{ type: 'no-entry', classes: ['person'] }]);
  const run = (a: RuleAlerts, frames: RuleFrame[]) => {
    const out = [];
    for (const f of frames) out.push(...a.push(f).closed);
    return out;
  };

  it('one episode per stay, a short step out merged (gap < 3 s), each with its reason and peak frame', () => {
    const a = new RuleAlerts(d(), { fps: 10 });
    const steps = footage().map((f) => a.push(f));
    expect(steps[10].opened.map((o) => o.key)).toEqual(['0:0']);
    expect(steps[33].opened).toEqual([]); // merged into the first
    expect(steps[12].active).toEqual(['0:0']);
    expect(steps[31].active).toEqual([]);
    const closed = [...steps.flatMap((s) => s.closed), ...a.finish()];
    expect(closed.map((c) => [c.episode.start, c.episode.end, c.episode.parts, c.episode.peakFrame])).toEqual([
      [10, 35, 2, 10],
      [80, 84, 1, 80],
    ]);
    expect(ruleReasons(closed[0].draft)).toEqual(["person #3 in zone 'yard' (no entry for person)"]);
    expect(closed[0].draft).toMatchObject({ zone: 'yard', hitFrames: 23, peak: { frame: 10 } });
    expect(closed[0].draft.peak!.objects[0]).toMatchObject({ label: 'person', x: 790, y: 300, w: 20, h: 100 });
  });

  it('state carried as JSON between segments gives the same episodes as one pass (a loitering track across a boundary too)', () => {
    const frames = footage();
    const whole = run(new RuleAlerts(d(), { fps: 10 }), frames);
    const split: ReturnType<typeof run> = [];
    let state: RuleAlertState | undefined;
    for (let s = 0; s < frames.length; s += 7) {
      const a = new RuleAlerts(d(), { fps: 10 }, state && (JSON.parse(JSON.stringify(state)) as RuleAlertState));
      split.push(...run(a, frames.slice(s, s + 7)));
      state = a.state();
    }
    expect(split).toEqual(whole);
    // Loitering: 2 s needed; the track enters at frame 10 (a segment boundary at frame 15), steps out at 30 for
    // less than the grace and is back at 33: 2.3 s in the zone.
    const loiter = doc([{ type: 'loitering', seconds: 2 }]);
    const a1 = new RuleAlerts(loiter, { fps: 10 });
    for (const f of frames.slice(0, 15)) expect(a1.push(f).opened).toEqual([]);
    const a2 = new RuleAlerts(loiter, { fps: 10 }, JSON.parse(JSON.stringify(a1.state())));
    const opened = frames.slice(15).map((f) => a2.push(f).opened);
    expect(opened.findIndex((o) => o.length > 0) + 15).toBe(33);
  });

  it('direction: reasons ordered by how far off the allowed heading, each track keeping its furthest-off heading', () => {
    // Allowed: right (90°) ± 45°. The severity is the angle off 90°, not the heading's number: 180° (down, 90° off)
    // is less severe than 300° (up-left, 150° off), and 0° (up, 90° off) less than 270° (left, 180° off).
    const a = new RuleAlerts(doc([{ type: 'direction', angle: 90, tolerance: 45 }]), { fps: 10 });
    const v = (deg: number) => ({
      vx: 100 * Math.sin((deg * Math.PI) / 180),
      vy: -100 * Math.cos((deg * Math.PI) / 180),
    });
    const walk = [
      // track 1: 300° then 180°; track 2: 0° then 270°; track 3: 180° only.
      [
        obj(1, 800, 400, { velocity: v(300) }),
        obj(2, 700, 400, { velocity: v(0) }),
        obj(3, 600, 400, { velocity: v(180) }),
      ],
      [
        obj(1, 800, 400, { velocity: v(180) }),
        obj(2, 700, 400, { velocity: v(270) }),
        obj(3, 600, 400, { velocity: v(180) }),
      ],
    ];
    const steps = walk.map((objects, i) => a.push(frame(i, objects)));
    expect(steps[0].hits.map((h) => [h.trackId, Math.round(h.value)])).toEqual([
      [1, 150],
      [2, 90],
      [3, 90],
    ]);
    const [ep] = a.finish();
    expect(ruleReasons(ep.draft)).toEqual([
      "person #2 moving left (270°) in zone 'yard' (allowed 90° ± 45°)",
      "person #1 moving up-left (300°) in zone 'yard' (allowed 90° ± 45°)",
      "person #3 moving down (180°) in zone 'yard' (allowed 90° ± 45°)",
    ]);
  });

  it('refuses a foreign state', () => {
    expect(() => new RuleAlerts(d(), { fps: 10 }, { format: 'x' } as never)).toThrow(/not a rule alert state/);
  });
});
