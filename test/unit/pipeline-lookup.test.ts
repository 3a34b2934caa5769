/**
 * Pipeline names come from object metadata (`lookout-pipeline`), i.e. from whoever uploads. A name that is a
 * property of Object.prototype must be an unknown pipeline like any other, never a "pipeline" whose task
 * queue no worker serves (a workflow stuck for 24 h, no row, no dead letter).
 */
import type { Client } from '@temporalio/client';
import type { JsMsg, NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { isRetryable } from '../../core/errors';
import { resolvePipeline } from '../../core/pipelines';
import { Dispatcher, DISPATCHER_DEFAULTS, routeEvent } from '../../dispatch/dispatcher';
import { validateObjectEvent } from '../../core/events';

const cfg = loadConfig({});
const opts = { gpuStages: [], gpuFallbackMs: 1000 };
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

function event(pipeline: string) {
  return {
    bucket: 'lookout-inbox',
    name: 'a.jpg',
    generation: '12',
    size: '10',
    timeCreated: '2026-11-23T10:00:00Z',
    source: 'watcher',
    publishedAt: '2026-11-23T10:00:01Z',
    metadata: { 'lookout-pipeline': pipeline },
  };
}

describe('pipeline lookup by a name from the event', () => {
  it.each(PROTO_NAMES)('resolvePipeline(%j) is a non-retryable UnknownPipeline', (name) => {
    let caught: unknown;
    try {
      resolvePipeline(name, opts);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).name).toBe('UnknownPipeline');
    expect(isRetryable(caught)).toBe(false);
  });

  it.each(PROTO_NAMES)('routeEvent does not treat %j as a pipeline definition', (name) => {
    const v = validateObjectEvent(event(name));
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(routeEvent({ ...v.value, name: 'clip.mp4', contentType: 'video/mp4' }, cfg)).toEqual({
      workflowType: 'analyzeObject',
    });
  });

  it.each(PROTO_NAMES)('the dispatcher dead-letters an event naming pipeline %j and starts nothing', async (name) => {
    const published: Array<{ subject: string; body: { reason: string } }> = [];
    const nc = {
      jetstream: () => ({
        publish: async (subject: string, data: Uint8Array) => {
          published.push({ subject, body: JSON.parse(new TextDecoder().decode(data)) });
          return { seq: 1, duplicate: false };
        },
      }),
    } as unknown as NatsConnection;
    const starts: unknown[] = [];
    const client = {
      workflow: { start: async (...a: unknown[]) => starts.push(a) },
      withDeadline: (_d: number, fn: () => Promise<unknown>) => fn(),
    } as unknown as Client;
    const d = new Dispatcher(nc, client, cfg, { ...DISPATCHER_DEFAULTS, pipelineOptions: opts });
    const calls: string[] = [];
    const m = {
      data: new TextEncoder().encode(JSON.stringify(event(name))),
      subject: 'lookout.objects.lookout-inbox',
      seq: 7,
      info: { redeliveryCount: 1 },
      ack: () => calls.push('ack'),
      nak: () => calls.push('nak'),
      term: () => calls.push('term'),
    } as unknown as JsMsg;
    const out = await d.handle(m);
    expect(out.kind).toBe('dead');
    expect(calls).toEqual(['term']);
    expect(starts).toHaveLength(0);
    expect(published).toHaveLength(1);
    expect(published[0].body.reason).toContain(`unknown pipeline ${JSON.stringify(name)}`);
  });
});

describe('frame triplets (KEY, KEY_d3, KEY_p3)', () => {
  const base = {
    ...event('objects'),
    eventType: 'OBJECT_FINALIZE' as const,
    source: 'watcher' as const,
    metadata: {} as Record<string, string>,
  };
  const route = (name: string, metadata: Record<string, string> = {}) => routeEvent({ ...base, name, metadata }, cfg);

  it('uploaded without metadata: one analysis of KEY, the neighbours skipped (the default pipeline takes no triplets)', () => {
    expect(cfg.pipeline).toBe('objects');
    expect(route('cam1/f0100.jpg')).toEqual({ workflowType: 'analyzeObject' });
    expect(route('cam1/f0100_d3.jpg')).toMatchObject({ skip: expect.stringMatching(/neighbour/) });
    expect(route('cam1/f0100_p3.jpg')).toMatchObject({ skip: expect.stringMatching(/neighbour/) });
  });

  it('a triplet pipeline skips neighbours; an explicit image pipeline analyses such a name; videos are never neighbours', () => {
    expect(route('cam1/f0100_d3.jpg', { 'lookout-pipeline': 'cctv-ocae' })).toMatchObject({ skip: expect.any(String) });
    expect(route('scan_d3.jpg', { 'lookout-pipeline': 'objects' })).toEqual({ workflowType: 'analyzeObject' });
    expect(routeEvent({ ...base, name: 'cam1/clip_p3.mp4', contentType: 'video/mp4', metadata: {} }, cfg)).toEqual({
      workflowType: 'analyzeVideo',
    });
  });
});
