/**
 * Scene model for object-centric anomaly detection (Ionescu et al., "Object-centric Auto-encoders and
 * Dummy Anomalies for Abnormal Event Detection in Video", CVPR 2019) — the scoring half.
 *
 * Training (normal data only):
 *   1. standardise the object feature vectors (per-dimension mean / std, stored in the model);
 *   2. cluster them with k-means (k-means++ initialisation from a seeded PRNG);
 *   3. for each cluster i train a linear SVM g_i(x) = w_i·x + b_i, cluster i positive, every other
 *      cluster's samples as "dummy anomalies" (negatives);
 *   4. anomaly(x) = −max_i g_i(x): an object is abnormal when every classifier rejects it;
 *   5. the decision threshold is the q-th quantile of the training samples' anomaly scores.
 *
 * Everything is deterministic given the seed. Pure TypeScript, no dependencies.
 */
import { SetupError } from '../../core/errors';
import { mulberry32 } from '../../core/random';

// ---------------------------------------------------------------------------------------------
// PRNG

export { mulberry32 };

// ---------------------------------------------------------------------------------------------
// Input handling

type Rows = ReadonlyArray<ArrayLike<number>>;

/** Copies rows into one flat row-major Float32Array, checking shape and finiteness. */
function flatten(X: Rows, what: string): { data: Float32Array; n: number; d: number } {
  const n = X.length;
  if (n === 0) throw new RangeError(`${what}: no samples`);
  const d = X[0].length;
  if (d === 0) throw new RangeError(`${what}: samples have dimension 0`);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const row = X[i];
    if (row.length !== d) throw new RangeError(`${what}: sample ${i} has dimension ${row.length}, expected ${d}`);
    const off = i * d;
    for (let j = 0; j < d; j++) {
      const v = row[j];
      if (!Number.isFinite(v)) throw new RangeError(`${what}: sample ${i} has a non-finite value at dimension ${j}`);
      data[off + j] = v;
    }
  }
  return { data, n, d };
}

// ---------------------------------------------------------------------------------------------
// k-means

export interface KMeansOptions {
  seed?: number; // default 0
  maxIter?: number; // default 100
  /** Convergence when the total squared centroid shift is <= tol × (mean per-dimension variance of X). Default 1e-4. */
  tol?: number;
}

export interface KMeansResult {
  centroids: Float64Array[];
  assignments: Int32Array;
  /** Sum of squared distances of the samples to their assigned centroid. */
  inertia: number;
  iterations: number;
  /** Samples per cluster (a cluster may be empty only when X has fewer than k distinct points). */
  sizes: number[];
}

/** Lloyd's algorithm with k-means++ initialisation; deterministic for a given seed. */
export function kmeans(X: Float32Array[] | number[][], k: number, opts: KMeansOptions = {}): KMeansResult {
  const { data, n, d } = flatten(X, 'kmeans');
  return kmeansFlat(data, n, d, k, opts);
}

function sqDist(data: Float32Array, off: number, c: Float64Array, coff: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < d; j += 4) {
    const t0 = data[off + j] - c[coff + j];
    const t1 = data[off + j + 1] - c[coff + j + 1];
    const t2 = data[off + j + 2] - c[coff + j + 2];
    const t3 = data[off + j + 3] - c[coff + j + 3];
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  for (; j < d; j++) {
    const t = data[off + j] - c[coff + j];
    s0 += t * t;
  }
  return s0 + s1 + s2 + s3;
}

