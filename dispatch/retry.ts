/**
 * Operator retries: a failed analysis is started again under the same
 * workflow ID (a new run). Its new row has a later recorded_at, so the
 * de-duplicating view shows it instead of the failed one: nothing is lost
 * and nothing counts twice.
 */
import type { Client } from '@temporalio/client';
import type { Storage } from '@google-cloud/storage';
import type { LookoutConfig } from '../config';
import { eventFromObjectResource } from '../core/events';
import { resolvePipeline } from '../core/pipelines';
import { WorkflowStarter } from '../io/starter';
import { analyzeInputFor, routeEvent } from './dispatcher';
import { eachItem, type BatchReport, type ItemReport } from './replay';
import type { RetryRow } from '../io/query';

export type RetryOutcome = 'restarted' | 'still-running' | 'object-gone' | 'invalid';

export type { RetryRow };

/**
 * Retries each row in turn, reporting each; a row that fails (its pipeline no longer exists, its object
 * cannot be read, Temporal refuses the start) is reported as failed and the rest go on.
 */
export async function retryAnalyses<R extends RetryRow>(
  rows: readonly R[],
  retryOne: (row: R) => Promise<RetryOutcome>,
  onItem?: (r: ItemReport<RetryOutcome | 'failed'>) => void,
): Promise<BatchReport<RetryOutcome>> {
  return eachItem<R, RetryOutcome>(
    rows,
    (r) => r.workflow_id,
    async (r) => ({ outcome: await retryOne(r) }),
    onItem,
  );
}

export async function retryAnalysis(
  client: Client,
  storage: Storage,
  cfg: LookoutConfig,
  row: RetryRow,
): Promise<RetryOutcome> {
  let md: Record<string, unknown>;
  try {
    [md] = (await storage
      .bucket(row.bucket)
      .file(row.name, { generation: Number(row.generation) })
      .getMetadata()) as unknown as [Record<string, unknown>];
  } catch (err) {
    if ((err as { code?: number }).code === 404) return 'object-gone';
    throw err;
  }
  if (String(md.generation) !== row.generation) return 'object-gone';
  const v = eventFromObjectResource(
    { ...(md as object), bucket: row.bucket, name: row.name } as Parameters<typeof eventFromObjectResource>[0],
    'retry',
  );
  if (!v.ok) return 'invalid';
  const input = analyzeInputFor(v.value, cfg, cfg.pipelines);
  input.pipeline = resolvePipeline(row.pipeline, cfg.pipelines);
  if (row.run_tag) input.runTag = row.run_tag;
  // A video is re-split and re-analysed as a video; a frame or an image as an object.
  const route = routeEvent({ ...v.value, metadata: { ...v.value.metadata, 'lookout-pipeline': row.pipeline } }, cfg);
  const r = await new WorkflowStarter(client, cfg).startAnalysis(
    input,
    'skip' in route ? 'analyzeObject' : route.workflowType,
    { workflowId: row.workflow_id, rerun: true },
  );
  return r.outcome === 'started' ? 'restarted' : 'still-running';
}
