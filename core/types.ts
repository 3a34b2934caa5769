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
  /** Raster pipeline rows: the chip's or the raster's `raster` record. */
  raster?: RasterRowFields;
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
  /** Alert episode rows the segment wrote (methods with alert episodes). */
  alerts?: number;
}

/**
 * The `raster` RECORD of a result row (infra/bigquery/analyses.schema.json): one per chip of a raster
 * (kind 'chip') and one per raster (kind 'summary'). The map page and the GIS SQL are built on these names.
 * Scores are null where they cannot be computed (no before image, bands missing, no archive bank yet).
 */
export interface RasterRowFields {
  kind: 'chip' | 'summary';
  chip_col: number | null;
  chip_row: number | null;
  /** Pixel window of the chip (the whole raster on a summary row). */
  x: number;
  y: number;
  width: number;
  height: number;
  /** The chip was clipped at the raster's right or bottom edge (never padded). */
  edge: boolean;
  raster_width: number;
  raster_height: number;
  /** "EPSG:32611" or the CRS's name; null when the raster names none. */
  crs: string | null;
  georef: 'geotiff' | 'world-file' | 'none' | 'broken';
  /** Why there is no footprint (or how the georeference was found). */
  georef_note: string | null;
  /** WGS 84 POLYGON WKT (lon lat); null without a usable georeference. */
  footprint_wkt: string | null;
  west: number | null;
  south: number | null;
  east: number | null;
  north: number | null;
  cloud_fraction: number | null;
  change_score: number | null;
  novelty_score: number | null;
  ndvi_delta: number | null;
  nbr_delta: number | null;
  ndwi_delta: number | null;
  /** Object name of the before acquisition paired with this one. */
  before_name: string | null;
  /** Summary rows: chip grid and outputs. */
  chip_size: number | null;
  chip_overlap: number | null;
  bands: number | null;
  chips: number | null;
  chips_failed: number | null;
  heatmap_uri: string | null;
  geojson_uri: string | null;
  /**
   * A user's chip classifier from the model repository (task "chip-classifier"): its name and version, the
   * chip's score (P(positive); summary: the largest) and label (manifest labels at its threshold; summary: the
   * positive label), and on the summary the count of chips at or above the threshold. NULL without one.
   */
  classifier_model: string | null;
  classifier_version: number | null;
  classifier_score: number | null;
  classifier_label: string | null;
  classifier_positives: number | null;
  /** The backbone model (engine variant) that made the chip features (metadata lookout-backbone); null without RGB bands. */
  backbone: string | null;
  /**
   * The acquisition (docs/stac.md): when it was taken (STAC properties.datetime or metadata lookout-datetime, ISO
   * 8601 UTC text that sorts as time), by which platform, the tile key of its footprint (MGRS:33UUP, WRS2:044/034,
   * metadata lookout-place), its STAC collection and Item id. Optional in this type: rows of older versions lack them.
   */
  acquired_at?: string | null;
  platform?: string | null;
  place?: string | null;
  collection?: string | null;
  stac_item?: string | null;
}

/** What a raster says about its acquisition (a STAC Item's properties, or object metadata for a plain GeoTIFF). */
export interface RasterAcquisition {
  /** ISO 8601 UTC with milliseconds; null when neither the Item nor metadata lookout-datetime gives one (no pairing). */
  datetime: string | null;
  platform: string | null;
  place: string | null;
  collection: string | null;
  /** STAC Item id (null for a plain GeoTIFF). */
  item: string | null;
}

/** An acquisition of the archive as its summary row records it (io/acquisitions.ts reads them back). */
export interface AcquisitionRecord {
  bucket: string;
  name: string;
  generation: string;
  datetime: string;
  place: string | null;
  collection: string | null;
  runTag: string | null;
}

/** A change analysis of `after` against `before` that pairing by place and time asks for (a re-pair run). */
export interface RasterRepair {
  after: ObjectRef;
  before: ObjectRef;
  runTag: string | null;
  /** pairWorkflowId (core/events.ts): one workflow, and so one row set, per pair. */
  workflowId: string;
}

/** One refit of a scene's normal model from the footage analysed since (learning normal as footage flows). */
export interface RefitOptions {
  /** Footage younger than this (seconds since it was analysed) waits. */
  minAgeS: number;
  /** Frames of joined footage the normal set keeps at most (the first fit's footage comes on top). */
  maxFrames: number;
  seed: number;
}

export interface RefitResult {
  scene: string;
  /** The version the refit started from (LATEST before it). */
  from: number;
  /** The new version; null when no footage could join (nothing was written). */
  version: number | null;
  uri: string | null;
  /** Chunks (stored segments of analysed footage) that joined now, and their frames. */
  joined: number;
  joinedFrames: number;
  /** The new normal set: chunks, frames and objects (bounded by maxFrames plus the first fit's). */
  normalChunks: number;
  normalFrames: number;
  normalObjects: number;
  firstFitFrames: number;
  maxFrames: number;
  /** Chunks left waiting (too young, alert not judged, episode still open) and refused for good (confirmed alert). */
  waiting: number;
  refused: number;
  /** Frames that did not join now, by reason. */
  notJoined: Record<string, number>;
  /** Joined chunks the coreset left out of the normal set. */
  dropped: number;
  threshold: number | null;
}

