/**
 * Outages are waited out, not dead-lettered: the dispatcher's decision for a failed workflow start, with
 * the error a real Temporal client gives when its server is unreachable, and with the message's delivery
 * count far past any max_deliver.
 */
import { Client, Connection, ServiceError } from '@temporalio/client';
import type { JsMsg, NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { UnknownPipelineError } from '../../core/errors';
import { Dispatcher, DISPATCHER_DEFAULTS, ensureDispatcherConsumer } from '../../dispatch/dispatcher';
import { dispatchBackoffMs } from '../../core/policies';
import { classifyStartFailure, FailureCounter } from '../../dispatch/failures';

const cfg = loadConfig({});
const event = {
  bucket: 'lookout-inbox',
  name: 'a.jpg',
  generation: '12',
  size: '10',
  timeCreated: '2026-11-23T10:00:00Z',
  source: 'watcher',
  publishedAt: '2026-11-23T10:00:01Z',
};

function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}
const unavailable = () =>
  new ServiceError('Failed to start Workflow', {
    cause: grpcError(14, 'UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:7233'),
  });

function msg(seq: number, delivery: number) {
  const calls: string[] = [];
  const m = {
    data: new TextEncoder().encode(JSON.stringify(event)),
    subject: 'lookout.objects.lookout-inbox',
    seq,
    info: { redeliveryCount: delivery },
    ack: () => calls.push('ack'),
    nak: (d?: number) => calls.push(`nak:${d}`),
    term: () => calls.push('term'),
  };
  return { m: m as unknown as JsMsg, calls };
}

function dispatcher(start: () => Promise<unknown>, maxDeliver = 3) {
  const dead: unknown[] = [];
  const logs: string[] = [];
  const nc = {
    jetstream: () => ({
      publish: async (_s: string, d: Uint8Array) => dead.push(JSON.parse(new TextDecoder().decode(d))),
    }),
  } as unknown as NatsConnection;
  const client = {
    workflow: { start },
    withDeadline: (_d: number, fn: () => Promise<unknown>) => fn(),
  } as unknown as Client;
  const d = new Dispatcher(nc, client, cfg, {
    ...DISPATCHER_DEFAULTS,
    maxDeliver,
    pipelineOptions: { gpuStages: [], gpuFallbackMs: 1000 },
    log: (l) => logs.push(l),
  });
  return { d, dead, logs };
}

describe('classifyStartFailure', () => {
  it('calls the error of a real client whose Temporal server is unreachable an outage', async () => {
    const connection = Connection.lazy({ address: '127.0.0.1:1' });
    const client = new Client({ connection });
    let err: unknown;
    try {
      await client.withDeadline(Date.now() + 1500, () =>
        client.workflow.start('analyzeObject', { taskQueue: 'q', workflowId: 'w', args: [] }),
      );
    } catch (e) {
      err = e;
    } finally {
      await connection.close();
    }
    expect(err).toBeInstanceOf(ServiceError);
    expect(classifyStartFailure(err)).toBe('outage');
  });

  it.each([
    ['UNAVAILABLE', unavailable(), 'outage'],
    ['DEADLINE_EXCEEDED', new ServiceError('x', { cause: grpcError(4, 'DEADLINE_EXCEEDED') }), 'outage'],
    [
      'RESOURCE_EXHAUSTED (rate limited)',
      new ServiceError('x', { cause: grpcError(8, 'RESOURCE_EXHAUSTED') }),
      'outage',
    ],
    [
      'namespace not found',
      new ServiceError('x', { cause: grpcError(5, 'NOT_FOUND: Namespace x is not found.') }),
      'outage',
    ],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'outage'],
    [
      'INVALID_ARGUMENT (this request)',
      new ServiceError('x', { cause: grpcError(3, 'INVALID_ARGUMENT: WorkflowId length exceeds limit.') }),
      'event',
    ],
    ['an unexpected error', new TypeError('x is undefined'), 'event'],
    ['UnknownPipeline', new UnknownPipelineError('constructor', ['objects']), 'permanent'],
  ] as const)('%s -> %s', (_name, err, kind) => {
    expect(classifyStartFailure(err)).toBe(kind);
  });

  it('backoff is capped', () => {
    expect([1, 2, 3, 5, 6, 50, 10_000].map((n) => dispatchBackoffMs(n))).toEqual([
      1000, 2000, 4000, 16000, 30000, 30000, 30000,
    ]);
  });

  it('the failure counter stays bounded', () => {
    const c = new FailureCounter(100);
    for (let i = 0; i < 1000; i++) c.increment(i);
    expect(c.size).toBe(100);
    expect(c.increment(999)).toBe(2);
  });
});

describe('Dispatcher during an outage', () => {
  it('naks with capped backoff for as long as Temporal is unreachable, whatever the delivery count, and never dead-letters', async () => {
    const { d, dead } = dispatcher(async () => {
      throw unavailable();
    });
    for (const delivery of [1, 2, 3, 4, 5, 6, 50, 500]) {
      const { m, calls } = msg(1, delivery);
      const out = await d.handle(m);
      expect(out.kind).toBe('outage');
      expect(calls).toEqual([`nak:${dispatchBackoffMs(delivery)}`]);
    }
    expect(dead).toEqual([]);
  });

  it('starts the event once Temporal is back, after any number of deliveries', async () => {
    let up = false;
    const { d, dead, logs } = dispatcher(async () => {
      if (!up) throw unavailable();
      return {};
    });
    for (let delivery = 1; delivery <= 20; delivery++) await d.handle(msg(1, delivery).m);
    up = true;
    const { m, calls } = msg(1, 21);
    expect((await d.handle(m)).kind).toBe('started');
    expect(calls).toEqual(['ack']);
    expect(dead).toEqual([]);
    // One line when the outage begins and one when it ends, not one per message.
    expect(logs.filter((l) => /unreachable/.test(l))).toHaveLength(1);
    expect(logs.filter((l) => /reachable again/.test(l))).toHaveLength(1);
  });

  it('counts only failures of the event itself toward dead-lettering', async () => {
    let outage = true;
    const { d, dead } = dispatcher(async () => {
      throw outage ? unavailable() : new TypeError('bad event');
    }, 3);
    let delivery = 0;
    for (let i = 0; i < 10; i++) expect((await d.handle(msg(9, ++delivery).m)).kind).toBe('outage');
    outage = false;
    expect((await d.handle(msg(9, ++delivery).m)).kind).toBe('retry');
    expect((await d.handle(msg(9, ++delivery).m)).kind).toBe('retry');
    const last = msg(9, ++delivery);
    expect((await d.handle(last.m)).kind).toBe('dead');
    expect(last.calls).toEqual(['term']);
    expect(dead).toHaveLength(1);
  });

  it('the consumer has no max_deliver of its own (the dispatcher counts event failures)', async () => {
    const added: Array<Record<string, unknown>> = [];
    const nc = {
      jetstreamManager: async () => ({
        consumers: {
          info: async () => {
            // As nats.js reports it: the JetStream API error code (10014), not only the text.
            throw Object.assign(new Error('consumer not found'), {
              api_error: { code: 404, err_code: 10014, description: 'consumer not found' },
            });
          },
          add: async (_stream: string, c: Record<string, unknown>) => added.push(c),
        },
      }),
    } as unknown as NatsConnection;
    await ensureDispatcherConsumer(nc, cfg, {
      ...DISPATCHER_DEFAULTS,
      pipelineOptions: { gpuStages: [], gpuFallbackMs: 1000 },
    });
    expect(added[0].max_deliver).toBe(-1);
  });
});
