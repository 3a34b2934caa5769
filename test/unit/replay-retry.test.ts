/**
 * `lookout deadletters replay` and `lookout retry` go item by item: one poison dead letter or one bad row is
 * reported and the rest go on; an outage stops the run and says how many were not tried.
 */
import { ServiceError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { UnknownPipelineError } from '../../core/errors';
import type { ObjectEvent } from '../../core/events';
import { replayDeadLetters } from '../../dispatch/replay';
import { retryAnalyses, type RetryOutcome, type RetryRow } from '../../dispatch/retry';
import type { DeadLetter } from '../../io/streams';

const ev = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    bucket: 'lookout-inbox',
    name,
    generation: '7',
    size: '10',
    timeCreated: '2026-11-23T10:00:00Z',
    source: 'watcher',
    ...extra,
  });
const dl = (seq: number, payload: string): DeadLetter & { seq: number } => ({
  seq,
  kind: 'dispatch',
  reason: 'x',
  payload,
  at: '2026-11-23T10:00:00Z',
});
const unavailable = () =>
  new ServiceError('Failed to start Workflow', {
    cause: Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 }),
  });

describe('replayDeadLetters', () => {
  it('reports each dead letter and goes on past poison ones', async () => {
    const removed: number[] = [];
    const started: string[] = [];
    const lines: string[] = [];
    const report = await replayDeadLetters(
      [
        dl(1, ev('a.jpg')),
        dl(2, '{{{ not json'),
        dl(3, ev('b.jpg', { metadata: { 'lookout-pipeline': 'constructor' } })),
        dl(4, ev('c.jpg')),
        dl(5, ev('d.jpg')),
      ],
      {
        start: async (e: ObjectEvent) => {
          if (e.metadata?.['lookout-pipeline'] === 'constructor')
            throw new UnknownPipelineError('constructor', ['objects']);
          started.push(e.name);
          return e.name === 'c.jpg' ? 'duplicate' : 'started';
        },
        remove: async (seq) => void removed.push(seq),
      },
      (r) => lines.push(`${r.id} ${r.outcome}`),
    );
    expect(report.items.map((i) => [i.id, i.outcome])).toEqual([
      ['#1', 'started'],
      ['#2', 'skipped'],
      ['#3', 'failed'],
      ['#4', 'duplicate'],
      ['#5', 'started'],
    ]);
    expect(report.items[2].detail).toContain('UnknownPipeline');
    expect(report.counts).toEqual({ started: 2, skipped: 1, failed: 1, duplicate: 1 });
    expect(started).toEqual(['a.jpg', 'c.jpg', 'd.jpg']);
    // Only started (or already running) analyses leave the dead-letter stream.
    expect(removed).toEqual([1, 4, 5]);
    expect(lines).toHaveLength(5);
    expect(report.stoppedAt).toBeUndefined();
  });

  it('stops at an outage instead of failing every remaining item slowly', async () => {
    let calls = 0;
    const report = await replayDeadLetters([dl(1, ev('a.jpg')), dl(2, ev('b.jpg')), dl(3, ev('c.jpg'))], {
      start: async () => {
        if (++calls === 2) throw unavailable();
        return 'started';
      },
      remove: async () => {},
    });
    expect(report.items.map((i) => i.outcome)).toEqual(['started', 'failed']);
    expect(report.stoppedAt).toBe('#2');
    expect(report.counts['not-tried']).toBe(1);
  });
});

describe('retryAnalyses', () => {
  const row = (wf: string): RetryRow => ({
    workflow_id: wf,
    pipeline: 'objects',
    bucket: 'b',
    name: wf,
    generation: '1',
    run_tag: null,
  });
  it('reports each row and goes on past one that throws', async () => {
    const outcomes: Record<string, RetryOutcome | Error> = {
      a: 'restarted',
      b: new TypeError('row is broken'),
      c: 'object-gone',
      d: 'restarted',
    };
    const report = await retryAnalyses([row('a'), row('b'), row('c'), row('d')], async (r) => {
      const o = outcomes[r.workflow_id];
      if (o instanceof Error) throw o;
      return o;
    });
    expect(report.items.map((i) => [i.id, i.outcome])).toEqual([
      ['a', 'restarted'],
      ['b', 'failed'],
      ['c', 'object-gone'],
      ['d', 'restarted'],
    ]);
    expect(report.items[1].detail).toContain('row is broken');
    expect(report.counts).toEqual({ restarted: 2, failed: 1, 'object-gone': 1 });
  });
});
