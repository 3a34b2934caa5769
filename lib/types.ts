/** Types shared by the workflow, the activities and the result rows (no runtime code: workflows import them). */
import type { EventSource } from './events';
import type { PipelineSpec, StageName } from './pipelines';

export interface ObjectRef {
  bucket: string;
  name: string;
  generation: string;
  size: number;
  contentType?: string;
  timeCreated: string;
  md5Hash?: string;
  crc32c?: string;
  metadata?: Record<string, string>;
}

export interface AnalyzeInput {
  pipeline: PipelineSpec;
  object: ObjectRef;
  trace: { source: EventSource; publishedAt: string; dispatchedAt: string };
  /** Load-test or backfill run this analysis belongs to (object metadata `lookout-run`). */
  runTag?: string;
}

export interface MachineInfo {
  host: string;
  cores: number;
  memoryTotalMb: number;
  memoryFreeMb: number;
  platform: string;
  osRelease: string;
  cpuModel: string;
  nodeVersion: string;
  onnxruntimeVersion: string;
}

export interface StageReport {
  stage: StageName;
  pool: 'cpu' | 'gpu';
  taskQueue: string;
  host: string;
  attempt: number;
  /** Epoch ms: when this attempt was scheduled, started on the worker, completed. */
  scheduledAt: number;
  startedAt: number;
  completedAt: number;
  inferenceMs: number;
  batchSize?: number;
  executionProvider?: string;
  model?: { name: string; version: number };
  fellBack?: boolean;
}

export interface Box {
  classId: number;
  label: string;
  score: number;
  /** Pixels in the original image: top-left corner, width, height. */
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface DetectOutput {
  report: StageReport;
  machine: MachineInfo;
  width: number;
  height: number;
  format: string;
  boxes: Box[];
}

export interface ObjectFeatures {
  /** Index into the detect output's boxes. */
  box: number;
  vector: number[];
}

export interface ExtractOutput {
  report: StageReport;
  featureNames: string[];
  features: ObjectFeatures[];
}

export interface ScoredObject extends Box {
  anomalyScore?: number;
}

export interface ScoreOutput {
  report: StageReport;
  label: string;
  score: number;
  objects: ScoredObject[];
  details?: Record<string, number | string>;
}

export interface StageFailure {
  stage: StageName | 'record';
  errorClass: string;
  message: string;
  attempts: number;
  retryable: boolean;
}

export interface AnalysisSummary {
  input: AnalyzeInput;
  workflowId: string;
  runId: string;
  workflowStartedAt: number;
  detect?: DetectOutput;
  extract?: ExtractOutput;
  score?: ScoreOutput;
  failure?: StageFailure;
}
