/**
 * What each workflow takes and returns: the contract between the workflows and whoever starts them
 * (io/starter.ts) or reads their results and progress (CLI). Types, and the pure ids of workflows that more than one
 * starter must agree on; workflow-safe.
 */
import type { PipelineSpec } from './pipelines';
import type { AnalyzeInput, ObjectRef, RasterPlan, RecordResult, RefitResult, ScoredObject, VideoPlan } from './types';

export interface AnalyzeResult {
  workflowId: string;
  status: 'ok' | 'failed';
  errorClass?: string;
  label?: string;
  score?: number | null;
  objects: number;
  /** The scored objects and the score stage's details (what the row holds), so a synchronous caller needs no query. */
  scored?: ScoredObject[];
  details?: Record<string, number | string>;
  record: RecordResult;
}

export interface BatchResult {
  objects: number;
  ok: number;
  failed: number;
  records: RecordResult[];
}

export interface VideoProgress {
  phase: 'splitting' | 'analysing' | 'fitting' | 'done';
  total: number;
  done: number;
  failed: number;
}

export interface AnalyzeVideoInput extends AnalyzeInput {
  /** Analyse every Nth frame (unset: the method's default). */
  every?: number;
  /** Frames per segment activity (segment methods). */
  segmentFrames: number;
  /** Set when a long video continues as a new run: where to go on from. */
  resume?: {
    plan: VideoPlan;
    next: number;
    state: unknown;
    totals: { frames: number; ok: number; failed: number; segments: number; alerts?: number };
    top: { frame: number; score: number } | null;
  };
  /** Child analyses in flight at once. */
  parallelism: number;
}

export interface AnalyzeVideoResult {
  video: string;
  frames: number;
  ok: number;
  failed: number;
  top: Array<{ frame: number; score: number | null | undefined; label?: string }>;
}

export interface FitSceneInput {
  /** Segment methods: frames per observed segment (default 100). */
  segmentFrames?: number;
  scene: string;
  pipeline: PipelineSpec;
  videos: ObjectRef[];
  /** Every Nth frame (unset: the method's default). */
  every?: number;
  parallelism: number;
  k: number;
  seed: number;
  quantile: number;
  trace: AnalyzeInput['trace'];
}

/** refitScenes: learning normal as footage flows, for some scenes or all of a method's (`lookout refit`). */
export interface RefitScenesInput {
  pipeline: PipelineSpec;
  /** Scenes to refit; empty: every scene with a model of the pipeline's method. */
  scenes: string[];
  minAgeS: number;
  maxFrames: number;
  seed: number;
}

export interface RefitScenesResult {
  refits: RefitResult[];
  /** Scenes whose refit failed, and why (the others still ran). */
  failed: Array<{ scene: string; error: string }>;
  /**
   * Scenes this run left alone because a refit of the same scene (another `lookout refit`, a schedule's run) was
   * running when it came to them: that refit does the work. `workflowId` is the running refit's (refitOneScene).
   * Absent in results of runs started before it existed.
   */
  skipped?: Array<{ scene: string; workflowId: string; reason: string }>;
}

/** refitOneScene: the refit of one scene, a child of refitScenes (its workflow id is the scene's lock). */
export interface RefitOneSceneInput {
  pipeline: PipelineSpec;
  scene: string;
  minAgeS: number;
  maxFrames: number;
  seed: number;
}

/**
 * The workflow id of a scene's refit. One per scene model, so Temporal runs at most one refit of a scene at a time:
 * keyed by the method, not the pipeline, because pipelines of one method (cctv-anomaly, cctv-attributes) share
 * the scene's stored model.
 */
export function refitSceneWorkflowId(method: string, scene: string): string {
  return `refit-scene:${method}:${scene}`;
}

/** analyzeRaster's progress (the `progress` query). */
export interface RasterProgress {
  phase: 'planning' | 'analysing' | 'finishing' | 'done' | 'failed';
  chips: number;
  chipsDone: number;
  chipsFailed: number;
  blocks: number;
  blocksDone: number;
  /** Continue-as-new runs so far (history is bounded per run). */
  runs: number;
}

export interface AnalyzeRasterInput extends AnalyzeInput {
  /** Chip side and overlap in pixels (metadata lookout-chip-size / lookout-chip-overlap override). */
  chipSize: number;
  chipOverlap: number;
  /** Chips per side of a block: one activity analyses blockChips² chips. */
  blockChips: number;
  /** Block activities in flight at once. */
  parallelism: number;
  /** Blocks per workflow run before continue-as-new (default RASTER_BLOCKS_PER_RUN). */
  blocksPerRun?: number;
  /**
   * Pairing by place and time (docs/stac.md): analyse this acquisition against exactly this earlier one. Set on the
   * re-pair runs analyzeRaster starts when an acquisition arrives between two others; they pair nothing further.
   */
  pairWith?: ObjectRef;
  /** Set when a large raster continues as a new run. */
  resume?: {
    plan: RasterPlan;
    next: number;
    progress: RasterProgress;
    top: { col: number; row: number; score: number } | null;
    startedAt: number;
  };
}

export interface AnalyzeRasterResult {
  raster: string;
  status: 'ok' | 'partial' | 'failed';
  errorClass?: string;
  chips: number;
  ok: number;
  failed: number;
  heatmapUri: string | null;
  geojsonUri: string | null;
  top: { col: number; row: number; score: number } | null;
}
