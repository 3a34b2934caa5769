import { mulberry32 } from '../core/random'; /**
 * A bounded k-nearest-neighbour distance bank over Float32 vectors, shared by methods that score novelty
 * as "distance to the nearest normal examples" (CCTV appearance, satellite chip novelty).
 *
 * Memory stays bounded for hours of footage because the bank is a coreset of the normal vectors: greedy
 * farthest-point (k-center) selection, as PatchCore does for industrial anomaly detection (Roth et al.,
 * CVPR 2022). Each step adds the vector farthest from everything already chosen, so the coreset covers the
 * whole normal set with a small radius: a query's distance to the coreset is at most its distance to the
 * full set plus that radius, which is reported (`coverageRadius`). Selection runs in a random
 * Johnson-Lindenstrauss projection (default 128 dims) like PatchCore, so it costs O(N·M·128) rather than
 * O(N·M·d); the bank keeps the full vectors.
 *
 * No library: the npm kNN packages are either approximate-index bindings (native builds, no coreset) or
 * toy brute-force code; the exact search over a few thousand vectors below is a handful of lines.
 *
 * Also here, because they operate on the same flat vector sets: a seeded k-means (for cluster reports)
 * and the top principal components (for 2-D plots).
 */

/** A seeded PRNG (mulberry32, core/random.ts). */
export const seededRandom = mulberry32;

export class KnnBankError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.name = 'KnnBankError';
  }
}

export type KnnMetric = 'l2' | 'cosine';

export interface CoresetOptions {
  /** At most this many vectors are kept (default 2000). */
  maxSize?: number;
  /** Dimension of the random projection used for selection; 0 selects in the full space (default 128). */
  projectDim?: number;
  seed?: number;
}

export interface KnnBankOptions extends CoresetOptions {
  /** 'cosine': vectors are L2-normalised on the way in, so L2 distances are monotone in cosine distance. */
  metric?: KnnMetric;
}

export interface CoresetResult {
  /** Indices into the input, in selection order. */
  indices: number[];
  /** Largest distance (in the selection space) from any input vector to its nearest selected one. */
  coverageRadius: number;
}

function flat(vectors: ReadonlyArray<ArrayLike<number>>, where: string): { data: Float32Array; n: number; d: number } {
  const n = vectors.length;
  if (n === 0) return { data: new Float32Array(0), n: 0, d: 0 };
  const d = vectors[0].length;
  if (d === 0) throw new KnnBankError(`${where}: vectors of dimension 0`);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const v = vectors[i];
    if (v.length !== d) throw new KnnBankError(`${where}: vector ${i} has dimension ${v.length}, expected ${d}`);
    for (let j = 0; j < d; j++) {
      const x = v[j];
      if (!Number.isFinite(x)) throw new KnnBankError(`${where}: vector ${i} has a non-finite value at ${j}`);
      data[i * d + j] = x;
    }
  }
  return { data, n, d };
}

function normaliseRows(data: Float32Array, n: number, d: number): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0, o = i * d; j < d; j++) s += data[o + j] * data[o + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0, o = i * d; j < d; j++) data[o + j] *= inv;
  }
}

/** Whether `b` holds exactly the values of `a` (same length). */
function sameValues(a: Float32Array, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
  return true;
}

function sqDist(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const t = a[ao + j] - b[bo + j];
    s += t * t;
  }
  return s;
}

/** Gaussian random projection d -> p (entries N(0, 1/p)), seeded. */
function project(data: Float32Array, n: number, d: number, p: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const R = new Float32Array(d * p);
  const scale = 1 / Math.sqrt(p);
  for (let i = 0; i < R.length; i += 2) {
    // Box-Muller: two normals per pair of uniforms.
    const u = rand() || 1e-12;
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    R[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < R.length) R[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  const out = new Float32Array(n * p);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const x = data[o + j];
      if (x === 0) continue;
      const ro = j * p;
      for (let k = 0; k < p; k++) out[i * p + k] += x * R[ro + k];
    }
  }
  return out;
}

/**
 * Greedy farthest-point (k-center) coreset of a flat n × d set: the first point is a seeded random choice,
 * then each step takes the point farthest from the chosen ones. Duplicates are never chosen twice (the
 * loop stops once every point is covered at distance 0).
 */