/**
 * Alert episodes of one video and the newest review verdict of each (the results table and its `_feedback` table):
 * what learning normal as footage flows asks before analysed footage may join a scene's normal model.
 */
export interface AlertLedger {
  ofVideo(
    video: { bucket: string; name: string; generation: string },
    pipeline: string,
  ): Promise<{
    /** The video's summary row is written: its analysis is over, every episode has its alert row. */
    finished: boolean;
    spans: Array<{ start: number; end: number; verdict: 'confirmed' | 'dismissed' | null }>;
  }>;
}

/** Finds acquisitions of the same place in the archive's own rows (BigQuery results), for pairing by place and time. */
export interface AcquisitionIndex {
  /**
   * The acquisitions of the same place (same collection, same tile key when both have one, footprint bounding boxes
   * overlapping by at least the configured share) just before and just after `a` in time (ties broken by name).
   */
  neighbours(a: {
    bucket: string;
    name: string;
    datetime: string;
    place: string | null;
    collection: string | null;
    footprint: { west: number; south: number; east: number; north: number };
  }): Promise<{ previous: AcquisitionRecord | null; next: AcquisitionRecord | null }>;
  /** Whether a summary row of `after` already records a change against `beforeName` (any run: exactly one per pair). */
  paired(after: { bucket: string; name: string; generation: string }, beforeName: string): Promise<boolean>;
}

/** A raster as the workflow plans it (small: it travels through workflow history). */
export interface RasterPlan {
  format: 'geotiff' | 'jpeg' | 'png';
  width: number;
  height: number;
  bands: number;
  dtype: string;
  crs: string | null;
  georef: RasterRowFields['georef'];
  georefNote: string | null;
  chipSize: number;
  overlap: number;
  cols: number;
  rows: number;
  chips: number;
  /** Chips per side of a block (one activity reads and scores a block). */
  blockChips: number;
  blocksAcross: number;
  blocks: number;
  /** The before acquisition (co-registered), when there is one. */
  before: ObjectRef | null;
  /** Archive whose normal-chip bank scores novelty (the object's folder unless metadata names one). */
  archive: string;
  /** Where block results and outputs go in the results bucket. */
  prefix: string;
  /** Band indices used: RGB for the backbone and preview, s2cloudless's ten, spectral roles. */
  rgb: [number, number, number] | null;
  cloudBands: number[] | null;
  roles: Partial<Record<'blue' | 'green' | 'red' | 'nir' | 'swir1' | 'swir2', number>>;
  /** Why a score is absent for every chip (no NIR, no B10, no before...). */
  notes: string[];
  /** The whole raster's footprint in WGS 84 (null without a usable georeference). */
  footprint: { wkt: string; west: number; south: number; east: number; north: number } | null;
  /** Per-band 2-98 % stretch of the RGB bands for the backbone, per acquisition (sampled at planning). */
  stretch: { min: [number, number, number]; max: [number, number, number] } | null;
  stretchBefore: { min: [number, number, number]; max: [number, number, number] } | null;
  /** The chip classifier this raster runs (a model of the repository with task "chip-classifier"), or null. */
  classifier?: RasterClassifierPlan | null;
  /** The backbone (engine variant) this raster runs: the method's own, or metadata lookout-backbone (e.g. mobilenetv2-int8); null without RGB bands. */
  backbone?: { name: string; version: number } | null;
  /** When, by what and where the raster was acquired (STAC Item or metadata); absent in plans of older versions. */
  acquisition?: RasterAcquisition | null;
}

/** Which chip classifier a raster runs and where (plain data: it travels in the plan). */
export interface RasterClassifierPlan {
  model: string;
  version: number;
  input: 'embedding' | 'pixels';
  /** Pixel heads: band index per input channel (-1: gray, the mean of the stretched RGB), and each channel's 2-98 % stretch. */
  channels: number[] | null;
  stretch: { min: number[]; max: number[] } | null;
  /** Two-stage placement from the manifest: backbone pool and head pool; null = one activity on the raster's queue. */
  placement: { backbone: 'cpu' | 'gpu'; head: 'cpu' | 'gpu' } | null;
}

/** One block of chips for the analyzeRasterBlock activity. */
export interface RasterBlockTask {
  input: AnalyzeInput;
  plan: RasterPlan;
  block: number;
  /** Two-stage placement: the chip classifier runs in a later activity on another pool (classifyRasterBlock). */
  deferHead?: boolean;
  /** The pool the workflow scheduled this activity for, and whether it fell back from the GPU pool. */
  pool?: 'cpu' | 'gpu';
  fellBack?: boolean;
}

export interface RasterBlockResult {
  block: number;
  chips: number;
  ok: number;
  failed: number;
  /** Highest-scoring chip of the block. */
  top: { col: number; row: number; score: number } | null;
  runMs: number;
  inferenceMs: number;
  /** Two-stage placement: the chip rows wait in the results bucket for the head activity (classifyRasterBlock). */
  pendingHead?: boolean;
}

/** What the finishing activity made: the summary's outputs. */
export interface RasterFinishResult {
  heatmapUri: string | null;
  geojsonUri: string | null;
  chips: number;
  chipsFailed: number;
  bankSize: number | null;
  /** Chip classifier summary: the largest score and the chips at or above the threshold. */
  classifier?: { model: string; version: number; maxScore: number | null; positives: number; label: string } | null;
}
