/** Scene models in the bucket (io/scenes.ts) on the real fake-gcs-server: fits of one scene at once never share a version. */
import { describe, expect, it } from 'vitest';
import { SceneStore, type SceneFormat } from '../../io/scenes';
import { cfg, storage } from './helpers';

const format: SceneFormat<string> = { dir: 'race-test', file: 'model.bin', parse: (buf) => buf.toString('utf8') };

describe('scene store', () => {
  it('three fits of one scene saved at once get three versions, and LATEST points at the newest', async () => {
    const scene = `race${Date.now().toString(36)}`;
    const saved = await Promise.all(
      [0, 1, 2].map((i) =>
        new SceneStore(storage, cfg.gcs.resultsBucket, format).save(scene, Buffer.from(`model ${i}`)),
      ),
    );
    expect(saved.map((s) => s.version).sort()).toEqual([1, 2, 3]);
    const latest = await new SceneStore(storage, cfg.gcs.resultsBucket, format).load(scene);
    expect(latest.version).toBe(3);
    expect(latest.model).toBe(`model ${saved.findIndex((s) => s.version === 3)}`);
  });
});
