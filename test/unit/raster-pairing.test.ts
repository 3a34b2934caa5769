/**
 * Pairing by place and time (methods/raster-change/pairing.ts over io/acquisitions.ts's neighbour rule): simulated
 * arrivals of a time series in every order and many interleavings. Each acquisition plans (finds its previous
 * acquisition in the rows), writes its summary row, then asks acquisitionRepairs what to start; a started re-pair
 * writes its row at some later step; a second start of one workflow ID is refused, as Temporal refuses it. At the end
 * every consecutive pair has exactly one row set, and no pair has two.
 */
import { describe, expect, it } from 'vitest';
import type { AcquisitionIndex, ObjectRef, RasterPlan } from '../../core/types';
import { pickNeighbours, type AcquisitionRow } from '../../io/acquisitions';
import { acquisitionRepairs } from '../../methods/raster-change/pairing';

const BOX = { west: 13.7, south: 48.2, east: 13.72, north: 48.21 };

interface Acq {
  name: string;
  datetime: string;
  place: string | null;
  collection: string | null;
  box: typeof BOX;
}

type Summary = AcquisitionRow & { before: string | null; workflowId: string };

/** The archive's summary rows and an AcquisitionIndex over them (the same neighbour rule as the BigQuery one). */
function archive() {
  const rows: Summary[] = [];
  const index: AcquisitionIndex = {
    async neighbours(a) {
      const cands = rows.filter(
        (r) => (r.collection ?? '') === (a.collection ?? '') && (!a.place || !r.place || r.place === a.place),
      );
      return pickNeighbours(cands, a, 0.9);
    },
    async paired(after, beforeName) {
      return rows.some(
        (r) =>
          r.bucket === after.bucket &&
          r.name === after.name &&
          r.generation === after.generation &&
          r.before === beforeName,
      );
    },
  };
  return { rows, index };
}

const ref = (a: Acq): ObjectRef => ({
  bucket: 'inbox',
  name: a.name,
  generation: '1',
  size: 1,
  timeCreated: a.datetime,
});
const row = (a: Acq, before: string | null, workflowId: string): Summary => ({
  bucket: 'inbox',
  name: a.name,
  generation: '1',
  acquired_at: a.datetime,
  place: a.place,
  collection: a.collection,
  run_tag: 'r',
  ...a.box,
  before,
  workflowId,
});

/** xorshift PRNG: reproducible interleavings. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** Runs arrivals with a random interleaving of their steps; returns the rows. */
async function simulate(acqs: Acq[], seed: number): Promise<Summary[]> {
  const { rows, index } = archive();
  const started = new Set<string>();
  const pick = rng(seed);
  const byName = new Map(acqs.map((a) => [a.name, a]));
  type Step = () => Promise<Step | null>;
  const arrival =
    (a: Acq): Step =>
    async () => {
      const plan: Pick<RasterPlan, 'acquisition' | 'footprint' | 'before'> = {
        acquisition: { datetime: a.datetime, place: a.place, collection: a.collection, platform: null, item: null },
        footprint: { wkt: '', ...a.box },
        before: null,
      };
      const { previous } = await index.neighbours({
        bucket: 'inbox',
        name: a.name,
        datetime: a.datetime,
        place: a.place,
        collection: a.collection,
        footprint: a.box,
      });
      plan.before = previous ? ref(byName.get(previous.name)!) : null;
      const id = `raster:inbox/${a.name}#1`;
      // planned -> (later) the summary row -> (later) the pairing step
      return async () => {
        rows.push(row(a, plan.before?.name ?? null, id));
        return async () => {
          const repairs = await acquisitionRepairs(
            index,
            { pipeline: { name: 'raster' }, object: ref(a), runTag: 'r' },
            plan,
          );
          for (const r of repairs) {
            if (started.has(r.workflowId)) continue; // WorkflowExecutionAlreadyStarted
            started.add(r.workflowId);
            pending.push(async () => {
              rows.push(row(byName.get(r.after.name)!, r.before.name, r.workflowId));
              return null;
            });
          }
          return null;
        };
      };
    };
  const pending: Step[] = acqs.map(arrival);
  while (pending.length > 0) {
    const [step] = pending.splice(pick(pending.length), 1);
    const next = await step();
    if (next) pending.push(next);
  }
  return rows;
}

function check(acqs: Acq[], rows: Summary[]) {
  const ordered = [...acqs].sort((x, y) =>
    x.datetime === y.datetime ? (x.name < y.name ? -1 : 1) : x.datetime < y.datetime ? -1 : 1,
  );
  const pairs = rows.filter((r) => r.before).map((r) => `${r.name}<${r.before}`);
  // No pair twice.
  expect(new Set(pairs).size, pairs.join(' ')).toBe(pairs.length);
  // Every consecutive pair once.
  for (let i = 1; i < ordered.length; i++)
    expect(pairs, `${ordered[i].name}<${ordered[i - 1].name}`).toContain(`${ordered[i].name}<${ordered[i - 1].name}`);
  // Never a before image from the future.
  for (const r of rows.filter((x) => x.before)) expect(byTime(acqs, r.before!) < byTime(acqs, r.name)).toBe(true);
  // One row per acquisition without a pair at most (its first analysis), and the earliest never has a before image.
  expect(rows.filter((r) => r.name === ordered[0].name).every((r) => r.before === null)).toBe(true);
}
const byTime = (acqs: Acq[], name: string) => {
  const a = acqs.find((x) => x.name === name)!;
  return `${a.datetime}\u0000${a.name}`;
};

