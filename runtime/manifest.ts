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
  /** task "chip-classifier": what the head takes and what its output means (see ChipClassifierSpec). */
  classifier?: ChipClassifierSpec;
  provenance: Record<string, unknown>;
  license: string;
}

/**
 * A user's own chip classifier, plugged into a pipeline by its manifest alone (task "chip-classifier"): the
 * raster pipeline runs every such model of the repository whose `pipelines` names it, and writes its score
 * and label into each chip's row. The ONNX model's first input and output are used.
 */
export interface ChipClassifierSpec {
  /** Pipelines that can run this classifier on every chip (e.g. ["raster"]). */
  pipelines: string[];
  /**
   * Run on every raster of those pipelines (default true: drop the folder in and it runs); false: only on rasters
   * whose metadata lookout-classifier names it (the repository's example heads are such).
   */
  byDefault?: boolean;
  /**
   * What the model's input is:
   *  - "embedding": the feature vector [N, D] of the chip's after image from `backbone` (a model of the same
   *    repository; the pipeline computes it anyway for change and novelty, so the head is cheap);
   *  - "pixels": the chip itself [N, C, size, size], channels `bands` (band names or roles: red, green, blue,
   *    nir, swir1, swir2, or "gray" = mean of red, green, blue), each stretched 2-98 % per acquisition to [0, 1]
   *    and resized bilinearly to size x size (seed 003's damage CNN: ["gray"], 128).
   */
  input: 'embedding' | 'pixels';
  backbone?: string;
  bands?: string[];
  size?: number;
  /** The output's meaning: a probability in [0, 1], or a logit (a sigmoid is applied). */
  output: 'probability' | 'logit';
  /** Index of the positive class's value in the output's last dimension (default 0). */
  positiveIndex?: number;
  /** Chips scoring at or above it get labels[1], the others labels[0]. */
  threshold: number;
  labels: [string, string];
  /**
   * Two-stage placement: the pool that computes the backbone's features (with the chip reading, indices,
   * change) and the pool that runs this head. Absent: both on the CPU pool, in one activity.
   */
  placement?: { backbone: 'cpu' | 'gpu'; head: 'cpu' | 'gpu' };
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
  need(
    typeof m.name === 'string' && /^[a-z0-9][a-z0-9_-]*$/.test(m.name),
    '"name" must be lowercase letters, digits, - or _',
  );
  if (folderName !== undefined)
    need(m.name === folderName, `"name" is ${JSON.stringify(m.name)} but the folder is ${JSON.stringify(folderName)}`);
  need(Number.isInteger(m.version) && (m.version as number) >= 1, '"version" must be an integer >= 1');
  need(typeof m.task === 'string', '"task" is required');
  need(m.platform === 'onnxruntime', '"platform" must be "onnxruntime"');
  need(
    typeof m.file === 'string' && m.file.endsWith('.onnx') && !m.file.includes('/'),
    '"file" must be an .onnx file name',
  );
  for (const key of ['inputs', 'outputs'] as const) {
    const list = m[key];
    need(Array.isArray(list) && list.length > 0, `"${key}" must be a non-empty list`);
    for (const t of list as TensorSpec[]) {
      need(typeof t.name === 'string' && t.name.length > 0, `every entry of "${key}" needs a name`);
      need(
        ['float32', 'uint8', 'int32', 'int64'].includes(t.dtype),
        `${key} "${t.name}": unsupported dtype ${JSON.stringify(t.dtype)}`,
      );
      need(
        Array.isArray(t.dims) && t.dims.every((d) => Number.isInteger(d)),
        `${key} "${t.name}": "dims" must be integers (-1 for dynamic)`,
      );
    }
  }
  need(Number.isInteger(m.maxBatchSize) && (m.maxBatchSize as number) >= 1, '"maxBatchSize" must be an integer >= 1');
  if (m.dynamicBatching) {
    need(
      Number.isInteger(m.dynamicBatching.maxBatchSize) && m.dynamicBatching.maxBatchSize >= 1,
      'dynamicBatching.maxBatchSize must be >= 1',
    );
    need(
      typeof m.dynamicBatching.maxQueueDelayMs === 'number' && m.dynamicBatching.maxQueueDelayMs >= 0,
      'dynamicBatching.maxQueueDelayMs must be >= 0',
    );
  }
  need(typeof m.license === 'string' && m.license.length > 0, '"license" is required');
  need(typeof m.provenance === 'object' && m.provenance !== null, '"provenance" is required');
  if (m.labels !== undefined)
    need(Array.isArray(m.labels) && m.labels.every((l) => typeof l === 'string'), '"labels" must be strings');
  if (m.task === 'chip-classifier' || m.classifier !== undefined) {
    const c = m.classifier as Partial<ChipClassifierSpec> | undefined;
    need(m.task === 'chip-classifier', '"classifier" belongs to task "chip-classifier"');
    need(typeof c === 'object' && c !== null, 'task "chip-classifier" needs a "classifier" object');
    const k = c as Partial<ChipClassifierSpec>;
    need(
      Array.isArray(k.pipelines) && k.pipelines.length > 0 && k.pipelines.every((p) => typeof p === 'string'),
      'classifier.pipelines must name at least one pipeline',
    );
    need(k.input === 'embedding' || k.input === 'pixels', 'classifier.input must be "embedding" or "pixels"');
    need(k.byDefault === undefined || typeof k.byDefault === 'boolean', 'classifier.byDefault must be true or false');
    if (k.input === 'embedding')
      need(
        typeof k.backbone === 'string' && /^[a-z0-9][a-z0-9_-]*$/.test(k.backbone),
        'classifier.backbone must name the model whose features the head takes',
      );
    if (k.input === 'pixels') {
      need(
        Array.isArray(k.bands) && k.bands.length >= 1 && k.bands.every((b) => typeof b === 'string'),
        'classifier.bands must name the input channels (band names or roles, or "gray")',
      );
      need(
        Number.isInteger(k.size) && (k.size as number) >= 8 && (k.size as number) <= 1024,
        'classifier.size must be a whole number from 8 to 1024',
      );
    }
    need(k.output === 'probability' || k.output === 'logit', 'classifier.output must be "probability" or "logit"');
    need(
      k.positiveIndex === undefined || (Number.isInteger(k.positiveIndex) && k.positiveIndex >= 0),
      'classifier.positiveIndex must be a whole number >= 0',
    );
    need(typeof k.threshold === 'number' && Number.isFinite(k.threshold), 'classifier.threshold must be a number');
    need(
      Array.isArray(k.labels) && k.labels.length === 2 && k.labels.every((l) => typeof l === 'string' && l.length > 0),
      'classifier.labels must be two names: [below threshold, at or above]',
    );
    if (k.placement !== undefined) {
      const pools = ['cpu', 'gpu'];
      need(
        typeof k.placement === 'object' &&
          k.placement !== null &&
          pools.includes(k.placement.backbone) &&
          pools.includes(k.placement.head),
        'classifier.placement must be { backbone: "cpu"|"gpu", head: "cpu"|"gpu" }',
      );
    }
  }
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

/** Chip classifiers of a local repository that the pipeline runs (task "chip-classifier", `pipelines` naming it), by name. */
export function chipClassifiersFor(repo: string, pipeline: string): LocalModel[] {
  const out: LocalModel[] = [];
  for (const name of listLocalModels(repo)) {
    let raw: { task?: unknown; classifier?: { pipelines?: unknown } };
    try {
      raw = JSON.parse(fs.readFileSync(path.join(repo, name, 'manifest.json'), 'utf8')) as typeof raw;
    } catch {
      continue; // loadLocalModel reports a broken manifest when the model is asked for by name
    }
    if (raw.task !== 'chip-classifier') continue;
    const m = loadLocalModel(repo, name); // a declared classifier with a bad manifest fails loudly
    if (m.manifest.classifier?.pipelines.includes(pipeline)) out.push(m);
  }
  return out;
}

/** Loads a model's manifest from a local repository and checks its ONNX file exists. */
export function loadLocalModel(repo: string, name: string): LocalModel {
  const dir = path.join(repo, name);
  const manifestPath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) {
    const known = listLocalModels(repo);
    throw new ManifestError(
      manifestPath,
      `model "${name}" not found in ${repo} (known: ${known.join(', ') || 'none'})`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new ManifestError(manifestPath, `invalid JSON: ${(err as Error).message}`);
  }
  const manifest = validateManifest(raw, manifestPath, name);
  const modelPath = path.join(dir, String(manifest.version), manifest.file);
  if (!fs.existsSync(modelPath))
    throw new ManifestError(manifestPath, `version ${manifest.version} has no file ${modelPath}`);
  return { manifest, modelPath, dir };
}
