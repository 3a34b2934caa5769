/**
 * Dispatcher: a durable pull consumer on the object stream that turns each
 * event into a Temporal workflow start.
 *
 *  - ack only after the start is accepted (or the workflow already exists:
 *    the deterministic workflow ID makes a duplicate a no-op);
 *  - an invalid event is dead-lettered with its reason and terminated;
 *  - a failed start is classified (dispatch/failures.ts): an outage of Temporal
 *    is waited out (nak with capped backoff, for as long as it lasts, never
 *    dead-lettered); a failure of the event itself is retried and dead-lettered
 *    after maxDeliver such failures, counted by the dispatcher (the consumer has
 *    no max_deliver: JetStream would stop delivering an event that had only
 *    outlived an outage);
 *  - in-flight work is bounded: max_ack_pending equals the concurrency.
 */
import type { Client } from '@temporalio/client';
import { AckPolicy, DeliverPolicy, nanos, type ConsumerMessages, type JsMsg, type NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';
import { isStacCatalogName, isStacJsonName, validateObjectEvent, type ObjectEvent } from '../core/events';
import { PIPELINES, resolvePipeline, type PipelineOptions } from '../core/pipelines';
import { analysisWorkflowId, WorkflowStarter, type AnalysisKind } from '../io/starter';
import { METHODS } from '../methods/registry';
import { isNeighbour, isVideo } from '../media/triplets';
import { DISPATCHER_DURABLE, isJsApiError, JS_ERR, jsonCodec, publishDeadLetter } from '../io/streams';
import { dispatchBackoffMs } from '../core/policies';
import { classifyStartFailure, FailureCounter } from './failures';
import type { AnalyzeInput } from '../core/types';
import { objectKey } from '../core/events';
import { log, withLogFields } from '../io/log';
import { metrics } from '../io/metrics';
import { contextFromHeaders, inSpan, SpanKind } from '../io/tracing';

export interface DispatcherOptions {
  /** Workflow starts in flight at once; also the consumer's max_ack_pending. */
  concurrency: number;
  /** Failures of the event itself (not outages) before it is dead-lettered. */
  maxDeliver: number;
  /** A workflow start that takes longer fails (and is retried): kept under ackWaitMs, so a hung start is not redelivered while in flight. */
  startTimeoutMs: number;
  /** Seconds the server waits for an ack before redelivering. */
  ackWaitMs: number;
  durable: string;
  pipelineOptions: PipelineOptions;
  /** Called after each message is settled (for tests and progress), inside the message's span and log scope. */
  onSettled?: (outcome: DispatchOutcome) => void;
  /** Where the begin and end of an outage are reported (default stderr). */
  log?: (line: string) => void;
}

export const DISPATCHER_DEFAULTS: Omit<DispatcherOptions, 'pipelineOptions'> = {
  concurrency: 32,
  maxDeliver: 5,
  ackWaitMs: 30_000,
  startTimeoutMs: 15_000,
  durable: DISPATCHER_DURABLE,
};

export type DispatchOutcome =
  | { kind: 'started'; workflowId: string }
  | { kind: 'duplicate'; workflowId: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'skipped'; reason: string }
  | { kind: 'retry'; error: string; delivery: number }
  | { kind: 'outage'; error: string; delivery: number }
  | { kind: 'dead'; error: string };

/** Pipeline named by the object (metadata `lookout-pipeline`), else the configured default. */
export function pipelineFor(ev: ObjectEvent, cfg: LookoutConfig): string {
  // A GeoTIFF goes to the raster pipeline unless the object names another: it is not a picture to detect objects in.
  // So is a STAC Item (a .json object: its band assets are read as one raster, docs/stac.md).
  return (
    ev.metadata?.['lookout-pipeline'] ||
    (isGeoTiff(ev.name, ev.contentType) || isStacJsonName(ev.name, ev.contentType) ? 'raster' : cfg.pipeline)
  );
}

/** .tif / .tiff objects (or content type image/tiff). */
export function isGeoTiff(name: string, contentType?: string): boolean {
  return /\.tiff?$/i.test(name) || /^image\/tiff\b/i.test(contentType ?? '');
}

/** Sidecars of rasters (world files, .prj, GDAL .aux.xml): read with their raster, never analysed alone. */
export function isRasterSidecar(name: string): boolean {
  return /\.(tfw|tifw|jgw|jpgw|pgw|pngw|wld|prj)$/i.test(name) || /\.aux\.xml$/i.test(name);
}

export function analyzeInputFor(
  ev: ObjectEvent,
  cfg: LookoutConfig,
  opts: PipelineOptions,
  now = new Date(),
): AnalyzeInput {
  const pipeline = resolvePipeline(pipelineFor(ev, cfg), opts);
  return {
    pipeline,
    object: {
      bucket: ev.bucket,
      name: ev.name,
      generation: ev.generation,
      size: Number(ev.size),
      contentType: ev.contentType,
      timeCreated: ev.timeCreated,
      md5Hash: ev.md5Hash,
      crc32c: ev.crc32c,
      metadata: ev.metadata,
    },
    trace: { source: ev.source, publishedAt: ev.publishedAt, dispatchedAt: now.toISOString() },
    runTag: ev.metadata?.['lookout-run'],
    scene: ev.metadata?.['lookout-scene'] || cfg.scene,
  };
}

/**
 * What an event asks for: nothing (Lookout's own derived objects; the t-3/t+3
 * neighbours of a frame triplet), a video analysis, or an object analysis.
 */
export function routeEvent(ev: ObjectEvent, cfg: LookoutConfig): { skip: string } | { workflowType: AnalysisKind } {
  if (ev.metadata?.['lookout-derived']) return { skip: `derived object (${ev.metadata['lookout-derived']})` };
  // An unknown pipeline routes as an object: starting it fails with UnknownPipeline, which dead-letters the event.
  const pipeline = PIPELINES.get(pipelineFor(ev, cfg));
  const accepts = pipeline ? METHODS.get(pipeline.method)?.accepts : undefined;
  const video = isVideo(ev.name, ev.contentType);
  // KEY_d3 / KEY_p3 are inputs of KEY's analysis. Also when the upload names no pipeline (the default one may not
  // take triplets): a triplet uploaded without metadata is one analysis of KEY, not three. Only an explicit
  // lookout-pipeline that takes single images analyses such a name as an image of its own.
  if (!video && isNeighbour(ev.name) && (accepts?.triplets || !ev.metadata?.['lookout-pipeline']))
    return { skip: 'neighbour frame of a triplet (analysed with its KEY)' };
  if (isRasterSidecar(ev.name)) return { skip: 'raster sidecar (world file / .prj, read with its raster)' };
  if (isStacCatalogName(ev.name))
    return { skip: 'STAC catalog / collection (lookout backfill gs://BUCKET/…/catalog.json analyses its items)' };
  if (accepts?.rasters) return { workflowType: 'analyzeRaster' };
  if (accepts?.videos && video) return { workflowType: 'analyzeVideo' };
  return { workflowType: 'analyzeObject' };
}

export async function ensureDispatcherConsumer(
  nc: NatsConnection,
  cfg: LookoutConfig,
  opts: DispatcherOptions,
): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const config = {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: `${cfg.nats.subjectPrefix}.>`,
    ack_wait: nanos(opts.ackWaitMs),
    // Unlimited: an event waits out an outage however long; the dispatcher counts failures of the event itself.
    max_deliver: -1,
    max_ack_pending: opts.concurrency,
  };
  try {
    await jsm.consumers.info(cfg.nats.stream, opts.durable);
    await jsm.consumers.update(cfg.nats.stream, opts.durable, {
      ack_wait: config.ack_wait,
      max_deliver: config.max_deliver,
      max_ack_pending: config.max_ack_pending,
    });
  } catch (err) {
    if (!isJsApiError(err, JS_ERR.consumerNotFound)) throw err;
    await jsm.consumers.add(cfg.nats.stream, config);
  }
}

