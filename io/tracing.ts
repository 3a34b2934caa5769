/**
 * OpenTelemetry tracing: one trace per object, from the event to its row.
 *
 *   lookout.event (ingest: watcher / push-server / backfill publish)          ─┐ W3C traceparent in the NATS message headers
 *   lookout.dispatch (dispatcher, parent taken from those headers)             ─┤
 *     StartWorkflow:<type> (Temporal client interceptor; context in the workflow's headers)
 *       RunWorkflow:<type> (workflow interceptor, exported from the worker through a sink)
 *         StartActivity:<stage> → RunActivity:<stage> (activity interceptor) for detect, extract, score, record
 *           lookout.record (the BigQuery write inside the record activity)
 *
 * Every process registers one tracer provider (initTracing). Spans go to the OTLP/HTTP collector named by
 * LOOKOUT_OTLP_ENDPOINT when it is set, and to any processors a test adds (an in-memory exporter). Without an
 * endpoint spans are still made: their ids are on every log line (io/log.ts) and cross process boundaries.
 */
import {
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Span as SdkSpan } from '@opentelemetry/sdk-trace-base';
import type { LookoutConfig } from '../config';

export { SpanKind };

/** Hands every span to each registered processor; processors can be added after the provider is registered. */
class FanOutProcessor implements SpanProcessor {
  readonly processors: SpanProcessor[] = [];
  onStart(span: SdkSpan, parent: Context): void {
    for (const p of this.processors) p.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    for (const p of this.processors) p.onEnd(span);
  }
  async forceFlush(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.forceFlush()));
  }
  async shutdown(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.shutdown()));
  }
}

const fanOut = new FanOutProcessor();
const NOOP_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
let provider: NodeTracerProvider | undefined;
let resource: Resource | undefined;
let otlpUrl: string | undefined;

/**
 * Registers the process's tracer provider (once; later calls only add processors). `extra` processors see
 * every span (tests: an InMemorySpanExporter behind a SimpleSpanProcessor).
 */
export function initTracing(
  cfg: Pick<LookoutConfig, 'observability'>,
  serviceName: string,
  extra: SpanProcessor[] = [],
): void {
  if (!provider) {
    resource = new Resource({ 'service.name': serviceName });
    provider = new NodeTracerProvider({ resource, spanProcessors: [fanOut] });
    // Also installs the AsyncLocalStorage context manager and the W3C trace-context propagator the Temporal interceptors use.
    provider.register();
  }
  fanOut.processors.push(...extra);
  const endpoint = cfg.observability.otlpEndpoint;
  if (endpoint && otlpUrl === undefined) {
    otlpUrl = `${endpoint}/v1/traces`;
    fanOut.processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: otlpUrl })));
  }
}

/** The processor and resource a Temporal worker's workflow-span sink needs (makeWorkflowExporter). */
export function workflowSpanExport(): { processor: SpanProcessor; resource: Resource } {
  return { processor: fanOut, resource: resource ?? new Resource({ 'service.name': 'lookout' }) };
}

/** Exports the spans still buffered (before a process exits). */
export async function flushTracing(): Promise<void> {
  await fanOut.forceFlush();
}

export function tracer(): Tracer {
  return trace.getTracer('lookout');
}

/** The active context's trace headers (traceparent, tracestate) as a plain object. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context a message's headers carry (the root context when they carry none). */
export function contextFromHeaders(get: (name: string) => string | undefined): Context {
  return propagation.extract(
    context.active(),
    {},
    {
      keys: () => ['traceparent', 'tracestate'],
      get: (_carrier, key) => get(key),
    },
  );
}

/** Runs fn inside a new span (child of `parent`, default the active context); records an exception and ends it either way. */
export async function inSpan<T>(
  name: string,
  opts: { kind?: SpanKind; attributes?: Record<string, string | number | boolean | undefined>; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  // No provider in this process (unit tests, library use): skip the span machinery, which is measurable on hot paths
  // such as a watcher's first poll of a million objects.
  if (!provider) return fn(NOOP_SPAN);
  const attrs = Object.fromEntries(Object.entries(opts.attributes ?? {}).filter(([, v]) => v !== undefined)) as Record<
    string,
    string | number | boolean
  >;
  return tracer().startActiveSpan(
    name,
    { kind: opts.kind ?? SpanKind.INTERNAL, attributes: attrs },
    opts.parent ?? context.active(),
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}
