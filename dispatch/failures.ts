/**
 * Why a workflow start failed, and so what the dispatcher does with the message. The one decision, pure
 * and replaceable (tests call it directly):
 *
 *  - 'outage': Temporal is unreachable, overloaded or refusing everyone (no connection, deadline, rate limit,
 *    namespace or credentials wrong). Every event would fail the same way, so none is at fault: the message
 *    is nak'ed with capped backoff and waits on the stream for as long as the outage lasts; it is never
 *    dead-lettered for it.
 *  - 'permanent': the event itself can never start (a non-retryable LookoutError such as UnknownPipeline):
 *    dead-lettered at once.
 *  - 'event': anything else (Temporal refused this request as invalid, an unexpected error): retried, and
 *    dead-lettered after a bounded number of such failures, so a poison event cannot hold a consumer slot
 *    forever.
 *
 * The outage set is kept narrow on purpose: an event failure mistaken for an outage would be retried
 * forever and, thirty-two of them, stall the dispatcher; an outage mistaken for an event failure only
 * costs a replay.
 */
import { LookoutError } from '../core/errors';

export type StartFailureKind = 'outage' | 'event' | 'permanent';

/** gRPC status codes (grpc/status.h) that say the service, not the request, is at fault. */
export const OUTAGE_GRPC_CODES: ReadonlyMap<number, string> = new Map([
  [1, 'CANCELLED'],
  [4, 'DEADLINE_EXCEEDED'],
  [5, 'NOT_FOUND'], // the namespace: a configuration fault, the same for every event
  [7, 'PERMISSION_DENIED'],
  [8, 'RESOURCE_EXHAUSTED'],
  [10, 'ABORTED'],
  [13, 'INTERNAL'],
  [14, 'UNAVAILABLE'],
  [16, 'UNAUTHENTICATED'],
]);

const OUTAGE_NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
]);
const OUTAGE_MESSAGES =
  /Failed to connect before the deadline|No connection established|Connection dropped|Deadline exceeded/i;

/** The error and its causes, outermost first (bounded: a cyclic cause chain must not loop). */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < 8; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

export function classifyStartFailure(err: unknown): StartFailureKind {
  const errs = chain(err);
  if (errs.some((e) => e instanceof LookoutError && !e.retryable)) return 'permanent';
  for (const e of errs) {
    const code = (e as { code?: unknown })?.code;
    if (typeof code === 'number' && OUTAGE_GRPC_CODES.has(code)) return 'outage';
    if (typeof code === 'string' && OUTAGE_NET_CODES.has(code)) return 'outage';
    if (e instanceof Error && OUTAGE_MESSAGES.test(e.message)) return 'outage';
  }
  return 'event';
}

/**
 * Failures of the event itself, per stream sequence. JetStream's own delivery count cannot tell an outage
 * from a bad event, so the consumer has no max_deliver and the dispatcher counts these itself. In memory
 * and bounded: after a dispatcher restart a failing event gets its full count again, which only delays
 * its dead letter.
 */
export class FailureCounter {
  private counts = new Map<number, number>();
  constructor(private readonly max = 100_000) {}
  increment(seq: number): number {
    const n = (this.counts.get(seq) ?? 0) + 1;
    this.counts.delete(seq);
    this.counts.set(seq, n);
    // Oldest first: a Map iterates in insertion order.
    for (const k of this.counts.keys()) {
      if (this.counts.size <= this.max) break;
      this.counts.delete(k);
    }
    return n;
  }
  clear(seq: number): void {
    this.counts.delete(seq);
  }
  get size(): number {
    return this.counts.size;
  }
}
