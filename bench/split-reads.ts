/**
 * The read counter of the CCTV evaluation's splits (docs/eval/cctv-attributes/split-reads.json): every run that
 * scores a split of a constructed set adds one read, with its date and command, so the docs can state how many
 * times each figure's test split has been looked at (issue 29: a test split scored seven times is a tuning split).
 * Smoke runs (--limit) use other frames and are not counted.
 */
import fs from 'node:fs';
import path from 'node:path';

export const SPLIT_READS = path.resolve(__dirname, '..', 'docs', 'eval', 'cctv-attributes', 'split-reads.json');

export interface SplitReads {
  about: string;
  /** Set id ("seed 20261207, kinds a,b,c") -> split -> reads. */
  sets: Record<string, Record<string, { reads: number; log: Array<{ at: string; command: string }> }>>;
}

export const ABOUT =
  'How many times each split of each constructed CCTV evaluation set has been scored (bench/split-reads.ts adds one per run of bench/eval-cctv-attributes.ts or bench/tune-cctv-attributes.ts). Choices are made on validation and shift; the test split is meant to be read once per round.';

export function readCounts(file = SPLIT_READS): SplitReads {
  if (!fs.existsSync(file)) return { about: ABOUT, sets: {} };
  return JSON.parse(fs.readFileSync(file, 'utf8')) as SplitReads;
}

/** Adds one read of `split` of the set `set`; returns the new count. */
export function recordRead(set: string, split: string, command: string, file = SPLIT_READS, at = new Date()): number {
  const c = readCounts(file);
  const s = ((c.sets[set] ??= {})[split] ??= { reads: 0, log: [] });
  s.reads++;
  s.log.push({ at: at.toISOString(), command });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ ...c, about: ABOUT }, null, 2) + '\n');
  return s.reads;
}

/** The id of a constructed set: its seed and kinds (a new seed or kind list is a new, unread set). */
export function setId(seed: number, kinds: readonly string[]): string {
  return `seed ${seed}, kinds ${kinds.join(',')}`;
}
