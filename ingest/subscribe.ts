/**
 * Pub/Sub pull subscriber: GCS object notifications (JSON_API_V1 payload, attribute eventType) read from a
 * pull subscription and published on the object stream, like the watcher and the push endpoint do. Pull
 * rather than push because a deployment behind a firewall cannot receive push deliveries; and on the
 * embedded stack it makes ingest event-driven (fake-gcs-server -> pstest -> here) instead of polling.
 *
 * A message is acknowledged only after JetStream acknowledged its event (or dropped it as a duplicate: the
 * stream's Nats-Msg-Id dedupe), so a crash between the two redelivers it, never loses it. Outcomes:
 *  - OBJECT_FINALIZE for a served bucket: published, acked;
 *  - any other event type (delete, metadata update, archive): acked, ignored;
 *  - a malformed notification: dead-lettered (kind ingest) with its reason, acked (redelivery cannot fix it);
 *  - a bucket not served (LOOKOUT_PUSH_BUCKETS, default LOOKOUT_BUCKET): dead-lettered, acked. Unlike the push
 *    endpoint's 403, a nack here would be redelivered at once, forever; the dead letter keeps it replayable;
 *  - the stream unavailable: nacked, so Pub/Sub redelivers it after its backoff.
 */
import type { Message, Subscription } from '@google-cloud/pubsub';
import type { JetStreamClient } from 'nats';
import type { LookoutConfig } from '../config';
import { validateObjectEvent } from '../core/events';
import { publishDeadLetter, publishObjectEvent } from '../io/streams';

export interface SubscriberCounts {
  published: number;
  duplicate: number;
  ignored: number;
  deadLettered: number;
  nacked: number;
}

export type SubscribeOutcome =
  | { kind: 'published' | 'duplicate' }
  | { kind: 'ignored'; reason: string }
  | { kind: 'deadLettered'; reason: string }
  | { kind: 'nacked'; error: string };

/** What one notification becomes on the stream; the caller acks unless the outcome is `nacked`. */
export async function handleNotification(
  js: JetStreamClient,
  cfg: LookoutConfig,
  msg: { data: Buffer; attributes: Record<string, string>; id: string },
  buckets: ReadonlySet<string>,
): Promise<SubscribeOutcome> {
  const eventType = msg.attributes.eventType;
  if (eventType && eventType !== 'OBJECT_FINALIZE') return { kind: 'ignored', reason: `event type ${eventType}` };
  const text = msg.data.toString('utf8');
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = undefined;
  }
  try {
    const v =
      payload === undefined
        ? ({ ok: false, reason: 'Pub/Sub message data is not JSON (payload format must be JSON_API_V1)' } as const)
        : validateObjectEvent(payload, { source: 'pubsub', publishedAt: new Date().toISOString() });
    if (!v.ok) {
      await publishDeadLetter(js, cfg, { kind: 'ingest', reason: v.reason, payload: text.slice(0, 65536) });
      return { kind: 'deadLettered', reason: v.reason };
    }
    if (!buckets.has(v.value.bucket)) {
      const reason = `bucket ${JSON.stringify(v.value.bucket)} is not served (LOOKOUT_PUSH_BUCKETS)`;
      await publishDeadLetter(js, cfg, { kind: 'ingest', reason, payload: text.slice(0, 65536) });
      return { kind: 'deadLettered', reason };
    }
    // Stamped when Lookout publishes it, whatever the notification said.
    const r = await publishObjectEvent(js, cfg, {
      ...v.value,
      source: 'pubsub',
      publishedAt: new Date().toISOString(),
    });
    return { kind: r.duplicate ? 'duplicate' : 'published' };
  } catch (err) {
    return { kind: 'nacked', error: (err as Error).message };
  }
}

export interface SubscriberOptions {
  /** Notifications handled at once (Pub/Sub flow control). */
  maxMessages: number;
  log?: (line: string) => void;
  onOutcome?: (o: SubscribeOutcome) => void;
}

/** Reads the subscription until stop(); each message is settled by handleNotification's outcome. */
export class PubSubSubscriber {
  readonly counts: SubscriberCounts = { published: 0, duplicate: 0, ignored: 0, deadLettered: 0, nacked: 0 };
  private readonly buckets: ReadonlySet<string>;
  private readonly inflight = new Set<Promise<void>>();
  private stopped: (() => void) | undefined;

  constructor(
    private readonly subscription: Subscription,
    private readonly js: JetStreamClient,
    private readonly cfg: LookoutConfig,
    private readonly opts: SubscriberOptions,
  ) {
    this.buckets = new Set(cfg.push.buckets);
  }

  /** Resolves when stop() was called and the messages in hand are settled; rejects on a subscription error. */
  run(): Promise<void> {
    const log = this.opts.log ?? (() => {});
    this.subscription.setOptions({ flowControl: { maxMessages: this.opts.maxMessages, allowExcessMessages: false } });
    return new Promise<void>((resolve, reject) => {
      const onMessage = (m: Message) => {
        const p = handleNotification(
          this.js,
          this.cfg,
          { data: m.data, attributes: m.attributes ?? {}, id: m.id },
          this.buckets,
        ).then((o) => {
          this.counts[o.kind]++;
          if (o.kind === 'nacked') {
            log(`subscriber: stream unavailable (${o.error}); message ${m.id} nacked for redelivery`);
            m.nack();
          } else {
            if (o.kind === 'deadLettered') log(`subscriber: dead-lettered message ${m.id}: ${o.reason}`);
            m.ack();
          }
          this.opts.onOutcome?.(o);
        });
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      };
      const onError = (err: Error) => {
        this.subscription.removeListener('message', onMessage);
        reject(err);
      };
      this.subscription.on('message', onMessage);
      this.subscription.on('error', onError);
      this.stopped = () => {
        this.subscription.removeListener('message', onMessage);
        this.subscription.removeListener('error', onError);
        void Promise.allSettled([...this.inflight])
          .then(() => this.subscription.close())
          .then(() => resolve(), reject);
      };
    });
  }

  stop(): void {
    this.stopped?.();
  }
}
