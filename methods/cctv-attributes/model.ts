/**
 * The cctv-attributes scene model: interpretable attributes of each tracked object, each scored by how
 * rare it is in the scene's normal footage *at that place* (after Reiss & Hoshen 2022, "Attribute-based
 * representations for accurate and interpretable video anomaly detection", with per-region statistics as
 * a fixed camera needs them).
 *
 * Attributes ("parts"), each a raw value per object:
 *  - speed:      foot-point speed in box heights per second (perspective-free: a far person covers fewer
 *                pixels but as many body heights), over the 99th percentile of the same class group in
 *                the same region of the image;
 *  - direction:  -log p(direction | region, class group), 8 compass bins, for objects that move;
 *  - location:   -log p(class group | region): what is seen where (a vehicle on a footpath), counts
 *                smoothed over neighbouring regions, plus a fixed term where nothing at all was seen;
 *  - size:       |log(box height / expected height)|, expected from a ground-plane fit of height
 *                against foot row per class group (perspective);
 *  - dwell:      seconds stayed in place over the 99th percentile for the class group in that region
 *                (loitering where people pass);
 *  - appearance: kNN distance of a deep feature vector to a coreset of the normal ones;
 *  - pose, limbs: people only, with the optional pose step: kNN distance of the keypoint layout (normalised to the
 *                box) and of the limb motion (keypoints moving relative to the box) to the normal people's (pose.ts).
 * Regions are cells of a grid over the image; a cell with too few normal observations borrows from its
 * neighbourhood (3×3, then 5×5 cells), then from the whole scene.
 *
 * Calibration uses held-out normal footage (never the fit frames). Speed and dwell are ratios to a
 * reference with a meaningful floor and keep that scale (s = raw / max(1, held-out q99)); the other parts
 * are mapped to s = (raw − median) / (q99 − median) of the held-out objects. Either way s = 1 is about the
 * 99th percentile of unseen normal objects, so parts of different units combine (max by default, or sum as
 * in the paper). Frame score = max over its objects, smoothed with a trailing mean; the threshold is a
 * quantile of the smoothed held-out frame scores. Every part at s ≥ 1 of an object gives a reason a person can read.
 */
import { KnnBank, kmeans, pcaProject, seededRandom } from '../../runtime/knn';
import type { FrameObservations, ObjectObservation } from './observations';
import { footPoint } from './observations';
import {
  fitPoseModel,
  poseModelFromJson,
  poseModelToJson,
  poseReason,
  poseUsable,
  type PoseModel,
  type PoseModelJson,
} from './pose';

export const PARTS = ['speed', 'direction', 'location', 'size', 'dwell', 'appearance', 'pose', 'limbs'] as const;
export type Part = (typeof PARTS)[number];

export const MODEL_FORMAT = 'lookout-cctv-attributes';
export const MODEL_VERSION = 1;
const MAGIC = 'LKAM';

/** COCO labels -> the groups statistics are kept for (detectors flip car/truck/bus on one object). */
export const DEFAULT_CLASS_GROUPS: Record<string, string> = {
  person: 'person',
  car: 'vehicle',
  truck: 'vehicle',
  bus: 'vehicle',
  motorcycle: 'vehicle',
  train: 'vehicle',
  // A van out of its usual context (on the grass) is read as an airplane or a boat by COCO detectors; at a
  // street camera those labels are vehicles (chosen on the validation splits, with the defaults below).
  airplane: 'vehicle',
  boat: 'vehicle',
  bicycle: 'bicycle',
};

export class AttributeModelError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.name = 'AttributeModelError';
  }
}

export interface AttributeFitOptions {
  /** Grid of regions over the image (default 10 × 10). */
  grid?: { cols: number; rows: number };
  /** Observations a region needs before its own statistics are used (default 30). */
  minSamples?: number;
  /** Label -> class group; labels not listed go to "other" (default DEFAULT_CLASS_GROUPS). */
  classGroups?: Record<string, string>;
  /** Objects slower than this (box heights/s) have no direction (default 0.25). */
  minMovingSpeed?: number;
  /**
   * Speed references are at least this (box heights/s; default 1, about a brisk walk), so a walker passing
   * where people mostly stand, or a parked object's jitter, is not "fast".
   */
  minSpeedRef?: number;
  /**
   * Dwell references are at least this many seconds (default 10): a person stopping for a few seconds is
   * ordinary; staying 10 s where people pass is what an operator calls loitering.
   */
  minDwellRefS?: number;
  /**
   * Class groups that where/what (location) and size are scored for (default person, vehicle, bicycle).
   * Objects of other groups — at a street camera mostly detector noise (kites, skis, umbrellas) — would
   * otherwise dominate the calibration tail and mute the parts for the classes that matter.
   */
  placeGroups?: string[];
  appearance?: { coresetSize?: number; k?: number; metric?: 'l2' | 'cosine'; clusters?: number };
  /**
   * How calibrated parts combine into the object score (default 'sum', as in Reiss & Hoshen: one part
   * slightly high is ordinary, several parts high together are not; chosen over 'max' on the validation split).
   */
  combine?: 'max' | 'sum';
  /** Trailing mean over this many analysed frames (default 5; 1 = none). */
  smoothingWindow?: number;
  /** Threshold = this quantile of the smoothed held-out normal frame scores (default 0.97). */
  thresholdQuantile?: number;
  /** Parts used in the score (default all; a part without data is skipped anyway). */
  parts?: Part[];
  /** Held-out normal footage for calibration; default: the last calibrationFraction of the frames (by time). */
  calibration?: FrameObservations[];
  calibrationFraction?: number;
  /**
   * Cross-fitting (used when no `calibration` is given and this is ≥ 2): the frames are cut into this many
   * contiguous blocks by time; each block's objects are scored by a model fitted on the other blocks, and
   * calibration (part normalisers, threshold) uses all of those held-out scores. The model itself is then
   * fitted on all frames. Every frame is calibration footage once, never for a model that saw it, so a
   * short clip gives several times the held-out objects of a single split. Default DEFAULT_CROSS_FIT_FOLDS
   * (5); 0 or 1 = the single time split of `calibrationFraction`.
   */
  crossFitFolds?: number;
  /**
   * Floor under each part's calibration spread (q99 − median of held-out raw values, raw units): a held-out
   * set that happens to be uniform (one crowd walking one way) must not make ordinary variation look
   * extreme. Defaults: DEFAULT_SPREAD_FLOOR.
   */
  spreadFloor?: Partial<Record<Part, number>>;
  /**
   * Persistence: a tracked object's part scores are the median of its last `trackWindow` observed scores
   * (default 1 = none), so one odd box (an occlusion, a pair merged into one box) does not raise an alarm
   * but a van on the grass or a runner, present in consecutive frames, does.
   */
  trackWindow?: number;
  /** Weight of each part in the combined score (default 1 each, direction 1.5: DEFAULT_PART_WEIGHTS; given weights override per part). */
  partWeights?: Partial<Record<Part, number>>;
  /**
   * Largest calibrated score a part may contribute (default none). Capping appearance makes it supporting
   * evidence: a new person who merely looks unlike the people of the normal footage cannot raise an alarm
   * alone, but adds to an odd place, speed or direction.
   */
  partCaps?: Partial<Record<Part, number>>;
  /**
   * Where/what prior: p(group | area) = (own + α · scene share of the group) / (all + α), counts smoothed over
   * the 3×3 neighbourhood; α = this (default 1). A larger α backs a sparsely seen area off towards the
   * scene's class mix, so a person where few objects were seen is mild, a vehicle where the scene shows
   * few vehicles is not.
   */
  locationPrior?: number;
  /**
   * Count only the place groups (person, vehicle, bicycle) in p(group | area) (default false): detector noise
   * of other classes on the grass then no longer makes a person there look "never seen in this area".
   */
  locationPlacedOnly?: boolean;
  /**
   * Allowance per part before it adds to a 'sum' (default DEFAULT_PART_ALLOWANCE, 0.3; 0 = the plain sum): each calibrated part contributes
   * max(0, s − allowance). With 0, five parts each at an ordinary 0.4 add up to as much as one part at 2
   * (running, a vehicle on the grass); with an allowance only evidence beyond the ordinary adds up.
   */
  partAllowance?: number;
  /**
   * How dwell references are counted (default 'tracks'): 'frames' = every observation's time in place, so one
   * person who stays long fills the upper quantiles with their frames; 'tracks' = each track's longest stay
   * per cell once, and a cell counts as a place where objects stay (a parked car, a sign the detector boxes as
   * a person) only where such a stay was seen in that cell itself, not in its neighbours.
   */
  dwellStatistics?: 'frames' | 'tracks';
  /**
   * Where/what also scores "no object of this class group was seen anywhere near here" (the 5×5
   * neighbourhood) with log(minSamples), as for a place where nothing at all was seen (default true): a van
   * on the grass where only a few people ever walked is then as strange as a van where nothing was seen.
   */
  locationGroupUnseen?: boolean;
  /**
   * Class groups that wander (default person): for them where/what keeps only p(group | area), without the
   * "nothing / no such object seen near here" terms — a person taking a path across the grass that nobody
   * took in the normal footage is not what an operator calls an object in the wrong place.
   */
  wanderingGroups?: string[];
  seed?: number;
  createdAt?: Date;
}

