/**
 * The analysis-method interface: what a method must declare and provide so that
 * the activities (thin adapters), the workers (wiring) and the CLI can serve it
 * without knowing what it computes. In the spirit of Apache Beam's ModelHandler
 * (load once, run many) and Triton's model configuration (declared inputs,
 * models and batching).
 *
 * Adding a method = one folder methods/<name>/ whose index.ts exports a
 * MethodDefinition, plus one line in methods/registry.ts. A method never
 * imports another method; shared machinery lives in runtime/ and media/.
 */
import type {
  AcquisitionIndex,
  AlertLedger,
  RefitOptions,
  RefitResult,
  AnalysisSummary,
  AnalyzeInput,
  RasterRepair,
  DetectOutput,
  RasterBlockTask,
  RasterFinishResult,
  RasterPlan,
  ExtractOutput,
  FeaturesRef,
  FitOptions,
  FitResult,
  ObjectRef,
  ScoredObject,
  ScoreOutput,
  SplitResult,
  StageReport,
} from '../core/types';
import type { SegmentRange, VideoFrame } from '../media/video';
import type { DecodedImage } from '../media/image';
import type { ObjectStore } from '../io/objectstore';
import type { SceneFormat, SceneStore } from '../io/scenes';
import type { Detector } from '../runtime/detector';
import type { OnnxChipClassifier } from '../runtime/classifier';
import type { OnnxEmbedder } from '../runtime/embedder';
import type { OnnxPoseEstimator } from '../runtime/pose';

/** What one stage computed, before the activity adds where and when it ran. */
export interface StageWork<T> {
  value: T;
  inferenceMs: number;
  batchSize?: number;
  executionProvider?: string;
  model?: { name: string; version: number };
}

/** The machine the stage ran on is added by the activity, not the method. */
export type DetectValue = Omit<DetectOutput, 'report' | 'machine'>;
export type ExtractValue = Omit<ExtractOutput, 'report'>;
export type ScoreValue = Omit<ScoreOutput, 'report'>;

/** Models by repository name, loaded once per worker process and shared by every method that asks. */
export interface ModelLoader {
  /** `profile`: a named set of detector settings in the model's manifest (e.g. "cctv"); none: the manifest's decoding. */
  detector(name: string, profile?: string): Promise<Detector>;
  embedder(name: string): Promise<OnnxEmbedder>;
  /** A pose model (task "pose": keypoints of the person in each box); loaders without one refuse the pose step. */
  pose?(name: string): Promise<OnnxPoseEstimator>;
  /** Absolute path of a model's ONNX file (models run by a method's own session, e.g. s2cloudless). */
  modelPath?(name: string): string;
  /** Users' chip classifiers the repository declares for a pipeline (task "chip-classifier"); none without it. */
  chipClassifiers?(pipeline: string): Promise<OnnxChipClassifier[]>;
}

/** What a worker hands a method when it loads it. */
export interface MethodContext {
  models: ModelLoader;
  store: ObjectStore;
  /** Versioned per-scene models in the results bucket (methods that fit a scene), stored in the method's format. */
  sceneStore<T>(format: SceneFormat<T>): SceneStore<T>;
  /** Bucket for derived data (frames, features, annotated images): writing them to the inbox would notify again. */
  resultsBucket: string;
  maxObjectBytes: number;
  /** Downloads and decodes an image, with the worker's limits and its cache of decoded images. */
  loadImage(o: Pick<ObjectRef, 'bucket' | 'name' | 'generation' | 'size' | 'contentType'>): Promise<DecodedImage>;
  /** Tells Temporal that a long step is alive (a no-op outside an activity). */
  heartbeat(details?: unknown): void;
  /** The archive's acquisitions in the results table (raster pairing by place and time); absent: no pairing. */
  acquisitions?: AcquisitionIndex;
  /** Alert episodes and their review verdicts (learning normal as footage flows); absent: no refit. */
  alerts?: AlertLedger;
  /** Keep the observations of analysed footage for refits (LOOKOUT_REFIT_KEEP_OBSERVATIONS). */
  keepObservations?: boolean;
  /** Run the optional pose step of methods that have one (cctv-attributes; config LOOKOUT_CCTV_POSE); default off. */
  pose?: boolean;
}