function kmeansFlat(data: Float32Array, n: number, d: number, k: number, opts: KMeansOptions): KMeansResult {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`kmeans: k must be a positive integer, got ${k}`);
  if (k > n) throw new RangeError(`kmeans: k = ${k} is more than the ${n} samples`);
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-4;
  const rand = mulberry32(opts.seed ?? 0);

  // Mean per-dimension variance: scales the tolerance to the data.
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0, off = i * d; j < d; j++) mu[j] += data[off + j];
  for (let j = 0; j < d; j++) mu[j] /= n;
  let varSum = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0, off = i * d; j < d; j++) {
      const t = data[off + j] - mu[j];
      varSum += t * t;
    }
  }
  const tolAbs = (tol * varSum) / (n * d);

  // k-means++ initialisation.
  const C = new Float64Array(k * d);
  const setCentroid = (c: number, i: number) => {
    for (let j = 0; j < d; j++) C[c * d + j] = data[i * d + j];
  };
  setCentroid(0, Math.floor(rand() * n));
  const minD = new Float64Array(n);
  for (let i = 0; i < n; i++) minD[i] = sqDist(data, i * d, C, 0, d);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += minD[i];
    let pick: number;
    if (total <= 0) {
      pick = Math.floor(rand() * n); // all remaining points coincide with a centroid
    } else {
      let r = rand() * total;
      pick = n - 1;
      for (let i = 0; i < n; i++) {
        r -= minD[i];
        if (r < 0) {
          pick = i;
          break;
        }
      }
    }
    setCentroid(c, pick);
    for (let i = 0; i < n; i++) {
      const dd = sqDist(data, i * d, C, c * d, d);
      if (dd < minD[i]) minD[i] = dd;
    }
  }

  const assign = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  const counts = new Int32Array(k);
  const next = new Float64Array(k * d);
  let iterations = 0;
  for (let iter = 0; iter < maxIter; iter++) {
    iterations = iter + 1;
    // Assignment step.
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const off = i * d;
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < k; c++) {
        const dd = sqDist(data, off, C, c * d, d);
        if (dd < bestD) {
          bestD = dd;
          best = c;
        }
      }
      if (assign[i] !== best) changed++;
      assign[i] = best;
      dist[i] = bestD;
    }
    // Update step.
    next.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assign[i];
      counts[c]++;
      for (let j = 0, off = i * d, coff = c * d; j < d; j++) next[coff + j] += data[off + j];
    }
    // Empty clusters: re-seed from the point farthest from its centroid (each point used once).
    for (let c = 0; c < k; c++) {
      if (counts[c] > 0) continue;
      let far = -1;
      let farD = 0;
      for (let i = 0; i < n; i++) {
        if (dist[i] > farD && counts[assign[i]] > 1) {
          farD = dist[i];
          far = i;
        }
      }
      if (far < 0) continue; // fewer distinct points than k: leave it empty
      const old = assign[far];
      counts[old]--;
      for (let j = 0; j < d; j++) next[old * d + j] -= data[far * d + j];
      for (let j = 0; j < d; j++) next[c * d + j] = data[far * d + j];
      counts[c] = 1;
      assign[far] = c;
      dist[far] = 0;
      changed++;
    }
    let shift = 0;
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      const inv = 1 / counts[c];
      for (let j = 0, coff = c * d; j < d; j++) {
        const v = next[coff + j] * inv;
        const t = v - C[coff + j];
        shift += t * t;
        C[coff + j] = v;
      }
    }
    if (changed === 0 || shift <= tolAbs) break;
  }
  // Final assignment against the final centroids, for a consistent inertia.
  let inertia = 0;
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < k; c++) {
      const dd = sqDist(data, i * d, C, c * d, d);
      if (dd < bestD) {
        bestD = dd;
        best = c;
      }
    }
    assign[i] = best;
    counts[best]++;
    inertia += bestD;
  }
  const centroids: Float64Array[] = [];
  for (let c = 0; c < k; c++) centroids.push(C.slice(c * d, (c + 1) * d));
  return { centroids, assignments: assign, inertia, iterations, sizes: Array.from(counts) };
}

// ---------------------------------------------------------------------------------------------
// One-versus-rest linear SVMs

export interface OvrOptions {
  /** SVM cost C (L2-regularised hinge loss, liblinear's parametrisation). Default 1. */
  C?: number;
  /** Solver iterations per classifier at most (full or shrunk passes; liblinear's max_iter). Default 300. */
  maxEpochs?: number;
  /** Stop when the projected-gradient spread of a full pass is <= eps (liblinear's criterion). Default 0.1. */
  eps?: number;
  seed?: number;
}

export interface OvrResult {
  /** k × d weights, row-major. */
  weights: Float64Array;
  biases: Float64Array;
  /** Most solver iterations any classifier took. */
  epochs: number;
  /** Whether every classifier met the stopping criterion within maxEpochs. */
  converged: boolean;
}

