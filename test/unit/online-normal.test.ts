import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eligibility, normalFrames, type FootageChunk } from '../../methods/cctv-attributes/online';
import type { FrameObservations } from '../../methods/cctv-attributes';

const frames = (from: number, n: number): FrameObservations[] =>
  Array.from({ length: n }, (_, i) => ({
    frame: from + i,
    timeS: (from + i) / 10,
    width: 384,
    height: 576,
    objects: [],
  }));
const chunk = (over: Partial<FootageChunk>): FootageChunk => ({ id: 'c', endS: 100, alerts: [], ...over });

describe('learning normal as footage flows: the drift guard', () => {
  it('alert-free footage joins once it is old enough; a slow change waits for the minimum age', () => {
    expect(eligibility(chunk({}), 100 + 3600, { minAgeS: 3600 })).toBe('joins');
    expect(eligibility(chunk({}), 100 + 3599, { minAgeS: 3600 })).toBe('too-young');
  });

  it('footage under an alert joins only when every alert over it was dismissed; a confirmed alert never becomes normal', () => {
    const later = 1e6;
    expect(
      eligibility(chunk({ alerts: [{ verdict: 'dismissed' }, { verdict: 'dismissed' }] }), later, { minAgeS: 60 }),
    ).toBe('joins');
    expect(eligibility(chunk({ alerts: [{ verdict: 'dismissed' }, { verdict: null }] }), later, { minAgeS: 60 })).toBe(
      'unjudged-alert',
    );
    expect(
      eligibility(chunk({ alerts: [{ verdict: 'dismissed' }, { verdict: 'confirmed' }] }), later, { minAgeS: 60 }),
    ).toBe('confirmed-alert');
  });

  it('keeps the first fit and the newest joined footage up to the bound, in time order', () => {
    const first = frames(0, 10);
    const joined = [
      { endS: 3, frames: frames(20, 10) },
      { endS: 5, frames: frames(40, 10) },
      { endS: 7, frames: frames(60, 10) },
    ];
    const kept = normalFrames(first, joined, 25);
    expect(kept.map((f) => f.frame)).toEqual(
      [...frames(0, 10), ...frames(40, 10), ...frames(60, 10)].map((f) => f.frame),
    );
    expect(normalFrames(first, joined, 5)).toEqual(first);
  });
});

describe('bench/online-normal.ts', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'bench', 'online-normal.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  it('prints its usage with --help (exit 0) and refuses a missing dump or unknown option (exit 2)', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--obs OBS.v8/);
    expect(run().status).toBe(2);
    expect(run('--bogus').status).toBe(2);
  });
});
