import { describe, expect, it } from 'vitest';
import { EMPTY_CURSOR, MAX_SLOTS, planPoll, PollPlan } from '../../ingest/watcher';

const obj = (key: string, created: number) => ({ key, created, resource: {} });

describe('planPoll (watcher cursor)', () => {
  it('publishes everything on the first poll and remembers the look-back window', () => {
    const { fresh, next } = planPoll(EMPTY_CURSOR, [obj('b', 20_000), obj('a', 10_000)], 5000);
    expect(fresh.map((f) => f.key)).toEqual(['a', 'b']);
    expect(next.watermark).toBe(20_000);
    // Only slots within 5 s of the watermark are kept: a (10 s) fell out of the window.
    expect(next.slots.map(([slot, n]) => [slot, n])).toEqual([[20, 1]]);
  });

  it('does not repeat objects already published', () => {
    const listed = [obj('a', 1000), obj('b', 2000)];
    const first = planPoll(EMPTY_CURSOR, listed, 5000);
    const second = planPoll(first.next, listed, 5000);
    expect(second.fresh).toEqual([]);
    expect(second.next).toEqual(first.next);
  });

  it('catches an object that appears late, behind the watermark but inside the window', () => {
    const first = planPoll(EMPTY_CURSOR, [obj('b', 2000), obj('c', 1100)], 5000);
    const second = planPoll(first.next, [obj('b', 2000), obj('c', 1100), obj('late', 1500)], 5000);
    // The late object and the one sharing its 1-second slot (dropped downstream by the stream's dedupe).
    expect(second.fresh.map((f) => f.key)).toEqual(['c', 'late']);
    expect(second.next.watermark).toBe(2000);
    expect(planPoll(second.next, [obj('b', 2000), obj('c', 1100), obj('late', 1500)], 5000).fresh).toEqual([]);
  });

  it('catches a late object even when another one of its slot was deleted (count alone would not tell)', () => {
    const first = planPoll(EMPTY_CURSOR, [obj('b', 9000), obj('gone', 8100)], 5000);
    const second = planPoll(first.next, [obj('b', 9000), obj('late', 8200)], 5000);
    expect(second.fresh.map((f) => f.key)).toEqual(['late']);
  });

  it('treats a new generation of the same name as a new object', () => {
    const first = planPoll(EMPTY_CURSOR, [obj('x#1', 1000)], 5000);
    const second = planPoll(first.next, [obj('x#1', 1000), obj('x#2', 3000)], 5000);
    expect(second.fresh.map((f) => f.key)).toEqual(['x#2']);
  });

  it('reads a cursor of the previous format without publishing again what it lists', () => {
    const legacy = { watermark: 2000, recent: ['b', 'c'] };
    const { fresh, next } = planPoll(
      legacy,
      [obj('b', 2000), obj('c', 1500), obj('late', 1800), obj('new', 2500)],
      5000,
    );
    expect(fresh.map((f) => f.key)).toEqual(['late', 'new']);
    expect(next.v).toBe(2);
  });

  it('a very long look-back window gets wider slots, never more than MAX_SLOTS', () => {
    const day = 24 * 3600 * 1000;
    const plan = new PollPlan(EMPTY_CURSOR, day);
    for (let i = 0; i < 200_000; i++) plan.add({ key: `k${i}`, created: 10 * day + i * 400 });
    const next = plan.next();
    expect(next.slots.length).toBeLessThanOrEqual(MAX_SLOTS);
    expect(JSON.stringify(next).length).toBeLessThan(128 * 1024);
  });
});
