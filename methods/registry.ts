/**
 * Every analysis method, by name. Adding a method: a folder methods/<name>/ whose index.ts exports a
 * MethodDefinition, and one line here. Pipelines (core/pipelines.ts) name the method they run.
 */
import { SetupError } from '../core/errors';
import { PIPELINES, pipelineDefinition } from '../core/pipelines';
import type { MethodDefinition } from './method';
import { defaultModelRepo, loadLocalModel } from '../runtime/manifest';
import { cctvAttributesMethod } from './cctv-attributes';
import { cctvOcaeMethod } from './cctv-ocae';
import { objectsMethod } from './objects';
import { rasterChangeMethod } from './raster-change/method';

export const METHODS: ReadonlyMap<string, MethodDefinition> = new Map(
  [objectsMethod, cctvAttributesMethod, cctvOcaeMethod, rasterChangeMethod].map((m) => [m.name, m]),
);

export function methodDefinition(name: string): MethodDefinition {
  const m = METHODS.get(name);
  if (!m)
    throw new SetupError(
      'UnknownMethod',
      `unknown analysis method "${name}" (known: ${[...METHODS.keys()].join(', ')})`,
    );
  return m;
}

/** The method a pipeline runs; SetupError('UnknownPipeline') for a name that is not a pipeline. */
export function methodOfPipeline(pipeline: string): MethodDefinition {
  return methodDefinition(pipelineDefinition(pipeline).method);
}

/** Model names (repository folders) the given pipelines need. */
export function modelsForPipelines(pipelines: string[]): string[] {
  return [...new Set(pipelines.flatMap((p) => Object.values(methodOfPipeline(p).models)))];
}

/** Every pipeline whose method is registered: checked by a unit test, so a pipeline cannot name a missing method. */
export function checkRegistry(): void {
  for (const p of PIPELINES.values()) methodDefinition(p.method);
}

/**
 * The labels a pipeline's detector reports (its method's `detect` model), read from the local model repository:
 * the classes a zone's rule may name (runtime/zones.ts); undefined when that manifest is not there.
 */
export function detectorLabels(projectRoot: string, pipeline = 'cctv-anomaly'): string[] | undefined {
  const detector = methodOfPipeline(pipeline).models.detect;
  if (!detector) return undefined;
  try {
    return loadLocalModel(defaultModelRepo(projectRoot), detector).manifest.labels;
  } catch {
    return undefined;
  }
}
