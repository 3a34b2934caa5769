/**
 * One upload → one connected OpenTelemetry trace with every hop, and log lines that carry the object's key,
 * workflow id and trace id. The whole chain runs in this process (watcher, dispatcher, worker with its workflow
 * and activities) against the real servers, so an in-memory exporter sees every span. It has its own Temporal
 * namespace, JetStream stream and bucket: the stack's own watcher, dispatcher and worker never see its work.
 */
import { Writable } from 'node:stream';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { msToTs } from '@temporalio/common/lib/time';
import { register as registerTsx } from 'tsx/cjs/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { objectKey } from '../../core/events';
import { Dispatcher, DISPATCHER_DEFAULTS } from '../../dispatch/dispatcher';
import { BucketWatcher, WATCHER_DEFAULTS } from '../../ingest/watcher';
import { natsConnect, temporalClient } from '../../io/clients';
import { initLogging } from '../../io/log';
import { ensureStreams } from '../../io/streams';
import { initTracing } from '../../io/tracing';
import { runWorker } from '../../workers/worker';
import { ensureBucket, sampleFrame, storage, uniqueRun, upload, waitForRows } from './helpers';

const BUCKET = 'lookout-trace';
const tcfg = loadConfig({
  ...process.env,
  LOOKOUT_BUCKET: BUCKET,
  LOOKOUT_NATS_STREAM: 'LOOKOUT_TRACE_OBJECTS',
  LOOKOUT_NATS_SUBJECT_PREFIX: 'lookout.trace-objects',
  LOOKOUT_NATS_DEAD_STREAM: 'LOOKOUT_TRACE_DEAD',
  LOOKOUT_NATS_DEAD_PREFIX: 'lookout.trace-dead',
  LOOKOUT_NATS_KV_BUCKET: 'lookout_trace_cursors',
  LOOKOUT_TEMPORAL_NAMESPACE: 'lookout-trace',
  LOOKOUT_WORKFLOW_QUEUE: 'lookout-trace-workflows',
});

const exporter = new InMemorySpanExporter();
const logLines: Array<Record<string, unknown>> = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString('utf8').split('\n'))
      if (l.trim()) logLines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  },
});

const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // The worker requires its methods' runtime lazily (plain require of .ts files, as `bin/lookout` does through tsx).
  stops.push(async () => unregisterTsx());
  const unregisterTsx = registerTsx();
  initLogging('trace-test', 'info', { destination: logSink, pretty: false });
  initTracing(tcfg, 'lookout-trace-test', [new SimpleSpanProcessor(exporter)]);
  await ensureBucket(BUCKET);
  const nc = await natsConnect(tcfg, 'lookout-trace-test');
  await ensureStreams(nc, tcfg);
  const { client, connection } = await temporalClient(tcfg);
  try {
    await client.workflowService.registerNamespace({
      namespace: tcfg.temporal.namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
  } catch (err) {
    if (!/already exists/i.test((err as Error).message)) throw err;
  }
  const ac = new AbortController();
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const worker = runWorker(
    tcfg,
    { pool: 'cpu', pipelines: ['objects'], concurrency: 4, workflows: true, signal: ac.signal },
    () => ready(),
  );
  await Promise.race([started, worker]);
  const dispatcher = new Dispatcher(nc, client, tcfg, {
    ...DISPATCHER_DEFAULTS,
    durable: 'trace-dispatcher',
    pipelineOptions: tcfg.pipelines,
  });
  const dispatching = dispatcher.run();
  const watcher = new BucketWatcher(nc, storage, tcfg, BUCKET, { ...WATCHER_DEFAULTS, intervalMs: 200 });
  const watching = watcher.run();
  stops.push(async () => {
    watcher.stop();
    await watching;
    await dispatcher.stop();
    await dispatching;
    ac.abort();
    await worker;
    await nc.close();
    await connection.close();
  });
}, 300_000);

afterAll(async () => {
  for (const s of stops) await s();
  // The test files share one process: leave no global tracer behind for the next.
  trace.disable();
  propagation.disable();
  context.disable();
});

