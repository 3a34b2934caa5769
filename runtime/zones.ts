/**
 * Zones and rules for fixed cameras, as operators set them on NVRs (Frigate's zones with `objects`,
 * `loitering_time` and speed thresholds): polygons drawn on a camera's frame, each with rules, evaluated on the
 * tracks the pipeline already has (runtime/tracker.ts) at each track's **foot point** (bottom centre of its box,
 * where the object touches the ground). Pure: the production path (methods/cctv-attributes/method.ts, frame by
 * frame, state carried from one video segment to the next as JSON), the CLI (`lookout zones`) and the review UI's
 * editor (through ui/server.ts) all validate and evaluate with this one file. docs/cctv-zones.md is the user's page.
 *
 * Coordinates are **normalised** to the frame: x and y in 0..1 from the top-left corner (x = column / width,
 * y = row / height), as Frigate's relative coordinates are: one zone file serves the camera at any resolution
 * (a re-encoded or down-scaled recording of the same view).
 *
 * Rules (each may name `classes`, the detector labels it applies to; all classes when omitted):
 *  - `no-entry`:    an object of one of `classes` (required) has its foot point in the zone;
 *  - `loitering`:   an object has been in the zone for at least `seconds` (time since it entered; leaving for
 *                   less than `exitGraceS` does not restart the count, as detections flicker at the edge);
 *  - `direction`:   an object in the zone moves against the allowed heading: `angle` in degrees on the picture
 *                   (0 = up, 90 = right, 180 = down, 270 = left; clockwise, like a compass with north at the top),
 *                   ± `tolerance` degrees; only while it moves at least `minSpeed` box heights per second (a
 *                   person standing still has no direction; default 0.3: walking is about one height per second);
 *  - `speed-limit`: an object in the zone moves faster than `max` in `unit` px/s (pixels of the analysed frame)
 *                   or m/s (needs the zone's `metresPerPixel`, a calibration measured on the ground plane).
 * Only confirmed tracks are judged (the tracker's minHits: a single false detection never raises a rule alert);
 * speed and direction are the track's velocity (foot point, fitted over its last 10 frames, in px/s).
 *
 * Library choice: point-in-polygon is `@turf/boolean-point-in-polygon` and the self-intersection check
 * `@turf/kinks` (Turf 7, MIT, maintained; the map page already uses `@turf/boolean-intersects` of the same
 * family). The validator is written out here rather than a JSON-Schema library: its messages name the zone and
 * the rule ("zone 'door', rule 2 (loitering): seconds must be a positive number"), which a schema validator's
 * JSON paths do not; the only JSON-Schema validator in the tree (ajv) is a transitive one in two major versions.
 */
import booleanPointInPolygon from '@turf/boolean-point-in-polygon';
import kinks from '@turf/kinks';
import { point, polygon } from '@turf/helpers';
import { LookoutError } from '../core/errors';
import {
  DEFAULT_EPISODE_SETTINGS,
  EpisodeTracker,
  episodeOptionsAt,
  type Episode,
  type EpisodeOptions,
  type EpisodeState,
} from './episodes';

export const RULE_TYPES = ['no-entry', 'loitering', 'direction', 'speed-limit'] as const;
export type RuleType = (typeof RULE_TYPES)[number];

export type Rule =
  | { type: 'no-entry'; classes: string[] }
  | { type: 'loitering'; seconds: number; classes?: string[] }
  | { type: 'direction'; angle: number; tolerance: number; minSpeed?: number; classes?: string[] }
  | { type: 'speed-limit'; max: number; unit: 'px/s' | 'm/s'; classes?: string[] };

export interface Zone {
  /** Shown in reasons ("person #4 in zone 'loading bay' …"); unique in the scene. */
  name: string;
  /** Polygon corners, normalised [x, y] in 0..1, at least 3, not self-intersecting (closed implicitly). */
  points: Array<[number, number]>;
  /** Metres per pixel of the analysed frame on the ground in this zone (speed-limit in m/s needs it). */
  metresPerPixel?: number;
  rules: Rule[];
}

