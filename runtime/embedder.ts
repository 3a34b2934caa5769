/**
 * Embedding model handler: batches of [C, H, W] inputs in (C = 1 for the seed's
 * auto-encoders, C = 3 for an ImageNet backbone such as MobileNetV2), one
 * vector per input out. Concurrent requests are gathered by the dynamic
 * batcher, bounded by the manifest's dynamicBatching settings.
 *
 * RgbCropEmbedder puts the manifest's preprocessing in front of it: boxes of
 * an RGB frame -> crops -> normalised CHW tensors -> vectors.
 */
import * as ort from 'onnxruntime-node';
import type { Pool } from '../config';
import { TransientError } from '../core/errors';
import { DynamicBatcher, type BatchOptions } from './batcher';
import type { LocalModel, ModelManifest, Preprocessing } from './manifest';
import { cropRgbTensor } from '../media/vision';
import { createSession, type LoadedSession } from './session';
import { timeBlocking, timeSync } from './steps';

export class OnnxEmbedder {
  readonly name: string;
  readonly version: number;
  readonly executionProvider: string;
  /** Height of the (square, for the seed's encoders) input; see also channels / inputHeight / inputWidth. */
  readonly inputSize: number;
  readonly channels: number;
  readonly inputHeight: number;
  readonly inputWidth: number;
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
    if (dims.length !== 4 || (dims[1] !== 1 && dims[1] !== 3) || !(dims[2] > 0 && dims[3] > 0))
      throw new Error(`model ${manifest.name}: expected input [N,1|3,H,W], got [${dims.join(',')}]`);
    this.channels = dims[1];
    this.inputHeight = dims[2];
    this.inputWidth = dims[3];
    this.inputSize = dims[2];
    const out = manifest.outputs[0].dims;
    this.latentSize = out[out.length - 1];
    this.batcher = new DynamicBatcher(batch, (items) => this.runBatch(items));
  }

  static async load(
    model: LocalModel,
    opts: { pool: Pool; threads?: number; batch?: Partial<BatchOptions> },
  ): Promise<OnnxEmbedder> {
    const loaded = await createSession(model.modelPath, { pool: opts.pool, threads: opts.threads });
    const db = model.manifest.dynamicBatching ?? { maxBatchSize: 1, maxQueueDelayMs: 0 };
    return new OnnxEmbedder(model.manifest, loaded, {
      maxBatchSize: Math.min(db.maxBatchSize, model.manifest.maxBatchSize),
      maxQueueDelayMs: db.maxQueueDelayMs,
      ...opts.batch,
    });
  }

  private async runBatch(items: Float32Array[]): Promise<Float32Array[]> {
    const per = this.channels * this.inputHeight * this.inputWidth;
    const data = new Float32Array(per * items.length);
    items.forEach((it, i) => {
      if (it.length !== per) throw new Error(`input of ${it.length} values, expected ${per}`);
      data.set(it, i * per);
    });
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await timeBlocking('inference', () =>
        this.loaded.session.run({
          [this.manifest.inputs[0].name]: new ort.Tensor('float32', data, [
            items.length,
            this.channels,
            this.inputHeight,
            this.inputWidth,
          ]),
        }),
      );
    } catch (err) {
      throw new TransientError(
        'InferenceError',
        `onnxruntime run failed for ${this.name}: ${(err as Error).message}`,
        err,
      );
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

/**
 * Appearance vectors for boxes of an RGB frame with an ImageNet-style backbone: each box (grown by `margin`
 * of its size for context) is resized to the model input with the manifest's scale/mean/std, then embedded;
 * the dynamic batcher gathers the boxes of a frame into batches.
 */
export class RgbCropEmbedder {
  private readonly pre: Preprocessing;

  constructor(
    readonly embedder: OnnxEmbedder,
    private readonly margin = 0.1,
  ) {
    const pre = embedder.manifest.preprocessing;
    if (embedder.channels !== 3)
      throw new Error(`model ${embedder.name}: RgbCropEmbedder needs a 3-channel input, got ${embedder.channels}`);
    if (!pre || pre.channels === 'GRAY')
      throw new Error(
        `model ${embedder.name}: manifest needs RGB or BGR preprocessing (width, height, scale, mean, std)`,
      );
    if (pre.width !== embedder.inputWidth || pre.height !== embedder.inputHeight)
      throw new Error(
        `model ${embedder.name}: preprocessing ${pre.width}x${pre.height} does not match the input ${embedder.inputWidth}x${embedder.inputHeight}`,
      );
    this.pre = pre;
  }

  async embedCrops(
    frame: { rgb: Buffer; width: number; height: number },
    boxes: ReadonlyArray<{ x: number; y: number; w: number; h: number }>,
  ): Promise<Float32Array[]> {
    const tensors = timeSync('crops', () =>
      boxes.map((b) => cropRgbTensor(frame.rgb, frame.width, frame.height, b, this.pre, this.margin)),
    );
    const outs = await Promise.all(tensors.map((t) => this.embedder.embed(t)));
    return outs.map((o) => o.output);
  }
}
