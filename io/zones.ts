/**
 * A scene's zones and rules (runtime/zones.ts) in the results bucket, versioned like its fitted models
 * (io/scenes.ts): gs://<results bucket>/models/scenes/<scene>/zones/<version>/zones.json and …/zones/LATEST.
 * Every save is a new version (a clear too: an empty list), so what a past alert was judged against stays
 * readable and its row names the version (`zones_version`). Written by `lookout zones set|clear` and the review
 * UI's zones editor, read by the cctv-attributes workers at each video segment.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { Storage } from '@google-cloud/storage';
import type { LookoutConfig } from '../config';
import { latestView, query } from './query';
import { SetupError } from '../core/errors';
import { validateZones, type ZonesDoc } from '../runtime/zones';
import { SceneStore, checkScene, scenePrefix, type SceneFormat } from './scenes';

export const ZONES_FORMAT: SceneFormat<ZonesDoc> = {
  dir: 'zones',
  file: 'zones.json',
  parse(buf, where) {
    try {
      // Classes were checked against the detector when the file was saved; here the structure is.
      return validateZones(JSON.parse(buf.toString('utf8')));
    } catch (err) {
      throw new SetupError('InvalidZones', `${where}: ${(err as Error).message}`, err);
    }
  },
};

export function zonesStore(storage: Storage, resultsBucket: string): SceneStore<ZonesDoc> {
  return new SceneStore(storage, resultsBucket, ZONES_FORMAT);
}

/** A scene's current zones and their version; undefined when none were ever set. */
export async function loadZones(
  store: SceneStore<ZonesDoc>,
  scene: string,
): Promise<{ doc: ZonesDoc; version: number } | undefined> {
  checkScene(scene);
  if ((await store.latestVersion(scene)) === undefined) return undefined;
  const { model, version } = await store.load(scene);
  return { doc: model, version };
}

/** Validates (classes: what the scene's detector reports) and stores a new version. */
export async function saveZones(
  store: SceneStore<ZonesDoc>,
  scene: string,
  input: unknown,
  classes: readonly string[] | undefined,
): Promise<{ doc: ZonesDoc; version: number; uri: string }> {
  checkScene(scene);
  const doc = validateZones(input, { classes });
  const saved = await store.save(scene, Buffer.from(`${JSON.stringify(doc, null, 2)}\n`));
  return { doc, ...saved };
}

/** Where a scene's zones live (for messages). */
export function zonesUri(resultsBucket: string, scene: string): string {
  return `gs://${resultsBucket}/${scenePrefix(scene, ZONES_FORMAT.dir)}`;
}

/** Scenes that have something stored (a fitted model or zones), by name. */
export async function sceneNames(storage: Storage, cfg: LookoutConfig): Promise<string[]> {
  const [files] = await storage.bucket(cfg.gcs.resultsBucket).getFiles({ prefix: 'models/scenes/' });
  return [...new Set(files.map((f) => f.name.split('/')[2]).filter((s): s is string => !!s))].sort();
}

/**
 * A video of the scene's camera to draw its zones on: its normal footage (what `lookout fit` uploads under
 * normal/<scene>/ in the inbox bucket), else the newest video analysed with this scene; null when there is none.
 */
export async function sceneVideo(
  storage: Storage,
  bq: BigQuery,
  cfg: LookoutConfig,
  scene: string,
): Promise<{ bucket: string; name: string; generation: string } | null> {
  checkScene(scene);
  const [files] = await storage.bucket(cfg.gcs.bucket).getFiles({ prefix: `normal/${scene}/` });
  const f = files.find((x) => /\.(avi|mp4|mkv|mov|webm|ts|m4v)$/i.test(x.name));
  if (f) return { bucket: cfg.gcs.bucket, name: f.name, generation: String(f.metadata.generation) };
  const [row] = await query<{ bucket: string; name: string; generation: string }>(
    bq,
    `SELECT bucket, name, generation FROM ${latestView(cfg)}
     WHERE JSON_VALUE(details, '$.scene') = @scene AND status = 'ok' AND JSON_VALUE(details, '$.frame') IS NOT NULL
     ORDER BY recorded_at DESC LIMIT 1`,
    { scene },
  );
  return row ?? null;
}
