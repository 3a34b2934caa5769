/**
 * A chip classifier from the model repository (task "chip-classifier", runtime/manifest.ts ChipClassifierSpec):
 * batches of inputs (feature vectors, or chip tensors [C, size, size]) in, one score per input out — the
 * positive class's probability, a sigmoid applied when the manifest says the output is a logit. The
 * decision is the manifest's threshold and labels, so a user changes neither code nor rows to plug one in.
 */
import * as ort from 'onnxruntime-node';
import type { Pool } from '../core/pipelines';
import { TransientError } from '../core/errors';
import type { ChipClassifierSpec, LocalModel, ModelManifest } from './manifest';
import { createSession, type LoadedSession } from './session';
import { timeBlocking } from './steps';

export interface ChipDecision {
  score: number;
  label: string;
  positive: boolean;
}

/** The manifest's decision for a score: labels[1] at or above the threshold, labels[0] below. */
export function decide(spec: Pick<ChipClassifierSpec, 'threshold' | 'labels'>, score: number): ChipDecision {
  const positive = score >= spec.threshold;
  return { score, label: spec.labels[positive ? 1 : 0], positive };
}

/** Score of one output row: the positive index's value, a sigmoid applied to a logit. */
export function scoreOf(spec: Pick<ChipClassifierSpec, 'output' | 'positiveIndex'>, row: ArrayLike<number>): number {
  const v = row[spec.positiveIndex ?? 0];
  if (v === undefined || !Number.isFinite(v))
    throw new RangeError(`classifier output has no finite value at index ${spec.positiveIndex ?? 0}`);
  return spec.output === 'logit' ? 1 / (1 + Math.exp(-v)) : v;
}

export class OnnxChipClassifier {
  readonly name: string;
  readonly version: number;
  readonly spec: ChipClassifierSpec;
  readonly executionProvider: string;
  /** Values per input (D for an embedding head, C x size x size for a pixel head). */
  readonly inputLength: number;
  private readonly inputDims: number[];

  private constructor(
    readonly manifest: ModelManifest,
    private readonly loaded: LoadedSession,
  ) {
    if (!manifest.classifier) throw new Error(`model ${manifest.name}: not a chip classifier (task ${manifest.task})`);
    this.name = manifest.name;
    this.version = manifest.version;
    this.spec = manifest.classifier;
    this.executionProvider = loaded.executionProvider;
    const dims = manifest.inputs[0].dims.slice(1);
    if (dims.length === 0 || dims.some((d) => !(d > 0)))
      throw new Error(
        `model ${manifest.name}: input dims after the batch must be fixed, got [${manifest.inputs[0].dims.join(',')}]`,
      );
    if (this.spec.input === 'pixels') {
      const want = [this.spec.bands!.length, this.spec.size!, this.spec.size!];
      if (dims.join(',') !== want.join(','))
        throw new Error(
          `model ${manifest.name}: input [${dims.join(',')}] does not match classifier bands x size x size [${want.join(',')}]`,
        );
    }
    this.inputDims = dims;
    this.inputLength = dims.reduce((a, b) => a * b, 1);
  }

  static async load(model: LocalModel, opts: { pool: Pool; threads?: number }): Promise<OnnxChipClassifier> {
    const loaded = await createSession(model.modelPath, { pool: opts.pool, threads: opts.threads });
    return new OnnxChipClassifier(model.manifest, loaded);
  }

  /** Scores of many inputs, run in batches of the manifest's maxBatchSize. */
  async classify(inputs: Float32Array[]): Promise<ChipDecision[]> {
    const out: ChipDecision[] = [];
    const step = Math.max(1, this.manifest.maxBatchSize);
    for (let i = 0; i < inputs.length; i += step) {
      const batch = inputs.slice(i, i + step);
      const data = new Float32Array(this.inputLength * batch.length);
      batch.forEach((x, j) => {
        if (x.length !== this.inputLength)
          throw new RangeError(`${this.name}: input of ${x.length} values, expected ${this.inputLength}`);
        data.set(x, j * this.inputLength);
      });
      let res: ort.InferenceSession.OnnxValueMapType;
      try {
        res = await timeBlocking('inference', () =>
          this.loaded.session.run({
            [this.manifest.inputs[0].name]: new ort.Tensor('float32', data, [batch.length, ...this.inputDims]),
          }),
        );
      } catch (err) {
        throw new TransientError(
          'InferenceError',
          `onnxruntime run failed for ${this.name}: ${(err as Error).message}`,
          err,
        );
      }
      const t = res[this.manifest.outputs[0].name] as ort.Tensor;
      const all = t.data as Float32Array;
      const per = all.length / batch.length;
      for (let j = 0; j < batch.length; j++)
        out.push(decide(this.spec, scoreOf(this.spec, all.subarray(j * per, (j + 1) * per))));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.loaded.session.release();
  }
}