export interface ZonesDoc {
  format: 'lookout-zones';
  version: 1;
  zones: Zone[];
}

/** Limits of a zones file (bounded work per frame: zones × objects point-in-polygon tests). */
export const ZONE_LIMITS = { zones: 32, points: 64, rules: 8, nameLength: 64 };
/** Defaults of the rules' optional settings. */
export const RULE_DEFAULTS = { minSpeed: 0.3, exitGraceS: 1 };

export class ZonesError extends LookoutError {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super('InvalidZones', message, { retryable: false });
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const RULE_KEYS: Record<RuleType, { required: string[]; optional: string[] }> = {
  'no-entry': { required: ['classes'], optional: [] },
  loitering: { required: ['seconds'], optional: ['classes'] },
  direction: { required: ['angle', 'tolerance'], optional: ['minSpeed', 'classes'] },
  'speed-limit': { required: ['max'], optional: ['unit', 'classes'] },
};

/**
 * Checks a zones file (parsed JSON: `{ "zones": [...] }`) and returns it normalised; a ZonesError lists every
 * problem. `classes`: the labels the scene's detector can report (unknown classes are refused); omitted, any.
 */
export function validateZones(input: unknown, opts: { classes?: readonly string[] } = {}): ZonesDoc {
  const problems: string[] = [];
  const bad = (s: string) => problems.push(s);
  if (!isObj(input)) throw new ZonesError('a zones file is a JSON object: { "zones": [ … ] }');
  for (const k of Object.keys(input))
    if (!['zones', 'format', 'version'].includes(k)) bad(`unknown key "${k}" (a zones file has "zones")`);
  if (input.format !== undefined && input.format !== 'lookout-zones') bad(`format must be "lookout-zones"`);
  if (!Array.isArray(input.zones)) throw new ZonesError('"zones" must be an array of zones (it may be empty)');
  if (input.zones.length > ZONE_LIMITS.zones) bad(`at most ${ZONE_LIMITS.zones} zones, got ${input.zones.length}`);
  const known = opts.classes ? new Set(opts.classes) : null;
  const names = new Set<string>();
  const zones: Zone[] = [];
  input.zones.forEach((z: unknown, zi: number) => {
    const name = isObj(z) && typeof z.name === 'string' ? z.name.trim() : '';
    const where = name ? `zone '${name}'` : `zone ${zi + 1}`;
    if (!isObj(z)) return bad(`${where}: a zone is an object with name, points and rules`);
    for (const k of Object.keys(z))
      if (!['name', 'points', 'rules', 'metresPerPixel'].includes(k))
        bad(`${where}: unknown key "${k}" (name, points, rules, metresPerPixel)`);
    if (!name) bad(`${where}: needs a name`);
    else if (name.length > ZONE_LIMITS.nameLength) bad(`${where}: name longer than ${ZONE_LIMITS.nameLength}`);
    else if (names.has(name)) bad(`${where}: two zones have this name`);
    names.add(name);
    let mpp: number | undefined;
    if (z.metresPerPixel !== undefined) {
      if (!num(z.metresPerPixel) || z.metresPerPixel <= 0) bad(`${where}: metresPerPixel must be a positive number`);
      else mpp = z.metresPerPixel;
    }
    const pts = checkPoints(z.points, where, bad);
    const rules: Rule[] = [];
    if (!Array.isArray(z.rules) || z.rules.length === 0)
      bad(`${where}: needs rules (a list of at least one: ${RULE_TYPES.join(', ')})`);
    else if (z.rules.length > ZONE_LIMITS.rules) bad(`${where}: at most ${ZONE_LIMITS.rules} rules`);
    else
      z.rules.forEach((r: unknown, ri: number) => {
        const rule = checkRule(r, `${where}, rule ${ri + 1}`, known, mpp, bad);
        if (rule) rules.push(rule);
      });
    if (pts && name) zones.push({ name, points: pts, ...(mpp !== undefined ? { metresPerPixel: mpp } : {}), rules });
  });
  if (problems.length)
    throw new ZonesError(
      problems.length === 1 ? problems[0] : `${problems.length} problems: ${problems.join('; ')}`,
      problems,
    );
  return { format: 'lookout-zones', version: 1, zones };
}

function checkPoints(v: unknown, where: string, bad: (s: string) => void): Array<[number, number]> | null {
  if (!Array.isArray(v)) return (bad(`${where}: points must be a list of [x, y] pairs`), null);
  const pts: Array<[number, number]> = [];
  for (const [i, p] of v.entries()) {
    if (!Array.isArray(p) || p.length !== 2 || !num(p[0]) || !num(p[1]))
      return (bad(`${where}: point ${i + 1} is not an [x, y] pair of numbers`), null);
    if (p[0] < 0 || p[0] > 1 || p[1] < 0 || p[1] > 1)
      return (
        bad(
          `${where}: point ${i + 1} [${p[0]}, ${p[1]}] is outside the frame (coordinates are normalised: 0..1 of width and height)`,
        ),
        null
      );
    pts.push([p[0], p[1]]);
  }
  // A closing point equal to the first is accepted and dropped (GeoJSON writes rings closed).
  if (pts.length > 1 && pts[0][0] === pts.at(-1)![0] && pts[0][1] === pts.at(-1)![1]) pts.pop();
  if (pts.length < 3) return (bad(`${where}: a zone needs at least 3 points, got ${pts.length}`), null);
  if (pts.length > ZONE_LIMITS.points) return (bad(`${where}: at most ${ZONE_LIMITS.points} points`), null);
  for (let i = 0; i < pts.length; i++) {
    const [a, b] = [pts[i], pts[(i + 1) % pts.length]];
    if (a[0] === b[0] && a[1] === b[1]) return (bad(`${where}: point ${i + 1} is repeated`), null);
  }
  const crossings = kinks(polygon([[...pts, pts[0]]])).features;
  if (crossings.length) {
    const [x, y] = crossings[0].geometry.coordinates;
    return (bad(`${where}: the polygon crosses itself (near [${x.toFixed(3)}, ${y.toFixed(3)}])`), null);
  }
  if (Math.abs(ringArea(pts)) < 1e-6) return (bad(`${where}: the points enclose no area (they lie on one line)`), null);
  return pts;
}

function checkRule(
  r: unknown,
  where: string,
  known: Set<string> | null,
  mpp: number | undefined,
  bad: (s: string) => void,
): Rule | null {
  if (!isObj(r)) return (bad(`${where}: a rule is an object with a "type"`), null);
  const type = r.type as RuleType;
  if (!RULE_TYPES.includes(type))
    return (bad(`${where}: unknown rule type ${JSON.stringify(r.type)} (one of ${RULE_TYPES.join(', ')})`), null);
  const w = `${where} (${type})`;
  const keys = RULE_KEYS[type];
  let ok = true;
  const fail = (s: string) => ((ok = false), bad(`${w}: ${s}`));
  for (const k of Object.keys(r))
    if (k !== 'type' && !keys.required.includes(k) && !keys.optional.includes(k))
      fail(`unknown setting "${k}" (${[...keys.required, ...keys.optional].join(', ')})`);
  for (const k of keys.required) if (r[k] === undefined) fail(`needs "${k}"`);
  let classes: string[] | undefined;
  if (r.classes !== undefined) {
    if (!Array.isArray(r.classes) || r.classes.length === 0 || !r.classes.every((c) => typeof c === 'string'))
      fail('classes must be a non-empty list of class names, e.g. ["person"]');
    else {
      classes = [...new Set(r.classes as string[])];
      const unknown = known ? classes.filter((c) => !known.has(c)) : [];
      if (unknown.length)
        fail(
          `unknown class ${unknown.map((c) => JSON.stringify(c)).join(', ')} (the detector knows e.g. person, bicycle, car)`,
        );
    }
  }
  const cls = classes ? { classes } : {};
  switch (type) {
    case 'no-entry':
      return ok && classes ? { type, classes } : null;
    case 'loitering':
      if (r.seconds !== undefined && (!num(r.seconds) || r.seconds <= 0)) fail('seconds must be a positive number');
      return ok ? { type, seconds: r.seconds as number, ...cls } : null;
    case 'direction':
      if (r.angle !== undefined && (!num(r.angle) || r.angle < 0 || r.angle >= 360))
        fail('angle must be a number of degrees in 0..360 (0 = up, 90 = right)');
      if (r.tolerance !== undefined && (!num(r.tolerance) || r.tolerance <= 0 || r.tolerance >= 180))
        fail('tolerance must be a number of degrees between 0 and 180');
      if (r.minSpeed !== undefined && (!num(r.minSpeed) || r.minSpeed < 0))
        fail('minSpeed must be a non-negative number (box heights per second)');
      return ok
        ? {
            type,
            angle: r.angle as number,
            tolerance: r.tolerance as number,
            ...(r.minSpeed !== undefined ? { minSpeed: r.minSpeed as number } : {}),
            ...cls,
          }
        : null;
    case 'speed-limit': {
      const unit = (r.unit ?? 'px/s') as string;
      if (r.max !== undefined && (!num(r.max) || r.max <= 0)) fail('max must be a positive number');
      if (unit !== 'px/s' && unit !== 'm/s') fail(`unit must be "px/s" or "m/s", got ${JSON.stringify(r.unit)}`);
      else if (unit === 'm/s' && mpp === undefined) fail('a limit in m/s needs the zone\'s "metresPerPixel"');
      return ok ? { type, max: r.max as number, unit: unit as 'px/s' | 'm/s', ...cls } : null;
    }
  }
}

/** Shoelace area of a ring (normalised units). */
function ringArea(pts: ReadonlyArray<[number, number]>): number {
  let a = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x1, y1] = pts[i];
    const [x2, y2] = pts[(i + 1) % pts.length];
    a += x1 * y2 - x2 * y1;
  }
  return a / 2;
}

