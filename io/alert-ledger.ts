/**
 * The alert ledger a worker hands cctv-attributes' refit (core/types.ts AlertLedger): a video's alert episode rows
 * (label 'alert', their start and end frames) with the newest verdict of each from the review UI's feedback table,
 * and whether the video's summary row is there (its analysis finished, so no episode of it is still open).
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { LookoutConfig } from '../config';
import type { AlertLedger } from '../core/types';
import { latestFeedback } from './feedback';
import { latestView, query } from './query';

export function bigqueryAlertLedger(bq: BigQuery, cfg: LookoutConfig): AlertLedger {
  return {
    async ofVideo(v, pipeline) {
      const rows = await query<{ workflow_id: string; label: string | null; details: string | null }>(
        bq,
        `SELECT workflow_id, label, details FROM ${latestView(cfg)}
WHERE bucket = @bucket AND name = @name AND generation = @generation AND pipeline = @pipeline
  AND (label = 'alert' OR JSON_VALUE(details, '$.kind') = 'video-summary')`,
        { bucket: v.bucket, name: v.name, generation: v.generation, pipeline },
      );
      const alerts = rows
        .filter((r) => r.label === 'alert')
        .map((r) => ({ id: r.workflow_id, d: JSON.parse(r.details ?? '{}') as Record<string, unknown> }))
        .filter((a) => typeof a.d.start_frame === 'number' && typeof a.d.end_frame === 'number');
      const verdicts = new Map<string, 'confirmed' | 'dismissed'>();
      if (alerts.length)
        for (const f of await latestFeedback(bq, cfg, 't.workflow_id IN UNNEST(@ids)', {
          ids: alerts.map((a) => a.id),
        }))
          verdicts.set(f.workflow_id, f.verdict);
      return {
        finished: rows.some((r) => r.label !== 'alert'),
        spans: alerts.map((a) => ({
          start: a.d.start_frame as number,
          end: a.d.end_frame as number,
          verdict: verdicts.get(a.id) ?? null,
        })),
      };
    },
  };
}
