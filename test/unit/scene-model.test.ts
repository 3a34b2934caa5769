import { describe, expect, it } from 'vitest';
import {
  classifierScores,
  fitSceneModel,
  frameScore,
  isAbnormal,
  kmeans,
  mulberry32,
  parseSceneModel,
  quantileOf,
  scoreObjects,
  serializeSceneModel,
  type SceneModel,
} from '../../methods/cctv-ocae/scene-model';
import { SetupError } from '../../core/errors';

/** k well-separated Gaussian blobs in d dimensions; returns the samples and their true blob. */
function blobs(
  k: number,
  per: number,
  d: number,
  seed: number,
  spread = 0.3,
  noiseSeed = seed + 1000,
): { X: Float32Array[]; truth: number[]; centers: Float32Array[] } {
  const gaussian = (rand: () => number) => () =>
    Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centerNoise = gaussian(mulberry32(seed));
  const gauss = gaussian(mulberry32(noiseSeed));
  const centers = Array.from({ length: k }, (_, c) =>
    Float32Array.from({ length: d }, (_, j) => (j % k === c ? 10 : 0) + centerNoise()),
  );
  const X: Float32Array[] = [];
  const truth: number[] = [];
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < per; i++) {
      X.push(Float32Array.from(centers[c], (v) => v + spread * gauss()));
      truth.push(c);
    }
  }
  return { X, truth, centers };
}

/** Whether two labelings are the same partition (up to renaming the clusters). */
function samePartition(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  const ab = new Map<number, number>();
  const ba = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    if ((ab.get(a[i]) ?? b[i]) !== b[i] || (ba.get(b[i]) ?? a[i]) !== a[i]) return false;
    ab.set(a[i], b[i]);
    ba.set(b[i], a[i]);
  }
  return true;
}