/** Whether a normalised point lies in the zone (on the edge counts as inside). */
export function inZone(zone: Pick<Zone, 'points'>, x: number, y: number): boolean {
  return booleanPointInPolygon(point([x, y]), polygon([[...zone.points, zone.points[0]]]));
}

/** Compass heading on the picture of a velocity in image coordinates (y down): 0 = up, 90 = right, in [0, 360). */
export function headingOf(vx: number, vy: number): number {
  const deg = (Math.atan2(vx, -vy) * 180) / Math.PI;
  return (deg + 360) % 360;
}

/** Smallest angle between two headings, 0..180. */
export function angleBetween(a: number, b: number): number {
  const d = Math.abs((((a - b) % 360) + 360) % 360);
  return d > 180 ? 360 - d : d;
}

const COMPASS = ['up', 'up-right', 'right', 'down-right', 'down', 'down-left', 'left', 'up-left'];
const compassWord = (deg: number) => COMPASS[Math.round(deg / 45) % 8];

/** What the rules see of one object: a tracked detection (ObjectObservation of cctv-attributes has this shape). */
export interface RuleObject {
  label: string;
  /** Pixels: top-left corner, width, height. */
  x: number;
  y: number;
  w: number;
  h: number;
  trackId: number | null;
  confirmed: boolean;
  /** Foot-point velocity in px/s; null when the track is too short. */
  velocity: { vx: number; vy: number } | null;
}

