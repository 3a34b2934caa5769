/**
 * Scene models in the bucket, versioned:
 *   gs://<models bucket>/models/scenes/<scene>/<version>/scene.lksm
 *   gs://<models bucket>/models/scenes/<scene>/LATEST   (text: the version analyses use)
 * A deployed worker picks up a newly fitted scene without a rebuild.
 */
import type { Storage } from '@google-cloud/storage';
import { parseSceneModel, type SceneModel } from '../methods/cctv-ocae/scene-model';
import { SetupError } from '../core/errors';

export const SCENE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function scenePrefix(scene: string): string {
  return `models/scenes/${scene}/`;
}

export function checkScene(scene: string): string {
  if (!SCENE_RE.test(scene)) throw new SetupError('InvalidScene', `scene name ${JSON.stringify(scene)} must be lowercase letters, digits, - or _`);
  return scene;
}

export class SceneStore {
  private cache = new Map<string, { model: SceneModel; version: number }>();
  private latest = new Map<string, { version: number; at: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly bucket: string,
    /** How long a LATEST lookup is trusted. */
    private readonly latestTtlMs = 10_000,
  ) {}

  async latestVersion(scene: string): Promise<number | undefined> {
    const hit = this.latest.get(scene);
    if (hit && Date.now() - hit.at < this.latestTtlMs) return hit.version;
    const f = this.storage.bucket(this.bucket).file(`${scenePrefix(scene)}LATEST`);
    const [exists] = await f.exists();
    if (!exists) return undefined;
    const [buf] = await f.download();
    const version = Number(buf.toString('utf8').trim());
    if (!Number.isInteger(version) || version < 1) throw new SetupError('SceneModelInvalid', `gs://${this.bucket}/${scenePrefix(scene)}LATEST does not hold a version number`);
    this.latest.set(scene, { version, at: Date.now() });
    return version;
  }

  /** The scene's current model; SetupError('SceneModelMissing') when none was fitted. */
  async load(scene: string): Promise<{ model: SceneModel; version: number }> {
    checkScene(scene);
    const version = await this.latestVersion(scene);
    if (version === undefined) {
      throw new SetupError('SceneModelMissing', `no scene model "${scene}" in gs://${this.bucket}/${scenePrefix(scene)}: fit one with \`lookout fit --scene ${scene} <normal footage>\``);
    }
    const key = `${scene}@${version}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const name = `${scenePrefix(scene)}${version}/scene.lksm`;
    const [buf] = await this.storage.bucket(this.bucket).file(name).download();
    const entry = { model: parseSceneModel(buf, `gs://${this.bucket}/${name}`), version };
    this.cache.set(key, entry);
    return entry;
  }

  /** Stores a new version and points LATEST at it; returns the version. */
  async save(scene: string, data: Buffer): Promise<{ version: number; uri: string }> {
    checkScene(scene);
    const b = this.storage.bucket(this.bucket);
    const [files] = await b.getFiles({ prefix: scenePrefix(scene) });
    const versions = files.map((f) => Number(f.name.slice(scenePrefix(scene).length).split('/')[0])).filter((v) => Number.isInteger(v) && v > 0);
    const version = (versions.length ? Math.max(...versions) : 0) + 1;
    const name = `${scenePrefix(scene)}${version}/scene.lksm`;
    const meta = { metadata: { 'lookout-derived': 'scene-model' } };
    await b.file(name).save(data, { resumable: false, contentType: 'application/octet-stream', metadata: meta });
    await b.file(`${scenePrefix(scene)}LATEST`).save(Buffer.from(`${version}\n`), { resumable: false, contentType: 'text/plain', metadata: meta });
    this.latest.set(scene, { version, at: Date.now() });
    return { version, uri: `gs://${this.bucket}/${name}` };
  }
}
