/**
 * `lookout refit`'s report of a refitScenes result: a line per scene (refitted, failed, skipped) and the exit status;
 * and the per-scene workflow id that makes refits of one scene exclusive. The workflow itself runs against the real
 * Temporal server in test/integration/refit-exclusive.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { refitExitCode, refitLines } from '../../cli/commands/refit';
import type { RefitResult } from '../../core/types';
import { refitSceneWorkflowId, type RefitScenesResult } from '../../core/workflows';

const refit = (scene: string, version: number | null): RefitResult => ({
  scene,
  from: 1,
  version,
  uri: version === null ? null : `gs://results/models/scenes/${scene}/cctv-attributes/${version}/scene.lkam`,
  joined: version === null ? 0 : 1,
  joinedFrames: version === null ? 0 : 60,
  normalChunks: 2,
  normalFrames: 210,
  normalObjects: 900,
  firstFitFrames: 150,
  maxFrames: 3000,
  waiting: 0,
  refused: 0,
  notJoined: {},
  dropped: 0,
  threshold: version === null ? null : 0.5,
});
const skip = (scene: string) => {
  const workflowId = refitSceneWorkflowId('cctv-attributes', scene);
  return { scene, workflowId, reason: `a refit of this scene is already running (workflow id ${workflowId})` };
};
const result = (over: Partial<RefitScenesResult>): RefitScenesResult => ({
  refits: [],
  failed: [],
  skipped: [],
  ...over,
});

describe('lookout refit: one refit of a scene at a time', () => {
  it('names the lock after the method and the scene, so pipelines sharing a scene model share it', () => {
    expect(refitSceneWorkflowId('cctv-attributes', 'cam1')).toBe('refit-scene:cctv-attributes:cam1');
    expect(refitSceneWorkflowId('cctv-attributes', 'cam1')).not.toBe(refitSceneWorkflowId('cctv-attributes', 'cam2'));
    expect(refitSceneWorkflowId('cctv-attributes', 'cam1')).not.toBe(refitSceneWorkflowId('cctv-ocae', 'cam1'));
  });

  it('prints a skipped scene with the reason and the running refit’s workflow id', () => {
    const lines = refitLines(result({ refits: [refit('cam2', 2)], skipped: [skip('cam1')] }));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^scene cam2: v1 -> v2: 1 chunk\(s\), 60 frames joined/);
    expect(lines[1]).toBe(
      'scene cam1: skipped: a refit of this scene is already running (workflow id refit-scene:cctv-attributes:cam1)',
    );
    // A result of a run started before skipping existed has no `skipped` field.
    expect(refitLines({ refits: [], failed: [{ scene: 'cam3', error: 'no normal set' }] })).toEqual([
      'scene cam3: refit failed: no normal set',
    ]);
  });

  it('exits 1 when a scene failed or every scene was skipped; 0 when something was refitted beside skips', () => {
    expect(refitExitCode(result({ refits: [refit('cam1', 2)] }))).toBe(0);
    expect(refitExitCode(result({ refits: [refit('cam1', null)] }))).toBe(0);
    expect(refitExitCode(result({ refits: [refit('cam2', 2)], skipped: [skip('cam1')] }))).toBe(0);
    expect(refitExitCode(result({ skipped: [skip('cam1')] }))).toBe(1);
    expect(refitExitCode(result({ skipped: [skip('cam1'), skip('cam2')] }))).toBe(1);
    expect(refitExitCode(result({ refits: [refit('cam2', 2)], failed: [{ scene: 'cam1', error: 'x' }] }))).toBe(1);
    expect(refitExitCode(result({ failed: [{ scene: 'cam1', error: 'x' }], skipped: [skip('cam2')] }))).toBe(1);
    // `--all` with no scene of the method: nothing to do is not a failure.
    expect(refitExitCode(result({}))).toBe(0);
    expect(refitExitCode({ refits: [], failed: [] })).toBe(0);
  });
});