/** What a method computed for one frame of a video segment (becomes one row), or one alert episode. */
export interface FrameAnalysis {
  /** Frame index in the video (decode order); an alert: its peak frame. */
  frame: number;
  /**
   * 'alert': one row per alert episode (a span of frames an operator reviews as one alert), under the id
   * `…@alert<start frame>` beside the frame rows; default 'frame'.
   */
  rowKind?: 'frame' | 'alert';
  /** An alert's first frame (its row id). */
  alertStart?: number;
  /** A rule alert's key (zone and rule: `rule<zone>.<rule>`), appended to its row id. */
  alertKey?: string;
  label: string;
  /** Null when there is nothing to score (e.g. no objects). */
  score: number | null;
  objects: ScoredObject[];
  details?: Record<string, number | string>;
  /** Milliseconds this frame spent in each stage (detect includes the detector's inference; inference: model time alone). */
  ms: { detect: number; extract: number; score: number; inference: number };
  model?: { name: string; version: number };
  executionProvider?: string;
  batchSize?: number;
}

/** One segment of a video, as the method sees it. */
export interface SegmentContext {
  video: ObjectRef;
  scene?: string;
  /** The pipeline whose rows the segment writes (its alert rows are looked up by it). */
  pipeline?: string;
  fps: number;
  width: number;
  height: number;
  segment: SegmentRange;
  /** Frames in the whole video (the last segment ends there): what is still open is closed at the end. */
  totalFrames?: number;
}

/** Where a raster activity runs: the chip rows' stage reports say so. */
export interface RasterWhere {
  workflowId: string;
  taskQueue: string;
  attempt: number;
  pool?: 'cpu' | 'gpu';
  /** A GPU-placed activity that ran on the CPU pool because no GPU worker took it in time. */
  fellBack?: boolean;
}

/** A loaded method: its stages. Called by activities; every call gets object references, never bytes. */
export interface MethodRuntime {
  detect(input: AnalyzeInput): Promise<StageWork<DetectValue>>;
  /** `featuresKey`: a stable key of this analysis, for features a method stores by reference. */
  extract(input: AnalyzeInput, detect: DetectOutput, featuresKey: string): Promise<StageWork<ExtractValue>>;
  score(input: AnalyzeInput, detect: DetectOutput, extract: ExtractOutput): Promise<StageWork<ScoreValue>>;
  /** Video methods: a video object -> frames (with neighbours) in the results bucket. */
  splitVideo?(video: ObjectRef, every: number): Promise<SplitResult>;
  /** Methods with a per-scene model: fit it on the features of normal footage and store a new version. */
  fitScene?(scene: string, refs: FeaturesRef[], opts: FitOptions): Promise<FitResult>;
  /**
   * Methods with a per-scene model that learn normal as footage flows: the footage analysed since the last
   * version that may join (drift guard), joined to the normal set (bounded), fitted and stored as a new version.
   */
  refitScene?(scene: string, opts: RefitOptions): Promise<RefitResult>;
  /** Scenes with a model of this method (`lookout refit --all`). */
  scenes?(): Promise<string[]>;
  /**
   * Video methods that follow objects across frames: analyses the frames of one segment in order, calling
   * `emit` once per frame; `state` is what the previous segment returned (undefined for the first) and the
   * returned state goes to the next one. It must be small JSON (it travels through workflow history).
   */
  analyzeSegment?(
    ctx: SegmentContext,
    frames: AsyncIterable<VideoFrame>,
    state: unknown,
    emit: (f: FrameAnalysis) => Promise<void>,
  ): Promise<{ state: unknown }>;
  /**
   * Segment methods with a scene model: what fitting needs from one segment of normal footage, stored in
   * the results bucket (under `key`) and returned by reference, with the state for the next segment.
   */
  observeSegment?(
    ctx: SegmentContext,
    frames: AsyncIterable<VideoFrame>,
    state: unknown,
    key: string,
  ): Promise<{ state: unknown; ref: FeaturesRef }>;
  /** Raster methods: reads the raster's header (by ranges) and plans its chips; bad input throws BadInputError. */
  planRaster?(
    input: AnalyzeInput,
    opts: { chipSize: number; chipOverlap: number; blockChips: number; pairWith?: ObjectRef },
  ): Promise<RasterPlan>;
  /**
   * Raster methods: analyses one block of chips, handing each chip's row to `emit` (as an analysis summary
   * with its `raster` record); stores what finishing needs under the plan's prefix.
   */
  analyzeRasterBlock?(
    task: RasterBlockTask,
    where: RasterWhere,
    emit: (row: Omit<AnalysisSummary, 'input' | 'runId' | 'workflowStartedAt'>) => Promise<void>,
  ): Promise<{
    ok: number;
    failed: number;
    top: { col: number; row: number; score: number } | null;
    inferenceMs: number;
    pendingHead?: boolean;
  }>;
  /**
   * Raster methods with a chip classifier placed on another pool (two-stage placement): runs the head over the
   * inputs analyzeRasterBlock stored for the block (task.deferHead) and emits the block's chip rows.
   */
  classifyRasterBlock?(
    task: RasterBlockTask,
    where: RasterWhere,
    emit: (row: Omit<AnalysisSummary, 'input' | 'runId' | 'workflowStartedAt'>) => Promise<void>,
  ): Promise<{ ok: number; failed: number; inferenceMs: number }>;
  /** Raster methods: heatmap, GeoJSON and archive bank from the stored block results. */
  finishRaster?(
    input: AnalyzeInput,
    plan: RasterPlan,
    opts?: { pairWith?: ObjectRef },
  ): Promise<RasterFinishResult & { summary: Record<string, number | null> }>;
  /**
   * Raster methods, after the summary row is written: the change analyses this acquisition's arrival calls for
   * (pairing by place and time, docs/stac.md) that the archive's rows do not hold yet.
   */
  pairAcquisition?(input: AnalyzeInput, plan: RasterPlan): Promise<RasterRepair[]>;
  /** "name vN (provider)" of every model loaded, for the worker's log. */
  loadedModels(): string[];
}

