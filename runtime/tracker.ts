/**
 * Multi-object tracking in the SORT family (Bewley et al., "Simple Online and Realtime Tracking", 2016):
 *  - one constant-velocity Kalman filter per track over (centre x, centre y, area, aspect ratio), with
 *    SORT's noise settings;
 *  - detections associated to the tracks' predicted boxes by IoU with the Hungarian algorithm, per class
 *    group (a person box never continues a car track; car/truck/bus share one group because detectors
 *    flip between them frame to frame);
 *  - a second, gated association stage on centre distance (in box heights) for what IoU left unmatched,
 *    so fast or small objects — a runner moving most of a box width per frame — keep their track where
 *    plain SORT would start a new one every frame (the idea of ByteTrack/OC-SORT's second stage);
 *  - tracks are born tentative, confirmed after `minHits` matched frames, and dropped after more than
 *    `maxMisses` frames without a match (so short occlusions are bridged by the prediction).
 *
 * Library choice. The Hungarian step uses npm `munkres` (MIT, TypeScript types, rectangular matrices,
 * maintained in 2025). The ready-made JS tracker, `node-moving-things-tracker`, was not used: it keeps one
 * global tracker in module state (two cameras cannot be tracked in one process), has no Kalman filter and
 * no per-class association, and its state cannot be exported and restored — which segment processing
 * needs, since consecutive segments of a video are analysed by separate activity calls. The Kalman
 * filter is 7-dimensional and written out below (a general Kalman library would add a dependency for
 * four small matrix products).
 *
 * State: `tracker.state()` is plain JSON (numbers, strings, arrays); `new Tracker(opts, state)` resumes
 * exactly — the same detections give the same tracks as an uninterrupted run.
 */
import { munkres } from 'munkres';

export class TrackerError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.name = 'TrackerError';
  }
}

