import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import type { JsMsg, NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { Dispatcher, DISPATCHER_DEFAULTS } from '../../dispatch/dispatcher';
import { loadConfig } from '../../config';

const cfg = loadConfig({});
const event = {
  bucket: 'lookout-inbox',
  name: 'a.jpg',
  generation: '12',
  size: '10',
  timeCreated: '2026-11-23T10:00:00Z',
  source: 'watcher',
  publishedAt: '2026-11-23T10:00:01Z',
  metadata: { 'lookout-run': 'r9' },
};

function fakeMsg(payload: string, delivery = 1) {
  const calls: string[] = [];
  const m = {
    data: new TextEncoder().encode(payload),
    subject: 'lookout.objects.lookout-inbox',
    seq: 42,
    info: { redeliveryCount: delivery },
    ack: () => calls.push('ack'),
    nak: (d?: number) => calls.push(`nak:${d}`),
    term: () => calls.push('term'),
  };
  return { m: m as unknown as JsMsg, calls };
}

function fakes(start: (opts: { workflowId: string; args: unknown[] }) => Promise<unknown>) {
  const published: Array<{ subject: string; body: Record<string, unknown> }> = [];
  const nc = {
    jetstream: () => ({
      publish: async (subject: string, data: Uint8Array) => {
        published.push({ subject, body: JSON.parse(new TextDecoder().decode(data)) });
        return { seq: 1, duplicate: false };
      },
    }),
  } as unknown as NatsConnection;
  const starts: Array<{ workflowId: string; args: unknown[] }> = [];
  const client = {
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    workflow: {
      start: async (_name: string, opts: { workflowId: string; args: unknown[] }) => {
        starts.push(opts);
        return start(opts);
      },
    },
  } as unknown as Client;
  const d = new Dispatcher(nc, client, cfg, {
    ...DISPATCHER_DEFAULTS,
    maxDeliver: 3,
    pipelineOptions: { gpuStages: [], gpuFallbackMs: 1000 },
  });
  return { d, published, starts };
}

describe('Dispatcher.handle', () => {
  it('starts one workflow per object version, deterministic id, then acks', async () => {
    const { d, starts } = fakes(async () => ({}));
    const { m, calls } = fakeMsg(JSON.stringify(event));
    const out = await d.handle(m);
    expect(out).toEqual({ kind: 'started', workflowId: 'objects:lookout-inbox/a.jpg#12' });
    expect(calls).toEqual(['ack']);
    expect(starts[0].workflowId).toBe('objects:lookout-inbox/a.jpg#12');
    const input = starts[0].args[0] as { runTag: string; object: { size: number } };
    expect(input.runTag).toBe('r9');
    expect(input.object.size).toBe(10);
  });

  it('counts an already-started workflow as success (duplicate event is a no-op)', async () => {
    const { d } = fakes(async () => {
      throw new WorkflowExecutionAlreadyStartedError('exists', 'objects:lookout-inbox/a.jpg#12', 'analyzeObject');
    });
    const { m, calls } = fakeMsg(JSON.stringify(event));
    expect((await d.handle(m)).kind).toBe('duplicate');
    expect(calls).toEqual(['ack']);
  });

  it('dead-letters an invalid event with its reason and terminates it', async () => {
    const { d, published, starts } = fakes(async () => ({}));
    const { m, calls } = fakeMsg(JSON.stringify({ ...event, generation: 'x' }));
    const out = await d.handle(m);
    expect(out.kind).toBe('invalid');
    expect(calls).toEqual(['term']);
    expect(starts).toHaveLength(0);
    expect(published[0].subject).toBe('lookout.dead.invalid');
    expect(String(published[0].body.reason)).toContain('generation');
  });

  it('dead-letters non-JSON payloads', async () => {
    const { d, published } = fakes(async () => ({}));
    const { m } = fakeMsg('{{{ not json');
    expect((await d.handle(m)).kind).toBe('invalid');
    expect(published[0].body.payload).toBe('{{{ not json');
  });

  it('naks a failure of the event with backoff, and dead-letters it at the maxDeliver-th failure', async () => {
    const { d, published } = fakes(async () => {
      throw new Error('start rejected');
    });
    const first = fakeMsg(JSON.stringify(event), 1);
    expect((await d.handle(first.m)).kind).toBe('retry');
    expect(first.calls).toEqual(['nak:1000']);
    const second = fakeMsg(JSON.stringify(event), 2);
    expect((await d.handle(second.m)).kind).toBe('retry');
    expect(second.calls).toEqual(['nak:2000']);
    const last = fakeMsg(JSON.stringify(event), 3);
    expect((await d.handle(last.m)).kind).toBe('dead');
    expect(last.calls).toEqual(['term']);
    expect(published[0].subject).toBe('lookout.dead.dispatch');
    expect(published[0].body.reason).toBe('start rejected');
  });
});