function dotF(W: Float64Array, woff: number, X: Float32Array, xoff: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < d; j += 4) {
    s0 += W[woff + j] * X[xoff + j];
    s1 += W[woff + j + 1] * X[xoff + j + 1];
    s2 += W[woff + j + 2] * X[xoff + j + 2];
    s3 += W[woff + j + 3] * X[xoff + j + 3];
  }
  for (; j < d; j++) s0 += W[woff + j] * X[xoff + j];
  return s0 + s1 + s2 + s3;
}

/**
 * Trains k one-versus-rest linear SVMs (L2-regularised hinge loss) by dual coordinate descent with
 * shrinking — liblinear's L2R_L1LOSS_SVC_DUAL solver (Hsieh et al., ICML 2008), with the bias as an extra
 * feature of value 1. Classifier c has the samples labelled c as positives and all others as negatives.
 * data: n × d row-major (already standardised); labels in [0, k). Each pass is O(active·d), no allocation
 * in the loop. Deterministic given the seed.
 */
export function trainOvr(
  data: Float32Array,
  n: number,
  d: number,
  labels: ArrayLike<number>,
  k: number,
  opts: OvrOptions = {},
): OvrResult {
  const Cost = opts.C ?? 1;
  const maxIter = opts.maxEpochs ?? 300;
  const eps = opts.eps ?? 0.1;
  if (!(Cost > 0)) throw new RangeError(`trainOvr: C must be > 0, got ${Cost}`);
  const rand = mulberry32((opts.seed ?? 0) ^ 0x5bd1e995);
  const W = new Float64Array(k * d);
  const B = new Float64Array(k);
  const alpha = new Float64Array(n);
  const Q = new Float64Array(n); // x·x + 1 (bias feature)
  for (let i = 0; i < n; i++) {
    let s = 1;
    for (let j = 0, off = i * d; j < d; j++) s += data[off + j] * data[off + j];
    Q[i] = s;
  }
  const index = new Uint32Array(n);
  let epochs = 0;
  let converged = true;
  for (let c = 0; c < k; c++) {
    const woff = c * d;
    alpha.fill(0);
    for (let i = 0; i < n; i++) index[i] = i;
    let active = n;
    let pgMaxOld = Infinity;
    let pgMinOld = -Infinity;
    let bias = 0;
    let iter = 0;
    let ok = false;
    while (iter < maxIter) {
      let pgMax = -Infinity;
      let pgMin = Infinity;
      // Shuffle the active prefix.
      for (let s = active - 1; s > 0; s--) {
        const r = Math.floor(rand() * (s + 1));
        const t = index[s];
        index[s] = index[r];
        index[r] = t;
      }
      for (let s = 0; s < active; s++) {
        const i = index[s];
        const off = i * d;
        const y = labels[i] === c ? 1 : -1;
        const G = y * (dotF(W, woff, data, off, d) + bias) - 1;
        const ai = alpha[i];
        let PG = 0;
        if (ai === 0) {
          if (G > pgMaxOld) {
            active--;
            index[s] = index[active];
            index[active] = i;
            s--;
            continue;
          } else if (G < 0) PG = G;
        } else if (ai === Cost) {
          if (G < pgMinOld) {
            active--;
            index[s] = index[active];
            index[active] = i;
            s--;
            continue;
          } else if (G > 0) PG = G;
        } else PG = G;
        if (PG > pgMax) pgMax = PG;
        if (PG < pgMin) pgMin = PG;
        if (Math.abs(PG) > 1e-12) {
          let an = ai - G / Q[i];
          if (an < 0) an = 0;
          else if (an > Cost) an = Cost;
          alpha[i] = an;
          const step = (an - ai) * y;
          for (let j = 0; j < d; j++) W[woff + j] += step * data[off + j];
          bias += step;
        }
      }
      iter++;
      if (pgMax - pgMin <= eps || active === 0) {
        if (active === n) {
          ok = true;
          break;
        }
        active = n; // converged on the shrunk set: check everything once more
        pgMaxOld = Infinity;
        pgMinOld = -Infinity;
        continue;
      }
      pgMaxOld = pgMax <= 0 ? Infinity : pgMax;
      pgMinOld = pgMin >= 0 ? -Infinity : pgMin;
    }
    B[c] = bias;
    if (iter > epochs) epochs = iter;
    if (!ok) converged = false;
  }
  return { weights: W, biases: B, epochs, converged };
}