function stripReport(m: SceneModel & { report?: unknown }): SceneModel {
  const { report: _report, ...rest } = m;
  return rest;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('kmeans', () => {
  it('recovers well-separated clusters', () => {
    const { X, truth } = blobs(4, 30, 8, 1);
    const r = kmeans(X, 4, { seed: 7 });
    expect(samePartition(r.assignments, truth)).toBe(true);
    expect(r.sizes).toEqual([30, 30, 30, 30]);
    expect(r.centroids).toHaveLength(4);
    expect(r.centroids[0]).toHaveLength(8);
    expect(r.iterations).toBeGreaterThanOrEqual(1);
    // inertia = within-cluster spread only: about n·d·spread² = 120·8·0.09 ≈ 86, far below the between-cluster scale
    expect(r.inertia).toBeGreaterThan(20);
    expect(r.inertia).toBeLessThan(300);
  });

  it('is deterministic for a seed and accepts number[][]', () => {
    const { X } = blobs(3, 20, 5, 2, 3); // overlapping blobs: the result depends on the initialisation
    const rows = X.map((x) => Array.from(x));
    const a = kmeans(X, 5, { seed: 11 });
    const b = kmeans(rows, 5, { seed: 11 });
    expect(Array.from(b.assignments)).toEqual(Array.from(a.assignments));
    expect(b.inertia).toBe(a.inertia);
    expect(b.centroids.map((c) => Array.from(c))).toEqual(a.centroids.map((c) => Array.from(c)));
  });

  it('handles duplicate points and rejects k > n', () => {
    const X = [
      [1, 1],
      [1, 1],
      [1, 1],
      [5, 5],
    ];
    const r = kmeans(X, 3, { seed: 0 });
    expect(r.sizes.reduce((s, v) => s + v, 0)).toBe(4);
    expect(r.inertia).toBe(0);
    expect(() => kmeans(X, 5)).toThrow(/k = 5 is more than the 4 samples/);
    expect(() => kmeans([[1, 2], [3]], 1)).toThrow(/sample 1 has dimension 1, expected 2/);
  });
});

describe('scene model', () => {
  const { X, truth, centers } = blobs(4, 40, 12, 3);
  const model = fitSceneModel(X, {
    k: 4,
    seed: 5,
    featureSpec: 'test:blobs/12',
    createdAt: new Date('2025-01-02T03:04:05Z'),
  });

  it('clusters the training data and records its metadata', () => {
    expect(model.k).toBe(4);
    expect(model.dim).toBe(12);
    expect(model.trainingSamples).toBe(160);
    expect(model.clusterSizes).toEqual([40, 40, 40, 40]);
    expect(model.featureSpec).toBe('test:blobs/12');
    expect(model.createdAt).toBe('2025-01-02T03:04:05.000Z');
    expect(model.report.svmConverged).toBe(true);
  });

  it('gives each classifier positive scores on its own cluster and negative on the others', () => {
    // Map each true blob to the classifier that claims its centre.
    const owner = centers.map((c) => {
      const g = classifierScores(model, c);
      return g.indexOf(Math.max(...g));
    });
    expect(new Set(owner).size).toBe(4);
    for (let i = 0; i < X.length; i++) {
      const g = classifierScores(model, X[i]);
      g.forEach((v, c) => {
        if (c === owner[truth[i]]) expect(v).toBeGreaterThan(0);
        else expect(v).toBeLessThan(0);
      });
    }
  });

  it('scores a far-away point above the threshold while training points mostly stay below', () => {
    const train = scoreObjects(model, X);
    const above = train.filter((s) => isAbnormal(model, s)).length;
    expect(above).toBeLessThanOrEqual(Math.ceil(0.01 * X.length) + 1);
    expect(model.threshold).toBeCloseTo(quantileOf(train, 0.99), 12);
    // Equidistant from all clusters, ~14 units from each centre while the clusters spread 0.3 per dimension.
    // (Linear classifiers extrapolate: a point far out along a cluster's own direction would be accepted.)
    const far = Float32Array.from(centers[0], (_, j) => centers.reduce((s, c) => s + c[j], 0) / centers.length);
    const [farScore] = scoreObjects(model, [far]);
    expect(isAbnormal(model, farScore)).toBe(true);
    expect(farScore).toBeGreaterThan(model.threshold + 1);
    expect(frameScore([train[0], farScore, train[1]])).toBe(farScore);
    expect(frameScore([])).toBeNull();
  });

  it('can set the threshold on held-out normal samples', () => {
    const cal = fitSceneModel(X, { k: 4, seed: 5, calibrationFraction: 0.25 });
    expect(cal.trainingSamples).toBe(120);
    expect(cal.calibrationSamples).toBe(40);
    expect(cal.clusterSizes.reduce((s, v) => s + v, 0)).toBe(120);
    expect(Number.isFinite(cal.threshold)).toBe(true);
    // Fresh normal samples from the same blobs are mostly below the calibrated threshold.
    const fresh = blobs(4, 100, 12, 3, 0.3, 777).X;
    const rate = scoreObjects(cal, fresh).filter((s) => isAbnormal(cal, s)).length / fresh.length;
    expect(rate).toBeLessThan(0.1);
    expect(() => fitSceneModel(X, { k: 4, calibrationFraction: 1 })).toThrow(/calibrationFraction/);
  });

  it('is deterministic for a seed', () => {
    const again = fitSceneModel(X, {
      k: 4,
      seed: 5,
      featureSpec: 'test:blobs/12',
      createdAt: new Date('2025-01-02T03:04:05Z'),
    });
    expect(Array.from(again.weights)).toEqual(Array.from(model.weights));
    expect(Array.from(again.biases)).toEqual(Array.from(model.biases));
    expect(again.threshold).toBe(model.threshold);
  });

  it('rejects features of the wrong dimension', () => {
    const err = errorOf(() => scoreObjects(model, [new Float32Array(11)]));
    expect(err).toBeInstanceOf(SetupError);
    expect(err.message).toMatch(/11 features but the scene model expects 12/);
  });
});

describe('scene model serialisation', () => {
  const { X } = blobs(3, 15, 6, 4);
  const model = stripReport(fitSceneModel(X, { k: 3, seed: 9, featureSpec: 'spec-v1' }));
  const buf = serializeSceneModel(model);

  it('round-trips exactly', () => {
    expect(buf.subarray(0, 4).toString('latin1')).toBe('LKSM');
    const hlen = buf.readUInt32LE(4);
    const header = JSON.parse(buf.toString('utf8', 8, 8 + hlen)) as Record<string, unknown>;
    expect(header).toMatchObject({
      format: 'lookout-scene-model',
      version: 1,
      k: 3,
      dim: 6,
      featureSpec: 'spec-v1',
      trainingSamples: 45,
    });
    const back = parseSceneModel(buf, 'model.bin');
    expect(back).toEqual(model);
    expect(scoreObjects(back, X)).toEqual(scoreObjects(model, X));
    expect(serializeSceneModel(back).equals(buf)).toBe(true);
  });

  it('rejects a truncated buffer, a wrong version and bad magic with clear errors', () => {
    const trunc = errorOf(() => parseSceneModel(buf.subarray(0, buf.length - 4), 'gs://b/model.bin'));
    expect(trunc).toBeInstanceOf(SetupError);
    expect(trunc.message).toMatch(/^gs:\/\/b\/model\.bin: not a valid scene model: .*truncated/);
    expect(() => parseSceneModel(buf.subarray(0, 20), 'm')).toThrow(/header of \d+ bytes runs past the end/);
    expect(() => parseSceneModel(buf.subarray(0, 3), 'm')).toThrow(/too short/);
    expect(() => parseSceneModel(Buffer.concat([buf, Buffer.alloc(4)]), 'm')).toThrow(/4 trailing bytes/);

    const hlen = buf.readUInt32LE(4);
    const header = JSON.parse(buf.toString('utf8', 8, 8 + hlen)) as Record<string, unknown>;
    const withHeader = (h: Record<string, unknown>) => {
      const json = Buffer.from(JSON.stringify(h), 'utf8');
      const pre = Buffer.alloc(8);
      pre.write('LKSM', 0, 'latin1');
      pre.writeUInt32LE(json.length, 4);
      const head = Buffer.concat([pre, json, Buffer.alloc(((json.length + 3) & ~3) - json.length)]);
      return Buffer.concat([head, buf.subarray((8 + hlen + 3) & ~3)]);
    };
    expect(parseSceneModel(withHeader(header), 'm')).toEqual(model); // the helper itself is faithful
    expect(() => parseSceneModel(withHeader({ ...header, version: 2 }), 'm')).toThrow(/unsupported format version 2/);
    expect(() => parseSceneModel(withHeader({ ...header, dim: 7 }), 'm')).toThrow(/k=3, dim=7 needs/);
    const bad = Buffer.from(buf);
    bad.write('XXXX', 0, 'latin1');
    expect(() => parseSceneModel(bad, 'm')).toThrow(/bad magic/);
  });
});
