/**
 * Model repository in the style of NVIDIA Triton:
 *   models/<name>/manifest.json
 *   models/<name>/<version>/<file>.onnx
 * The folder name is the model name. A repository can also live in a bucket
 * (gs://bucket/models/<name>/manifest.json, .../<version>/<file>), so a worker
 * picks up a new model without a rebuild.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface TensorSpec {
  name: string;
  dtype: 'float32' | 'uint8' | 'int32' | 'int64';
  /** -1 marks a dynamic dimension. */
  dims: number[];
  layout?: 'NHWC' | 'NCHW' | string;
  meaning?: string;
}

export interface Preprocessing {
  width: number;
  height: number;
  resize: 'fill' | 'letterbox';
  channels: 'RGB' | 'BGR' | 'GRAY';
  scale: number;
  mean: number[];
  std: number[];
}

export interface ModelManifest {
  name: string;
  version: number;
  task: string;
  platform: 'onnxruntime';
  file: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  preprocessing?: Preprocessing;
  decoding?: Record<string, unknown> & { type: string };
  labels?: string[];
  maxBatchSize: number;
  dynamicBatching?: { maxBatchSize: number; maxQueueDelayMs: number };
  /**
   * Named detector settings (runtime/detector.ts DetectorOptions) a pipeline can ask for by name, e.g.
   * "cctv": chosen by measurement for fixed-camera footage (docs/eval/detector.md). Checked when a detector
   * loads them.
   */
  detectionProfiles?: Record<string, Record<string, unknown>>;
  provenance: Record<string, unknown>;
  license: string;
}

export class ManifestError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'ManifestError';
  }
}

/** Validates a parsed manifest; `where` names the file in errors. */
export function validateManifest(raw: unknown, where: string, folderName?: string): ModelManifest {
  const m = raw as Partial<ModelManifest>;
  const need = (cond: boolean, msg: string) => {
    if (!cond) throw new ManifestError(where, msg);
  };
  need(typeof m === 'object' && m !== null, 'not a JSON object');
  need(typeof m.name === 'string' && /^[a-z0-9][a-z0-9_-]*$/.test(m.name), '"name" must be lowercase letters, digits, - or _');
  if (folderName !== undefined) need(m.name === folderName, `"name" is ${JSON.stringify(m.name)} but the folder is ${JSON.stringify(folderName)}`);
  need(Number.isInteger(m.version) && (m.version as number) >= 1, '"version" must be an integer >= 1');
  need(typeof m.task === 'string', '"task" is required');
  need(m.platform === 'onnxruntime', '"platform" must be "onnxruntime"');
  need(typeof m.file === 'string' && m.file.endsWith('.onnx') && !m.file.includes('/'), '"file" must be an .onnx file name');
  for (const key of ['inputs', 'outputs'] as const) {
    const list = m[key];
    need(Array.isArray(list) && list.length > 0, `"${key}" must be a non-empty list`);
    for (const t of list as TensorSpec[]) {
      need(typeof t.name === 'string' && t.name.length > 0, `every entry of "${key}" needs a name`);
      need(['float32', 'uint8', 'int32', 'int64'].includes(t.dtype), `${key} "${t.name}": unsupported dtype ${JSON.stringify(t.dtype)}`);
      need(Array.isArray(t.dims) && t.dims.every((d) => Number.isInteger(d)), `${key} "${t.name}": "dims" must be integers (-1 for dynamic)`);
    }
  }
  need(Number.isInteger(m.maxBatchSize) && (m.maxBatchSize as number) >= 1, '"maxBatchSize" must be an integer >= 1');
  if (m.dynamicBatching) {
    need(Number.isInteger(m.dynamicBatching.maxBatchSize) && m.dynamicBatching.maxBatchSize >= 1, 'dynamicBatching.maxBatchSize must be >= 1');
    need(typeof m.dynamicBatching.maxQueueDelayMs === 'number' && m.dynamicBatching.maxQueueDelayMs >= 0, 'dynamicBatching.maxQueueDelayMs must be >= 0');
  }
  need(typeof m.license === 'string' && m.license.length > 0, '"license" is required');
  need(typeof m.provenance === 'object' && m.provenance !== null, '"provenance" is required');
  if (m.labels !== undefined) need(Array.isArray(m.labels) && m.labels.every((l) => typeof l === 'string'), '"labels" must be strings');
  return m as ModelManifest;
}

export interface LocalModel {
  manifest: ModelManifest;
  /** Absolute path of the ONNX file. */
  modelPath: string;
  dir: string;
}

/** Default repository: the project's models/ folder. */
export function defaultModelRepo(projectRoot: string): string {
  return path.join(projectRoot, 'models');
}

/** Lists the models of a local repository (folders holding a manifest.json). */
export function listLocalModels(repo: string): string[] {
  if (!fs.existsSync(repo)) return [];
  return fs
    .readdirSync(repo, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(repo, d.name, 'manifest.json')))
    .map((d) => d.name)
    .sort();
}

/** Loads a model's manifest from a local repository and checks its ONNX file exists. */
export function loadLocalModel(repo: string, name: string): LocalModel {
  const dir = path.join(repo, name);
  const manifestPath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) {
    const known = listLocalModels(repo);
    throw new ManifestError(manifestPath, `model "${name}" not found in ${repo} (known: ${known.join(', ') || 'none'})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new ManifestError(manifestPath, `invalid JSON: ${(err as Error).message}`);
  }
  const manifest = validateManifest(raw, manifestPath, name);
  const modelPath = path.join(dir, String(manifest.version), manifest.file);
  if (!fs.existsSync(modelPath)) throw new ManifestError(manifestPath, `version ${manifest.version} has no file ${modelPath}`);
  return { manifest, modelPath, dir };
}
