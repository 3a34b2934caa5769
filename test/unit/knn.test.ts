import { describe, expect, it } from 'vitest';
import { farthestPointCoreset, kmeans, KnnBank, KnnBankError, pcaProject, seededRandom } from '../../runtime/knn';

function gaussianCloud(n: number, d: number, seed: number, center: number[] = [], spread = 1): Float32Array[] {
  const rand = seededRandom(seed);
  const g = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, (_, j) => (center[j] ?? 0) + spread * g()));
}

describe('KnnBank', () => {
  it('gives the exact nearest-neighbour distance when the bank keeps every vector', () => {
    const pts = [
      [0, 0],
      [3, 4],
      [10, 0],
    ];
    const { bank, kept } = KnnBank.build(pts, { maxSize: 10 });
    expect(kept).toEqual([0, 1, 2]);
    expect(bank.query([3, 0]).distance).toBeCloseTo(3, 6);
    expect(bank.query([3, 0]).nearest).toBe(0);
    expect(bank.query([9, 1]).nearest).toBe(2);
    // k = 2: mean of the two nearest (|(3,4)-(3,0)| = 4 and 3).
    expect(bank.query([3, 0], 2).distance).toBeCloseTo(3.5, 6);
    // k larger than the bank is clipped.
    expect(bank.query([3, 0], 99).distance).toBeCloseTo((3 + 4 + 7) / 3, 6);
  });

  it('cosine metric ignores vector length', () => {
    const { bank } = KnnBank.build(
      [
        [1, 0],
        [0, 1],
      ],
      { metric: 'cosine' },
    );
    expect(bank.query([100, 0]).distance).toBeCloseTo(0, 6);
    expect(bank.query([1, 1]).distance).toBeCloseTo(Math.sqrt(2 - Math.SQRT2), 5);
  });

  it('answers exactly as a plain scan over the whole bank (same sums, same nearest), at any k and metric', () => {
    // The reference: every squared difference summed in dimension order, the k smallest kept, the first minimum.
    const plain = (bank: KnnBank, v: Float32Array, k: number) => {
      const q = Float32Array.from(v);
      if (bank.metric === 'cosine') {
        let s = 0;
        for (const x of q) s += x * x;
        const inv = 1 / Math.sqrt(s);
        for (let j = 0; j < q.length; j++) q[j] *= inv;
      }
      const ds = Array.from({ length: bank.count }, (_, i) => {
        let s = 0;
        const b = bank.vector(i);
        for (let j = 0; j < q.length; j++) s += (b[j] - q[j]) * (b[j] - q[j]);
        return s;
      });
      const kk = Math.min(k, bank.count);
      const sorted = [...ds].sort((a, b) => a - b).slice(0, kk);
      return { distance: sorted.reduce((s, d) => s + Math.sqrt(d), 0) / kk, nearest: ds.indexOf(sorted[0]) };
    };
    for (const metric of ['l2', 'cosine'] as const) {
      const { bank } = KnnBank.build(gaussianCloud(300, 200, 11), { metric, maxSize: 300 });
      for (const [i, v] of gaussianCloud(20, 200, 12).entries()) {
        const k = 1 + (i % 4);
        expect(bank.query(v, k)).toEqual(plain(bank, v, k));
        // Asked again (a track reusing its vector): the same answer; changed in place: a fresh one.
        expect(bank.query(v, k)).toEqual(plain(bank, v, k));
        v[0] += 5;
        expect(bank.query(v, k)).toEqual(plain(bank, v, k));
        expect(bank.query(v, k + 1)).toEqual(plain(bank, v, k + 1));
      }
    }
  });

  it('bounds memory with a coreset that still covers every cluster of the normal set', () => {
    // Three far-apart clusters of very different sizes: a random subsample of 30 would likely miss the
    // small one; farthest-point selection must not.
    const big = gaussianCloud(2000, 16, 1, [], 1);
    const mid = gaussianCloud(300, 16, 2, Array(16).fill(20), 1);
    const tiny = gaussianCloud(5, 16, 3, Array(16).fill(-30), 0.5);
    const all = [...big, ...mid, ...tiny];
    const { bank, kept } = KnnBank.build(all, { maxSize: 30, seed: 4 });
    expect(bank.count).toBe(30);
    expect(bank.sourceCount).toBe(all.length);
    expect(kept.some((i) => i >= 2300)).toBe(true);
    expect(kept.some((i) => i >= 2000 && i < 2300)).toBe(true);
    // A new point from the tiny cluster is close to the bank; a point far from all clusters is not.
    const near = bank.query(gaussianCloud(1, 16, 9, Array(16).fill(-30), 0.5)[0]).distance;
    const far = bank.query(Array(16).fill(60)).distance;
    expect(near).toBeLessThan(5);
    expect(far).toBeGreaterThan(100);
    expect(bank.coverageRadius).toBeGreaterThan(0);
  });

  it('coreset radius shrinks as the coreset grows and duplicates are not picked twice', () => {
    const data = gaussianCloud(500, 8, 5);
    const flat = new Float32Array(500 * 8);
    data.forEach((v, i) => flat.set(v, i * 8));
    const r10 = farthestPointCoreset(flat, 500, 8, { maxSize: 10, projectDim: 0 }).coverageRadius;
    const r100 = farthestPointCoreset(flat, 500, 8, { maxSize: 100, projectDim: 0 }).coverageRadius;
    expect(r100).toBeLessThan(r10);
    const dup = new Float32Array(20 * 2); // 20 copies of (0,0) and... all the same point
    expect(farthestPointCoreset(dup, 20, 2, { maxSize: 5 }).indices).toHaveLength(1);
  });

  it('round-trips through bytes and rejects corrupt input with a named error', () => {
    const { bank } = KnnBank.build(gaussianCloud(50, 6, 7), { maxSize: 20, metric: 'cosine', seed: 1 });
    const bytes = bank.serialize();
    const back = KnnBank.parse(bytes, 'mem');
    expect(back.count).toBe(20);
    expect(back.metric).toBe('cosine');
    const q = gaussianCloud(1, 6, 99)[0];
    expect(back.query(q, 3)).toEqual(bank.query(q, 3));
    expect(() => KnnBank.parse(bytes.subarray(0, bytes.length - 4), 'cut')).toThrow(KnnBankError);
    expect(() => KnnBank.parse(Buffer.from('nope'), 'x')).toThrow(/not a kNN bank/);
    expect(() => bank.query([1, 2])).toThrow(/dimension 2/);
    expect(() => KnnBank.build([[1, NaN]])).toThrow(/non-finite/);
    expect(() => KnnBank.build([])).toThrow(KnnBankError);
  });
});

