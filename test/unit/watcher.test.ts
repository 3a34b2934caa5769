import { describe, expect, it } from 'vitest';
import { planPoll } from '../../ingest/watcher';

const obj = (key: string, created: number) => ({ key, created, resource: {} });

describe('planPoll (watcher cursor)', () => {
  it('publishes everything on the first poll and remembers it', () => {
    const { fresh, next } = planPoll({ watermark: 0, recent: [] }, [obj('b', 2000), obj('a', 1000)], 500);
    expect(fresh.map((f) => f.key)).toEqual(['a', 'b']);
    expect(next.watermark).toBe(2000);
    expect(next.recent).toEqual(['b']); // a fell out of the 500 ms look-back window
  });

  it('does not repeat objects already published', () => {
    const listed = [obj('a', 1000), obj('b', 2000)];
    const first = planPoll({ watermark: 0, recent: [] }, listed, 5000);
    const second = planPoll(first.next, listed, 5000);
    expect(second.fresh).toEqual([]);
  });

  it('catches an object that appears late, behind the watermark but inside the window', () => {
    const first = planPoll({ watermark: 0, recent: [] }, [obj('b', 2000)], 5000);
    const second = planPoll(first.next, [obj('b', 2000), obj('late', 1500)], 5000);
    expect(second.fresh.map((f) => f.key)).toEqual(['late']);
    expect(second.next.watermark).toBe(2000);
  });

  it('treats a new generation of the same name as a new object', () => {
    const first = planPoll({ watermark: 0, recent: [] }, [obj('x#1', 1000)], 5000);
    const second = planPoll(first.next, [obj('x#2', 3000)], 5000);
    expect(second.fresh.map((f) => f.key)).toEqual(['x#2']);
  });
});