export interface RuleFrame {
  frame: number;
  timeS: number;
  width: number;
  height: number;
  objects: ReadonlyArray<RuleObject>;
}

/** One rule broken by one object in one frame. */
export interface RuleHit {
  /** `<zone index>:<rule index>`: one alert episode per key. */
  key: string;
  zone: string;
  rule: Rule;
  /** Index into the frame's objects. */
  object: number;
  trackId: number;
  label: string;
  /**
   * How badly the rule is broken, larger = worse (the reasons of an episode are ordered by it, and each track keeps
   * its worst): seconds in the zone (loitering), speed in the rule's unit (speed-limit), degrees off the allowed
   * heading (direction: 0..180, not the heading itself, which the text names), 1 (no-entry).
   */
  value: number;
  /** The reason in words: "person #4 in zone 'loading bay' (no entry for person)". */
  text: string;
}

/** JSON state between frames (and video segments): when each track entered each zone. */
export interface ZoneState {
  format: 'lookout-zones-state';
  version: 1;
  /** `<zone index>|<track id>` → entered at (seconds), last seen inside (seconds). */
  inside: Record<string, { sinceS: number; lastInS: number }>;
}

const fmtNum = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** Evaluates a scene's zones frame by frame; frames in order. */
export class ZoneRules {
  private readonly s: ZoneState;

