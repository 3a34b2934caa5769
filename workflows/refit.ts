/**
 * refitScenes: learning normal as footage flows (docs/cctv-alerts.md). For each scene (or every scene of the
 * pipeline's method), the child workflow refitOneScene runs one activity that refits its normal model from the
 * footage analysed since its last version under the drift guard, and stores a new version when any footage joined.
 * Started by `lookout refit`, by hand or by a Temporal schedule (`lookout refit --all --schedule …`). Orchestration
 * only: the refit itself is the method's.
 *
 * One refit of a scene at a time: the child's workflow id is the scene's (refitSceneWorkflowId), and Temporal
 * refuses to start a workflow whose id is running. Two refits of one scene at once (a `lookout refit cam1` while a
 * scheduled `--all` runs, two operators) would otherwise both read the same waiting chunks and both store a
 * version: the same footage joined twice. The run that finds the scene's refit running reports the scene as
 * skipped and goes on with its other scenes; once that refit closed, the id is free again (ALLOW_DUPLICATE).
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ApplicationFailure,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
  WorkflowIdReusePolicy,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { LookoutActivities } from '../activities/types';
import { FIT_MODEL_OPTIONS, WORKFLOW_EXECUTION_TIMEOUT } from '../core/policies';
import type { RefitResult } from '../core/types';
import {
  refitSceneWorkflowId,
  type RefitOneSceneInput,
  type RefitScenesInput,
  type RefitScenesResult,
} from '../core/workflows';

export type { RefitOneSceneInput, RefitScenesInput, RefitScenesResult };

export async function refitScenes(input: RefitScenesInput): Promise<RefitScenesResult> {
  const acts = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...FIT_MODEL_OPTIONS });
  const method = input.pipeline.method;
  // Runs started before the per-scene child workflows replay as they ran (one activity per scene, no lock).
  const exclusive = patched('lookout-refit-exclusive');
  const scenes = input.scenes.length ? input.scenes : await acts.listScenes(method);
  const out: RefitScenesResult = { refits: [], failed: [], ...(exclusive ? { skipped: [] } : {}) };
  const opts = { minAgeS: input.minAgeS, maxFrames: input.maxFrames, seed: input.seed };
  // One scene at a time: a refit fits a model (CPU-heavy) on the record queue's worker.
  for (const scene of scenes) {
    if (!exclusive) {
      try {
        out.refits.push(await acts.refitScene(method, scene, opts));
      } catch (err) {
        log.warn('scene refit failed', { scene, error: String(err) });
        out.failed.push({ scene, error: failureMessage(err) });
      }
      continue;
    }
    const workflowId = refitSceneWorkflowId(method, scene);
    let child: ChildWorkflowHandle<typeof refitOneScene>;
    try {
      child = await startChild(refitOneScene, {
        workflowId,
        args: [{ pipeline: input.pipeline, scene, ...opts }],
        // A new refit of the scene once the previous one closed, whatever its outcome.
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        // The scene stays locked exactly as long as its refit works: a refit whose starter went away (terminated,
        // timed out) finishes and lets go, rather than leaving an activity writing while a new refit starts.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowExecutionTimeout: WORKFLOW_EXECUTION_TIMEOUT,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        log.info('scene refit already running', { scene, workflowId });
        out.skipped!.push({
          scene,
          workflowId,
          reason: `a refit of this scene is already running (workflow id ${workflowId})`,
        });
      } else {
        log.warn('scene refit could not start', { scene, error: String(err) });
        out.failed.push({ scene, error: failureMessage(err) });
      }
      continue;
    }
    try {
      out.refits.push(await child.result());
    } catch (err) {
      // One scene's failure (e.g. fitted before learning online) does not stop the others.
      log.warn('scene refit failed', { scene, error: String(err) });
      out.failed.push({ scene, error: failureMessage(err) });
    }
  }
  return out;
}

/** The refit of one scene (a child of refitScenes, whose workflow id locks the scene): the method's refit activity. */
export async function refitOneScene(input: RefitOneSceneInput): Promise<RefitResult> {
  const acts = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...FIT_MODEL_OPTIONS });
  return acts.refitScene(input.pipeline.method, input.scene, {
    minAgeS: input.minAgeS,
    maxFrames: input.maxFrames,
    seed: input.seed,
  });
}

/**
 * What went wrong, in the words of the activity that failed: the first ApplicationFailure down the chain of causes
 * (child workflow -> activity -> application failure), else the innermost message.
 */
function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof ApplicationFailure) return e.message;
    if (!(e.cause instanceof Error)) return e.message;
    e = e.cause;
  }
  return String(e);
}
