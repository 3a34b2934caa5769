/**
 * Pipelines: which stages run, on which pool, with which models. The spec is
 * resolved once by the dispatcher and passed into the workflow, so the
 * workflow stays deterministic and a change of configuration affects new
 * analyses only.
 */
import type { Pool } from '../config';
import { UnknownPipelineError } from './errors';

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
  stages: Record<StageName, StageSpec>;
  recordQueue: string;
}

export interface PipelineDefinition {
  name: string;
  description: string;
  /** How extract and score work: per-object crop statistics, or the object-centric anomaly method. */
  method: 'objects' | 'object-centric';
  /** Model per stage (folder name under models/), where the stage runs one. */
  models: Partial<Record<StageName, string>>;
  /** Encoders of the extract stage (object-centric). */
  encoders?: { appearance: string; motion: string };
  /** Accepts video objects (split into frame triplets) and KEY/KEY_d3/KEY_p3 triplets. */
  video?: boolean;
}

export const PIPELINES: Record<string, PipelineDefinition> = {
  objects: {
    name: 'objects',
    description: 'single images (satellite tiles, CCTV stills): COCO object detection, per-object crop features, per-image summary score',
    method: 'objects',
    models: { detect: 'nanodet' },
  },
  'cctv-anomaly': {
    name: 'cctv-anomaly',
    description: 'fixed-camera CCTV: object-centric anomaly detection (detector on t; appearance and motion encoders on crops at t-3, t, t+3; scene model of k-means clusters and one-vs-rest classifiers)',
    method: 'object-centric',
    models: { detect: 'nanodet' },
    encoders: { appearance: 'ae-appearance', motion: 'ae-motion' },
    video: true,
  },
};

export function taskQueueFor(pipeline: string, pool: Pool): string {
  return `${pipeline}-${pool}`;
}

export interface PipelineOptions {
  /** Stages scheduled on the GPU pool (with fallback to CPU). */
  gpuStages: StageName[];
  /** How long a GPU stage waits for a GPU worker before it runs on the CPU pool. */
  gpuFallbackMs: number;
}

export function parseGpuStages(raw: string | undefined): StageName[] {
  if (!raw) return [];
  const out: StageName[] = [];
  for (const s of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(STAGES as readonly string[]).includes(s)) throw new Error(`LOOKOUT_GPU_STAGES: unknown stage "${s}" (stages: ${STAGES.join(', ')})`);
    out.push(s as StageName);
  }
  return out;
}

export function pipelineOptionsFromEnv(env: Record<string, string | undefined> = process.env): PipelineOptions {
  const ms = env.LOOKOUT_GPU_FALLBACK_MS ? Number(env.LOOKOUT_GPU_FALLBACK_MS) : 10_000;
  if (!Number.isInteger(ms) || ms < 100) throw new Error(`LOOKOUT_GPU_FALLBACK_MS: expected an integer >= 100, got ${JSON.stringify(env.LOOKOUT_GPU_FALLBACK_MS)}`);
  return { gpuStages: parseGpuStages(env.LOOKOUT_GPU_STAGES), gpuFallbackMs: ms };
}

export function resolvePipeline(name: string, opts: PipelineOptions): PipelineSpec {
  // Own keys only: the name comes from object metadata, and "constructor" or "__proto__" are truthy on any object.
  if (!Object.hasOwn(PIPELINES, name)) throw new UnknownPipelineError(name, Object.keys(PIPELINES));
  const cpuQueue = taskQueueFor(name, 'cpu');
  const stage = (s: StageName, startToCloseMs: number): StageSpec =>
    opts.gpuStages.includes(s)
      ? { pool: 'gpu', taskQueue: taskQueueFor(name, 'gpu'), fallback: { taskQueue: cpuQueue, scheduleToStartMs: opts.gpuFallbackMs }, startToCloseMs }
      : { pool: 'cpu', taskQueue: cpuQueue, startToCloseMs };
  return {
    name,
    stages: { detect: stage('detect', 120_000), extract: stage('extract', 120_000), score: stage('score', 60_000) },
    recordQueue: cpuQueue,
  };
}