export function farthestPointCoreset(
  data: Float32Array,
  n: number,
  d: number,
  opts: CoresetOptions = {},
): CoresetResult {
  const m = Math.min(n, opts.maxSize ?? 2000);
  if (n === 0 || m <= 0) return { indices: [], coverageRadius: 0 };
  const p = opts.projectDim ?? 128;
  const seed = opts.seed ?? 0;
  const useProj = p > 0 && p < d;
  const X = useProj ? project(data, n, d, p, seed ^ 0x5bd1e995) : data;
  const D = useProj ? p : d;
  const minD = new Float64Array(n).fill(Infinity);
  const indices: number[] = [];
  let next = Math.floor(seededRandom(seed)() * n);
  while (indices.length < m) {
    indices.push(next);
    const co = next * D;
    let far = -1;
    let farD = -1;
    for (let i = 0; i < n; i++) {
      const dd = sqDist(X, i * D, X, co, D);
      if (dd < minD[i]) minD[i] = dd;
      if (minD[i] > farD) {
        farD = minD[i];
        far = i;
      }
    }
    if (farD <= 0) break; // every point coincides with a chosen one
    next = far;
  }
  let radius = 0;
  for (let i = 0; i < n; i++) if (minD[i] > radius) radius = minD[i];
  return { indices, coverageRadius: Math.sqrt(radius) };
}

const MAGIC = 'LKNN';
const FORMAT = 'lookout-knn-bank';
const VERSION = 1;

interface BankHeader {
  format: string;
  version: number;
  dim: number;
  count: number;
  metric: KnnMetric;
  /** How many vectors the coreset was chosen from. */
  sourceCount: number;
  coverageRadius: number;
  layout: string;
}

export interface KnnQuery {
  /** Mean distance to the k nearest bank vectors. */
  distance: number;
  /** Index (into the bank) of the nearest vector. */
  nearest: number;
}

/** An immutable bank of normal vectors; build with KnnBank.build, store with serialize / KnnBank.parse. */
export class KnnBank {
  private constructor(
    readonly dim: number,
    readonly count: number,
    readonly metric: KnnMetric,
    /** count × dim, row-major (normalised rows for 'cosine'). */
    readonly data: Float32Array,
    readonly sourceCount: number,
    readonly coverageRadius: number,
  ) {}

  /**
   * Builds a bank from normal vectors: all of them when there are at most maxSize, else a farthest-point
   * coreset. Returns the bank and, for callers that keep per-vector metadata, which inputs were kept.
   */
  static build(
    vectors: ReadonlyArray<ArrayLike<number>>,
    opts: KnnBankOptions = {},
  ): { bank: KnnBank; kept: number[] } {
    const metric = opts.metric ?? 'l2';
    const { data, n, d } = flat(vectors, 'KnnBank.build');
    if (n === 0) throw new KnnBankError('KnnBank.build: no vectors');
    if (metric === 'cosine') normaliseRows(data, n, d);
    const max = opts.maxSize ?? 2000;
    if (!(Number.isInteger(max) && max >= 1))
      throw new KnnBankError(`KnnBank.build: maxSize must be a positive integer, got ${max}`);
    let kept: number[];
    let radius = 0;
    if (n <= max) {
      kept = Array.from({ length: n }, (_, i) => i);
    } else {
      const cs = farthestPointCoreset(data, n, d, { ...opts, maxSize: max });
      kept = cs.indices;
      radius = cs.coverageRadius;
    }
    const out = new Float32Array(kept.length * d);
    kept.forEach((src, i) => out.set(data.subarray(src * d, (src + 1) * d), i * d));
    return { bank: new KnnBank(d, kept.length, metric, out, n, radius), kept };
  }

  /**
   * The last query per vector object (a track reuses its appearance vector for several frames): a query with
   * the same object, the same k and the same values returns the stored answer. The values are compared, so an
   * array changed in place is queried afresh.
   */
  private readonly recent = new WeakMap<object, { k: number; values: Float32Array; answer: KnnQuery }>();

