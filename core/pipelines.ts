/**
 * Pipelines: a named way of analysing objects, served by one analysis method
 * (methods/<method>/). The pipeline decides where each stage runs (pool, task
 * queue, GPU fallback); the method decides what each stage computes.
 *
 * The spec is resolved once by whoever starts the workflow and travels inside
 * the workflow input, so the workflow stays deterministic and a change of
 * configuration affects new analyses only. Workflow-safe: plain data, no Node
 * imports.
 */
import { SetupError } from './errors';

export type Pool = 'cpu' | 'gpu';
export type StageName = 'detect' | 'extract' | 'score';
export const STAGES: readonly StageName[] = ['detect', 'extract', 'score'];

export interface StageSpec {
  pool: Pool;
  /** Task queue the stage is scheduled on. */
  taskQueue: string;
  /** For a GPU stage: the CPU queue to fall back to, and how long to wait for a GPU worker to pick it up. */
  fallback?: { taskQueue: string; scheduleToStartMs: number };
  startToCloseMs: number;
}

export interface PipelineSpec {
  name: string;
  /** Analysis method (methods/<method>/) the workers run for this pipeline's stages. */
  method: string;
  stages: Record<StageName, StageSpec>;
  recordQueue: string;
  /** Consecutive stages on one queue run as one activity (default true; false: one activity per stage). */
  groupStages?: boolean;
  /** The row is written by a local activity of the workflow's worker (default true; false: an activity on recordQueue). */
  localRecord?: boolean;
  /**
   * A stage group on the CPU pool (no GPU fallback) runs as a local activity of the workflow's worker instead of an
   * activity task on the pool's queue: no activity task hand-off, no second workflow task, fewer history events
   * (default false; docs/performance.md measures it).
   */
  localStages?: boolean;
  /** How long a GPU-placed activity waits for a GPU worker before it runs on the CPU pool (model-placed stages too). */
  gpuFallbackMs?: number;
}

export interface PipelineDefinition {
  name: string;
  method: string;
  description: string;
}

/**
 * Every pipeline. A Map, not an object literal: pipeline names come from object
 * metadata, and a plain object would answer `constructor` or `__proto__`.
 */
export const PIPELINES: ReadonlyMap<string, PipelineDefinition> = new Map(
  [
    {
      name: 'objects',
      method: 'objects',
      description:
        'single images (satellite tiles, CCTV stills): COCO object detection, per-object crop features, per-image summary score',
    },
    {
      name: 'cctv-anomaly',
      method: 'cctv-attributes',
      description:
        'fixed-camera CCTV, the default anomaly method: cctv-attributes (tracks, speed, direction, where/what, size, dwell, appearance; reasons per alert)',
    },
    {
      name: 'cctv-attributes',
      method: 'cctv-attributes',
      description: 'fixed-camera CCTV: the attribute method under its own name',
    },
    {
      name: 'raster',
      method: 'raster-change',
      description:
        'satellite / aerial rasters (GeoTIFF, COG; JPEG/PNG with or without a world file): chips with WGS 84 footprints, cloud fraction, spectral indices, change against a before acquisition, novelty against the archive; summary row, heatmap, GeoJSON',
    },
    {
      name: 'cctv-ocae',
      method: 'cctv-ocae',
      description:
        'fixed-camera CCTV, object-centric auto-encoders + scene model (Ionescu et al., CVPR 2019): the seed baseline under its own name',
    },
  ].map((p) => [p.name, p]),
);

export function pipelineNames(): string[] {
  return [...PIPELINES.keys()];
}

/** The pipeline's definition; SetupError('UnknownPipeline') for a name that is not one (never a prototype property). */
export function pipelineDefinition(name: string): PipelineDefinition {
  const def = PIPELINES.get(name);
  if (!def)
    throw new SetupError('UnknownPipeline', `unknown pipeline "${name}" (known: ${pipelineNames().join(', ')})`);
  return def;
}

export function taskQueueFor(pipeline: string, pool: Pool): string {
  return `${pipeline}-${pool}`;
}

