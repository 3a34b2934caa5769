/**
 * Per-scene models in the results bucket, versioned:
 *   gs://<results bucket>/models/scenes/<scene>/[<format dir>/]<version>/<file>
 *   gs://<results bucket>/models/scenes/<scene>/[<format dir>/]LATEST   (text: the version analyses use)
 * A deployed worker picks up a newly fitted scene without a rebuild. The store
 * knows nothing of what a model holds: each method passes its SceneFormat (file
 * name and parser), so the method's model code stays in its own folder.
 */
import type { Storage } from '@google-cloud/storage';
import { SetupError } from '../core/errors';

export const SCENE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** How one method's scene models are stored and read. */
export interface SceneFormat<T> {
  /** Sub-folder under the scene (empty: directly under it, as the seed method's models are). */
  dir: string;
  /** File name of the model inside a version folder. */
  file: string;
  parse(buf: Buffer, where: string): T;
}

export function scenePrefix(scene: string, dir = ''): string {
  return `models/scenes/${scene}/${dir ? `${dir}/` : ''}`;
}

export function checkScene(scene: string): string {
  if (!SCENE_RE.test(scene))
    throw new SetupError(
      'InvalidScene',
      `scene name ${JSON.stringify(scene)} must be lowercase letters, digits, - or _`,
    );
  return scene;
}

/** A version folder that another fit created first (GCS precondition failed): take the next number. */
function isPreconditionFailed(err: unknown): boolean {
  return (err as { code?: number }).code === 412;
}

export class SceneStore<T> {
  private cache = new Map<string, { model: T; version: number }>();
  private latest = new Map<string, { version: number; at: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly bucket: string,
    private readonly format: SceneFormat<T>,
    /** How long a LATEST lookup is trusted. */
    private readonly latestTtlMs = 10_000,
  ) {}

  private prefix(scene: string): string {
    return scenePrefix(scene, this.format.dir);
  }

  /**
   * The version LATEST names, trusted for latestTtlMs (analyses ask per segment). `fresh` reads it from storage: a
   * refit must start from the version another worker's refit (or a rollback) just set, never from a cached one.
   */
  async latestVersion(scene: string, fresh = false): Promise<number | undefined> {
    const hit = this.latest.get(scene);
    if (!fresh && hit && Date.now() - hit.at < this.latestTtlMs) return hit.version;
    const f = this.storage.bucket(this.bucket).file(`${this.prefix(scene)}LATEST`);
    const [exists] = await f.exists();
    if (!exists) return undefined;
    const [buf] = await f.download();
    const version = Number(buf.toString('utf8').trim());
    if (!Number.isInteger(version) || version < 1)
      throw new SetupError(
        'SceneModelInvalid',
        `gs://${this.bucket}/${this.prefix(scene)}LATEST does not hold a version number`,
      );
    this.latest.set(scene, { version, at: Date.now() });
    return version;
  }

  /** The scene's current model (`fresh`: LATEST read from storage); SetupError('SceneModelMissing') when none was fitted. */
  async load(scene: string, opts: { fresh?: boolean } = {}): Promise<{ model: T; version: number }> {
    checkScene(scene);
    const version = await this.latestVersion(scene, opts.fresh);
    if (version === undefined) {
      throw new SetupError(
        'SceneModelMissing',
        `no scene model "${scene}" in gs://${this.bucket}/${this.prefix(scene)}: fit one with \`lookout fit --scene ${scene} <normal footage>\``,
      );
    }
    const key = `${scene}@${version}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const name = `${this.prefix(scene)}${version}/${this.format.file}`;
    const [buf] = await this.storage.bucket(this.bucket).file(name).download();
    const entry = { model: this.format.parse(buf, `gs://${this.bucket}/${name}`), version };
    this.cache.set(key, entry);
    return entry;
  }

