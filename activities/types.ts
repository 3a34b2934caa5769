/** The activity interface the workflows call (workflows import these types only). */
import type { Pool, StageName } from '../core/pipelines';
import type { RasterRepair, RecordResult } from '../core/types';
import type {
  AnalysisSummary,
  AnalyzeInput,
  DetectOutput,
  ExtractOutput,
  FeaturesRef,
  FitOptions,
  FitResult,
  ObjectRef,
  ObserveResult,
  RefitOptions,
  RefitResult,
  RasterBlockResult,
  RasterBlockTask,
  RasterFinishResult,
  RasterPlan,
  ScoreOutput,
  SegmentResult,
  SegmentTask,
  SplitResult,
  StageFailure,
  VideoPlan,
} from '../core/types';

export interface StageContext {
  stage: StageName;
  /** Pool the workflow scheduled this call on. */
  pool: Pool;
  /** True when a GPU stage ran on the CPU pool because no GPU worker picked it up. */
  fellBack: boolean;
}

/** A group of stages run in one activity (see LookoutActivities.stages). */
export interface StageGroupContext {
  pool: Pool;
  fellBack: boolean;
  /**
   * The group ends the analysis: also write its row (one round trip for the whole analysis). A failed write
   * is not the group's failure: the output says so (no `record`) and the workflow writes the row itself.
   */
  record?: Pick<AnalysisSummary, 'workflowId' | 'runId' | 'workflowStartedAt'>;
}

/** Outputs of the stages run so far; `failure`: a stage failed on bad input (not worth retrying), the later ones did not run. */
export interface StagesOutput {
  detect?: DetectOutput;
  extract?: ExtractOutput;
  score?: ScoreOutput;
  failure?: StageFailure;
  /** Set when the group wrote the analysis's row (StageGroupContext.record). */
  record?: RecordResult;
  /**
   * The group tried to write the row and the write failed: it may still have landed, or sit in the embedded
   * stack's row journal that `lookout up` reloads, so the workflow's own write looks for it first.
   */
  rowWriteFailed?: boolean;
}

export interface LookoutActivities {
  detect(input: AnalyzeInput, ctx: StageContext): Promise<DetectOutput>;
  extract(input: AnalyzeInput, detect: DetectOutput, ctx: StageContext): Promise<ExtractOutput>;
  score(input: AnalyzeInput, detect: DetectOutput, extract: ExtractOutput, ctx: StageContext): Promise<ScoreOutput>;
  /** `afterFailedWrite`: an earlier write of this row failed and may have landed: look it up before inserting. */
  record(summary: AnalysisSummary, opts?: { afterFailedWrite?: boolean }): Promise<RecordResult>;
  /**
   * Consecutive stages of one object that are scheduled on the same queue, run in one activity (one
   * Temporal round trip instead of one per stage); each stage keeps its own report (timings) for the row.
   */
  stages(input: AnalyzeInput, run: StageName[], prior: StagesOutput, ctx: StageGroupContext): Promise<StagesOutput>;
  /** Bulk mode: one stage for many objects in one activity; a bad object fails only its own entry. */
  detectBatch(input: BatchInput, ctx: StageContext): Promise<Array<BatchEntry<DetectOutput>>>;
  extractBatch(
    input: BatchInput,
    detects: Array<BatchEntry<DetectOutput>>,
    ctx: StageContext,
  ): Promise<Array<BatchEntry<ExtractOutput>>>;
  scoreBatch(
    input: BatchInput,
    detects: Array<BatchEntry<DetectOutput>>,
    extracts: Array<BatchEntry<ExtractOutput>>,
    ctx: StageContext,
  ): Promise<Array<BatchEntry<ScoreOutput>>>;
  recordBatch(summaries: AnalysisSummary[]): Promise<RecordResult[]>;
  /** Video methods: what the method does with videos, and the video's stream (fps, frames, size). */
  planVideo(method: string, video: ObjectRef): Promise<VideoPlan>;
  /** Segment methods: one segment of consecutive frames; writes a row per frame; returns the state for the next. */
  analyzeSegment(task: SegmentTask): Promise<SegmentResult>;
  /** Segment methods with a scene model: observe one segment of normal footage for fitting. */
  observeSegment(task: SegmentTask): Promise<ObserveResult>;
  /** Video methods: a video object -> frames in the results bucket. */
  splitVideo(method: string, video: ObjectRef, every: number): Promise<SplitResult>;
  /** Raster methods: the raster's header -> its plan (size, bands, georeference, chip grid, before acquisition). */
  planRaster(
    input: AnalyzeInput,
    opts: { chipSize: number; chipOverlap: number; blockChips: number; pairWith?: ObjectRef },
  ): Promise<RasterPlan>;
  /** Raster methods: one block of chips; writes a row per chip. */
  analyzeRasterBlock(task: RasterBlockTask): Promise<RasterBlockResult>;
  /** Raster methods, two-stage placement: the chip classifier over one block's stored inputs, on the head's pool; writes the block's chip rows. */
  classifyRasterBlock(task: RasterBlockTask): Promise<RasterBlockResult>;
  /** Raster methods: heatmap, GeoJSON, archive bank, then the raster's summary row. */
  finishRaster(
    input: AnalyzeInput,
    plan: RasterPlan,
    totals: { ok: number; failed: number; runs: number; startedAt: number; pairWith?: ObjectRef },
  ): Promise<RasterFinishResult & { record: RecordResult }>;
  /** Raster methods, after the summary row: the re-pair runs this acquisition's arrival calls for (pairing by place and time). */
  pairAcquisition(input: AnalyzeInput, plan: RasterPlan): Promise<RasterRepair[]>;
  /** Methods with scene models: fit and store a scene model from normal footage's features. */
  fitScene(method: string, scene: string, refs: FeaturesRef[], opts: FitOptions): Promise<FitSceneResult>;
  /** Learning normal as footage flows: one refit of a scene (a new version, or none when nothing may join). */
  refitScene(method: string, scene: string, opts: RefitOptions): Promise<RefitResult>;
  /** Scenes with a model of the method (`lookout refit --all`). */
  listScenes(method: string): Promise<string[]>;
}

/** Many objects analysed by one workflow (bulk backfills): orchestration shared by the batch. */
export interface BatchInput {
  pipeline: AnalyzeInput['pipeline'];
  objects: ObjectRef[];
  trace: AnalyzeInput['trace'];
  runTag?: string;
}

/** A per-object result inside a batch: the value, or why this object failed (others are unaffected). */
export type BatchEntry<T> =
  { ok: true; value: T } | { ok: false; failure: StageFailure } | { ok: false; skipped: true };

export type FitSceneResult = FitResult;
export type { RecordResult };
