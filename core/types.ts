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
  /** Scene model for object-centric scoring (object metadata `lookout-scene`). */
  scene?: string;
  /** For a frame cut from a video object: which video and frame. */
  video?: { bucket: string; name: string; generation: string; frame: number; fps: number };
}

/** Binary features stored next to the data (Float32 LE, count x dim), so they stay out of workflow history. */
export interface FeaturesRef {
  bucket: string;
  name: string;
  count: number;
  dim: number;
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
  /** Small per-object features inline (objects pipeline)... */
  features: ObjectFeatures[];
  /** ...or large ones by reference (object-centric: 3 x 1024 per object). */
  featuresRef?: FeaturesRef;
  /** Models the stage ran, beyond report.model. */
  models?: Array<{ name: string; version: number }>;
}

export interface ScoredObject extends Box {
  anomalyScore?: number;
}

export interface ScoreOutput {
  report: StageReport;
  label: string;
  /** Null when there is nothing to score (e.g. a frame without objects). */
  score: number | null;
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

/** A video cut into frames in the results bucket (methods that analyse videos frame by frame). */
export interface SplitResult {
  bucket: string;
  frames: Array<{ t: number; name: string; generation: string; size: number }>;
  fps: number;
  totalFrames: number;
  width: number;
  height: number;
}

/** Options of fitting a per-scene model (lookout fit). */
export interface FitOptions {
  k: number;
  seed: number;
  quantile: number;
}

/** A fitted and stored scene model. */
export interface FitResult {
  scene: string;
  version: number;
  uri: string;
  samples: number;
  threshold: number;
  k: number;
  fitMs: number;
  report?: unknown;
}

/** Where a row went. */
export interface RecordResult {
  analysisId: string;
  table: string;
  status: 'ok' | 'failed';
}

/** How a worker will analyse a video: what its method does with videos, and the video's stream. */
export interface VideoPlan {
  mode: 'segments' | 'frames';
  fps: number;
  frames: number;
  width: number;
  height: number;
  /** Frame stride the method uses when nothing else says (LOOKOUT_VIDEO_EVERY, object metadata). */
  defaultEvery: number;
}

/** One segment of a video for the analyzeSegment activity. */
export interface SegmentTask {
  input: AnalyzeInput;
  plan: VideoPlan;
  /** Segment number (0-based) and its frames [start, end) every `stride`. */
  index: number;
  start: number;
  end: number;
  stride: number;
  /** Carried from the previous segment (tracks); undefined for the first. */
  state?: unknown;
}

/** One segment of normal footage observed for fitting: where its observations went, and the state for the next. */
export interface ObserveResult {
  ref: FeaturesRef;
  state: unknown;
}

export interface SegmentResult {
  frames: number;
  ok: number;
  failed: number;
  /** The highest-scoring frame of the segment. */
  top: { frame: number; score: number } | null;
  state: unknown;
  /** Wall time of the segment in the activity, and the summed model inference time. */
  runMs: number;
  inferenceMs: number;
}
