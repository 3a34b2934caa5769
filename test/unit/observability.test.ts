/** Logs (io/log.ts), metrics (io/metrics.ts) and traces (io/tracing.ts) on their own: fields, levels, the /metrics server, OTLP export. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { createLogger, objectKeyOfWorkflowId, temporalLogger, withLogFields } from '../../io/log';
import { metrics, observeRow, observeStage, serveMetrics, watchPixelBudget } from '../../io/metrics';
import { contextFromHeaders, flushTracing, initTracing, inSpan, traceHeaders } from '../../io/tracing';
import { PixelBudget } from '../../media/pixel-budget';

function capture(): { stream: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { stream, lines };
}

/** A stand-in OTLP/HTTP collector: records what is POSTed to /v1/traces. */
const received: Array<{ path: string; contentType: string; body: Buffer }> = [];
const collector = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({
      path: req.url ?? '',
      contentType: String(req.headers['content-type']),
      body: Buffer.concat(chunks),
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
const exporter = new InMemorySpanExporter();

beforeAll(async () => {
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = (collector.address() as AddressInfo).port;
  initTracing(loadConfig({ LOOKOUT_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }), 'lookout-unit', [
    new SimpleSpanProcessor(exporter),
  ]);
});
afterAll(() => new Promise<void>((r) => collector.close(() => r())));

describe('logs', () => {
  it('every line carries the scope fields and the active span ids; nested scopes add to outer ones', async () => {
    const { stream, lines } = capture();
    const log = createLogger({ name: 't', level: 'info', destination: stream });
    log.info('outside');
    let traceId = '';
    await withLogFields({ objectKey: 'b/a.jpg#1' }, () =>
      inSpan('work', {}, async (span) => {
        traceId = span.spanContext().traceId;
        await new Promise((r) => setTimeout(r, 1)); // the scope survives an await
        withLogFields({ workflowId: 'objects:b/a.jpg#1' }, () => log.info({ extra: 1 }, 'inside'));
      }),
    );
    expect(lines[0].msg).toBe('outside');
    expect(lines[0].objectKey).toBeUndefined();
    expect(lines[0].traceId).toBeUndefined();
    expect(lines[1]).toMatchObject({
      msg: 'inside',
      level: 'info',
      name: 't',
      objectKey: 'b/a.jpg#1',
      workflowId: 'objects:b/a.jpg#1',
      traceId,
      extra: 1,
    });
    expect(lines[1].spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(typeof lines[1].time).toBe('string');
  });

  it('the level from configuration filters lines; LOOKOUT_LOG_LEVEL is validated', () => {
    const { stream, lines } = capture();
    const log = createLogger({
      name: 't',
      level: loadConfig({ LOOKOUT_LOG_LEVEL: 'warn' }).observability.logLevel,
      destination: stream,
    });
    log.info('dropped');
    log.warn('kept');
    expect(lines.map((l) => l.msg)).toEqual(['kept']);
    expect(loadConfig({}).observability.logLevel).toBe('info');
    expect(() => loadConfig({ LOOKOUT_LOG_LEVEL: 'loud' })).toThrow(/LOOKOUT_LOG_LEVEL/);
  });

  it("Temporal's logger writes pino lines with the workflow's ids under Lookout's names, at the configured level", () => {
    const { stream, lines } = capture();
    const log = createLogger({ name: 'w', level: 'debug', destination: stream });
    const t = temporalLogger(log, 'info');
    t.debug('too detailed', {});
    t.warn('analysis failed', {
      workflowId: 'objects:lookout-inbox/x/y.jpg#42',
      runId: 'r1',
      trace_id: 'a'.repeat(32),
      span_id: 'b'.repeat(16),
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'analysis failed',
      workflowId: 'objects:lookout-inbox/x/y.jpg#42',
      objectKey: 'lookout-inbox/x/y.jpg#42',
      runId: 'r1',
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
    });
    expect(lines[0].trace_id).toBeUndefined();
  });

  it('the object key of a per-object workflow id, none for batches and fits', () => {
    expect(objectKeyOfWorkflowId('objects:bucket/dir/a:b.jpg#17')).toBe('bucket/dir/a:b.jpg#17');
    expect(objectKeyOfWorkflowId('bulk:objects:0123abcd')).toBeUndefined();
    expect(objectKeyOfWorkflowId('fit:vtest:123-abc')).toBeUndefined();
  });
});

describe('metrics', () => {
  it('/metrics serves stage, inference, row and decode metrics, and appends the proxied SDK text', async () => {
    const sdk = http.createServer((_req, res) =>
      res.end(
        '# TYPE temporal_worker_task_slots_available gauge\ntemporal_worker_task_slots_available{worker_type="ActivityWorker"} 7\n',
      ),
    );
    await new Promise<void>((r) => sdk.listen(0, '127.0.0.1', r));
    const sdkUrl = `http://127.0.0.1:${(sdk.address() as AddressInfo).port}/metrics`;
    const budget = new PixelBudget(1000);
    watchPixelBudget(budget);
    const release = await budget.acquire(600);
    observeStage(
      {
        stage: 'detect',
        pool: 'cpu',
        scheduledAt: 1000,
        startedAt: 1250,
        completedAt: 1750,
        inferenceMs: 40,
        model: 'nanodet',
        executionProvider: 'cpu',
        batchSize: 4,
      },
      'ok',
    );
    observeRow({
      pipeline: 'objects',
      status: 'failed',
      errorClass: 'CorruptImage',
      failedStage: 'detect',
      endToEndMs: null,
    });
    metrics.deadLetters.inc({ kind: 'invalid' });
    const server = await serveMetrics({ host: '127.0.0.1', port: 0, proxied: [sdkUrl, 'http://127.0.0.1:1/metrics'] });
    try {
      const r = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(r.status).toBe(200);
      const text = await r.text();
      expect(text).toContain('lookout_stage_run_seconds_sum{stage="detect",pool="cpu",outcome="ok"} 0.5');
      expect(text).toContain('lookout_stage_queue_seconds_sum{stage="detect",pool="cpu"} 0.25');
      expect(text).toContain(
        'lookout_inference_seconds_count{model="nanodet",execution_provider="cpu",stage="detect"} 1',
      );
      expect(text).toContain('lookout_inference_batch_size_sum{model="nanodet",execution_provider="cpu"} 4');
      expect(text).toContain('lookout_failed_rows_total{error_class="CorruptImage",stage="detect"} 1');
      expect(text).toContain('lookout_rows_total{pipeline="objects",status="failed"} 1');
      expect(text).toContain('lookout_dead_letters_total{kind="invalid"} 1');
      expect(text).toContain('lookout_decode_pixels_in_use 600');
      expect(text).toContain('lookout_decode_pixel_budget 1000');
      expect(text).toContain('temporal_worker_task_slots_available{worker_type="ActivityWorker"} 7');
      release();
      const again = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(again).toContain('lookout_decode_pixels_in_use 0');
      // The unreachable second exporter did not fail the scrape; it is counted (our text is read before the proxied one: seen on the next scrape).
      expect(again).toMatch(/lookout_metrics_collect_errors_total\{source="temporal-sdk"\} [1-9]/);
      expect((await fetch(`http://127.0.0.1:${server.port}/nothing`)).status).toBe(404);
    } finally {
      await server.close();
      sdk.close();
    }
  });

  it('each process has its own default port; LOOKOUT_METRICS_PORT overrides it (0 = off)', () => {
    const p = loadConfig({ LOOKOUT_PORT_BASE: '20000' }).observability.metricsPorts;
    expect(p).toMatchObject({
      worker: 20050,
      workerGpu: 20051,
      dispatcher: 20052,
      watcher: 20053,
      push: 20054,
      serve: 20055,
      stream: 20056,
    });
    expect(new Set(Object.values(p)).size).toBe(Object.values(p).length);
    expect(loadConfig({ LOOKOUT_METRICS_PORT: '0' }).observability.metricsPorts.dispatcher).toBe(0);
  });
});

describe('traces', () => {
  it('trace context crosses a message boundary as W3C headers, and spans reach the OTLP/HTTP endpoint', async () => {
    let producer = { traceId: '', spanId: '' };
    let headers: Record<string, string> = {};
    await inSpan('lookout.event', {}, async (span) => {
      producer = span.spanContext();
      headers = traceHeaders();
    });
    expect(headers.traceparent).toBe(`00-${producer.traceId}-${producer.spanId}-01`);
    await inSpan('lookout.dispatch', { parent: contextFromHeaders((k) => headers[k]) }, async () => {});
    const dispatch = exporter.getFinishedSpans().find((s) => s.name === 'lookout.dispatch')!;
    expect(dispatch.spanContext().traceId).toBe(producer.traceId);
    expect(dispatch.parentSpanId).toBe(producer.spanId);
    // Without headers a span starts a new trace.
    await inSpan('orphan', { parent: contextFromHeaders(() => undefined) }, async () => {});
    expect(exporter.getFinishedSpans().find((s) => s.name === 'orphan')!.parentSpanId).toBeUndefined();

    await expect(inSpan('failing', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(exporter.getFinishedSpans().find((s) => s.name === 'failing')!.status.message).toBe('boom');

    await flushTracing();
    const posts = received.filter((r) => r.path === '/v1/traces');
    expect(posts.length).toBeGreaterThan(0);
    const all = Buffer.concat(posts.map((p) => p.body)).toString('latin1');
    expect(all).toContain('lookout.dispatch');
    expect(all).toContain(producer.traceId);
  });
});