  constructor(
    readonly doc: ZonesDoc,
    state?: ZoneState,
    private readonly exitGraceS = RULE_DEFAULTS.exitGraceS,
  ) {
    if (state && (state.format !== 'lookout-zones-state' || state.version !== 1))
      throw new ZonesError(`not a zones state (format ${JSON.stringify(state.format)})`);
    this.s = state ? structuredClone(state) : { format: 'lookout-zones-state', version: 1, inside: {} };
  }

  state(): ZoneState {
    return structuredClone(this.s);
  }

  /** Rule hits of one frame (at most one per object, zone and rule). */
  evaluate(f: RuleFrame): RuleHit[] {
    const hits: RuleHit[] = [];
    const seen = new Set<string>();
    this.doc.zones.forEach((zone, zi) => {
      f.objects.forEach((o, oi) => {
        if (o.trackId === null || !o.confirmed) return;
        const fx = (o.x + o.w / 2) / f.width;
        const fy = (o.y + o.h) / f.height;
        if (!inZone(zone, fx, fy)) return;
        const key = `${zi}|${o.trackId}`;
        seen.add(key);
        const entry = (this.s.inside[key] ??= { sinceS: f.timeS, lastInS: f.timeS });
        entry.lastInS = f.timeS;
        zone.rules.forEach((rule, ri) => {
          if (rule.classes && !rule.classes.includes(o.label)) return;
          const hit = judge(rule, zone, o, f.timeS - entry.sinceS);
          if (hit)
            hits.push({
              key: `${zi}:${ri}`,
              zone: zone.name,
              rule,
              object: oi,
              trackId: o.trackId!,
              label: o.label,
              ...hit,
            });
        });
      });
    });
    // A track outside a zone (or not detected) for longer than the grace has left it: its time there restarts.
    for (const [key, e] of Object.entries(this.s.inside))
      if (!seen.has(key) && f.timeS - e.lastInS > this.exitGraceS) delete this.s.inside[key];
    return hits;
  }
}

function judge(rule: Rule, zone: Zone, o: RuleObject, inZoneS: number): { value: number; text: string } | null {
  const who = `${o.label} #${o.trackId}`;
  const z = `zone '${zone.name}'`;
  switch (rule.type) {
    case 'no-entry':
      return { value: 1, text: `${who} in ${z} (no entry for ${rule.classes.join(', ')})` };
    case 'loitering':
      return inZoneS >= rule.seconds
        ? {
            value: inZoneS,
            text: `${who} loitering ${Math.floor(inZoneS)} s in ${z} (limit ${fmtNum(rule.seconds)} s)`,
          }
        : null;
    case 'direction': {
      if (!o.velocity) return null;
      const speed = Math.hypot(o.velocity.vx, o.velocity.vy);
      if (speed < (rule.minSpeed ?? RULE_DEFAULTS.minSpeed) * o.h || speed === 0) return null;
      const heading = headingOf(o.velocity.vx, o.velocity.vy);
      const off = angleBetween(heading, rule.angle);
      if (off <= rule.tolerance) return null;
      return {
        value: off,
        text: `${who} moving ${compassWord(heading)} (${Math.round(heading)}°) in ${z} (allowed ${fmtNum(rule.angle)}° ± ${fmtNum(rule.tolerance)}°)`,
      };
    }
    case 'speed-limit': {
      if (!o.velocity) return null;
      const px = Math.hypot(o.velocity.vx, o.velocity.vy);
      const speed = rule.unit === 'm/s' ? px * zone.metresPerPixel! : px;
      return speed > rule.max
        ? {
            value: speed,
            text: `${who} at ${speed.toFixed(1)} ${rule.unit} in ${z} (limit ${fmtNum(rule.max)} ${rule.unit})`,
          }
        : null;
    }
  }
}

