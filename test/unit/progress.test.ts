import { describe, expect, it } from 'vitest';
import { everyNthFrame, ordinal, Progress } from '../../cli/args';

function recorder(tty: boolean) {
  const out: string[] = [];
  let t = 0;
  return { out, io: { tty, write: (s: string) => void out.push(s), now: () => t }, tick: (ms: number) => (t += ms) };
}

describe('Progress', () => {
  it('off a terminal prints a line per 10 % step at most, never the same count twice', () => {
    const r = recorder(false);
    const bar = new Progress('fitting scene vtest: frames', 295, r.io);
    for (const done of [0, 0, 0, 5, 29, 30, 30, 100, 100, 100, 101, 200, 294, 295, 295]) {
      r.tick(6000);
      bar.update(done);
    }
    const lines = r.out.map((l) => l.trimEnd());
    expect(lines.every((l) => !l.includes('\r'))).toBe(true);
    expect(lines.map((l) => /(\d+)\/295/.exec(l)![1])).toEqual(['0', '30', '100', '200', '294', '295']);
    expect(new Set(lines).size).toBe(lines.length);
    // However many updates, a bar with a total prints at most 11 lines.
    const many = recorder(false);
    const b2 = new Progress('x', 1000, many.io);
    for (let i = 0; i <= 1000; i++) b2.update(i);
    expect(many.out).toHaveLength(11);
  });

  it('off a terminal without a total prints a changed count at most every 10 s', () => {
    const r = recorder(false);
    const bar = new Progress('backfill', undefined, r.io);
    bar.update(1);
    r.tick(1000);
    bar.update(2); // too soon
    r.tick(10_000);
    bar.update(2);
    r.tick(10_000);
    bar.update(2); // unchanged
    expect(r.out).toEqual(['backfill 1 \n', 'backfill 2 \n']);
  });

  it('on a terminal redraws one line in place', () => {
    const r = recorder(true);
    const bar = new Progress('uploading', 4, r.io);
    bar.update(1);
    r.tick(50);
    bar.update(2); // within 100 ms: skipped
    r.tick(100);
    bar.update(4); // the last always shows
    bar.done('uploaded 4 files');
    expect(r.out.map((s) => s.startsWith('\r\x1b[2K'))).toEqual([true, true, true, false]);
    expect(r.out.at(-1)).toBe('uploaded 4 files\n');
  });
});

describe('ordinals', () => {
  it('says every frame, every 2nd, 3rd, 5th, 11th, 21st, 112th frame', () => {
    expect([1, 2, 3, 4, 5, 11, 12, 13, 21, 22, 23, 101, 111, 112].map(ordinal)).toEqual([
      '1st',
      '2nd',
      '3rd',
      '4th',
      '5th',
      '11th',
      '12th',
      '13th',
      '21st',
      '22nd',
      '23rd',
      '101st',
      '111th',
      '112th',
    ]);
    expect(everyNthFrame(1)).toBe('every frame');
    expect(everyNthFrame(2)).toBe('every 2nd frame');
    expect(everyNthFrame(10)).toBe('every 10th frame');
  });
});
