/**
 * Embedding model handler (the appearance and motion encoders, ImageNet backbones): batches of
 * channels x size x size inputs (1 or 3 channels, NCHW) in, one latent vector per input out.
 * Concurrent requests are gathered by the dynamic batcher, bounded by the
 * manifest's dynamicBatching settings.
 */
import * as ort from 'onnxruntime-node';
import type { Pool } from '../config';
import { TransientError } from '../core/errors';
import { DynamicBatcher, type BatchOptions } from './batcher';
import type { LocalModel, ModelManifest } from './manifest';
import { createSession, type LoadedSession } from './session';

export class OnnxEmbedder {
  readonly name: string;
  readonly version: number;
  readonly executionProvider: string;
  readonly inputSize: number;
  /** Input channels: 1, or 3 (RGB, planar: an input is C x S x S). */
  readonly channels: number;
  readonly latentSize: number;
  private readonly batcher: DynamicBatcher<Float32Array, Float32Array>;

  private constructor(
    readonly manifest: ModelManifest,
    private readonly loaded: LoadedSession,
    batch: BatchOptions,
  ) {
    this.name = manifest.name;
    this.version = manifest.version;
    this.executionProvider = loaded.executionProvider;
    const dims = manifest.inputs[0].dims;
    // One channel (the CCTV encoders) or three (ImageNet backbones such as MobileNetV2), NCHW, square.
    if (dims.length !== 4 || (dims[1] !== 1 && dims[1] !== 3) || dims[2] !== dims[3]) throw new Error(`model ${manifest.name}: expected input [N,1,S,S] or [N,3,S,S], got [${dims.join(',')}]`);
    this.channels = dims[1];
    this.inputSize = dims[2];
    const out = manifest.outputs[0].dims;
    this.latentSize = out[out.length - 1];
    this.batcher = new DynamicBatcher(batch, (items) => this.runBatch(items));
  }

  static async load(model: LocalModel, opts: { pool: Pool; threads?: number; batch?: Partial<BatchOptions> }): Promise<OnnxEmbedder> {
    const loaded = await createSession(model.modelPath, { pool: opts.pool, threads: opts.threads });
    const db = model.manifest.dynamicBatching ?? { maxBatchSize: 1, maxQueueDelayMs: 0 };
    return new OnnxEmbedder(model.manifest, loaded, { maxBatchSize: Math.min(db.maxBatchSize, model.manifest.maxBatchSize), maxQueueDelayMs: db.maxQueueDelayMs, ...opts.batch });
  }

  private async runBatch(items: Float32Array[]): Promise<Float32Array[]> {
    const per = this.channels * this.inputSize * this.inputSize;
    const data = new Float32Array(per * items.length);
    items.forEach((it, i) => {
      if (it.length !== per) throw new Error(`input of ${it.length} values, expected ${per}`);
      data.set(it, i * per);
    });
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.loaded.session.run({ [this.manifest.inputs[0].name]: new ort.Tensor('float32', data, [items.length, this.channels, this.inputSize, this.inputSize]) });
    } catch (err) {
      throw new TransientError('InferenceError', `onnxruntime run failed for ${this.name}: ${(err as Error).message}`, err);
    }
    const t = out[this.manifest.outputs[0].name] as ort.Tensor;
    const all = t.data as Float32Array;
    const d = all.length / items.length;
    return items.map((_, i) => all.slice(i * d, (i + 1) * d));
  }

  /** Embeds one input; returns the latent and the batch it ran in. */
  embed(input: Float32Array): Promise<{ output: Float32Array; batchSize: number; inferenceMs: number }> {
    return this.batcher.submit(input);
  }

  async close(): Promise<void> {
    await this.loaded.session.release();
  }
}