interface Ref {
  q50: number;
  q99: number;
  n: number;
  /**
   * Dwell only: objects of this group stayed here for at least half of the normal footage (a parked car),
   * so no stay is too long here — however long the footage the model later scores.
   */
  permanent?: boolean;
  /** Which pooling gave it: the cell, its 3×3 or 5×5 neighbourhood, or the whole scene. */
  level: 'cell' | 'area3' | 'area5' | 'scene';
}

interface DirRef {
  hist: number[];
  n: number;
  level: Ref['level'];
}

interface Calibration {
  median: number;
  q99: number;
  n: number;
}

export interface AttributeModel {
  format: typeof MODEL_FORMAT;
  version: number;
  createdAt: string;
  frameSize: { width: number; height: number };
  grid: { cols: number; rows: number };
  groups: string[];
  classGroups: Record<string, string>;
  options: {
    minSamples: number;
    minMovingSpeed: number;
    minSpeedRef: number;
    minDwellRefS: number;
    combine: 'max' | 'sum';
    smoothingWindow: number;
    thresholdQuantile: number;
    parts: Part[];
    appearanceK: number;
    placeGroups: string[];
    /** Added after version 1 models: absent (older files) = 1, no floors, weight 1. */
    trackWindow?: number;
    spreadFloor?: Partial<Record<Part, number>>;
    partWeights?: Partial<Record<Part, number>>;
    partCaps?: Partial<Record<Part, number>>;
    locationPrior?: number;
    locationPlacedOnly?: boolean;
    partAllowance?: number;
    locationGroupUnseen?: boolean;
    wanderingGroups?: string[];
  };
  /** Normal observations per group per cell (row-major cells). */
  counts: Record<string, number[]>;
  speed: Record<string, Array<Ref | null>>;
  dwell: Record<string, Array<Ref | null>>;
  direction: Record<string, Array<DirRef | null>>;
  /** Box height / frame height ≈ a · (foot row / frame height) + b, per group. */
  perspective: Record<string, { a: number; b: number; n: number } | null>;
  appearance: { bank: KnnBank; groups: string[] } | null;
  /** Normal people's poses (fitted when the observations carry poses, i.e. the pose step ran); absent in older models. */
  pose?: PoseModel | null;
  calibration: Partial<Record<Part, Calibration>>;
  threshold: number;
}

export interface FitReport {
  fitFrames: number;
  calibrationFrames: number;
  fitObjects: number;
  calibrationObjects: number;
  objectsPerGroup: Record<string, number>;
  tracks: number;
  withVelocity: number;
  cellsWithOwnStatistics: Record<string, number>;
  calibration: Partial<Record<Part, Calibration>>;
  threshold: number;
  calibrationFramesFlagged: number;
  /** The pose attribute's normal poses: how many, and the descriptor references (null: no poses observed). */
  pose?: { poses: number; postureBank: number; limbBank: number; refs: PoseModel['refs'] } | null;
  appearance: {
    dim: number;
    sourceVectors: number;
    bankSize: number;
    coverageRadius: number;
    clusters: {
      k: number;
      sizes: number[];
      conditionalEntropyBits: number;
      classEntropyBits: number;
      perCluster: Array<Record<string, number>>;
    };
    embedding2d: {
      points: Array<[number, number]>;
      groups: string[];
      explainedVariance: number[];
      totalVariance: number;
    };
  } | null;
}

export interface Reason {
  attribute: Part;
  /** Calibrated score of the part (1 = the 99th percentile of held-out normal objects). */
  score: number;
  text: string;
}

export interface ScoredObject extends Omit<ObjectObservation, 'embedding'> {
  group: string;
  /** Combined calibrated score; 0 = typical. */
  score: number;
  parts: Partial<Record<Part, number>>;
  reasons: Reason[];
  /** The strongest part as a reason, whether or not the object is flagged (what an alert opened below the object threshold names). */
  strongest?: Reason;
  abnormal: boolean;
}

