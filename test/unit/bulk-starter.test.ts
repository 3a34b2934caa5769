/** Bulk mode's BulkStarter: what it counts when batches start, already ran, or end without a result. */
import { describe, expect, it } from 'vitest';
import type { BatchInput } from '../../activities/types';
import { resolvePipeline } from '../../core/pipelines';
import type { ObjectEvent } from '../../core/events';
import type { BatchResult } from '../../core/workflows';
import { BulkStarter } from '../../ingest/backfill';

const ev = (i: number): ObjectEvent => ({
  bucket: 'b-1',
  name: `o${i}.jpg`,
  generation: '1',
  size: '10',
  timeCreated: '2026-11-23T10:00:00Z',
  eventType: 'OBJECT_FINALIZE',
  source: 'backfill',
  publishedAt: '2026-11-23T10:00:00Z',
});

describe('BulkStarter', () => {
  it('counts started, already-run and failed batches separately, and goes on past a failed one', async () => {
    let n = 0;
    const starter = {
      async startBatch(input: BatchInput) {
        n++;
        if (n === 2) return { outcome: 'duplicate' as const, workflowId: `b${n}` };
        if (n === 3)
          return {
            outcome: 'started' as const,
            workflowId: `b${n}`,
            result: Promise.reject(new Error('workflow terminated')) as Promise<BatchResult>,
          };
        return {
          outcome: 'started' as const,
          workflowId: `b${n}`,
          result: Promise.resolve({
            objects: input.objects.length,
            ok: input.objects.length - 1,
            failed: 1,
            records: [],
          }),
        };
      },
    };
    const b = new BulkStarter({
      size: 2,
      inflight: 2,
      starter,
      pipeline: resolvePipeline('objects', { gpuStages: [], gpuFallbackMs: 1000 }),
    });
    const counts = [];
    for (let i = 0; i < 7; i++) counts.push(await b.add(ev(i)));
    counts.push(await b.flush());
    await b.drain();
    const sum = counts.reduce((a, c) => ({ started: a.started + c.started, duplicate: a.duplicate + c.duplicate }), {
      started: 0,
      duplicate: 0,
    });
    // Batches: [0,1] finished (1 ok, 1 failed row), [2,3] already ran, [4,5] terminated (both failed), [6] finished (its 1 object failed).
    expect(sum).toEqual({ started: 5, duplicate: 2 });
    expect(b.totals).toEqual({ batches: 3, objects: 5, ok: 1, failed: 4 });
  });
});