export interface TrackerDetection {
  label: string;
  score: number;
  /** Pixels: top-left corner, width, height. */
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TrackerOptions {
  /** Minimum IoU of a detection with a track's predicted box to match in the first stage (default 0.3). */
  iouThreshold: number;
  /** Second stage: at most this many box heights between predicted and detected centres (default 0.8; 0 turns it off). */
  maxCentreDistance: number;
  /** Matched frames before a track is confirmed (default 3). */
  minHits: number;
  /** A track is dropped after more than this many consecutive frames without a match (default 5). */
  maxMisses: number;
  /** Observed boxes kept per track (default 32), for velocity estimates. */
  historyLength: number;
  /** The "still since" anchor moves when the box's foot point leaves a circle of this many box heights (default 0.75). */
  stillRadius: number;
  /** Label -> association group; labels not listed are their own group (default: car, truck, bus, motorcycle -> vehicle). */
  classGroups: Record<string, string>;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  iouThreshold: 0.3,
  maxCentreDistance: 0.8,
  minHits: 3,
  maxMisses: 5,
  historyLength: 32,
  stillRadius: 0.75,
  classGroups: { car: 'vehicle', truck: 'vehicle', bus: 'vehicle', motorcycle: 'vehicle' },
};

export interface TrackPoint {
  frame: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One track, as stored in the state (plain JSON). */
export interface TrackState {
  id: number;
  /** The label of the latest matched detection. */
  label: string;
  group: string;
  /** Kalman state [cx, cy, area, aspect, vx, vy, varea] and its 7 × 7 covariance (row-major). */
  x: number[];
  P: number[];
  hits: number;
  misses: number;
  confirmed: boolean;
  firstFrame: number;
  lastFrame: number;
  /** Latest observed boxes, oldest first. */
  history: TrackPoint[];
  /** Foot point (bottom centre) and frame since which the object has stayed within stillRadius box heights. */
  still: { frame: number; x: number; y: number };
}

export interface TrackerState {
  format: 'lookout-tracker';
  version: 1;
  options: TrackerOptions;
  nextId: number;
  /** Last frame index passed to update(); -1 before the first. */
  frame: number;
  tracks: TrackState[];
}

/** What update() tells about each detection of the frame. */
export interface TrackedDetection {
  /** Index into the detections passed to update(). */
  detection: number;
  trackId: number;
  confirmed: boolean;
  hits: number;
  firstFrame: number;
  /** The track's observed boxes up to and including this frame, oldest first (a copy). */
  history: TrackPoint[];
  still: { frame: number; x: number; y: number };
}

const N = 7;

function boxToZ(b: { x: number; y: number; w: number; h: number }): number[] {
  return [b.x + b.w / 2, b.y + b.h / 2, b.w * b.h, b.w / Math.max(1e-6, b.h)];
}

function xToBox(x: number[]): { x: number; y: number; w: number; h: number } {
  const s = Math.max(1e-6, x[2]);
  const r = Math.max(1e-6, x[3]);
  const w = Math.sqrt(s * r);
  const h = s / w;
  return { x: x[0] - w / 2, y: x[1] - h / 2, w, h };
}

function iouOf(
  a: { x: number; y: number; w: number; h: number },
  b: { x: number; y: number; w: number; h: number },
): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/** SORT's constant-velocity model: x' = F x, P' = F P Fᵀ + Q, with F adding the velocities to cx, cy, area. */
function kfPredict(t: TrackState): void {
  const x = t.x;
  if (x[2] + x[6] <= 0) x[6] = 0;
  x[0] += x[4];
  x[1] += x[5];
  x[2] += x[6];
  const P = t.P;
  // F P Fᵀ with F = I + E(0,4) + E(1,5) + E(2,6): rows and then columns i += row/col i+4.
  for (let i = 0; i < 3; i++) for (let j = 0; j < N; j++) P[i * N + j] += P[(i + 4) * N + j];
  for (let i = 0; i < N; i++) for (let j = 0; j < 3; j++) P[i * N + j] += P[i * N + j + 4];
  const Q = [1, 1, 1, 1, 0.01, 0.01, 0.0001];
  for (let i = 0; i < N; i++) P[i * N + i] += Q[i];
}

/** Measurement update with z = H x + v, H = [I4 0], R = diag(1, 1, 10, 10). */
function kfUpdate(t: TrackState, z: number[]): void {
  const { x, P } = t;
  const R = [1, 1, 10, 10];
  // S = H P Hᵀ + R (the top-left 4 × 4 block of P plus R); K = P Hᵀ S⁻¹ (7 × 4).
  const S = new Float64Array(16);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) S[i * 4 + j] = P[i * N + j] + (i === j ? R[i] : 0);
  const Si = invert4(S);
  const K = new Float64Array(N * 4);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += P[i * N + k] * Si[k * 4 + j];
      K[i * 4 + j] = s;
    }
  }
  const y = [z[0] - x[0], z[1] - x[1], z[2] - x[2], z[3] - x[3]];
  for (let i = 0; i < N; i++) for (let k = 0; k < 4; k++) x[i] += K[i * 4 + k] * y[k];
  // P = (I - K H) P: subtract K times the first four rows of P.
  const Pn = P.slice();
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += K[i * 4 + k] * P[k * N + j];
      Pn[i * N + j] = P[i * N + j] - s;
    }
  }
  // Keep P symmetric against round-off.
  for (let i = 0; i < N; i++)
    for (let j = i + 1; j < N; j++) Pn[i * N + j] = Pn[j * N + i] = (Pn[i * N + j] + Pn[j * N + i]) / 2;
  t.P = Pn;
}

/** Inverse of a 4 × 4 matrix by Gauss-Jordan elimination with partial pivoting. */
function invert4(m: Float64Array): Float64Array {
  const a = Float64Array.from(m);
  const inv = new Float64Array(16);
  for (let i = 0; i < 4; i++) inv[i * 4 + i] = 1;
  for (let c = 0; c < 4; c++) {
    let p = c;
    for (let r = c + 1; r < 4; r++) if (Math.abs(a[r * 4 + c]) > Math.abs(a[p * 4 + c])) p = r;
    if (Math.abs(a[p * 4 + c]) < 1e-12) throw new TrackerError('Kalman innovation covariance is singular');
    if (p !== c) {
      for (let j = 0; j < 4; j++) {
        [a[c * 4 + j], a[p * 4 + j]] = [a[p * 4 + j], a[c * 4 + j]];
        [inv[c * 4 + j], inv[p * 4 + j]] = [inv[p * 4 + j], inv[c * 4 + j]];
      }
    }
    const d = a[c * 4 + c];
    for (let j = 0; j < 4; j++) {
      a[c * 4 + j] /= d;
      inv[c * 4 + j] /= d;
    }
    for (let r = 0; r < 4; r++) {
      if (r === c) continue;
      const f = a[r * 4 + c];
      if (f === 0) continue;
      for (let j = 0; j < 4; j++) {
        a[r * 4 + j] -= f * a[c * 4 + j];
        inv[r * 4 + j] -= f * inv[c * 4 + j];
      }
    }
  }
  return inv;
}