export interface ScoredFrame {
  frame: number;
  timeS: number;
  /** Max over objects (0 without objects). */
  score: number;
  objects: ScoredObject[];
}

export interface FrameScore {
  frame: number;
  timeS: number;
  raw: number;
  smoothed: number;
  abnormal: boolean;
}

/** Carried between segments: the last raw frame scores for the trailing mean. */
export interface SmootherState {
  recent: number[];
}

// ---------------------------------------------------------------------------------------------
// Small statistics

export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function groupOf(classGroups: Record<string, string>, label: string): string {
  return classGroups[label] ?? 'other';
}

function cellOf(
  model: { grid: { cols: number; rows: number } },
  o: { x: number; y: number; w: number; h: number },
  W: number,
  H: number,
): number {
  const f = footPoint(o);
  const u = Math.min(0.999999, Math.max(0, f.x / W));
  const v = Math.min(0.999999, Math.max(0, f.y / H));
  return Math.floor(v * model.grid.rows) * model.grid.cols + Math.floor(u * model.grid.cols);
}

function neighbourhood(grid: { cols: number; rows: number }, cell: number, r: number): number[] {
  const cx = cell % grid.cols;
  const cy = Math.floor(cell / grid.cols);
  const out: number[] = [];
  for (let y = cy - r; y <= cy + r; y++)
    for (let x = cx - r; x <= cx + r; x++)
      if (x >= 0 && y >= 0 && x < grid.cols && y < grid.rows) out.push(y * grid.cols + x);
  return out;
}

const DIRS = ['right', 'down-right', 'down', 'down-left', 'left', 'up-left', 'up', 'up-right'];

/** Compass bin of an image-plane velocity (y grows downwards): 0 = right, 2 = down (towards the camera). */
function dirBin(vx: number, vy: number): number {
  const a = Math.atan2(vy, vx);
  return ((Math.round(a / (Math.PI / 4)) % 8) + 8) % 8;
}

function speedOf(o: ObjectObservation): number | null {
  if (!o.velocity) return null;
  return Math.hypot(o.velocity.vx, o.velocity.vy) / Math.max(1, o.h);
}

/** Reference statistics per cell with backoff to wider areas and then the scene. */
function refsPerCell(grid: { cols: number; rows: number }, perCell: number[][], minSamples: number): Array<Ref | null> {
  const all = perCell.flat();
  const scene: Ref | null =
    all.length >= minSamples
      ? { q50: quantile(all, 0.5), q99: quantile(all, 0.99), n: all.length, level: 'scene' }
      : null;
  return perCell.map((_, c) => {
    for (const [r, level] of [
      [0, 'cell'],
      [1, 'area3'],
      [2, 'area5'],
    ] as const) {
      const pool = neighbourhood(grid, c, r).flatMap((k) => perCell[k]);
      if (pool.length >= minSamples)
        return { q50: quantile(pool, 0.5), q99: quantile(pool, 0.99), n: pool.length, level };
    }
    return scene;
  });
}

function dirRefsPerCell(
  grid: { cols: number; rows: number },
  perCell: number[][],
  minSamples: number,
): Array<DirRef | null> {
  const hist = (bins: number[]) => {
    const h = new Array<number>(8).fill(0);
    for (const b of bins) h[b]++;
    return h;
  };
  const all = perCell.flat();
  const scene: DirRef | null = all.length >= minSamples ? { hist: hist(all), n: all.length, level: 'scene' } : null;
  return perCell.map((_, c) => {
    for (const [r, level] of [
      [0, 'cell'],
      [1, 'area3'],
      [2, 'area5'],
    ] as const) {
      const pool = neighbourhood(grid, c, r).flatMap((k) => perCell[k]);
      if (pool.length >= minSamples) return { hist: hist(pool), n: pool.length, level };
    }
    return scene;
  });
}

// ---------------------------------------------------------------------------------------------
// Raw attribute values (with what the reasons need to say why)

interface RawPart {
  value: number;
  text: (s: number) => string;
}

const plural = (g: string) => (g === 'person' ? 'people' : g === 'other' ? 'objects of this kind' : `${g}s`);
const where = (level: Ref['level']) => (level === 'scene' ? 'in this scene' : 'in this part of the scene');

function locationWeights(
  model: AttributeModel,
  g: string,
  cell: number,
): { own: number; all: number; perGroup: Record<string, number> } {
  // 3×3 smoothing: centre 1, edge neighbours 0.5, corners 0.25 (sums to 4 inside the grid).
  const { cols } = model.grid;
  const cx = cell % cols;
  const cy = Math.floor(cell / cols);
  const perGroup: Record<string, number> = {};
  let own = 0;
  let all = 0;
  for (const k of neighbourhood(model.grid, cell, 1)) {
    const d = Math.abs((k % cols) - cx) + Math.abs(Math.floor(k / cols) - cy);
    const w = d === 0 ? 1 : d === 1 ? 0.5 : 0.25;
    for (const gg of model.groups) {
      if (model.options.locationPlacedOnly && !model.options.placeGroups.includes(gg)) continue;
      const c = (model.counts[gg]?.[k] ?? 0) * w;
      perGroup[gg] = (perGroup[gg] ?? 0) + c;
      all += c;
      if (gg === g) own += c;
    }
  }
  return { own, all, perGroup };
}