export class Dispatcher {
  private messages: ConsumerMessages | undefined;
  private inflight = new Set<Promise<void>>();
  private stopped = false;
  private readonly starter: WorkflowStarter;
  private readonly eventFailures = new FailureCounter();
  /** Since when Temporal has been unreachable (undefined: it is not). */
  private outageSince: number | undefined;
  readonly counts = { started: 0, duplicate: 0, invalid: 0, skipped: 0, retry: 0, outage: 0, dead: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly client: Client,
    private readonly cfg: LookoutConfig,
    private readonly opts: DispatcherOptions,
  ) {
    this.starter = new WorkflowStarter(client, cfg);
  }

  async handle(m: JsMsg): Promise<DispatchOutcome> {
    const js = this.nc.jetstream();
    const delivery = m.info.redeliveryCount;
    let raw: unknown;
    try {
      raw = jsonCodec.decode(m.data);
    } catch {
      raw = undefined;
    }
    const v =
      raw === undefined ? { ok: false as const, reason: 'payload is not valid JSON' } : validateObjectEvent(raw);
    if (!v.ok) {
      await publishDeadLetter(js, this.cfg, {
        kind: 'invalid',
        reason: v.reason,
        payload: new TextDecoder().decode(m.data).slice(0, 65536),
        subject: m.subject,
        streamSeq: m.seq,
        deliveries: delivery,
      });
      m.term(v.reason);
      const o: DispatchOutcome = { kind: 'invalid', reason: v.reason };
      this.opts.onSettled?.(o);
      return o;
    }
    const ev = v.value;
    // The object's trace continues here from the event's headers; every log line below carries its key.
    const parent = contextFromHeaders((k) => m.headers?.get(k) || undefined);
    return withLogFields({ objectKey: objectKey(ev) }, () =>
      inSpan(
        'lookout.dispatch',
        {
          kind: SpanKind.CONSUMER,
          parent,
          attributes: {
            'lookout.object_key': objectKey(ev),
            'messaging.system': 'nats',
            'messaging.message.id': String(m.seq),
            'lookout.delivery': delivery,
          },
        },
        async (span) => {
          const o = await this.dispatch(m, ev, delivery);
          span.setAttribute('lookout.outcome', o.kind);
          if ('workflowId' in o) span.setAttribute('lookout.workflow_id', o.workflowId);
          // Inside the span and the log scope: what onSettled logs carries the object's key and trace id.
          withLogFields('workflowId' in o ? { workflowId: o.workflowId } : {}, () => this.opts.onSettled?.(o));
          return o;
        },
      ),
    );
  }

