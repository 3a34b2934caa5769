/**
 * Operator batch actions that go item by item: `lookout deadletters replay` and `lookout retry`. Each item
 * is reported on its own and a bad one (a poison dead letter, a row whose pipeline is gone, an object the
 * start refuses) does not stop the rest. An outage is different: when Temporal is unreachable every
 * further item would fail the same way, slowly, so the run stops there and says how many were not tried.
 */
import type { Client } from '@temporalio/client';
import type { LookoutConfig } from '../config';
import { validateObjectEvent, objectKey, type ObjectEvent } from '../core/events';
import type { PipelineOptions } from '../core/pipelines';
import type { DeadLetter } from '../io/streams';
import { analyzeInputFor, routeEvent } from './dispatcher';
import { WorkflowStarter } from '../io/starter';
import { classifyStartFailure } from './failures';

export type ItemReport<K> = { id: string; outcome: K; detail?: string };

export interface BatchReport<K extends string> {
  items: Array<ItemReport<K | 'failed'>>;
  counts: Partial<Record<K | 'failed' | 'not-tried', number>>;
  /** Set when the run stopped at an outage (the remaining items were not tried). */
  stoppedAt?: string;
}

/**
 * Runs `one` for each item in order. An exception fails that item only; an outage (classifyStartFailure)
 * stops the run. `onItem` sees each report as it happens (the CLI prints it).
 */
export async function eachItem<T, K extends string>(
  items: readonly T[],
  idOf: (item: T) => string,
  one: (item: T) => Promise<{ outcome: K; detail?: string }>,
  onItem: (r: ItemReport<K | 'failed'>) => void = () => {},
): Promise<BatchReport<K>> {
  const report: BatchReport<K> = { items: [], counts: {} };
  const count = (k: K | 'failed' | 'not-tried', n = 1) => (report.counts[k] = (report.counts[k] ?? 0) + n);
  for (let i = 0; i < items.length; i++) {
    const id = idOf(items[i]);
    let r: ItemReport<K | 'failed'>;
    try {
      r = { id, ...(await one(items[i])) };
    } catch (err) {
      r = {
        id,
        outcome: 'failed',
        detail: `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`,
      };
      if (classifyStartFailure(err) === 'outage') {
        report.items.push(r);
        count('failed');
        onItem(r);
        report.stoppedAt = id;
        count('not-tried', items.length - i - 1);
        return report;
      }
    }
    report.items.push(r);
    count(r.outcome);
    onItem(r);
  }
  return report;
}

export type ReplayOutcome = 'started' | 'duplicate' | 'skipped';

export interface ReplayDeps {
  /** Starts the analysis of a replayed event. */
  start: (ev: ObjectEvent) => Promise<'started' | 'duplicate'>;
  /** Removes a dead letter from its stream once its analysis has started. */
  remove: (seq: number) => Promise<void>;
}

/** The real dependencies: Temporal directly (a republish with the same Nats-Msg-Id would be dropped as a duplicate). */
export function replayDeps(
  client: Client,
  cfg: LookoutConfig,
  pipelineOptions: PipelineOptions,
  removeDeadLetter: (seq: number) => Promise<unknown>,
): ReplayDeps {
  return {
    start: async (ev) => {
      const route = routeEvent(ev, cfg);
      return (
        await new WorkflowStarter(client, cfg).startAnalysis(
          analyzeInputFor(ev, cfg, pipelineOptions),
          'skip' in route ? 'analyzeObject' : route.workflowType,
        )
      ).outcome;
    },
    remove: async (seq) => {
      await removeDeadLetter(seq);
    },
  };
}

/**
 * Replays dispatch dead letters one by one. A dead letter that is not a valid event is skipped and kept;
 * one whose start fails is reported as failed and kept (so a later replay can try again); a started one
 * is removed from the dead-letter stream.
 */
export async function replayDeadLetters(
  dls: ReadonlyArray<DeadLetter & { seq: number }>,
  deps: ReplayDeps,
  onItem?: (r: ItemReport<ReplayOutcome | 'failed'>) => void,
): Promise<BatchReport<ReplayOutcome>> {
  return eachItem<DeadLetter & { seq: number }, ReplayOutcome>(
    dls,
    (d) => `#${d.seq}`,
    async (d) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(d.payload);
      } catch {
        parsed = undefined;
      }
      const v = validateObjectEvent(parsed);
      if (!v.ok) return { outcome: 'skipped', detail: `cannot replay: ${v.reason}` };
      const r = await deps.start({ ...v.value, source: 'replay' });
      await deps.remove(d.seq);
      return { outcome: r, detail: objectKey(v.value) };
    },
    onItem,
  );
}