function rawParts(model: AttributeModel, o: ObjectObservation, W: number, H: number): Partial<Record<Part, RawPart>> {
  const out: Partial<Record<Part, RawPart>> = {};
  const g = groupOf(model.classGroups, o.label);
  const cell = cellOf(model, o, W, H);
  const use = new Set(model.options.parts);
  const sn = speedOf(o);

  if (use.has('speed') && sn !== null) {
    const ref = model.speed[g]?.[cell];
    if (ref) {
      const q = Math.max(ref.q99, model.options.minSpeedRef);
      const ratio = sn / q;
      out.speed = {
        value: ratio,
        text: () =>
          `speed ${ratio.toFixed(1)}× the 99th percentile for ${plural(g)} ${where(ref.level)} (${sn.toFixed(2)} vs ${q.toFixed(2)} box heights/s)`,
      };
    }
  }
  if (use.has('direction') && sn !== null && sn >= model.options.minMovingSpeed && o.velocity) {
    const ref = model.direction[g]?.[cell];
    if (ref && ref.n >= model.options.minSamples) {
      const b = dirBin(o.velocity.vx, o.velocity.vy);
      const h = ref.hist;
      const c = h[b] + 0.5 * (h[(b + 7) % 8] + h[(b + 1) % 8]);
      const p = (c + 1) / (2 * ref.n + 8);
      const share = h[b] / ref.n;
      out.direction = {
        value: -Math.log(p),
        text: () =>
          `moving ${DIRS[b]}, against the usual direction ${where(ref.level)}: ${(100 * share).toFixed(share < 0.01 ? 1 : 0)} % of ${ref.n} moving ${plural(g)} seen here went that way`,
      };
    }
  }
  const placed = model.options.placeGroups.includes(g);
  if (use.has('location') && placed) {
    // What is here: p(group | area) from counts smoothed over the 3×3 neighbourhood, with a weak prior (one
    // pseudo-observation spread by the scene's class shares). Where: an area where nothing at all was seen
    // in the normal footage (5×5 neighbourhood) adds log(minSamples). A rarely used but not empty spot adds
    // nothing: people wander, and a density over places would alarm on every unusual step.
    const { own, all, perGroup } = locationWeights(model, g, cell);
    const counted = Object.entries(model.counts).filter(
      ([gg]) => !model.options.locationPlacedOnly || model.options.placeGroups.includes(gg),
    );
    const total = counted.reduce((s, [, a]) => s + a.reduce((x, y) => x + y, 0), 0);
    const nG = model.counts[g]?.reduce((x, y) => x + y, 0) ?? 0;
    const prior = (nG + 0.5) / (total + 0.5 * (counted.length + 1));
    const alpha = model.options.locationPrior ?? 1;
    const pClass = (own + alpha * prior) / (all + alpha);
    const wide = neighbourhood(model.grid, cell, 2).reduce(
      (sum, k) => sum + model.groups.reduce((x, gg) => x + (model.counts[gg]?.[k] ?? 0), 0),
      0,
    );
    const wanders = (model.options.wanderingGroups ?? []).includes(g);
    const empty = wide === 0 && !wanders;
    const groupUnseen =
      wide > 0 &&
      !wanders &&
      !!model.options.locationGroupUnseen &&
      neighbourhood(model.grid, cell, 2).every((k) => (model.counts[g]?.[k] ?? 0) === 0);
    const top = Object.entries(perGroup).sort((a, b) => b[1] - a[1])[0];
    out.location = {
      value: -Math.log(pClass) + (empty || groupUnseen ? Math.log(model.options.minSamples) : 0),
      text: () =>
        empty
          ? `no object was seen in this part of the scene in normal footage (class ${o.label})`
          : groupUnseen
            ? `no ${g === 'other' ? `object of class ${o.label}` : g} was seen anywhere near this part of the scene in normal footage (class ${o.label}; normal footage here: ${top && top[0] !== 'other' ? plural(top[0]) : 'other objects'})`
            : own === 0
              ? `class ${o.label} never seen in this area (normal footage there: ${top && top[0] !== 'other' ? plural(top[0]) : 'other objects'})`
              : `class ${o.label} rare in this area (${Math.max(1, Math.round((100 * own) / all))} % of the objects seen here)`,
    };
  }
  if (use.has('size') && placed) {
    const pm = model.perspective[g];
    if (pm) {
      const fy = footPoint(o).y / H;
      const expected = pm.a * fy + pm.b;
      if (expected > 0.005) {
        const ratio = o.h / H / expected;
        out.size = {
          value: Math.abs(Math.log(ratio)),
          text: () =>
            `box ${ratio.toFixed(1)}× the usual height of a ${g === 'other' ? 'such object' : g} at this distance from the camera`,
        };
      }
    }
  }
  if (use.has('dwell') && o.trackId !== null) {
    const ref = model.dwell[g]?.[cell];
    if (ref && !ref.permanent) {
      const q = Math.max(ref.q99, model.options.minDwellRefS);
      out.dwell = {
        value: o.dwellS / q,
        text: () =>
          `stayed ${o.dwellS.toFixed(0)} s in place where ${plural(g)} stay under ${q.toFixed(1)} s (99th percentile)`,
      };
    }
  }
  if (model.pose && g === 'person' && poseUsable(o.pose)) {
    const p = o.pose;
    const pm = model.pose;
    if (use.has('pose')) {
      const r = pm.posture.query(p.layout, model.options.appearanceK);
      out.pose = { value: r.distance, text: (s) => poseReason('pose', p, pm.refs, s) };
    }
    if (use.has('limbs') && p.motion && pm.limbs) {
      const r = pm.limbs.query(p.motion, model.options.appearanceK);
      out.limbs = { value: r.distance, text: (s) => poseReason('limbs', p, pm.refs, s) };
    }
  }
  if (use.has('appearance') && o.embedding && model.appearance) {
    const r = model.appearance.bank.query(o.embedding, model.options.appearanceK);
    const nearest = model.appearance.groups[r.nearest] ?? '?';
    out.appearance = {
      value: r.distance,
      text: (s) =>
        `looks unlike anything in the normal footage (appearance ${s.toFixed(1)}× the usual spread; closest: a ${nearest})`,
    };
  }
  return out;
}

/**
 * Parts whose raw value is already a ratio to a reference with a floor that means something (speed and
 * dwell: "× the 99th percentile, at least 0.5 heights/s or 10 s") keep their scale: calibration can only
 * raise the bar (s = raw / max(1, q99 of held-out raw values)), so normal footage in which nobody happened
 * to stand still cannot turn a 5 s pause into an alarm. The other parts (log-probabilities, distances) have
 * no natural unit: s = (raw − median) / (q99 − median) on the held-out objects.
 */
const RATIO_PARTS: ReadonlySet<Part> = new Set(['speed', 'dwell']);

/**
 * Floors under the calibration spread (q99 − median, raw units) of the parts calibrated by spread. Chosen on
 * the validation split of bench/eval-cctv-attributes.ts (never on its test frames); in words: a box must be
 * off the perspective fit by a factor of about e^0.7 ≈ 2 beyond the typical before size alone counts
 * (merged pairs and half-occluded people are ordinary in a street), a class must be some 7× rarer than
 * typical in its area, a direction some 3× rarer.
 */
/** Default number of cross-fitting blocks when no calibration footage is given (chosen on the validation split). */
export const DEFAULT_CROSS_FIT_FOLDS = 5;

export const DEFAULT_SPREAD_FLOOR: Partial<Record<Part, number>> = { size: 0.7, location: 2, direction: 1.1 };

/**
 * Defaults of the third tuning round (issue 11, 2026-12-02), chosen on two validation splits of frames 0-499
 * (bench/eval-cctv-attributes.ts --split validation and --split shift; never on the test frames): a 10 × 10
 * grid, direction weighted 1.5, an allowance of 0.3 per part, speed references of at least 1 box height/s,
 * dwell counted per track, "no vehicle ever seen near here" scored (see the options' comments).
 */