/** Minimum-cost assignment of rows to columns; pairs with cost >= `reject` are dropped. */
function assign(cost: number[][], reject: number): Array<[number, number]> {
  if (cost.length === 0 || cost[0].length === 0) return [];
  return munkres(cost).filter(([r, c]) => cost[r][c] < reject) as Array<[number, number]>;
}

function validate(opts: TrackerOptions): void {
  const bad = (k: string, v: unknown) => new TrackerError(`tracker option ${k} is invalid: ${JSON.stringify(v)}`);
  if (!(opts.iouThreshold > 0 && opts.iouThreshold <= 1)) throw bad('iouThreshold', opts.iouThreshold);
  if (!(opts.maxCentreDistance >= 0)) throw bad('maxCentreDistance', opts.maxCentreDistance);
  if (!(Number.isInteger(opts.minHits) && opts.minHits >= 1)) throw bad('minHits', opts.minHits);
  if (!(Number.isInteger(opts.maxMisses) && opts.maxMisses >= 0)) throw bad('maxMisses', opts.maxMisses);
  if (!(Number.isInteger(opts.historyLength) && opts.historyLength >= 2))
    throw bad('historyLength', opts.historyLength);
  if (!(opts.stillRadius > 0)) throw bad('stillRadius', opts.stillRadius);
}

export class Tracker {
  private readonly opts: TrackerOptions;
  private tracks: TrackState[];
  private nextId: number;
  private frame: number;

  /** A new tracker, or one resumed from `state` (whose options then win over `opts`). */
  constructor(opts: Partial<TrackerOptions> = {}, state?: TrackerState) {
    if (state) {
      if (state.format !== 'lookout-tracker' || state.version !== 1)
        throw new TrackerError(
          `not a tracker state (format ${JSON.stringify(state.format)} v${JSON.stringify(state.version)})`,
        );
      this.opts = { ...DEFAULT_TRACKER_OPTIONS, ...state.options };
      this.tracks = structuredClone(state.tracks);
      this.nextId = state.nextId;
      this.frame = state.frame;
    } else {
      this.opts = { ...DEFAULT_TRACKER_OPTIONS, ...opts };
      this.tracks = [];
      this.nextId = 1;
      this.frame = -1;
    }
    validate(this.opts);
  }

  get options(): Readonly<TrackerOptions> {
    return this.opts;
  }

  /** The full state as plain JSON; a deep copy. */
  state(): TrackerState {
    return {
      format: 'lookout-tracker',
      version: 1,
      options: structuredClone(this.opts),
      nextId: this.nextId,
      frame: this.frame,
      tracks: structuredClone(this.tracks),
    };
  }

  /** Live tracks (tentative and confirmed), a copy. */
  liveTracks(): TrackState[] {
    return structuredClone(this.tracks);
  }

  groupOf(label: string): string {
    return this.opts.classGroups[label] ?? label;
  }