// ---------------------------------------------------------------------------------------------
// Scene model

export const SCENE_MODEL_FORMAT = 'lookout-scene-model';
export const SCENE_MODEL_VERSION = 1;
const MAGIC = 'LKSM';

export interface SceneModel {
  version: number;
  /** Number of clusters / classifiers. */
  k: number;
  dim: number;
  /** Anomaly scores above this are abnormal. */
  threshold: number;
  quantile: number;
  seed: number;
  C: number;
  trainingSamples: number;
  /** Samples held out of training to set the threshold (0: threshold from the training samples). */
  calibrationSamples: number;
  clusterSizes: number[];
  createdAt: string;
  /** Free-form description of the features (extractor, crop size, ...), set by the caller; checked by whoever loads the model. */
  featureSpec: string;
  mean: Float32Array; // dim
  std: Float32Array; // dim, > 0 (constant dimensions get 1)
  centroids: Float32Array; // k × dim, standardised space
  weights: Float32Array; // k × dim, standardised space
  biases: Float32Array; // k
}

export interface FitOptions {
  k?: number; // default 10
  seed?: number; // default 0
  quantile?: number; // default 0.99
  C?: number; // default 1
  maxEpochs?: number; // default 300 (solver iterations per classifier)
  eps?: number; // default 0.1
  kmeansMaxIter?: number; // default 100
  featureSpec?: string; // default ''
  /**
   * Fraction of the samples (seeded random choice) held out of training and used only to set the
   * threshold. Default 0: the threshold comes from the training samples themselves, which is optimistic
   * (an SVM scores its own training data at or below −1 margin), so unseen normal objects exceed it
   * more often than 1 − quantile. 0.1–0.2 gives a threshold that reflects unseen normal data.
   */
  calibrationFraction?: number;
  /** Timestamp to record; default now. */
  createdAt?: Date;
}

export interface FitReport {
  kmeansIterations: number;
  inertia: number;
  svmEpochs: number;
  svmConverged: boolean;
}

