/**
 * JetStream layout:
 *   stream LOOKOUT_OBJECTS   subjects <prefix>.<bucket>   file storage, dedupe by Nats-Msg-Id
 *   stream LOOKOUT_DEAD      subjects <deadPrefix>.>      file storage, dead letters (replayable)
 *   KV     lookout_cursors   watcher cursors and backfill checkpoints
 */
import {
  DiscardPolicy,
  JSONCodec,
  RetentionPolicy,
  StorageType,
  headers as natsHeaders,
  nanos,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
} from 'nats';
import type { LookoutConfig } from '../config';
import { bucketToken, objectKey, type ObjectEvent } from '../core/events';
import { metrics } from './metrics';
import { inSpan, SpanKind, traceHeaders } from './tracing';

export const jsonCodec = JSONCodec<unknown>();

/** JetStream API error codes Lookout acts on (nats-server's err_code, stable across versions, unlike the message text). */
export const JS_ERR = { streamNotFound: 10059, consumerNotFound: 10014 } as const;

/** True when a JetStream API call failed with this err_code. */
export function isJsApiError(err: unknown, errCode: number): boolean {
  const apiError = (err as { api_error?: { err_code?: number } } | undefined)?.api_error;
  return apiError?.err_code === errCode;
}

/** How long the stream remembers a Nats-Msg-Id: a repeated notification inside it is dropped. */
export const DUPLICATE_WINDOW_MS = 10 * 60 * 1000;

export const DISPATCHER_DURABLE = 'dispatcher';

export function objectSubject(cfg: LookoutConfig, bucket: string): string {
  return `${cfg.nats.subjectPrefix}.${bucketToken(bucket)}`;
}

export type DeadKind = 'invalid' | 'dispatch' | 'ingest';

export function deadSubject(cfg: LookoutConfig, kind: DeadKind): string {
  return `${cfg.nats.deadPrefix}.${kind}`;
}

async function upsertStream(
  jsm: JetStreamManager,
  name: string,
  cfg: Parameters<JetStreamManager['streams']['add']>[0],
): Promise<void> {
  try {
    await jsm.streams.info(name);
    await jsm.streams.update(name, cfg);
  } catch (err) {
    if (!isJsApiError(err, JS_ERR.streamNotFound)) throw err;
    await jsm.streams.add({ ...cfg, name });
  }
}

/** Creates or updates the streams and the KV bucket (idempotent). */
export async function ensureStreams(nc: NatsConnection, cfg: LookoutConfig): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await upsertStream(jsm, cfg.nats.stream, {
    name: cfg.nats.stream,
    subjects: [`${cfg.nats.subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_age: nanos(7 * 24 * 3600 * 1000),
    // 3 in a cluster: an acknowledged event is on a quorum of nodes, so losing the leader loses nothing.
    num_replicas: cfg.nats.replicas,
  });
  await upsertStream(jsm, cfg.nats.deadStream, {
    name: cfg.nats.deadStream,
    subjects: [`${cfg.nats.deadPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: nanos(30 * 24 * 3600 * 1000),
    num_replicas: cfg.nats.replicas,
  });
  await cursorsKv(nc, cfg);
}

export async function cursorsKv(nc: NatsConnection, cfg: LookoutConfig): Promise<KV> {
  const js = nc.jetstream();
  return js.views.kv(cfg.nats.kvBucket, { history: 1, storage: StorageType.File, replicas: cfg.nats.replicas });
}

export interface PublishResult {
  seq: number;
  duplicate: boolean;
}

/**
 * Publishes an object event with Nats-Msg-Id = bucket/name#generation, so the stream drops repeats. The
 * object's trace starts here: a `lookout.event` span whose W3C trace context rides in the message headers
 * (the dispatcher continues it).
 */
export async function publishObjectEvent(
  js: JetStreamClient,
  cfg: LookoutConfig,
  ev: ObjectEvent,
): Promise<PublishResult> {
  const key = objectKey(ev);
  return inSpan(
    'lookout.event',
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'lookout.object_key': key,
        'lookout.event_source': ev.source,
        'messaging.system': 'nats',
        'messaging.destination.name': cfg.nats.stream,
      },
    },
    async (span) => {
      // Headers only when there is a trace to carry (a process without a tracer provider has none).
      const trace = Object.entries(traceHeaders());
      const h = trace.length ? natsHeaders() : undefined;
      for (const [k, v] of trace) h!.set(k, v);
      const ack = await js.publish(objectSubject(cfg, ev.bucket), jsonCodec.encode(ev), {
        msgID: key,
        ...(h ? { headers: h } : {}),
        timeout: 10_000,
      });
      span.setAttribute('lookout.duplicate', ack.duplicate);
      span.setAttribute('messaging.message.id', String(ack.seq));
      metrics.eventsPublished.inc({ source: ev.source ?? 'unknown', duplicate: String(ack.duplicate) });
      return { seq: ack.seq, duplicate: ack.duplicate };
    },
  );
}

export interface DeadLetter {
  kind: DeadKind;
  reason: string;
  /** The original payload, as text (it may not be JSON at all). */
  payload: string;
  /** Original subject and stream sequence, where known. */
  subject?: string;
  streamSeq?: number;
  deliveries?: number;
  at: string;
}

export async function publishDeadLetter(
  js: JetStreamClient,
  cfg: LookoutConfig,
  dl: Omit<DeadLetter, 'at'>,
): Promise<void> {
  const h = natsHeaders();
  h.set('Lookout-Dead-Reason', dl.reason.slice(0, 512).replace(/[\r\n]+/g, ' '));
  // Identity for the dead stream's own dedupe: one dead letter per original message.
  const id = dl.streamSeq !== undefined ? `${dl.kind}:${dl.subject}:${dl.streamSeq}` : undefined;
  await js.publish(deadSubject(cfg, dl.kind), jsonCodec.encode({ ...dl, at: new Date().toISOString() }), {
    headers: h,
    ...(id ? { msgID: id } : {}),
    timeout: 10_000,
  });
  metrics.deadLetters.inc({ kind: dl.kind });
}

/** Reads the dead-letter stream from the start without consuming it (an ordered consumer). */
export async function readDeadLetters(
  nc: NatsConnection,
  cfg: LookoutConfig,
  opts: { kind?: DeadKind; limit?: number } = {},
): Promise<Array<DeadLetter & { seq: number }>> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(cfg.nats.deadStream);
  const out: Array<DeadLetter & { seq: number }> = [];
  if (info.state.messages === 0) return out;
  const js = nc.jetstream();
  // An ordered consumer reads from the first message by default.
  const consumer = await js.consumers.get(cfg.nats.deadStream, {
    filterSubjects: [opts.kind ? deadSubject(cfg, opts.kind) : `${cfg.nats.deadPrefix}.>`],
  });
  const limit = opts.limit ?? Number.MAX_SAFE_INTEGER;
  for (;;) {
    const m = await consumer.next({ expires: 1000 });
    if (!m) break;
    out.push({ ...(jsonCodec.decode(m.data) as DeadLetter), seq: m.seq });
    if (out.length >= limit || m.info.pending === 0) break;
  }
  return out;
}