async function waitForSpans(pred: (spans: ReadableSpan[]) => boolean, timeoutMs = 60_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    if (pred(spans)) return spans;
    if (Date.now() > deadline)
      throw new Error(`spans not complete after ${timeoutMs} ms: ${spans.map((s) => s.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('tracing and logs', () => {
  it('one upload gives one connected trace: event, dispatch, workflow start and run, each activity, record', async () => {
    const run = uniqueRun('trace');
    const name = `${run}/frame100.jpg`;
    const generation = await upload(BUCKET, name, sampleFrame(100), 'image/jpeg', { 'lookout-run': run });
    const key = objectKey({ bucket: BUCKET, name, generation });
    const [row] = await waitForRows<{ status: string; workflow_id: string }>('run_tag = @run', { run }, 1);
    expect(row.status).toBe('ok');

    // The workflow's span is exported when the workflow completes, a moment after its row: wait for it.
    const event = () =>
      exporter.getFinishedSpans().find((s) => s.name === 'lookout.event' && s.attributes['lookout.object_key'] === key);
    const spans = await waitForSpans((all) => {
      const e = event();
      return (
        !!e &&
        all.some((s) => s.name === 'RunWorkflow:analyzeObject' && s.spanContext().traceId === e.spanContext().traceId)
      );
    });
    const traceId = event()!.spanContext().traceId;
    const mine = spans.filter((s) => s.spanContext().traceId === traceId);
    const names = mine.map((s) => s.name);
    const grouped = tcfg.pipelines.groupStages !== false;
    for (const hop of [
      'lookout.event',
      'lookout.dispatch',
      'StartWorkflow:analyzeObject',
      'RunWorkflow:analyzeObject',
      // Stages on one queue run as one activity (stage groups, LOOKOUT_GROUP_STAGES), which writes the row itself;
      // each stage is a span of its own inside it. Without groups: an activity per stage, then the record activity.
      ...(grouped
        ? [
            'StartActivity:stages',
            'RunActivity:stages',
            'lookout.stage.detect',
            'lookout.stage.extract',
            'lookout.stage.score',
          ]
        : [
            'StartActivity:detect',
            'RunActivity:detect',
            'StartActivity:extract',
            'RunActivity:extract',
            'StartActivity:score',
            'RunActivity:score',
            'StartActivity:record',
            'RunActivity:record',
          ]),
      'lookout.record',
    ]) {
      expect(names, hop).toContain(hop);
    }
    // Connected: exactly one root (the event) and every other span's parent is a span of the same trace.
    const ids = new Set(mine.map((s) => s.spanContext().spanId));
    const roots = mine.filter((s) => !s.parentSpanId);
    expect(roots.map((s) => s.name)).toEqual(['lookout.event']);
    for (const s of mine)
      if (s.parentSpanId) expect(ids.has(s.parentSpanId), `${s.name}'s parent is in the trace`).toBe(true);
    // And in causal order: the dispatch is the event's child, the workflow run descends from the start.
    const byName = (n: string) => mine.find((s) => s.name === n)!;
    expect(byName('lookout.dispatch').parentSpanId).toBe(byName('lookout.event').spanContext().spanId);
    expect(byName('StartWorkflow:analyzeObject').parentSpanId).toBe(byName('lookout.dispatch').spanContext().spanId);
    expect(byName('RunWorkflow:analyzeObject').parentSpanId).toBe(
      byName('StartWorkflow:analyzeObject').spanContext().spanId,
    );
    expect(byName('lookout.record').parentSpanId).toBe(
      byName(grouped ? 'RunActivity:stages' : 'RunActivity:record').spanContext().spanId,
    );
    if (grouped)
      for (const st of ['detect', 'extract', 'score'])
        expect(byName(`lookout.stage.${st}`).parentSpanId).toBe(byName('RunActivity:stages').spanContext().spanId);
    expect(byName('lookout.dispatch').attributes['lookout.workflow_id']).toBe(row.workflow_id);

    // Log lines about this object (dispatcher's settle, the worker's row line) carry its key, workflow id and this trace id.
    const lines = logLines.filter((l) => l.objectKey === key);
    const messages = lines.map((l) => l.msg);
    expect(messages).toContain('row recorded');
    for (const l of lines) {
      expect(l.workflowId, String(l.msg)).toBe(row.workflow_id);
      expect(l.traceId, String(l.msg)).toBe(traceId);
    }
  });
});
