/** The activity interface the workflows call (workflows import these types only). */
import type { Pool } from '../lib/config';
import type { StageName } from '../lib/pipelines';
import type { AnalysisSummary, AnalyzeInput, DetectOutput, ExtractOutput, ScoreOutput } from '../lib/types';

export interface StageContext {
  stage: StageName;
  /** Pool the workflow scheduled this call on. */
  pool: Pool;
  /** True when a GPU stage ran on the CPU pool because no GPU worker picked it up. */
  fellBack: boolean;
}

export interface RecordResult {
  analysisId: string;
  table: string;
  status: 'ok' | 'failed';
}

export interface LookoutActivities {
  detect(input: AnalyzeInput, ctx: StageContext): Promise<DetectOutput>;
  extract(input: AnalyzeInput, detect: DetectOutput, ctx: StageContext): Promise<ExtractOutput>;
  score(input: AnalyzeInput, detect: DetectOutput, extract: ExtractOutput, ctx: StageContext): Promise<ScoreOutput>;
  record(summary: AnalysisSummary): Promise<RecordResult>;
}