  /**
   * Advances to `frame` (frame indices must increase; a jump of k frames predicts k steps, so a frame
   * stride or a dropped frame is handled) and associates this frame's detections.
   */
  update(frame: number, detections: ReadonlyArray<TrackerDetection>): TrackedDetection[] {
    if (!Number.isInteger(frame) || frame < 0)
      throw new TrackerError(`frame index must be a non-negative integer, got ${frame}`);
    if (frame <= this.frame)
      throw new TrackerError(
        `frame ${frame} is not after the last frame ${this.frame}: frames must be passed in increasing order`,
      );
    detections.forEach((d, i) => {
      if (![d.x, d.y, d.w, d.h].every(Number.isFinite) || d.w <= 0 || d.h <= 0)
        throw new TrackerError(`detection ${i} has an invalid box (${d.x}, ${d.y}, ${d.w}, ${d.h})`);
    });
    const steps = this.frame < 0 ? 1 : frame - this.frame;
    // Missed frames between calls count as misses for every track.
    for (const t of this.tracks) {
      for (let s = 0; s < steps; s++) kfPredict(t);
      t.misses += steps - 1;
    }
    this.tracks = this.tracks.filter((t) => t.misses <= this.opts.maxMisses);
    this.frame = frame;

    const matched = new Map<number, number>(); // detection -> track index
    const groups = new Set([...detections.map((d) => this.groupOf(d.label)), ...this.tracks.map((t) => t.group)]);
    for (const g of [...groups].sort()) {
      const di = detections.map((d, i) => (this.groupOf(d.label) === g ? i : -1)).filter((i) => i >= 0);
      const ti = this.tracks.map((t, i) => (t.group === g ? i : -1)).filter((i) => i >= 0);
      if (di.length === 0 || ti.length === 0) continue;
      const pred = ti.map((i) => xToBox(this.tracks[i].x));
      // Stage 1: IoU.
      const cost = ti.map((_, a) => di.map((d) => 1 - iouOf(pred[a], detections[d])));
      const freeT = new Set(ti.map((_, a) => a));
      const freeD = new Set(di.map((_, b) => b));
      for (const [a, b] of assign(cost, 1 - this.opts.iouThreshold + 1e-12)) {
        matched.set(di[b], ti[a]);
        freeT.delete(a);
        freeD.delete(b);
      }
      // Stage 2: centre distance in box heights, among what is left.
      if (this.opts.maxCentreDistance > 0 && freeT.size > 0 && freeD.size > 0) {
        const ta = [...freeT];
        const db = [...freeD];
        const cost2 = ta.map((a) =>
          db.map((b) => {
            const p = pred[a];
            const d = detections[di[b]];
            const dist = Math.hypot(p.x + p.w / 2 - (d.x + d.w / 2), p.y + p.h / 2 - (d.y + d.h / 2));
            const scale = Math.max(p.h, d.h);
            // Boxes of very different size are not the same object.
            const sizeRatio = Math.max(p.h, d.h) / Math.max(1e-6, Math.min(p.h, d.h));
            return sizeRatio > 2 ? Infinity : dist / scale;
          }),
        );
        const finite = cost2.map((r) => r.map((c) => (Number.isFinite(c) ? c : 1e9)));
        for (const [a, b] of assign(finite, this.opts.maxCentreDistance)) matched.set(di[db[b]], ti[ta[a]]);
      }
    }

    const out: TrackedDetection[] = [];
    const updated = new Set<number>();
    detections.forEach((d, i) => {
      let t: TrackState;
      const ti = matched.get(i);
      if (ti !== undefined) {
        t = this.tracks[ti];
        kfUpdate(t, boxToZ(d));
        t.hits++;
        t.misses = 0;
        t.label = d.label;
        if (t.hits >= this.opts.minHits) t.confirmed = true;
      } else {
        const z = boxToZ(d);
        t = {
          id: this.nextId++,
          label: d.label,
          group: this.groupOf(d.label),
          x: [z[0], z[1], z[2], z[3], 0, 0, 0],
          // SORT: uncertain initial velocities (1e4), moderate position uncertainty (10).
          P: Array.from({ length: N * N }, (_, k) => (k % (N + 1) === 0 ? (k / (N + 1) >= 4 ? 10000 : 10) : 0)),
          hits: 1,
          misses: 0,
          confirmed: this.opts.minHits <= 1,
          firstFrame: frame,
          lastFrame: frame,
          history: [],
          still: { frame, x: d.x + d.w / 2, y: d.y + d.h },
        };
        this.tracks.push(t);
      }
      t.lastFrame = frame;
      t.history.push({ frame, x: d.x, y: d.y, w: d.w, h: d.h });
      if (t.history.length > this.opts.historyLength) t.history.splice(0, t.history.length - this.opts.historyLength);
      const fx = d.x + d.w / 2;
      const fy = d.y + d.h;
      if (Math.hypot(fx - t.still.x, fy - t.still.y) > this.opts.stillRadius * d.h) t.still = { frame, x: fx, y: fy };
      updated.add(t.id);
      out.push({
        detection: i,
        trackId: t.id,
        confirmed: t.confirmed,
        hits: t.hits,
        firstFrame: t.firstFrame,
        history: t.history.map((p) => ({ ...p })),
        still: { ...t.still },
      });
    });
    for (const t of this.tracks) if (!updated.has(t.id)) t.misses++;
    this.tracks = this.tracks.filter((t) => t.misses <= this.opts.maxMisses);
    return out;
  }
}