export const DEFAULT_GRID = { cols: 10, rows: 10 };
export const DEFAULT_PART_WEIGHTS: Partial<Record<Part, number>> = { direction: 1.5 };
export const DEFAULT_PART_ALLOWANCE = 0.3;

function calibrate(part: Part, c: Calibration | undefined, raw: number, floor = 0): number {
  if (!c) return 0;
  if (RATIO_PARTS.has(part)) return raw / Math.max(1, c.q99);
  const spread = Math.max(c.q99 - c.median, floor, 1e-6);
  return Math.max(0, (raw - c.median) / spread);
}

// ---------------------------------------------------------------------------------------------
// Fit

/**
 * Fits the scene model on observations of normal footage. Calibration uses `opts.calibration` when given,
 * else the last `calibrationFraction` (default 0.2) of the frames by time — held out of every statistic.
 */
export function fitAttributeModel(
  observations: FrameObservations[],
  frameSize: { width: number; height: number },
  opts: AttributeFitOptions = {},
): { model: AttributeModel; report: FitReport } {
  if (!(frameSize.width > 0 && frameSize.height > 0))
    throw new AttributeModelError(`frame size must be positive, got ${frameSize.width}x${frameSize.height}`);
  const grid = opts.grid ?? DEFAULT_GRID;
  if (!(Number.isInteger(grid.cols) && Number.isInteger(grid.rows) && grid.cols >= 1 && grid.rows >= 1))
    throw new AttributeModelError(`grid must be positive integers, got ${JSON.stringify(grid)}`);
  const classGroups = opts.classGroups ?? DEFAULT_CLASS_GROUPS;
  const minSamples = opts.minSamples ?? 30;
  const seed = opts.seed ?? 0;
  let fit = [...observations].sort((a, b) => a.frame - b.frame);
  let cal: FrameObservations[];
  const folds = opts.crossFitFolds ?? DEFAULT_CROSS_FIT_FOLDS;
  if (!(Number.isInteger(folds) && folds >= 0))
    throw new AttributeModelError(`crossFitFolds must be a non-negative integer, got ${folds}`);
  // Cross-fitting needs a few frames per block; a very short clip falls back to one time split.
  const crossFit = !opts.calibration && folds >= 2 && fit.length >= 10 * folds;
  if (crossFit) {
    cal = fit; // every frame is held out once, from the model of the other folds
  } else if (opts.calibration) {
    cal = [...opts.calibration].sort((a, b) => a.frame - b.frame);
  } else {
    const frac = opts.calibrationFraction ?? 0.2;
    if (!(frac > 0 && frac < 1)) throw new AttributeModelError(`calibrationFraction must be in (0, 1), got ${frac}`);
    const nCal = Math.max(1, Math.round(frac * fit.length));
    cal = fit.slice(fit.length - nCal);
    fit = fit.slice(0, fit.length - nCal);
  }
  if (fit.length === 0) throw new AttributeModelError('no frames to fit on');
  if (cal.length === 0) throw new AttributeModelError('no held-out frames to calibrate on');
  for (const f of crossFit ? fit : [...fit, ...cal]) {
    if (Math.abs(f.width / f.height - frameSize.width / frameSize.height) > 0.01)
      throw new AttributeModelError(
        `frame ${f.frame} is ${f.width}x${f.height}, not the aspect ratio of ${frameSize.width}x${frameSize.height}`,
      );
  }
  if (opts.partAllowance !== undefined && !(opts.partAllowance >= 0))
    throw new AttributeModelError(`partAllowance must be ≥ 0, got ${opts.partAllowance}`);
  const trackWindow = opts.trackWindow ?? 1;
  if (!(Number.isInteger(trackWindow) && trackWindow >= 1))
    throw new AttributeModelError(`trackWindow must be a positive integer, got ${trackWindow}`);
  const stats = (frames: FrameObservations[]) =>
    fitStatistics(frames, frameSize, opts, grid, classGroups, minSamples, seed);
  const { model, fitObjs, groups, counts, tracks, withVelocity, vectors, appearance } = stats(fit);
  if (!(model.options.smoothingWindow >= 1 && Number.isInteger(model.options.smoothingWindow)))
    throw new AttributeModelError(`smoothingWindow must be a positive integer, got ${model.options.smoothingWindow}`);

  // Calibration on held-out normal frames: per part, then the frame threshold. With cross-fitting, each
  // block of frames is scored by the model of the other blocks (contiguous blocks, so a person seen in
  // the block is rarely in the statistics that score it).
  const heldOut: Array<{ m: AttributeModel; frames: FrameObservations[] }> = [];
  if (crossFit) {
    const n = fit.length;
    for (let k = 0; k < folds; k++) {
      const a = Math.floor((k * n) / folds);
      const b = Math.floor(((k + 1) * n) / folds);
      const rest = [...fit.slice(0, a), ...fit.slice(b)];
      if (b <= a) continue;
      if (rest.reduce((s2, f) => s2 + f.objects.length, 0) < minSamples)
        throw new AttributeModelError(
          `too few objects outside fold ${k + 1} of ${folds} to cross-fit: fewer folds, or longer footage`,
        );
      heldOut.push({ m: stats(rest).model, frames: fit.slice(a, b) });
    }
  } else {
    heldOut.push({ m: model, frames: cal });
  }
  const rawCal: Partial<Record<Part, number[]>> = {};
  let calObjects = 0;
  for (const { m, frames } of heldOut) {
    for (const f of frames) {
      for (const o of f.objects) {
        calObjects++;
        const r = rawParts(m, o, f.width, f.height);
        for (const p of PARTS) if (r[p]) (rawCal[p] ??= []).push(r[p].value);
      }
    }
  }
  for (const p of PARTS) {
    const v = rawCal[p];
    if (v && v.length >= minSamples)
      model.calibration[p] = { median: quantile(v, 0.5), q99: quantile(v, 0.99), n: v.length };
  }
  const smoothedCal: number[] = [];
  for (const { m, frames } of heldOut) {
    m.calibration = model.calibration;
    smoothedCal.push(...frameScores(m, scoreObservations(m, frames)).frames.map((f) => f.smoothed));
  }
  model.threshold = quantile(smoothedCal, model.options.thresholdQuantile);
  const calFlagged = smoothedCal.filter((x) => x > model.threshold).length;
  const calFrames = smoothedCal;

  const objectsPerGroup: Record<string, number> = {};
  for (const g of groups) objectsPerGroup[g] = counts[g].reduce((s, x) => s + x, 0);
  const report: FitReport = {
    fitFrames: fit.length,
    calibrationFrames: heldOut.reduce((s2, h) => s2 + h.frames.length, 0),
    fitObjects: fitObjs.length,
    calibrationObjects: calObjects,
    objectsPerGroup,
    tracks: tracks.size,
    withVelocity,
    cellsWithOwnStatistics: Object.fromEntries(
      groups.map((g) => [g, model.speed[g].filter((r) => r?.level === 'cell').length]),
    ),
    calibration: model.calibration,
    threshold: model.threshold,
    calibrationFramesFlagged: calFlagged / Math.max(1, calFrames.length),
    pose: model.pose
      ? {
          poses: model.pose.n,
          postureBank: model.pose.posture.count,
          limbBank: model.pose.limbs?.count ?? 0,
          refs: model.pose.refs,
        }
      : null,
    appearance: appearance ? appearanceReport(appearance, vectors.length, opts.appearance?.clusters ?? 8, seed) : null,
  };
  return { model, report };
}