  /**
   * Mean distance to the k nearest bank vectors (k clipped to the bank size), and the nearest one.
   *
   * Exact search, bit-identical to summing every squared difference over the whole bank: the scan order and
   * the order of the sums are those of a plain loop, but a bank vector's sum stops (in blocks of 64
   * dimensions) once it reaches the k-th best distance so far, since adding squares only grows it.
   */
  query(v: ArrayLike<number>, k = 1): KnnQuery {
    if (v.length !== this.dim)
      throw new KnnBankError(`KnnBank.query: vector has dimension ${v.length}, the bank ${this.dim}`);
    const hit = typeof v === 'object' ? this.recent.get(v) : undefined;
    if (hit && hit.k === k && sameValues(hit.values, v)) return { ...hit.answer };
    const q = Float32Array.from(v);
    for (let j = 0; j < q.length; j++)
      if (!Number.isFinite(q[j])) throw new KnnBankError(`KnnBank.query: non-finite value at ${j}`);
    if (this.metric === 'cosine') normaliseRows(q, 1, this.dim);
    const kk = Math.max(1, Math.min(k, this.count));
    // Keep the kk smallest squared distances in a small sorted array (kk is tiny).
    const best = new Float64Array(kk).fill(Infinity);
    let nearest = -1;
    const d = this.dim;
    const data = this.data;
    for (let i = 0; i < this.count; i++) {
      const bound = best[kk - 1];
      const o = i * d;
      let dd = 0;
      for (let j = 0; j < d;) {
        const end = Math.min(d, j + 64);
        for (; j < end; j++) {
          const t = data[o + j] - q[j];
          dd += t * t;
        }
        if (dd >= bound) break;
      }
      if (dd >= bound) continue;
      if (dd < best[0]) nearest = i;
      let p = kk - 1;
      while (p > 0 && best[p - 1] > dd) {
        best[p] = best[p - 1];
        p--;
      }
      best[p] = dd;
    }
    let s = 0;
    for (let i = 0; i < kk; i++) s += Math.sqrt(best[i]);
    const answer = { distance: s / kk, nearest };
    if (typeof v === 'object') this.recent.set(v, { k, values: Float32Array.from(v), answer });
    return { ...answer };
  }

  vector(i: number): Float32Array {
    return this.data.subarray(i * this.dim, (i + 1) * this.dim);
  }

  /** "LKNN", uint32 LE header length, JSON header, zero padding to 4 bytes, float32 LE count × dim. */
  serialize(): Buffer {
    const header: BankHeader = {
      format: FORMAT,
      version: VERSION,
      dim: this.dim,
      count: this.count,
      metric: this.metric,
      sourceCount: this.sourceCount,
      coverageRadius: this.coverageRadius,
      layout: 'float32le[count*dim]',
    };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const off = (8 + json.length + 3) & ~3;
    const buf = Buffer.alloc(off + 4 * this.data.length);
    buf.write(MAGIC, 0, 'ascii');
    buf.writeUInt32LE(json.length, 4);
    json.copy(buf, 8);
    Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength).copy(buf, off);
    return buf;
  }

  /** Parses serialize()'s bytes; `where` names the source in errors. */
  static parse(buf: Uint8Array, where = 'knn bank'): KnnBank {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (b.length < 8 || b.toString('latin1', 0, 4) !== MAGIC)
      throw new KnnBankError(
        `${where}: not a kNN bank (magic ${JSON.stringify(b.toString('latin1', 0, Math.min(4, b.length)))}, expected "${MAGIC}")`,
      );
    const hlen = b.readUInt32LE(4);
    if (8 + hlen > b.length)
      throw new KnnBankError(`${where}: header runs past the end of the ${b.length}-byte buffer (truncated?)`);
    let h: BankHeader;
    try {
      h = JSON.parse(b.toString('utf8', 8, 8 + hlen)) as BankHeader;
    } catch (err) {
      throw new KnnBankError(`${where}: header is not JSON`, err);
    }
    if (h.format !== FORMAT || h.version !== VERSION)
      throw new KnnBankError(
        `${where}: format ${JSON.stringify(h.format)} v${h.version}, this build reads ${FORMAT} v${VERSION}`,
      );
    if (!(Number.isInteger(h.dim) && h.dim > 0 && Number.isInteger(h.count) && h.count > 0))
      throw new KnnBankError(`${where}: bad dim/count ${h.dim}/${h.count}`);
    if (h.metric !== 'l2' && h.metric !== 'cosine')
      throw new KnnBankError(`${where}: unknown metric ${JSON.stringify(h.metric)}`);
    const off = (8 + hlen + 3) & ~3;
    const need = off + 4 * h.dim * h.count;
    if (b.length !== need)
      throw new KnnBankError(`${where}: ${b.length} bytes, dim ${h.dim} × count ${h.count} needs exactly ${need}`);
    const data = new Float32Array(h.dim * h.count);
    Buffer.from(data.buffer).set(b.subarray(off, need));
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i])) throw new KnnBankError(`${where}: value ${i} is not finite`);
    return new KnnBank(h.dim, h.count, h.metric, data, h.sourceCount ?? h.count, h.coverageRadius ?? 0);
  }
}