export interface MethodDefinition {
  name: string;
  description: string;
  /**
   * What the method analyses: single images, videos, KEY/KEY_d3/KEY_p3 triplets. Videos are analysed either in
   * `segments` of consecutive frames (analyzeSegment: tracking, camera speed) or as `frames` cut into the
   * bucket and analysed one workflow each (splitVideo: the seed's way).
   */
  accepts: { images: boolean; videos: false | 'segments' | 'frames'; triplets: boolean; rasters?: boolean };
  /** Video methods: analyse every Nth frame unless the object or LOOKOUT_VIDEO_EVERY says otherwise. */
  defaultVideoEvery?: number;
  /** Models from the repository the method loads (folder names), by role. A worker serves the method only when all are present. */
  models: Readonly<Record<string, string>>;
  /** Detector settings profile of the detect model's manifest (e.g. "cctv": measured on hand-counted vtest frames). */
  detectionProfile?: string;
  /** Keys the score stage writes into the row's `details`, with their meaning (documented in the method's README). */
  rowFields: Readonly<Record<string, string>>;
  /** How the method is fitted to a scene, when it is (lookout fit). */
  fit?: {
    description: string;
    defaults: FitOptions;
    /** The fit report as `lookout fit` shows it: lines for the terminal, files (figures) for the report folder. */
    describeReport?(result: FitResult): Promise<FitReportView>;
    /** Where its scene models are stored (`lookout refit --rollback` / `--versions` read and point LATEST). */
    sceneFormat?: SceneFormat<unknown>;
    /** The method learns normal as footage flows (`lookout refit`). */
    refits?: boolean;
  };
  /** Loads the models (once per worker process) and returns the stages. */
  load(ctx: MethodContext): Promise<MethodRuntime>;
}

/** What `lookout fit` shows of a fitted scene model beyond its version and threshold. */
export interface FitReportView {
  lines: string[];
  /** File name (no folders) -> contents, written into the fit's report folder. */
  files: Record<string, Buffer>;
}

export type { FitOptions, FitResult, SplitResult, StageReport };
