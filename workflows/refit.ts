/**
 * refitScenes: learning normal as footage flows (docs/cctv-alerts.md). For each scene (or every scene of the
 * pipeline's method), one activity refits its normal model from the footage analysed since its last version under
 * the drift guard, and stores a new version when any footage joined. Started by `lookout refit`, by hand or by a
 * Temporal schedule (`lookout refit --all --schedule …`). Orchestration only: the refit itself is the method's.
 */
import { log, proxyActivities } from '@temporalio/workflow';
import type { LookoutActivities } from '../activities/types';
import { FIT_MODEL_OPTIONS } from '../core/policies';
import type { RefitScenesInput, RefitScenesResult } from '../core/workflows';

export type { RefitScenesInput, RefitScenesResult };

export async function refitScenes(input: RefitScenesInput): Promise<RefitScenesResult> {
  const acts = proxyActivities<LookoutActivities>({ taskQueue: input.pipeline.recordQueue, ...FIT_MODEL_OPTIONS });
  const method = input.pipeline.method;
  const scenes = input.scenes.length ? input.scenes : await acts.listScenes(method);
  const out: RefitScenesResult = { refits: [], failed: [] };
  // One scene at a time: a refit fits a model (CPU-heavy) on the record queue's worker.
  for (const scene of scenes) {
    try {
      out.refits.push(
        await acts.refitScene(method, scene, {
          minAgeS: input.minAgeS,
          maxFrames: input.maxFrames,
          seed: input.seed,
        }),
      );
    } catch (err) {
      // One scene's failure (e.g. fitted before learning online) does not stop the others.
      log.warn('scene refit failed', { scene, error: String(err) });
      out.failed.push({
        scene,
        error: err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err),
      });
    }
  }
  return out;
}