describe('kmeans and PCA', () => {
  it('kmeans separates well-separated blobs and is deterministic per seed', () => {
    const pts = [...gaussianCloud(40, 4, 1, [0, 0, 0, 0], 0.2), ...gaussianCloud(40, 4, 2, [10, 10, 0, 0], 0.2)];
    const flat = new Float32Array(80 * 4);
    pts.forEach((v, i) => flat.set(v, i * 4));
    const a = kmeans(flat, 80, 4, 2, { seed: 3 });
    expect(a.sizes.sort()).toEqual([40, 40]);
    expect(new Set(Array.from(a.assignments.subarray(0, 40))).size).toBe(1);
    expect(a.assignments[0]).not.toBe(a.assignments[79]);
    expect(kmeans(flat, 80, 4, 2, { seed: 3 }).assignments).toEqual(a.assignments);
  });

  it('PCA finds the axis of largest variance', () => {
    const rand = seededRandom(11);
    const n = 200;
    const flat = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      const t = (rand() - 0.5) * 20;
      flat[i * 3] = t; // big variance along (1, 1, 0)/√2
      flat[i * 3 + 1] = t + (rand() - 0.5) * 0.1;
      flat[i * 3 + 2] = (rand() - 0.5) * 2;
    }
    const p = pcaProject(flat, n, 3, 2);
    expect(p.explainedVariance[0]).toBeGreaterThan(10 * p.explainedVariance[1]);
    expect(p.explainedVariance[0] + p.explainedVariance[1]).toBeLessThanOrEqual(p.totalVariance * 1.0001);
    // The first coordinate is ±√2·t (up to centring).
    const c = p.points.map((q) => q[0]);
    const r = c[0] / (flat[0] - flat.filter((_, i) => i % 3 === 0).reduce((s, v) => s + v, 0) / n);
    expect(Math.abs(Math.abs(r) - Math.SQRT2)).toBeLessThan(0.05);
  });
});
