/**
 * A frame triplet (KEY, KEY_d3, KEY_p3) uploaded to the inbox without any metadata (no pipeline, no run tag):
 * the default pipeline takes single images, not triplets, yet the three uploads are one analysis of KEY, not
 * three. "Nothing more" is read from a positive signal: the dispatcher has acknowledged all three events
 * (JetStream's ack floor has passed their sequence numbers), so no later start can still come.
 */
import { describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { workflowIdFor } from '../../core/events';
import { DISPATCHER_DURABLE } from '../../io/streams';
import { cfg, rowsWhere, sampleFrame, uniqueRun, upload, waitForRows, withNats, withTemporal } from './helpers';

describe('a triplet uploaded without metadata', () => {
  it('becomes exactly one analysis, of KEY; the neighbours are never started', async () => {
    const run = uniqueRun('triplet');
    const key = `${run}/f0100.jpg`;
    const names = [`${run}/f0100_d3.jpg`, `${run}/f0100_p3.jpg`, key];
    const frames = [sampleFrame(97), sampleFrame(103), sampleFrame(100)];
    const generations: string[] = [];
    for (const [i, n] of names.entries()) generations.push(await upload(cfg.gcs.bucket, n, frames[i], 'image/jpeg'));

    const rows = await waitForRows<{ name: string; status: string; pipeline: string; workflow_id: string }>(
      'STARTS_WITH(name, @prefix)',
      { prefix: `${run}/` },
      1,
      120_000,
    );
    expect(rows.map((r) => [r.name, r.status, r.pipeline])).toEqual([[key, 'ok', cfg.pipeline]]);

    await withNats(async (nc) => {
      const jsm = await nc.jetstreamManager();
      // The three events on the object stream: their sequence numbers.
      const seqs = new Map<string, number>();
      const deadline = Date.now() + 60_000;
      let from = 1;
      while (seqs.size < names.length) {
        if (Date.now() > deadline) throw new Error(`events seen for ${[...seqs.keys()].join(', ')} only`);
        const { state } = await jsm.streams.info(cfg.nats.stream);
        for (let seq = Math.max(from, state.first_seq); seq <= state.last_seq; seq++) {
          const m = await jsm.streams.getMessage(cfg.nats.stream, { seq }).catch(() => undefined);
          // Other suites share the stream; a message that is not an object event (not JSON) is not ours.
          let ev: { name?: string } | undefined;
          try {
            ev = m?.json<{ name?: string }>();
          } catch {
            ev = undefined;
          }
          if (ev?.name && names.includes(ev.name)) seqs.set(ev.name, seq);
        }
        from = state.last_seq + 1;
        if (seqs.size < names.length) await new Promise((r) => setTimeout(r, 500));
      }
      const last = Math.max(...seqs.values());
      // The dispatcher has settled every one of them (a skip is an ack too).
      for (;;) {
        const ci = await jsm.consumers.info(cfg.nats.stream, DISPATCHER_DURABLE);
        if (ci.ack_floor.stream_seq >= last) break;
        if (Date.now() > deadline) throw new Error(`dispatcher ack floor ${ci.ack_floor.stream_seq} < ${last}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    });

    // Settled and nothing started for the neighbours: no workflow, no row.
    await withTemporal(async (client) => {
      for (const [i, n] of names.slice(0, 2).entries()) {
        const id = workflowIdFor(cfg.pipeline, { bucket: cfg.gcs.bucket, name: n, generation: generations[i] });
        const err = await client.workflow
          .getHandle(id)
          .describe()
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(WorkflowNotFoundError);
      }
      // The KEY's workflow, by the same id scheme, does exist (the check above can fail).
      await expect(
        client.workflow
          .getHandle(workflowIdFor(cfg.pipeline, { bucket: cfg.gcs.bucket, name: key, generation: generations[2] }))
          .describe(),
      ).resolves.toBeDefined();
    });
    const after = await rowsWhere<{ name: string }>('STARTS_WITH(name, @prefix)', { prefix: `${run}/` });
    expect(after.map((r) => r.name)).toEqual([key]);
  }, 200_000);
});
