/**
 * Novelty of a chip in an archive: the distance of its deep features to the nearest chips of a bank of
 * normal chips (mean of the k nearest). The bank itself is shared machinery (runtime/knn.ts, the same one
 * the CCTV attribute method uses, with a farthest-point coreset to keep it bounded): this method needs only
 * the query side, so it depends on the small interface below rather than on a copy.
 */

/** What novelty needs of a kNN bank (runtime/knn.ts's KnnBank satisfies it). */
export interface NoveltyBank {
  readonly dim: number;
  readonly count: number;
  query(v: ArrayLike<number>, k?: number): { distance: number };
}

/** kNN distance of each feature vector to the bank (higher = more novel). */
export function noveltyScores(features: ReadonlyArray<ArrayLike<number>>, bank: NoveltyBank, k = 1): number[] {
  return features.map((f) => {
    if (f.length !== bank.dim) throw new RangeError(`feature of dimension ${f.length}, the bank holds ${bank.dim}`);
    return bank.query(f, k).distance;
  });
}