/** Short words for a rule, as the alerts page lists it: "no entry for person", "loitering over 20 s". */
export function describeRule(rule: Rule): string {
  switch (rule.type) {
    case 'no-entry':
      return `no entry for ${rule.classes.join(', ')}`;
    case 'loitering':
      return `loitering over ${fmtNum(rule.seconds)} s${rule.classes ? ` (${rule.classes.join(', ')})` : ''}`;
    case 'direction':
      return `direction ${fmtNum(rule.angle)}° ± ${fmtNum(rule.tolerance)}°${rule.classes ? ` (${rule.classes.join(', ')})` : ''}`;
    case 'speed-limit':
      return `speed limit ${fmtNum(rule.max)} ${rule.unit}${rule.classes ? ` (${rule.classes.join(', ')})` : ''}`;
  }
}

/** An alert episode of one rule of one zone, as it is gathered (JSON, carried between segments). */
export interface RuleEpisodeDraft {
  key: string;
  zone: string;
  rule: Rule;
  /** Per track: the reason with the largest value seen (the longest loitering, the highest speed, the heading furthest off). */
  tracks: Record<string, { label: string; value: number; text: string }>;
  /** Frames with a hit. */
  hitFrames: number;
  /** The frame the rule fired (the episode's peak frame), with the boxes that broke it. */
  peak?: { frame: number; objects: Array<{ label: string; x: number; y: number; w: number; h: number; note: string }> };
  /** Set by the caller: the version of the zones file the rule came from, the annotated peak frame and the clip (gs:// URIs). */
  zonesVersion?: number;
  annotated?: string;
  clip?: string;
}

export interface RuleAlertState {
  format: 'lookout-rule-alerts';
  version: 1;
  zones: ZoneState;
  episodes: Record<string, EpisodeState>;
  drafts: Record<string, RuleEpisodeDraft>;
}

export interface RuleStep {
  hits: RuleHit[];
  /** Episodes that opened at this frame (an alert raised; a merge into a recent one is not a new alert). */
  opened: Array<{ key: string; episode: Episode; draft: RuleEpisodeDraft }>;
  /** Episodes that became final: one alert row each. */
  closed: Array<{ episode: Episode; draft: RuleEpisodeDraft }>;
  /** Keys of the rule episodes open at this frame. */
  active: string[];
}

/**
 * Rule hits → alert episodes, with the same runtime/episodes.ts as the learned alerts: an episode of a rule opens
 * at the first frame an object breaks it (the rule itself holds the persistence: the loitering time, the
 * confirmed track), ends when no object breaks it, and merges with the next one within `mergeGapS` (the learned
 * alerts' default, 3 s), so a person stepping in and out of a no-entry zone is one alert, not ten.
 */
export class RuleAlerts {
  private readonly rules: ZoneRules;
  private readonly opts: EpisodeOptions;
  private readonly trackers = new Map<string, EpisodeTracker>();
  private readonly drafts = new Map<string, RuleEpisodeDraft>();