export interface PipelineOptions {
  /** Stages scheduled on the GPU pool (with fallback to CPU). */
  gpuStages: StageName[];
  /** How long a GPU stage waits for a GPU worker before it runs on the CPU pool. */
  gpuFallbackMs: number;
  /** See PipelineSpec.groupStages (default true). */
  groupStages?: boolean;
  /** See PipelineSpec.localRecord (default true). */
  localRecord?: boolean;
  /** See PipelineSpec.localStages (default false). */
  localStages?: boolean;
}

/** Stage timeouts (start-to-close) per stage; one place, used by every pipeline. */
export const STAGE_TIMEOUT_MS: Readonly<Record<StageName, number>> = {
  detect: 120_000,
  extract: 120_000,
  score: 60_000,
};

export function resolvePipeline(name: string, opts: PipelineOptions): PipelineSpec {
  const def = pipelineDefinition(name);
  const cpuQueue = taskQueueFor(name, 'cpu');
  const stage = (s: StageName): StageSpec =>
    opts.gpuStages.includes(s)
      ? {
          pool: 'gpu',
          taskQueue: taskQueueFor(name, 'gpu'),
          fallback: { taskQueue: cpuQueue, scheduleToStartMs: opts.gpuFallbackMs },
          startToCloseMs: STAGE_TIMEOUT_MS[s],
        }
      : { pool: 'cpu', taskQueue: cpuQueue, startToCloseMs: STAGE_TIMEOUT_MS[s] };
  return {
    name,
    method: def.method,
    stages: { detect: stage('detect'), extract: stage('extract'), score: stage('score') },
    recordQueue: cpuQueue,
    gpuFallbackMs: opts.gpuFallbackMs,
    ...(opts.groupStages === false ? { groupStages: false } : {}),
    ...(opts.localRecord === false ? { localRecord: false } : {}),
    ...(opts.localStages === true ? { localStages: true } : {}),
  };
}

/** Two-stage placement of a raster's chip work (a chip classifier's manifest: `classifier.placement`). */
export interface RasterPlacement {
  /** Reading, indices, backbone features, change, novelty (and the head too when `head` is null). */
  block: StageSpec;
  /** The chip classifier in its own activity on its own pool; null: it runs inside the block activity. */
  head: StageSpec | null;
}

/** Default wait for a GPU worker when a spec made by an older version carries none. */
export const DEFAULT_GPU_FALLBACK_MS = 10_000;

/**
 * Where a raster's block and head activities run. Without a placement both run in one activity on the queue
 * of the pipeline's extract stage (its CPU fallback when it is a GPU stage: the reader and s2cloudless are
 * CPU code). With one, the block runs on the backbone's pool and, when the head's pool differs, the head in a
 * second activity on its pool; a GPU-placed activity falls back to the CPU queue after the pipeline's GPU wait.
 * Pure and workflow-safe: the workflow calls it with the plan's placement.
 */
export function rasterPlacement(
  pipeline: Pick<PipelineSpec, 'name' | 'stages' | 'gpuFallbackMs'>,
  placement: { backbone: Pool; head: Pool } | null | undefined,
): RasterPlacement {
  const cpu = taskQueueFor(pipeline.name, 'cpu');
  const on = (pool: Pool, startToCloseMs: number): StageSpec =>
    pool === 'gpu'
      ? {
          pool: 'gpu',
          taskQueue: taskQueueFor(pipeline.name, 'gpu'),
          fallback: { taskQueue: cpu, scheduleToStartMs: pipeline.gpuFallbackMs ?? DEFAULT_GPU_FALLBACK_MS },
          startToCloseMs,
        }
      : { pool: 'cpu', taskQueue: cpu, startToCloseMs };
  if (!placement) {
    const spec = pipeline.stages.extract;
    return {
      block: {
        pool: 'cpu',
        taskQueue: spec.fallback?.taskQueue ?? spec.taskQueue,
        startToCloseMs: spec.startToCloseMs,
      },
      head: null,
    };
  }
  const block = on(placement.backbone, STAGE_TIMEOUT_MS.extract);
  return { block, head: placement.head === placement.backbone ? null : on(placement.head, STAGE_TIMEOUT_MS.score) };
}