function entropyBits(counts: number[]): number {
  const n = counts.reduce((s, x) => s + x, 0);
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log2(c / n);
  return h;
}

/** Bank report: k-means clusters of the coreset, H(class | cluster) against H(class), a 2-D PCA of the bank. */
function appearanceReport(
  app: { bank: KnnBank; groups: string[] },
  sourceVectors: number,
  k: number,
  seed: number,
): NonNullable<FitReport['appearance']> {
  const { bank, groups } = app;
  const kk = Math.max(1, Math.min(k, bank.count));
  const km = kmeans(bank.data, bank.count, bank.dim, kk, { seed });
  const names = [...new Set(groups)].sort();
  const perCluster: Array<Record<string, number>> = Array.from({ length: kk }, () => ({}));
  groups.forEach((g, i) => {
    const c = km.assignments[i];
    perCluster[c][g] = (perCluster[c][g] ?? 0) + 1;
  });
  let hCond = 0;
  perCluster.forEach((m, c) => {
    hCond += (km.sizes[c] / bank.count) * entropyBits(names.map((g) => m[g] ?? 0));
  });
  const hClass = entropyBits(names.map((g) => groups.filter((x) => x === g).length));
  // PCA on at most 1500 bank vectors (seeded choice), enough for a readable scatter.
  const rand = seededRandom(seed + 1);
  const idx = Array.from({ length: bank.count }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const take = idx.slice(0, 1500).sort((a, b) => a - b);
  const sub = new Float32Array(take.length * bank.dim);
  take.forEach((src, i) => sub.set(bank.vector(src), i * bank.dim));
  const pca = pcaProject(sub, take.length, bank.dim, 2, seed);
  return {
    dim: bank.dim,
    sourceVectors,
    bankSize: bank.count,
    coverageRadius: bank.coverageRadius,
    clusters: { k: kk, sizes: km.sizes, conditionalEntropyBits: hCond, classEntropyBits: hClass, perCluster },
    embedding2d: {
      points: pca.points.map((p) => [p[0], p[1] ?? 0]),
      groups: take.map((i) => groups[i]),
      explainedVariance: pca.explainedVariance,
      totalVariance: pca.totalVariance,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Scoring

/**
 * Carried between segments when the model has a track window > 1: the last calibrated part scores of each
 * live track (JSON-serialisable).
 */
export interface TrackScoreState {
  tracks: Record<string, { frame: number; parts: Array<Partial<Record<Part, number>>> }>;
}

/**
 * Scores every object of every frame; frame score = max over its objects (0 for an empty frame). With a
 * track window > 1, pass the same `state` object to consecutive calls (it is updated in place) so that
 * tracks keep their recent scores across segments; without it every call starts afresh.
 */
export function scoreObservations(
  model: AttributeModel,
  frames: ReadonlyArray<FrameObservations>,
  state: TrackScoreState = { tracks: {} },
): ScoredFrame[] {
  const win = model.options.trackWindow ?? 1;
  const floors = model.options.spreadFloor ?? {};
  const weights = model.options.partWeights ?? {};
  const caps = model.options.partCaps ?? {};
  return frames.map((f) => {
    if (Math.abs(f.width / f.height - model.frameSize.width / model.frameSize.height) > 0.01) {
      throw new AttributeModelError(
        `frame ${f.frame} is ${f.width}x${f.height} but the scene model was fitted on ${model.frameSize.width}x${model.frameSize.height} footage: another camera view?`,
      );
    }
    const objects = f.objects.map((o): ScoredObject => {
      const raw = rawParts(model, o, f.width, f.height);
      let parts: Partial<Record<Part, number>> = {};
      for (const p of model.options.parts) {
        const r = raw[p];
        const c = model.calibration[p];
        if (!r || !c) continue;
        parts[p] = Math.min(caps[p] ?? Infinity, (weights[p] ?? 1) * calibrate(p, c, r.value, floors[p] ?? 0));
      }
      if (win > 1 && o.trackId !== null) {
        // Persistence: the median of the track's recent scores per part, this frame included.
        const key = String(o.trackId);
        const h = (state.tracks[key] ??= { frame: f.frame, parts: [] });
        h.frame = f.frame;
        h.parts.push(parts);
        if (h.parts.length > win) h.parts.shift();
        const med: Partial<Record<Part, number>> = {};
        for (const p of Object.keys(parts) as Part[]) {
          const xs = h.parts.map((q) => q[p]).filter((x): x is number => x !== undefined);
          med[p] = quantile(xs, 0.5);
        }
        parts = med;
      }
      let score = 0;
      const allowance = model.options.partAllowance ?? 0;
      for (const s of Object.values(parts))
        score = model.options.combine === 'sum' ? score + Math.max(0, s - allowance) : Math.max(score, s);
      const abnormal = score > model.threshold;
      const ranked = (Object.entries(parts) as Array<[Part, number]>).sort((a, b) => b[1] - a[1]);
      // Every part beyond the 99th percentile of held-out normal objects explains; a flagged object always
      // gets at least its strongest part.
      const chosen = ranked.filter(([, s]) => s >= 1);
      if (abnormal && chosen.length === 0 && ranked.length > 0) chosen.push(ranked[0]);
      const reasons = chosen.map(([p, s]) => ({ attribute: p, score: s, text: raw[p]!.text(s) }));
      const top =
        ranked[0] && ranked[0][1] > 0
          ? { attribute: ranked[0][0], score: ranked[0][1], text: raw[ranked[0][0]]!.text(ranked[0][1]) }
          : undefined;
      const { embedding: _e, ...rest } = o;
      return {
        ...rest,
        group: groupOf(model.classGroups, o.label),
        score,
        parts,
        reasons,
        ...(top ? { strongest: top } : {}),
        abnormal,
      };
    });
    // Forget tracks not seen for a while (the analyzer ends them long before this).
    if (win > 1)
      for (const [k, h] of Object.entries(state.tracks)) if (f.frame - h.frame > 10 * win) delete state.tracks[k];
    return { frame: f.frame, timeS: f.timeS, score: objects.reduce((m, o) => Math.max(m, o.score), 0), objects };
  });
}

/**
 * Smoothed frame scores: trailing mean over the model's smoothing window of analysed frames, continued
 * across segments with `state`. A frame is abnormal when its smoothed score exceeds the threshold.
 */
export function frameScores(
  model: AttributeModel,
  scored: ReadonlyArray<ScoredFrame>,
  state?: SmootherState,
): { frames: FrameScore[]; state: SmootherState } {
  const w = model.options.smoothingWindow;
  const recent = [...(state?.recent ?? [])].slice(-(w - 1));
  const frames = scored.map((f) => {
    recent.push(f.score);
    if (recent.length > w) recent.shift();
    const smoothed = recent.reduce((s, x) => s + x, 0) / recent.length;
    return { frame: f.frame, timeS: f.timeS, raw: f.score, smoothed, abnormal: smoothed > model.threshold };
  });
  return { frames, state: { recent: recent.slice(-(w - 1)) } };
}

// ---------------------------------------------------------------------------------------------
// Serialisation: "LKAM", uint32 LE header length, UTF-8 JSON header (everything but the bank), zero
// padding to 4 bytes, then the kNN bank's own bytes (runtime/knn's format) when there is one.

type Header = Omit<AttributeModel, 'appearance' | 'threshold' | 'pose'> & {
  threshold: number | null;
  appearance: { groups: string[]; bankBytes: number } | null;
  pose?: PoseModelJson | null;
};

export function serializeAttributeModel(model: AttributeModel): Buffer {
  const bank = model.appearance?.bank.serialize() ?? Buffer.alloc(0);
  const header: Header = {
    ...model,
    threshold: Number.isFinite(model.threshold) ? model.threshold : null,
    appearance: model.appearance ? { groups: model.appearance.groups, bankBytes: bank.length } : null,
    pose: model.pose ? poseModelToJson(model.pose) : null,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const off = (8 + json.length + 3) & ~3;
  const buf = Buffer.alloc(off + bank.length);
  buf.write(MAGIC, 0, 'ascii');
  buf.writeUInt32LE(json.length, 4);
  json.copy(buf, 8);
  bank.copy(buf, off);
  return buf;
}

/** Parses serializeAttributeModel's bytes; `where` (a path or URI) names the source in errors. */
export function parseAttributeModel(bytes: Uint8Array, where = 'scene model'): AttributeModel {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (msg: string, cause?: unknown) =>
    new AttributeModelError(`${where}: not a valid cctv-attributes scene model: ${msg}`, cause);
  if (b.length < 8 || b.toString('latin1', 0, 4) !== MAGIC)
    throw bad(
      `bad magic ${JSON.stringify(b.toString('latin1', 0, Math.min(4, b.length)))}, expected "${MAGIC}" (a model of another method?)`,
    );
  const hlen = b.readUInt32LE(4);
  if (8 + hlen > b.length)
    throw bad(`header of ${hlen} bytes runs past the end of the ${b.length}-byte file (truncated?)`);
  let h: Header;
  try {
    h = JSON.parse(b.toString('utf8', 8, 8 + hlen)) as Header;
  } catch (err) {
    throw bad('header is not JSON', err);
  }
  if (h.format !== MODEL_FORMAT) throw bad(`format ${JSON.stringify(h.format)}, expected ${MODEL_FORMAT}`);
  if (h.version !== MODEL_VERSION)
    throw bad(`format version ${JSON.stringify(h.version)}; this build reads version ${MODEL_VERSION}`);
  if (!h.grid || !h.frameSize || !Array.isArray(h.groups) || !h.options || !h.counts)
    throw bad('header misses grid, frameSize, groups, options or counts');
  const off = (8 + hlen + 3) & ~3;
  let appearance: AttributeModel['appearance'] = null;
  if (h.appearance) {
    if (off + h.appearance.bankBytes !== b.length)
      throw bad(
        `expected ${off + h.appearance.bankBytes} bytes with the appearance bank, got ${b.length} (truncated?)`,
      );
    const bank = KnnBank.parse(b.subarray(off), `${where} (appearance bank)`);
    if (h.appearance.groups.length !== bank.count)
      throw bad(`${h.appearance.groups.length} bank labels for ${bank.count} vectors`);
    appearance = { bank, groups: h.appearance.groups };
  } else if (b.length !== off && b.length !== 8 + hlen) {
    throw bad(`${b.length - off} unexpected trailing bytes`);
  }
  let pose: PoseModel | null = null;
  try {
    pose = h.pose ? poseModelFromJson(h.pose, where) : null;
  } catch (err) {
    throw bad(`pose banks: ${(err as Error).message}`, err);
  }
  return { ...h, threshold: h.threshold ?? Infinity, appearance, pose };
}

/** The normal statistics of a fit (everything but calibration and threshold). */
function fitStatistics(
  fit: FrameObservations[],
  frameSize: { width: number; height: number },
  opts: AttributeFitOptions,
  grid: { cols: number; rows: number },
  classGroups: Record<string, string>,
  minSamples: number,
  seed: number,
) {
  const cells = grid.cols * grid.rows;
  const fitObjs = fit.flatMap((f) => f.objects.map((o) => ({ o, W: f.width, H: f.height })));
  if (fitObjs.length < minSamples)
    throw new AttributeModelError(
      `only ${fitObjs.length} objects in the normal footage: at least ${minSamples} are needed`,
    );
  const groups = [...new Set(fitObjs.map(({ o }) => groupOf(classGroups, o.label)))].sort();

  const counts: Record<string, number[]> = {};
  const speeds: Record<string, number[][]> = {};
  const dwells: Record<string, number[][]> = {};
  const dirs: Record<string, number[][]> = {};
  const persp: Record<string, Array<[number, number]>> = {};
  for (const g of groups) {
    counts[g] = new Array<number>(cells).fill(0);
    speeds[g] = Array.from({ length: cells }, () => []);
    dwells[g] = Array.from({ length: cells }, () => []);
    dirs[g] = Array.from({ length: cells }, () => []);
    persp[g] = [];
  }
  const minMovingSpeed = opts.minMovingSpeed ?? 0.25;
  const footageS = fit[fit.length - 1].timeS - fit[0].timeS;
  const tracks = new Set<number>();
  let withVelocity = 0;
  const vectors: Float32Array[] = [];
  const vectorGroups: string[] = [];
  /** People's pose measurements (frames where the pose step ran, not the carried ones). */
  const poses: NonNullable<ObjectObservation['pose']>[] = [];
  const dwellByTrack = (opts.dwellStatistics ?? 'tracks') === 'tracks';
  if (!['frames', 'tracks'].includes(opts.dwellStatistics ?? 'tracks'))
    throw new AttributeModelError(
      `dwellStatistics must be frames or tracks, got ${JSON.stringify(opts.dwellStatistics)}`,
    );
  /** 'tracks' dwell statistics: each track's longest stay per group and cell. */
  const longestStay = new Map<string, number>();
  for (const { o, W, H } of fitObjs) {
    const g = groupOf(classGroups, o.label);
    const c = cellOf({ grid }, o, W, H);
    counts[g][c]++;
    const sn = speedOf(o);
    if (sn !== null) {
      withVelocity++;
      speeds[g][c].push(sn);
      if (sn >= minMovingSpeed && o.velocity) dirs[g][c].push(dirBin(o.velocity.vx, o.velocity.vy));
    }
    if (o.trackId !== null) {
      tracks.add(o.trackId);
      if (dwellByTrack) {
        const key = `${g}\u0000${c}\u0000${o.trackId}`;
        longestStay.set(key, Math.max(longestStay.get(key) ?? 0, o.dwellS));
      } else {
        dwells[g][c].push(o.dwellS);
      }
    }
    persp[g].push([footPoint(o).y / H, o.h / H]);
    if (o.embedding) {
      vectors.push(o.embedding);
      vectorGroups.push(g);
    }
    if (o.pose && o.pose.ageS === 0 && g === 'person') poses.push(o.pose);
  }
  // Where objects stay for good (at least half the footage): per cell, from the stays seen in that cell.
  const stayedForGood: Record<string, boolean[]> = Object.fromEntries(
    groups.map((g) => [g, new Array<boolean>(cells).fill(false)]),
  );
  for (const [key, stay] of longestStay) {
    const [g, c] = key.split('\u0000');
    dwells[g][Number(c)].push(stay);
    if (stay >= 0.5 * footageS) stayedForGood[g][Number(c)] = true;
  }
  const perspective: AttributeModel['perspective'] = {};
  for (const g of groups) {
    const pts = persp[g];
    const ys = pts.map((p) => p[0]);
    if (pts.length < minSamples || quantile(ys, 0.9) - quantile(ys, 0.1) < 0.1) {
      perspective[g] = null; // too few, or all at one distance: no slope to fit
      continue;
    }
    // Least squares h = a·y + b, then once more without the worst 10 % (merged pairs, partial boxes).
    const fitLine = (p: Array<[number, number]>) => {
      const n = p.length;
      const my = p.reduce((s, q) => s + q[0], 0) / n;
      const mh = p.reduce((s, q) => s + q[1], 0) / n;
      let syy = 0;
      let syh = 0;
      for (const [y, h] of p) {
        syy += (y - my) ** 2;
        syh += (y - my) * (h - mh);
      }
      const a = syy > 0 ? syh / syy : 0;
      return { a, b: mh - a * my };
    };
    const l1 = fitLine(pts);
    const res = pts.map((p) => Math.abs(Math.log(Math.max(1e-6, p[1]) / Math.max(1e-6, l1.a * p[0] + l1.b))));
    const cut = quantile(res, 0.9);
    const l2 = fitLine(pts.filter((_, i) => res[i] <= cut));
    perspective[g] = { a: l2.a, b: l2.b, n: pts.length };
  }

  let appearance: AttributeModel['appearance'] = null;
  if (vectors.length >= minSamples) {
    const built = KnnBank.build(vectors, {
      maxSize: opts.appearance?.coresetSize ?? 2000,
      metric: opts.appearance?.metric ?? 'cosine',
      seed,
    });
    appearance = { bank: built.bank, groups: built.kept.map((i) => vectorGroups[i]) };
  }

  const model: AttributeModel = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    createdAt: (opts.createdAt ?? new Date()).toISOString(),
    frameSize: { width: frameSize.width, height: frameSize.height },
    grid,
    groups,
    classGroups,
    options: {
      minSamples,
      minMovingSpeed,
      minSpeedRef: opts.minSpeedRef ?? 1,
      minDwellRefS: opts.minDwellRefS ?? 10,
      combine: opts.combine ?? 'sum',
      smoothingWindow: opts.smoothingWindow ?? 5,
      thresholdQuantile: opts.thresholdQuantile ?? 0.97,
      parts: opts.parts ?? [...PARTS],
      appearanceK: opts.appearance?.k ?? 1,
      placeGroups: opts.placeGroups ?? ['person', 'vehicle', 'bicycle'],
      trackWindow: opts.trackWindow ?? 1,
      spreadFloor: { ...DEFAULT_SPREAD_FLOOR, ...opts.spreadFloor },
      partWeights: { ...DEFAULT_PART_WEIGHTS, ...opts.partWeights },
      partCaps: opts.partCaps ?? {},
      locationPrior: opts.locationPrior ?? 1,
      locationPlacedOnly: opts.locationPlacedOnly ?? false,
      partAllowance: opts.partAllowance ?? DEFAULT_PART_ALLOWANCE,
      locationGroupUnseen: opts.locationGroupUnseen ?? true,
      wanderingGroups: opts.wanderingGroups ?? ['person'],
    },
    counts,
    speed: Object.fromEntries(groups.map((g) => [g, refsPerCell(grid, speeds[g], minSamples)])),
    dwell: Object.fromEntries(
      groups.map((g) => [
        g,
        refsPerCell(grid, dwells[g], minSamples).map((ref, c) =>
          ref && (dwellByTrack ? stayedForGood[g][c] : ref.q99 >= 0.5 * footageS) ? { ...ref, permanent: true } : ref,
        ),
      ]),
    ),
    direction: Object.fromEntries(groups.map((g) => [g, dirRefsPerCell(grid, dirs[g], minSamples)])),
    perspective,
    appearance,
    pose: fitPoseModel(poses, { minSamples, seed }),
    calibration: {},
    threshold: Infinity,
  };
  if (!(model.options.smoothingWindow >= 1 && Number.isInteger(model.options.smoothingWindow)))
    throw new AttributeModelError(`smoothingWindow must be a positive integer, got ${model.options.smoothingWindow}`);
  return { model, fitObjs, groups, counts, tracks, withVelocity, vectors, appearance };
}
