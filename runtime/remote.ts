/**
 * A model repository in a bucket: gs://BUCKET/PREFIX/<name>/manifest.json and
 * gs://BUCKET/PREFIX/<name>/<version>/<file>.onnx, the same layout as models/.
 * A worker started with --model-repo gs://… copies the models it needs into a
 * local cache (.lookout/model-cache) and loads them from there, so a deployed
 * worker picks up a new model version without a rebuild.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { ManifestError, validateManifest } from './manifest';

export function parseRepoUri(uri: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:\/(.*?))?\/?$/.exec(uri);
  if (!m) throw new Error(`not a gs:// model repository: ${JSON.stringify(uri)} (expected gs://bucket/models)`);
  return { bucket: m[1], prefix: m[2] ? `${m[2]}/` : '' };
}

/** Copies the named models' manifests and current versions from the bucket into cacheDir; returns cacheDir. */
export async function syncModels(storage: Storage, uri: string, names: string[], cacheDir: string): Promise<string> {
  const { bucket, prefix } = parseRepoUri(uri);
  const b = storage.bucket(bucket);
  for (const name of names) {
    const manifestName = `${prefix}${name}/manifest.json`;
    const [exists] = await b.file(manifestName).exists();
    if (!exists) throw new ManifestError(`gs://${bucket}/${manifestName}`, `model "${name}" not found in ${uri}`);
    const [raw] = await b.file(manifestName).download();
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new ManifestError(`gs://${bucket}/${manifestName}`, `invalid JSON: ${(err as Error).message}`);
    }
    const manifest = validateManifest(parsed, `gs://${bucket}/${manifestName}`, name);
    const dir = path.join(cacheDir, name);
    const modelRel = path.join(String(manifest.version), manifest.file);
    const local = path.join(dir, modelRel);
    const remote = b.file(`${prefix}${name}/${manifest.version}/${manifest.file}`);
    const [meta] = await remote.getMetadata().catch((err: { code?: number }) => {
      throw new ManifestError(
        `gs://${bucket}/${manifestName}`,
        err.code === 404 ? `version ${manifest.version} has no ${manifest.file} in the bucket` : String(err),
      );
    });
    fs.mkdirSync(path.dirname(local), { recursive: true });
    const stamp = `${local}.md5`;
    const fresh =
      fs.existsSync(local) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === String(meta.md5Hash);
    if (!fresh) {
      await remote.download({ destination: `${local}.part` });
      fs.renameSync(`${local}.part`, local);
      fs.writeFileSync(stamp, String(meta.md5Hash));
    }
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  }
  return cacheDir;
}

/**
 * Chip classifiers of a bucket repository that one of `pipelines` runs (task "chip-classifier", `classifier.pipelines`):
 * a user plugs one in by publishing its folder, so a worker with a gs:// repository must find them by their
 * manifests, not only copy the models its pipelines name.
 */
export async function chipClassifierNames(storage: Storage, uri: string, pipelines: string[]): Promise<string[]> {
  const { bucket, prefix } = parseRepoUri(uri);
  const [files] = await storage.bucket(bucket).getFiles({ prefix });
  const out: string[] = [];
  for (const f of files) {
    if (!f.name.endsWith('/manifest.json')) continue;
    const name = f.name.slice(prefix.length, -'/manifest.json'.length);
    if (!name || name.includes('/')) continue;
    let raw: { task?: unknown; classifier?: { pipelines?: unknown } };
    try {
      raw = JSON.parse((await f.download())[0].toString('utf8')) as typeof raw;
    } catch {
      continue; // syncModels reports a broken manifest if the model is asked for by name
    }
    const runs = raw.classifier?.pipelines;
    if (raw.task === 'chip-classifier' && Array.isArray(runs) && runs.some((p) => pipelines.includes(String(p))))
      out.push(name);
  }
  return out.sort();
}

/** What a worker with a bucket repository copies: its pipelines' models and the chip classifiers published for them. */
export async function syncPipelineModels(
  storage: Storage,
  uri: string,
  pipelines: string[],
  pipelineModels: string[],
  cacheDir: string,
): Promise<{ dir: string; names: string[] }> {
  const names = [...new Set([...pipelineModels, ...(await chipClassifierNames(storage, uri, pipelines))])];
  return { dir: await syncModels(storage, uri, names, cacheDir), names };
}

/** Uploads a local model folder (manifest + current version) to a bucket repository. */
export async function publishModel(storage: Storage, localRepo: string, name: string, uri: string): Promise<string> {
  const { bucket, prefix } = parseRepoUri(uri);
  const dir = path.join(localRepo, name);
  const manifest = validateManifest(
    JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')),
    path.join(dir, 'manifest.json'),
    name,
  );
  const b = storage.bucket(bucket);
  const meta = { metadata: { 'lookout-derived': 'model' } };
  await b.upload(path.join(dir, String(manifest.version), manifest.file), {
    destination: `${prefix}${name}/${manifest.version}/${manifest.file}`,
    resumable: false,
    metadata: meta,
  });
  await b.upload(path.join(dir, 'manifest.json'), {
    destination: `${prefix}${name}/manifest.json`,
    resumable: false,
    contentType: 'application/json',
    metadata: meta,
  });
  return `gs://${bucket}/${prefix}${name}/${manifest.version}/${manifest.file}`;
}