const series = (n: number, extra: Partial<Acq> = {}): Acq[] =>
  Array.from({ length: n }, (_, i) => ({
    name: `t${i + 1}.json`,
    datetime: `2017-06-${String(3 + 10 * i).padStart(2, '0')}T10:10:31.000Z`,
    place: 'MGRS:33UUP',
    collection: 'c',
    box: BOX,
    ...extra,
  }));

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('pairing by place and time', () => {
  it('every arrival order of 4 acquisitions, one at a time: each consecutive pair exactly once', async () => {
    for (const order of permutations(series(4))) {
      const { rows, index } = archive();
      const started = new Set<string>();
      // Sequential: each acquisition (and the re-pairs it starts) finishes before the next arrives.
      for (const a of order) {
        const { previous } = await index.neighbours({
          bucket: 'inbox',
          name: a.name,
          datetime: a.datetime,
          place: a.place,
          collection: a.collection,
          footprint: a.box,
        });
        rows.push(row(a, previous?.name ?? null, `raster:inbox/${a.name}#1`));
        const plan = {
          acquisition: { datetime: a.datetime, place: a.place, collection: a.collection, platform: null, item: null },
          footprint: { wkt: '', ...a.box },
          before: previous ? { ...ref(a), name: previous.name } : null,
        };
        for (const r of await acquisitionRepairs(
          index,
          { pipeline: { name: 'raster' }, object: ref(a), runTag: 'r' },
          plan,
        )) {
          expect(started.has(r.workflowId)).toBe(false);
          started.add(r.workflowId);
          rows.push(
            row(
              order.find((x) => x.name === r.after.name)!,
              r.before.name,
              r.workflowId,
            ),
          );
        }
      }
      check(order, rows);
    }
  });

  it('2,000 random interleavings of 3 and 4 concurrent arrivals and their re-pairs: still exactly once per pair', async () => {
    for (let seed = 1; seed <= 1000; seed++) {
      for (const n of [3, 4]) {
        const acqs = series(n);
        check(acqs, await simulate(acqs, seed * 7 + n));
      }
    }
  });

  it('the re-pair for a late older acquisition: t3 first, then t1, then t2', async () => {
    const [t1, t2, t3] = series(3);
    const { rows, index } = archive();
    rows.push(row(t3, null, 'raster:inbox/t3.json#1'));
    rows.push(row(t1, null, 'raster:inbox/t1.json#1'));
    const plan1 = {
      acquisition: { datetime: t1.datetime, place: t1.place, collection: 'c', platform: null, item: null },
      footprint: { wkt: '', ...BOX },
      before: null,
    };
    const r1 = await acquisitionRepairs(index, { pipeline: { name: 'raster' }, object: ref(t1), runTag: 'r' }, plan1);
    expect(r1.map((r) => [r.after.name, r.before.name, r.workflowId])).toEqual([
      ['t3.json', 't1.json', 'raster:inbox/t3.json#1<inbox/t1.json#1'],
    ]);
    rows.push(row(t3, 't1.json', r1[0].workflowId));
    // t2 planned against t1 (found in the rows): only t3 needs its change against t2.
    rows.push(row(t2, 't1.json', 'raster:inbox/t2.json#1'));
    const plan2 = { ...plan1, acquisition: { ...plan1.acquisition, datetime: t2.datetime }, before: ref(t1) };
    const r2 = await acquisitionRepairs(index, { pipeline: { name: 'raster' }, object: ref(t2), runTag: 'r' }, plan2);
    expect(r2.map((r) => [r.after.name, r.before.name])).toEqual([['t3.json', 't2.json']]);
  });

  it('place: another collection, another tile, a footprint sharing under the configured share, no time: not paired', async () => {
    const [t1, t2] = series(2);
    for (const other of [
      { ...t1, collection: 'd' },
      { ...t1, place: 'MGRS:33UUQ' },
      { ...t1, box: { ...BOX, west: BOX.west + 0.015, east: BOX.east + 0.015 } },
    ]) {
      const { rows, index } = archive();
      rows.push(row(other, null, 'x'));
      const { previous } = await index.neighbours({
        bucket: 'inbox',
        name: t2.name,
        datetime: t2.datetime,
        place: t2.place,
        collection: t2.collection,
        footprint: t2.box,
      });
      expect(previous, JSON.stringify(other)).toBeNull();
    }
    // A tile key on one side only still pairs by footprint; a share just over 0.9 pairs.
    const { rows, index } = archive();
    rows.push(
      row({ ...t1, place: null, box: { ...BOX, west: BOX.west + 0.0015, east: BOX.east + 0.0015 } }, null, 'x'),
    );
    expect(
      (
        await index.neighbours({
          bucket: 'inbox',
          name: t2.name,
          datetime: t2.datetime,
          place: t2.place,
          collection: t2.collection,
          footprint: t2.box,
        })
      ).previous?.name,
    ).toBe('t1.json');
    const noTime = await acquisitionRepairs(
      index,
      { pipeline: { name: 'raster' }, object: ref(t2) },
      {
        acquisition: { datetime: null, place: null, collection: 'c', platform: null, item: null },
        footprint: { wkt: '', ...BOX },
        before: null,
      },
    );
    expect(noTime).toEqual([]);
  });
});