export interface KmeansResult {
  /** k × d, row-major. */
  centroids: Float32Array;
  assignments: Int32Array;
  sizes: number[];
  iterations: number;
  inertia: number;
}

/** Seeded k-means (k-means++ seeding, Lloyd iterations) on a flat n × d set. */
export function kmeans(
  data: Float32Array,
  n: number,
  d: number,
  k: number,
  opts: { seed?: number; maxIter?: number } = {},
): KmeansResult {
  if (!(Number.isInteger(k) && k >= 1)) throw new KnnBankError(`kmeans: k must be a positive integer, got ${k}`);
  if (n < k) throw new KnnBankError(`kmeans: ${n} vectors is fewer than k = ${k}`);
  const rand = seededRandom(opts.seed ?? 0);
  const C = new Float32Array(k * d);
  const first = Math.floor(rand() * n);
  C.set(data.subarray(first * d, (first + 1) * d), 0);
  const dmin = new Float64Array(n).fill(Infinity);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const dd = sqDist(data, i * d, C, (c - 1) * d, d);
      if (dd < dmin[i]) dmin[i] = dd;
      total += dmin[i];
    }
    let r = rand() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= dmin[i];
      if (r <= 0) {
        pick = i;
        break;
      }
    }
    C.set(data.subarray(pick * d, (pick + 1) * d), c * d);
  }
  const assign = new Int32Array(n).fill(-1);
  let iterations = 0;
  let inertia = 0;
  const maxIter = opts.maxIter ?? 100;
  for (; iterations < maxIter; iterations++) {
    let changed = 0;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bd = Infinity;
      for (let c = 0; c < k; c++) {
        const dd = sqDist(data, i * d, C, c * d, d);
        if (dd < bd) {
          bd = dd;
          best = c;
        }
      }
      inertia += bd;
      if (assign[i] !== best) {
        assign[i] = best;
        changed++;
      }
    }
    if (changed === 0) break;
    const sum = new Float64Array(k * d);
    const cnt = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const c = assign[i];
      cnt[c]++;
      for (let j = 0; j < d; j++) sum[c * d + j] += data[i * d + j];
    }
    // An emptied cluster keeps its old centroid (it may win points back next round).
    for (let c = 0; c < k; c++) if (cnt[c] > 0) for (let j = 0; j < d; j++) C[c * d + j] = sum[c * d + j] / cnt[c];
  }
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) sizes[assign[i]]++;
  return { centroids: C, assignments: assign, sizes, iterations, inertia };
}

/** Projection of each row onto the top `components` principal axes (power iteration with deflation). */
export function pcaProject(
  data: Float32Array,
  n: number,
  d: number,
  components = 2,
  seed = 0,
): { points: Float64Array[]; explainedVariance: number[]; totalVariance: number } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j] / n;
  const X = new Float64Array(n * d);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = data[i * d + j] - mean[j];
      X[i * d + j] = v;
      total += (v * v) / Math.max(1, n - 1);
    }
  }
  const rand = seededRandom(seed);
  const axes: Float64Array[] = [];
  const explained: number[] = [];
  const tmp = new Float64Array(n);
  for (let c = 0; c < Math.min(components, d); c++) {
    let v = Float64Array.from({ length: d }, () => rand() - 0.5);
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      // w = Xᵀ X v, deflated by the axes already found.
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += X[i * d + j] * v[j];
        tmp[i] = s;
      }
      const w = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) w[j] += X[i * d + j] * tmp[i];
      for (const a of axes) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += a[j] * w[j];
        for (let j = 0; j < d; j++) w[j] -= dot * a[j];
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += w[j] * w[j];
      norm = Math.sqrt(norm);
      if (norm === 0) break;
      let diff = 0;
      for (let j = 0; j < d; j++) {
        const nv = w[j] / norm;
        diff += Math.abs(nv - v[j]);
        w[j] = nv;
      }
      v = w;
      lambda = norm / Math.max(1, n - 1);
      if (diff < 1e-9 * d) break;
    }
    axes.push(v);
    explained.push(lambda);
  }
  const points = Array.from({ length: n }, (_, i) => {
    const p = new Float64Array(axes.length);
    axes.forEach((a, c) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += X[i * d + j] * a[j];
      p[c] = s;
    });
    return p;
  });
  return { points, explainedVariance: explained, totalVariance: total };
}
