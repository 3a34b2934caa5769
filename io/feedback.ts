/**
 * Review feedback on alerts: one row per verdict (confirmed / dismissed) in the table `<table>_feedback`,
 * written by the review UI (`lookout ui`) and read by `lookout fit --with-dismissed`, which adds the footage
 * of dismissed alerts to the scene's normal footage. A reviewer may change their mind: the newest verdict
 * per analysis counts (the same newest-per-workflow-id rule as the results view).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BigQuery, TableField } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import { LookoutError } from '../core/errors';
import { query } from './query';
import { newestPerAnalysisSql, tableRef } from './results';

export const FEEDBACK_SCHEMA_PATH = path.join(__dirname, '..', 'infra', 'bigquery', 'feedback.schema.json');
export const VERDICTS = ['confirmed', 'dismissed'] as const;
export type Verdict = (typeof VERDICTS)[number];

export function feedbackTable(cfg: LookoutConfig): string {
  return `${cfg.bigquery.table}_feedback`;
}

/** A verdict that is not one of VERDICTS, or an alert the verdict cannot be tied to. */
export class InvalidFeedbackError extends LookoutError {
  constructor(message: string) {
    super('InvalidFeedback', message, { retryable: false });
  }
}

export interface FeedbackInput {
  analysisId: string;
  workflowId: string;
  verdict: string;
  pipeline?: string | null;
  scene?: string | null;
  bucket?: string | null;
  name?: string | null;
  generation?: string | null;
  frame?: number | null;
  note?: string | null;
  reviewer?: string | null;
}

export interface FeedbackRow {
  feedback_id: string;
  analysis_id: string;
  workflow_id: string;
  verdict: Verdict;
  pipeline: string | null;
  scene: string | null;
  bucket: string | null;
  name: string | null;
  generation: string | null;
  frame: number | null;
  note: string | null;
  reviewer: string | null;
  recorded_at: string;
}

/** Creates the feedback table if missing (idempotent; a concurrent creator's 409 is fine). */
export async function ensureFeedbackTable(bq: BigQuery, cfg: LookoutConfig): Promise<void> {
  const table = bq.dataset(cfg.bigquery.dataset).table(feedbackTable(cfg));
  const [exists] = await table.exists();
  if (exists) return;
  try {
    await table.create({
      schema: { fields: JSON.parse(fs.readFileSync(FEEDBACK_SCHEMA_PATH, 'utf8')) as TableField[] },
      description: 'Lookout review verdicts on alerts (newest per workflow_id counts)',
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** Pure: the row for a verdict (validated). */
export function feedbackRow(f: FeedbackInput, now: number): FeedbackRow {
  if (!(VERDICTS as readonly string[]).includes(f.verdict))
    throw new InvalidFeedbackError(`verdict must be one of ${VERDICTS.join(', ')}, not ${JSON.stringify(f.verdict)}`);
  if (!f.analysisId || !f.workflowId)
    throw new InvalidFeedbackError('a verdict needs the analysis_id and workflow_id of the alert row');
  return {
    feedback_id: crypto.randomUUID(),
    analysis_id: f.analysisId,
    workflow_id: f.workflowId,
    verdict: f.verdict as Verdict,
    pipeline: f.pipeline ?? null,
    scene: f.scene ?? null,
    bucket: f.bucket ?? null,
    name: f.name ?? null,
    generation: f.generation ?? null,
    frame: f.frame ?? null,
    note: f.note ? f.note.slice(0, 2000) : null,
    reviewer: f.reviewer ?? null,
    recorded_at: new Date(now).toISOString(),
  };
}

export async function writeFeedback(bq: BigQuery, cfg: LookoutConfig, f: FeedbackInput): Promise<FeedbackRow> {
  const row = feedbackRow(f, Date.now());
  await ensureFeedbackTable(bq, cfg);
  await bq
    .dataset(cfg.bigquery.dataset)
    .table(feedbackTable(cfg))
    .insert([{ insertId: row.feedback_id, json: row }], {
      raw: true,
      skipInvalidRows: false,
      ignoreUnknownValues: false,
    });
  return row;
}

/**
 * The newest verdict of each analysis among those `where` selects (SQL over the table alias `t`, with `params`).
 * newestPerAnalysisSql orders by recorded_at then analysis_id; two verdicts on one analysis share the
 * analysis_id, so the tie-break is by time alone, which is what a reviewer changing their mind means.
 */
export async function latestFeedback(
  bq: BigQuery,
  cfg: LookoutConfig,
  where: string,
  params: Record<string, unknown>,
): Promise<FeedbackRow[]> {
  await ensureFeedbackTable(bq, cfg);
  return query<FeedbackRow>(
    bq,
    `SELECT * FROM (${newestPerAnalysisSql(tableRef(cfg, feedbackTable(cfg)), where)})`,
    params,
  );
}

/** Dismissed alerts of a scene: what `lookout fit --with-dismissed` adds to the normal footage. */
export async function dismissedAlerts(bq: BigQuery, cfg: LookoutConfig, scene: string): Promise<FeedbackRow[]> {
  const rows = await latestFeedback(bq, cfg, 't.scene = @scene', { scene });
  return rows.filter((r) => r.verdict === 'dismissed');
}