  private async dispatch(m: JsMsg, ev: ObjectEvent, delivery: number): Promise<DispatchOutcome> {
    const js = this.nc.jetstream();
    const route = routeEvent(ev, this.cfg);
    if ('skip' in route) {
      m.ack();
      return { kind: 'skipped', reason: route.skip };
    }
    try {
      const input = analyzeInputFor(ev, this.cfg, this.opts.pipelineOptions);
      const t0 = performance.now();
      const r = await withLogFields({ workflowId: analysisWorkflowId(input.pipeline.name, input.object) }, () =>
        this.client.withDeadline(Date.now() + this.opts.startTimeoutMs, () =>
          this.starter.startAnalysis(input, route.workflowType),
        ),
      ).finally(() => metrics.workflowStart.observe({ outcome: 'any' }, (performance.now() - t0) / 1000));
      this.outageEnded();
      this.eventFailures.clear(m.seq);
      m.ack();
      return { kind: r.outcome, workflowId: r.workflowId };
    } catch (err) {
      const error = (err as Error)?.message ?? String(err);
      const kind = classifyStartFailure(err);
      if (kind === 'outage') {
        this.outageBegan(err);
        m.nak(dispatchBackoffMs(delivery));
        return { kind: 'outage', error, delivery };
      }
      this.outageEnded();
      const failures = kind === 'permanent' ? Infinity : this.eventFailures.increment(m.seq);
      if (failures >= this.opts.maxDeliver) {
        await publishDeadLetter(js, this.cfg, {
          kind: 'dispatch',
          reason: error,
          payload: new TextDecoder().decode(m.data),
          subject: m.subject,
          streamSeq: m.seq,
          deliveries: delivery,
        });
        this.eventFailures.clear(m.seq);
        m.term(error);
        return { kind: 'dead', error };
      }
      m.nak(dispatchBackoffMs(failures));
      return { kind: 'retry', error, delivery: failures };
    }
  }

  private outageBegan(err: unknown): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = Date.now();
    const cause = (err as { cause?: Error })?.cause?.message ?? (err as Error)?.message;
    (this.opts.log ?? ((l: string) => log().warn(l)))(
      `dispatcher: Temporal unreachable (${cause}); events stay on the stream and are retried with backoff until it is back`,
    );
  }

  private outageEnded(): void {
    if (this.outageSince === undefined) return;
    (this.opts.log ?? ((l: string) => log().info(l)))(
      `dispatcher: Temporal reachable again after ${((Date.now() - this.outageSince) / 1000).toFixed(0)} s`,
    );
    this.outageSince = undefined;
  }

  /** Consumes until stop(); returns when the consumer is drained. */
  async run(): Promise<void> {
    await ensureDispatcherConsumer(this.nc, this.cfg, this.opts);
    // SIGTERM while the consumer was being looked up (the CLI marks ready as run() starts): nothing is in flight,
    // so return before consuming. A consume() closed before its first pull was seen not to end the loop below
    // (CI: a dispatcher still running 60 s after a SIGTERM 8 ms after start).
    if (this.stopped) return;
    const consumer = await this.nc.jetstream().consumers.get(this.cfg.nats.stream, this.opts.durable);
    if (this.stopped) return;
    this.messages = await consumer.consume({ max_messages: this.opts.concurrency });
    // stop() may have run while the consumer was being set up (SIGTERM right after start): it found no consumer
    // to close, so close it here, or the loop below would nak forever and the process never exit.
    if (this.stopped) await this.messages.close();
    for await (const m of this.messages) {
      if (this.stopped) {
        m.nak();
        continue;
      }
      while (this.inflight.size >= this.opts.concurrency) await Promise.race(this.inflight);
      if (m.info.redelivered) metrics.redeliveries.inc();
      const p: Promise<void> = this.handle(m)
        .then((o) => {
          this.counts[o.kind]++;
          metrics.dispatched.inc({ outcome: o.kind });
        })
        .catch((err) => {
          // Publishing a dead letter failed: leave the message unacked; it is redelivered after ack_wait.
          log().error({ err, streamSeq: m.seq }, 'dispatcher: could not settle message');
        })
        .finally(() => {
          this.inflight.delete(p);
          metrics.dispatchInFlight.set(this.inflight.size);
        });
      this.inflight.add(p);
      metrics.dispatchInFlight.set(this.inflight.size);
    }
    await Promise.allSettled([...this.inflight]);
  }

  /** Stops taking messages, finishes those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inflight]);
    await this.messages?.close();
  }
}