/** q-th quantile (linear interpolation between order statistics). */
export function quantileOf(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new RangeError('quantile of an empty set');
  const s = Float64Array.from(values).sort();
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Trains a scene model on the features of normal objects (one row per object). */
export function fitSceneModel(
  features: number[][] | Float32Array[],
  opts: FitOptions = {},
): SceneModel & { report: FitReport } {
  const k = opts.k ?? 10;
  const seed = opts.seed ?? 0;
  const quantile = opts.quantile ?? 0.99;
  const Cost = opts.C ?? 1;
  if (!Number.isInteger(k) || k < 2)
    throw new RangeError(`fitSceneModel: k must be an integer >= 2 (one-versus-rest needs other clusters), got ${k}`);
  if (!(quantile > 0 && quantile <= 1))
    throw new RangeError(`fitSceneModel: quantile must be in (0, 1], got ${quantile}`);
  const calFrac = opts.calibrationFraction ?? 0;
  if (!(calFrac >= 0 && calFrac < 1))
    throw new RangeError(`fitSceneModel: calibrationFraction must be in [0, 1), got ${calFrac}`);
  let trainRows: ReadonlyArray<ArrayLike<number>> = features;
  let calRows: ReadonlyArray<ArrayLike<number>> = features;
  const nCal = Math.round(calFrac * features.length);
  if (calFrac > 0) {
    if (nCal < 1)
      throw new RangeError(
        `fitSceneModel: calibrationFraction ${calFrac} of ${features.length} samples holds out none`,
      );
    const order = Array.from({ length: features.length }, (_, i) => i);
    const rand = mulberry32((seed ^ 0x9e3779b9) >>> 0);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const cal = order.slice(0, nCal).sort((a, b) => a - b);
    const tr = order.slice(nCal).sort((a, b) => a - b);
    calRows = cal.map((i) => features[i]);
    trainRows = tr.map((i) => features[i]);
  }
  const { data, n, d } = flatten(trainRows, 'fitSceneModel');
  if (n < k) throw new RangeError(`fitSceneModel: ${n} training samples is fewer than k = ${k} clusters`);

  // Standardise in place (float32 mean/std, as stored, so scoring matches training).
  const sum = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0, off = i * d; j < d; j++) sum[j] += data[off + j];
  const mean = new Float32Array(d);
  for (let j = 0; j < d; j++) mean[j] = sum[j] / n;
  const sq = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0, off = i * d; j < d; j++) {
      const t = data[off + j] - mean[j];
      sq[j] += t * t;
    }
  }
  const std = new Float32Array(d);
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(sq[j] / n);
    std[j] = s > 1e-6 ? s : 1;
  }
  for (let i = 0; i < n; i++)
    for (let j = 0, off = i * d; j < d; j++) data[off + j] = (data[off + j] - mean[j]) / std[j];

  const km = kmeansFlat(data, n, d, k, { seed, maxIter: opts.kmeansMaxIter ?? 100 });
  // Drop clusters left empty (only when there are fewer distinct samples than k).
  const keep: number[] = [];
  for (let c = 0; c < k; c++) if (km.sizes[c] > 0) keep.push(c);
  if (keep.length < 2) throw new RangeError('fitSceneModel: the samples form fewer than 2 distinct clusters');
  const remap = new Int32Array(k).fill(-1);
  keep.forEach((c, i) => (remap[c] = i));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = remap[km.assignments[i]];
  const kk = keep.length;

  const ovr = trainOvr(data, n, d, labels, kk, { C: Cost, maxEpochs: opts.maxEpochs, eps: opts.eps, seed });
  const centroids = new Float32Array(kk * d);
  keep.forEach((c, i) => centroids.set(km.centroids[c], i * d));
  const model: SceneModel = {
    version: SCENE_MODEL_VERSION,
    k: kk,
    dim: d,
    threshold: 0,
    quantile,
    seed,
    C: Cost,
    trainingSamples: n,
    calibrationSamples: calFrac > 0 ? nCal : 0,
    clusterSizes: keep.map((c) => km.sizes[c]),
    createdAt: (opts.createdAt ?? new Date()).toISOString(),
    featureSpec: opts.featureSpec ?? '',
    mean,
    std,
    centroids,
    weights: Float32Array.from(ovr.weights),
    biases: Float32Array.from(ovr.biases),
  };
  // Threshold from the stored (float32) model on the raw features (held-out ones when calibrating), so
  // scoreObjects on them reproduces it exactly.
  if (calFrac > 0) {
    const cal = flatten(calRows, 'fitSceneModel (calibration samples)'); // validates shape and values
    if (cal.d !== d) throw new RangeError(`fitSceneModel: calibration samples have dimension ${cal.d}, expected ${d}`);
  }
  model.threshold = quantileOf(scoreObjects(model, calRows), quantile);
  return {
    ...model,
    report: {
      kmeansIterations: km.iterations,
      inertia: km.inertia,
      svmEpochs: ovr.epochs,
      svmConverged: ovr.converged,
    },
  };
}

function checkDim(model: SceneModel, x: ArrayLike<number>, i: number): void {
  if (x.length !== model.dim) {
    throw new SetupError(
      'SceneModelMismatch',
      `object ${i} has ${x.length} features but the scene model expects ${model.dim} (feature spec: ${model.featureSpec || 'unspecified'})`,
    );
  }
}

/** g_i(x) for every classifier i. */
export function classifierScores(model: SceneModel, x: ArrayLike<number>): number[] {
  checkDim(model, x, 0);
  const z = new Float64Array(model.dim);
  standardise(model, x, z);
  const out: number[] = [];
  for (let c = 0; c < model.k; c++) out.push(dotRow(model, c, z));
  return out;
}

function standardise(model: SceneModel, x: ArrayLike<number>, z: Float64Array): void {
  const { mean, std, dim } = model;
  for (let j = 0; j < dim; j++) z[j] = (x[j] - mean[j]) / std[j];
}

