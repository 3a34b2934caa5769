/**
 * The one metrics module of the benchmarks and evaluations: every percentile, quantile, rank, ROC AUC, ROC curve and
 * bootstrap interval in bench/ comes from here (test/unit/metrics.test.ts checks each against hand-worked cases).
 *
 * Written here rather than taken from a statistics package: each function is a few lines, the definitions must match
 * the SQL reports exactly (infra/sql/summary.sql), and the candidates on npm (simple-statistics, d3-array) define
 * quantiles by interpolation, which the SQL reports do not use.
 *
 * Two percentile definitions are in use, on purpose, and each has one implementation:
 * - `percentile(xs, p)`, p in [0, 100]: the nearest-rank percentile (the smallest value with at least p % of the
 *   values at or below it) — latencies in the benchmarks' logs and result files;
 * - `quantileAtRank(xs, q)`, q in [0, 1]: the value at rank round(q (n - 1)) of the sorted values, exactly what the
 *   SQL reports compute (summary.sql), so figures computed in TypeScript beside SQL ones agree.
 */
import { iou } from '../runtime/nms';

function sortedCopy(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs).sort();
}

/** Nearest-rank percentile, p in [0, 100]; NaN for no values. The input is not modified. */
export function percentile(xs: ArrayLike<number>, p: number): number {
  if (xs.length === 0) return NaN;
  const s = sortedCopy(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** The value at rank round(q (n - 1)) of the sorted values, q in [0, 1] (as infra/sql/summary.sql); NaN for none. */
export function quantileAtRank(xs: ArrayLike<number>, q: number): number {
  if (xs.length === 0) return NaN;
  const s = sortedCopy(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

/** Arithmetic mean; NaN for no values. */
export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Ranks from 0, ties given their average rank (the ranks of `[5, 1, 5]` are `[1.5, 0, 1.5]`). */
export function ranks(xs: readonly number[]): number[] {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && xs[idx[j + 1]] === xs[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

/**
 * ROC AUC by ranks (the Mann-Whitney U statistic): the probability that a random positive scores above a random
 * negative, ties counted one half. A null score (a frame without objects, say) ranks below every number and ties
 * with other nulls. NaN when either class is empty.
 */
export function rocAuc(pos: ReadonlyArray<number | null>, neg: ReadonlyArray<number | null>): number {
  if (pos.length === 0 || neg.length === 0) return NaN;
  const all = [...pos.map((s) => s ?? -Infinity), ...neg.map((s) => s ?? -Infinity)];
  const r = ranks(all);
  let rankSumPos = 0;
  for (let i = 0; i < pos.length; i++) rankSumPos += r[i] + 1;
  return (rankSumPos - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

/** ROC AUC of scores with 0/1 labels (label 1 = positive); null without both classes. */
export function rocAucLabelled(scores: readonly number[], labels: readonly number[]): number | null {
  if (scores.length !== labels.length) throw new RangeError(`${scores.length} scores but ${labels.length} labels`);
  const pos = scores.filter((_, i) => labels[i] === 1);
  const neg = scores.filter((_, i) => labels[i] !== 1);
  return pos.length === 0 || neg.length === 0 ? null : rocAuc(pos, neg);
}

/** ROC curve points [false positive rate, true positive rate] from (0, 0) to (1, 1), one per distinct threshold. */
export function rocCurve(pos: readonly number[], neg: readonly number[]): Array<[number, number]> {
  const ths = [...new Set([...pos, ...neg])].sort((a, b) => b - a);
  const pts: Array<[number, number]> = [[0, 0]];
  for (const t of ths)
    pts.push([neg.filter((s) => s >= t).length / neg.length, pos.filter((s) => s >= t).length / pos.length]);
  pts.push([1, 1]);
  return pts;
}

/**
 * Stratified bootstrap 95 % interval of the ROC AUC: positives and negatives are resampled separately `reps` times
 * with the given uniform generator in [0, 1) (seed it for figures that repeat). Null with fewer than two of a class.
 */
export function bootstrapAuc(
  pos: ReadonlyArray<number | null>,
  neg: ReadonlyArray<number | null>,
  rand: () => number,
  reps = 2000,
): [number, number] | null {
  if (pos.length < 2 || neg.length < 2) return null;
  const draw = <T>(a: readonly T[]) => a.map(() => a[Math.floor(rand() * a.length)]);
  const aucs: number[] = [];
  for (let r = 0; r < reps; r++) aucs.push(rocAuc(draw(pos), draw(neg)));
  aucs.sort((a, b) => a - b);
  return [aucs[Math.floor(0.025 * reps)], aucs[Math.min(reps - 1, Math.floor(0.975 * reps))]];
}

type Rect = { x: number; y: number; w: number; h: number };

/**
 * Greedy one-to-one matching of detections to ground-truth boxes, as detection benchmarks count true positives:
 * boxes in descending score take the free truth box they overlap most, if that overlap is at least `minIou`.
 * Returns, per box (in the input order), the index of its truth box or -1.
 */
export function greedyMatch(
  boxes: ReadonlyArray<Rect & { score: number }>,
  truth: readonly Rect[],
  minIou: number,
): number[] {
  const out = new Array<number>(boxes.length).fill(-1);
  const used = new Set<number>();
  const order = boxes.map((_, i) => i).sort((a, b) => boxes[b].score - boxes[a].score);
  for (const i of order) {
    let best = -1;
    let bestIou = minIou;
    truth.forEach((g, j) => {
      if (used.has(j)) return;
      const v = iou(boxes[i], g);
      if (v >= bestIou) {
        bestIou = v;
        best = j;
      }
    });
    if (best >= 0) {
      used.add(best);
      out[i] = best;
    }
  }
  return out;
}