  /**
   * Stores a new version and points LATEST at it. Two fits of one scene at once
   * must not write the same version: each version file is created with the
   * precondition "does not exist yet" (ifGenerationMatch 0), and the loser of a
   * race takes the next number.
   */
  async save(
    scene: string,
    data: Buffer,
    /** More files of the version (e.g. the normal set it was fitted on), written before LATEST moves to it. */
    extra: Record<string, Buffer> = {},
  ): Promise<{ version: number; uri: string }> {
    checkScene(scene);
    const b = this.storage.bucket(this.bucket);
    const prefix = this.prefix(scene);
    const [files] = await b.getFiles({ prefix });
    const versions = files
      .map((f) => Number(f.name.slice(prefix.length).split('/')[0]))
      .filter((v) => Number.isInteger(v) && v > 0);
    let version = versions.reduce((m, v) => Math.max(m, v), 0) + 1;
    const meta = { metadata: { 'lookout-derived': 'scene-model' } };
    for (let tries = 0; ; tries++) {
      const name = `${prefix}${version}/${this.format.file}`;
      try {
        await b.file(name).save(data, {
          resumable: false,
          contentType: 'application/octet-stream',
          metadata: meta,
          preconditionOpts: { ifGenerationMatch: 0 },
        });
        break;
      } catch (err) {
        if (!isPreconditionFailed(err) || tries >= 100) throw err;
        version++;
      }
    }
    for (const [file, bytes] of Object.entries(extra))
      await b
        .file(`${prefix}${version}/${file}`)
        .save(bytes, { resumable: false, contentType: 'application/octet-stream', metadata: meta });
    // LATEST only moves forward: a slower fit that took a lower number does not point analyses back at it.
    this.latest.delete(scene);
    const current = await this.latestVersion(scene).catch(() => undefined);
    if (current === undefined || version > current) {
      await b
        .file(`${prefix}LATEST`)
        .save(Buffer.from(`${version}\n`), { resumable: false, contentType: 'text/plain', metadata: meta });
      this.latest.set(scene, { version, at: Date.now() });
    }
    return { version, uri: `gs://${this.bucket}/${prefix}${version}/${this.format.file}` };
  }

  /** The stored versions of a scene, ascending. */
  async versions(scene: string): Promise<number[]> {
    checkScene(scene);
    const prefix = this.prefix(scene);
    const [files] = await this.storage.bucket(this.bucket).getFiles({ prefix });
    return [
      ...new Set(
        files
          .filter((f) => f.name.endsWith(`/${this.format.file}`))
          .map((f) => Number(f.name.slice(prefix.length).split('/')[0]))
          .filter((v) => Number.isInteger(v) && v > 0),
      ),
    ].sort((a, b) => a - b);
  }

  /** Scenes with a LATEST of this format. */
  async scenes(): Promise<string[]> {
    const [files] = await this.storage.bucket(this.bucket).getFiles({ prefix: 'models/scenes/' });
    const tail = `/${this.format.dir ? `${this.format.dir}/` : ''}LATEST`;
    return files
      .filter((f) => f.name.endsWith(tail))
      .map((f) => f.name.slice('models/scenes/'.length, -tail.length))
      .filter((s) => SCENE_RE.test(s))
      .sort();
  }

  /** A file of a stored version (e.g. its normal set), or null when the version has none. */
  async versionFile(scene: string, version: number, file: string): Promise<Buffer | null> {
    const f = this.storage.bucket(this.bucket).file(`${this.prefix(scene)}${version}/${file}`);
    const [exists] = await f.exists();
    if (!exists) return null;
    const [buf] = await f.download();
    return buf;
  }

  /**
   * Points LATEST at an existing version (rollback): analyses use it from then on (within the LATEST cache time);
   * every version stays stored, and the next fit or refit takes the next number above all of them.
   */
  async setLatest(scene: string, version: number): Promise<void> {
    const have = await this.versions(scene);
    if (!have.includes(version))
      throw new SetupError(
        'SceneVersionMissing',
        `scene ${scene} has no version ${version} (stored: ${have.join(', ') || 'none'})`,
      );
    await this.storage
      .bucket(this.bucket)
      .file(`${this.prefix(scene)}LATEST`)
      .save(Buffer.from(`${version}\n`), {
        resumable: false,
        contentType: 'text/plain',
        metadata: { metadata: { 'lookout-derived': 'scene-model' } },
      });
    this.latest.set(scene, { version, at: Date.now() });
  }
}