  constructor(
    readonly doc: ZonesDoc,
    o: { fps: number; mergeGapS?: number },
    state?: RuleAlertState,
  ) {
    if (state && (state.format !== 'lookout-rule-alerts' || state.version !== 1))
      throw new ZonesError(`not a rule alert state (format ${JSON.stringify(state.format)})`);
    this.rules = new ZoneRules(doc, state?.zones);
    this.opts = episodeOptionsAt(o.fps, {
      high: 0.5,
      low: 0.5,
      openS: 0,
      mergeGapS: o.mergeGapS ?? DEFAULT_EPISODE_SETTINGS.mergeGapS,
    });
    for (const [k, s] of Object.entries(state?.episodes ?? {})) this.trackers.set(k, new EpisodeTracker(this.opts, s));
    for (const [k, d] of Object.entries(state?.drafts ?? {})) this.drafts.set(k, structuredClone(d));
  }

  /** The draft of an open (or merging) episode, to attach the annotated frame and clip to. */
  draft(key: string): RuleEpisodeDraft | undefined {
    return this.drafts.get(key);
  }

  push(f: RuleFrame): RuleStep {
    const hits = this.rules.evaluate(f);
    const step: RuleStep = { hits, opened: [], closed: [], active: [] };
    const byKey = new Map<string, RuleHit[]>();
    for (const h of hits) byKey.set(h.key, [...(byKey.get(h.key) ?? []), h]);
    for (const key of new Set([...this.trackers.keys(), ...byKey.keys()])) {
      const mine = byKey.get(key) ?? [];
      let t = this.trackers.get(key);
      if (!t) this.trackers.set(key, (t = new EpisodeTracker(this.opts)));
      const s = t.push({ frame: f.frame, timeS: f.timeS, level: mine.length ? 1 : 0, peak: 1 });
      for (const e of s.closed) {
        const d = this.drafts.get(key);
        this.drafts.delete(key);
        if (d) step.closed.push({ episode: e, draft: d });
      }
      if (s.opened) {
        const d: RuleEpisodeDraft = {
          key,
          zone: mine[0].zone,
          rule: mine[0].rule,
          tracks: {},
          hitFrames: 0,
          peak: {
            frame: f.frame,
            objects: mine.map((h) => {
              const o = f.objects[h.object];
              return { label: o.label, x: o.x, y: o.y, w: o.w, h: o.h, note: h.text };
            }),
          },
        };
        this.drafts.set(key, d);
        step.opened.push({ key, episode: s.opened, draft: d });
      }
      const d = this.drafts.get(key);
      if (d && mine.length) {
        d.hitFrames++;
        for (const h of mine) {
          const prev = d.tracks[String(h.trackId)];
          if (!prev || h.value > prev.value)
            d.tracks[String(h.trackId)] = { label: h.label, value: h.value, text: h.text };
        }
      }
      if (s.active) step.active.push(key);
      if (!t.current && !t.pending) this.trackers.delete(key);
    }
    return step;
  }

  /** End of the footage: every open or merging episode becomes final. */
  finish(): Array<{ episode: Episode; draft: RuleEpisodeDraft }> {
    const out: Array<{ episode: Episode; draft: RuleEpisodeDraft }> = [];
    for (const [key, t] of this.trackers)
      for (const e of t.finish()) {
        const d = this.drafts.get(key);
        if (d) out.push({ episode: e, draft: d });
      }
    this.trackers.clear();
    this.drafts.clear();
    return out;
  }

  state(): RuleAlertState {
    return {
      format: 'lookout-rule-alerts',
      version: 1,
      zones: this.rules.state(),
      episodes: Object.fromEntries([...this.trackers].map(([k, t]) => [k, t.state()])),
      drafts: Object.fromEntries([...this.drafts].map(([k, d]) => [k, structuredClone(d)])),
    };
  }
}

/** The reasons of a finished rule episode, one per track, most severe first (never empty: the rule itself). */
export function ruleReasons(d: RuleEpisodeDraft): string[] {
  const r = Object.values(d.tracks)
    .sort((a, b) => b.value - a.value)
    .map((t) => t.text);
  return r.length ? r : [`zone '${d.zone}': ${describeRule(d.rule)}`];
}