function dotRow(model: SceneModel, c: number, z: Float64Array): number {
  const { weights, dim } = model;
  let s = model.biases[c];
  for (let j = 0, off = c * dim; j < dim; j++) s += weights[off + j] * z[j];
  return s;
}

/** Anomaly score of each object: −max_i g_i(x); higher is more abnormal. NaN features give NaN. */
export function scoreObjects(model: SceneModel, features: ReadonlyArray<ArrayLike<number>>): number[] {
  const z = new Float64Array(model.dim);
  const out = new Array<number>(features.length);
  for (let i = 0; i < features.length; i++) {
    const x = features[i];
    checkDim(model, x, i);
    standardise(model, x, z);
    let best = -Infinity;
    for (let c = 0; c < model.k; c++) {
      const g = dotRow(model, c, z);
      if (g > best) best = g;
    }
    out[i] = -best;
  }
  return out;
}

export function isAbnormal(model: SceneModel, score: number): boolean {
  return score > model.threshold;
}

/** Frame score: the max over its objects' scores; null for a frame without objects. */
export function frameScore(objectScores: ReadonlyArray<number>): number | null {
  if (objectScores.length === 0) return null;
  let m = -Infinity;
  for (const s of objectScores) if (s > m) m = s;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Serialisation
//
// Layout (one file):
//   bytes 0..3    ASCII "LKSM"
//   bytes 4..7    uint32 LE: length H of the JSON header
//   bytes 8..8+H  UTF-8 JSON header (see SceneModelHeader), then zero padding to a multiple of 4
//   then float32 LE: mean[dim], std[dim], centroids[k·dim], weights[k·dim], biases[k]
// The file ends exactly there.

/** The JSON header: every scalar field of the model, plus format and layout. */
type SceneModelHeader = Omit<SceneModel, 'mean' | 'std' | 'centroids' | 'weights' | 'biases'> & {
  format: string;
  layout: string;
};

const LAYOUT = 'float32le:mean[dim],std[dim],centroids[k*dim],weights[k*dim],biases[k]';

function floatCount(k: number, dim: number): number {
  return 2 * dim + 2 * k * dim + k;
}

export function serializeSceneModel(model: SceneModel): Buffer {
  const { k, dim } = model;
  const sizes: Array<[string, Float32Array, number]> = [
    ['mean', model.mean, dim],
    ['std', model.std, dim],
    ['centroids', model.centroids, k * dim],
    ['weights', model.weights, k * dim],
    ['biases', model.biases, k],
  ];
  for (const [name, arr, len] of sizes) {
    if (arr.length !== len)
      throw new RangeError(
        `serializeSceneModel: ${name} has ${arr.length} values, expected ${len} (k=${k}, dim=${dim})`,
      );
  }
  const header: SceneModelHeader = {
    format: SCENE_MODEL_FORMAT,
    version: model.version,
    k,
    dim,
    threshold: model.threshold,
    quantile: model.quantile,
    seed: model.seed,
    C: model.C,
    trainingSamples: model.trainingSamples,
    calibrationSamples: model.calibrationSamples,
    clusterSizes: model.clusterSizes,
    createdAt: model.createdAt,
    featureSpec: model.featureSpec,
    layout: LAYOUT,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const binOffset = align4(8 + json.length);
  const buf = Buffer.alloc(binOffset + 4 * floatCount(k, dim));
  buf.write(MAGIC, 0, 'ascii');
  buf.writeUInt32LE(json.length, 4);
  json.copy(buf, 8);
  let off = binOffset;
  for (const [, arr] of sizes) {
    for (let i = 0; i < arr.length; i++, off += 4) buf.writeFloatLE(arr[i], off);
  }
  return buf;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function invalid(where: string, msg: string): SetupError {
  return new SetupError('SceneModelInvalid', `${where}: not a valid scene model: ${msg}`);
}

/** Parses and validates a serialised scene model; `where` (a path or URL) names it in errors. */
export function parseSceneModel(buf: Buffer | Uint8Array, where: string): SceneModel {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8) throw invalid(where, `file is ${b.length} bytes, too short for the 8-byte preamble (truncated?)`);
  if (b.toString('latin1', 0, 4) !== MAGIC)
    throw invalid(where, `bad magic ${JSON.stringify(b.toString('latin1', 0, 4))}, expected "${MAGIC}"`);
  const hlen = b.readUInt32LE(4);
  if (8 + hlen > b.length)
    throw invalid(where, `header of ${hlen} bytes runs past the end of the ${b.length}-byte file (truncated?)`);
  let h: SceneModelHeader;
  try {
    h = JSON.parse(b.toString('utf8', 8, 8 + hlen)) as SceneModelHeader;
  } catch (err) {
    throw invalid(where, `header is not JSON (${(err as Error).message})`);
  }
  if (typeof h !== 'object' || h === null) throw invalid(where, 'header is not a JSON object');
  if (h.format !== SCENE_MODEL_FORMAT)
    throw invalid(where, `format is ${JSON.stringify(h.format)}, expected "${SCENE_MODEL_FORMAT}"`);
  if (h.version !== SCENE_MODEL_VERSION)
    throw invalid(
      where,
      `unsupported format version ${JSON.stringify(h.version)} (this build reads version ${SCENE_MODEL_VERSION})`,
    );
  const posInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
  if (!posInt(h.k)) throw invalid(where, `k must be a positive integer, got ${JSON.stringify(h.k)}`);
  if (!posInt(h.dim)) throw invalid(where, `dim must be a positive integer, got ${JSON.stringify(h.dim)}`);
  if (typeof h.threshold !== 'number' || !Number.isFinite(h.threshold))
    throw invalid(where, `threshold must be a finite number, got ${JSON.stringify(h.threshold)}`);
  if (typeof h.quantile !== 'number' || !(h.quantile > 0 && h.quantile <= 1))
    throw invalid(where, `quantile must be in (0, 1], got ${JSON.stringify(h.quantile)}`);
  if (h.layout !== LAYOUT)
    throw invalid(where, `binary layout ${JSON.stringify(h.layout)} is not ${JSON.stringify(LAYOUT)}`);
  if (!Array.isArray(h.clusterSizes) || h.clusterSizes.length !== h.k)
    throw invalid(where, `clusterSizes must list ${h.k} cluster sizes`);
  const { k, dim } = h;
  const binOffset = align4(8 + hlen);
  const expected = binOffset + 4 * floatCount(k, dim);
  if (b.length < expected)
    throw invalid(where, `file is ${b.length} bytes but k=${k}, dim=${dim} needs ${expected} (truncated?)`);
  if (b.length > expected)
    throw invalid(
      where,
      `file is ${b.length} bytes but k=${k}, dim=${dim} needs exactly ${expected} (${b.length - expected} trailing bytes)`,
    );
  let off = binOffset;
  const read = (name: string, len: number): Float32Array => {
    const a = new Float32Array(len);
    for (let i = 0; i < len; i++, off += 4) {
      const v = b.readFloatLE(off);
      if (!Number.isFinite(v)) throw invalid(where, `${name}[${i}] is not finite`);
      a[i] = v;
    }
    return a;
  };
  const mean = read('mean', dim);
  const std = read('std', dim);
  for (let j = 0; j < dim; j++) if (!(std[j] > 0)) throw invalid(where, `std[${j}] = ${std[j]} is not positive`);
  const centroids = read('centroids', k * dim);
  const weights = read('weights', k * dim);
  const biases = read('biases', k);
  return {
    version: h.version,
    k,
    dim,
    threshold: h.threshold,
    quantile: h.quantile,
    seed: typeof h.seed === 'number' ? h.seed : 0,
    C: typeof h.C === 'number' ? h.C : 1,
    trainingSamples: typeof h.trainingSamples === 'number' ? h.trainingSamples : 0,
    calibrationSamples: typeof h.calibrationSamples === 'number' ? h.calibrationSamples : 0,
    clusterSizes: h.clusterSizes.map(Number),
    createdAt: String(h.createdAt ?? ''),
    featureSpec: String(h.featureSpec ?? ''),
    mean,
    std,
    centroids,
    weights,
    biases,
  };
}
