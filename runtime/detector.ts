/**
 * Detection model handler, in the spirit of Apache Beam's RunInference:
 * load() once, then preprocess -> batched inference -> postprocess per request.
 * Everything model-specific (input size, layout, normalisation, output
 * decoding, labels) comes from the manifest.
 */
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import type { Pool } from '../config';
import { LookoutError, TransientError } from '../core/errors';
import type { DecodedImage } from '../media/image';
import type { Box } from '../core/types';
import { DynamicBatcher, type BatchOptions } from './batcher';
import type { LocalModel, ModelManifest, Preprocessing } from './manifest';
import { nms } from './nms';
import { createSession, type LoadedSession } from './session';

export interface DetectResult {
  boxes: Box[];
  inferenceMs: number;
  batchSize: number;
  queueMs: number;
}

export interface Detector {
  name: string;
  version: number;
  executionProvider: string;
  detect(img: DecodedImage): Promise<DetectResult>;
  close(): Promise<void>;
}

export interface NanodetDecoding {
  type: 'nanodet';
  strides: number[];
  regMax: number;
  numClasses: number;
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections: number;
}

/** Resizes raw RGB to the model's input and lays it out as float32 (NCHW or NHWC) with scale/mean/std. */
export async function preprocess(img: DecodedImage, pre: Preprocessing, layout: string): Promise<Float32Array> {
  const { width: W, height: H } = pre;
  const resized = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(W, H, { fit: pre.resize === 'letterbox' ? 'contain' : 'fill', background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer();
  const out = new Float32Array(3 * W * H);
  const order = pre.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const plane = W * H;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = (resized[p * 3 + order[c]] * pre.scale - pre.mean[c]) / pre.std[c];
      if (layout === 'NCHW') out[c * plane + p] = v;
      else out[p * 3 + c] = v;
    }
  }
  return out;
}

/**
 * NanoDet (GFL head) decoding. For stride S, cell i: col = i % (inW/S), row = floor(i / (inW/S)),
 * centre = ((col + 0.5) S, (row + 0.5) S); each side's distance = S * E[bin] under softmax over
 * regMax + 1 bins; box = (cx - l, cy - t, cx + r, cy + b), clipped, scaled to the image.
 */
export function decodeNanodet(
  outputs: Record<string, { data: Float32Array; offset: number }>,
  dec: NanodetDecoding,
  inputSize: { width: number; height: number },
  image: { width: number; height: number },
  labels: string[],
): Box[] {
  const bins = dec.regMax + 1;
  const candidates: Box[] = [];
  const sx = image.width / inputSize.width;
  const sy = image.height / inputSize.height;
  const dist = new Float64Array(4);
  for (const S of dec.strides) {
    const scores = outputs[`scores_s${S}`];
    const dists = outputs[`dist_s${S}`];
    if (!scores || !dists) throw new Error(`model output scores_s${S}/dist_s${S} missing`);
    const cols = Math.ceil(inputSize.width / S);
    const rows = Math.ceil(inputSize.height / S);
    const cells = cols * rows;
    for (let i = 0; i < cells; i++) {
      const sBase = scores.offset + i * dec.numClasses;
      let best = -1;
      let bestScore = dec.scoreThreshold;
      for (let k = 0; k < dec.numClasses; k++) {
        const s = scores.data[sBase + k];
        if (s > bestScore) {
          bestScore = s;
          best = k;
        }
      }
      if (best < 0) continue;
      const dBase = dists.offset + i * 4 * bins;
      for (let side = 0; side < 4; side++) {
        const o = dBase + side * bins;
        let max = -Infinity;
        for (let b = 0; b < bins; b++) max = Math.max(max, dists.data[o + b]);
        let sum = 0;
        let exp = 0;
        for (let b = 0; b < bins; b++) {
          const e = Math.exp(dists.data[o + b] - max);
          sum += e;
          exp += e * b;
        }
        dist[side] = (exp / sum) * S;
      }
      const cx = ((i % cols) + 0.5) * S;
      const cy = (Math.floor(i / cols) + 0.5) * S;
      const x1 = Math.max(0, cx - dist[0]);
      const y1 = Math.max(0, cy - dist[1]);
      const x2 = Math.min(inputSize.width, cx + dist[2]);
      const y2 = Math.min(inputSize.height, cy + dist[3]);
      if (x2 <= x1 || y2 <= y1) continue;
      candidates.push({ classId: best, label: labels[best] ?? String(best), score: bestScore, x: x1 * sx, y: y1 * sy, w: (x2 - x1) * sx, h: (y2 - y1) * sy });
    }
  }
  return nms(candidates, dec.iouThreshold, dec.maxDetections);
}

interface DetectRequest {
  tensor: Float32Array;
  width: number;
  height: number;
}

export class OnnxDetector implements Detector {
  readonly name: string;
  readonly version: number;
  readonly executionProvider: string;
  private readonly batcher: DynamicBatcher<DetectRequest, Box[]>;
  private readonly inputName: string;
  private readonly layout: string;
  private readonly pre: Preprocessing;
  private readonly dec: NanodetDecoding;

  private constructor(
    private readonly manifest: ModelManifest,
    private readonly loaded: LoadedSession,
    batch: BatchOptions,
  ) {
    this.name = manifest.name;
    this.version = manifest.version;
    this.executionProvider = loaded.executionProvider;
    if (!manifest.preprocessing) throw new Error(`model ${manifest.name}: manifest has no preprocessing`);
    if (manifest.decoding?.type !== 'nanodet') throw new Error(`model ${manifest.name}: unsupported decoding ${manifest.decoding?.type}`);
    this.pre = manifest.preprocessing;
    this.dec = manifest.decoding as unknown as NanodetDecoding;
    this.inputName = manifest.inputs[0].name;
    this.layout = manifest.inputs[0].layout ?? 'NCHW';
    this.batcher = new DynamicBatcher(batch, (items) => this.runBatch(items));
  }

  /** Batch options from the manifest; `maxBatchSize: 1` turns batching off. */
  static batchOptions(manifest: ModelManifest, override?: Partial<BatchOptions>): BatchOptions {
    const db = manifest.dynamicBatching ?? { maxBatchSize: 1, maxQueueDelayMs: 0 };
    return { maxBatchSize: Math.min(db.maxBatchSize, manifest.maxBatchSize), maxQueueDelayMs: db.maxQueueDelayMs, ...override };
  }

  static async load(model: LocalModel, opts: { pool: Pool; threads?: number; batch?: Partial<BatchOptions> }): Promise<OnnxDetector> {
    const loaded = await createSession(model.modelPath, { pool: opts.pool, threads: opts.threads });
    return new OnnxDetector(model.manifest, loaded, OnnxDetector.batchOptions(model.manifest, opts.batch));
  }

  get batchStats() {
    return this.batcher.stats;
  }

  private async runBatch(items: DetectRequest[]): Promise<Box[][]> {
    const { width: W, height: H } = this.pre;
    const per = 3 * W * H;
    const data = new Float32Array(per * items.length);
    items.forEach((it, i) => data.set(it.tensor, i * per));
    const dims = this.layout === 'NCHW' ? [items.length, 3, H, W] : [items.length, H, W, 3];
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.loaded.session.run({ [this.inputName]: new ort.Tensor('float32', data, dims) });
    } catch (err) {
      throw new TransientError('InferenceError', `onnxruntime run failed for ${this.name}: ${(err as Error).message}`, err);
    }
    return items.map((it, b) => {
      const views: Record<string, { data: Float32Array; offset: number }> = {};
      for (const [name, t] of Object.entries(out)) {
        const tensor = t as ort.Tensor;
        const perItem = tensor.data.length / items.length;
        views[name] = { data: tensor.data as Float32Array, offset: b * perItem };
      }
      return decodeNanodet(views, this.dec, { width: W, height: H }, { width: it.width, height: it.height }, this.manifest.labels ?? []);
    });
  }

  async detect(img: DecodedImage): Promise<DetectResult> {
    let tensor: Float32Array;
    try {
      tensor = await preprocess(img, this.pre, this.layout);
    } catch (err) {
      if (err instanceof LookoutError) throw err;
      throw new TransientError('PreprocessError', `preprocessing for ${this.name} failed: ${(err as Error).message}`, err);
    }
    const r = await this.batcher.submit({ tensor, width: img.width, height: img.height });
    return { boxes: r.output, inferenceMs: r.inferenceMs, batchSize: r.batchSize, queueMs: r.queueMs };
  }

  async close(): Promise<void> {
    await this.loaded.session.release();
  }
}

/** One image through a detector, as a stage's work: boxes in image pixels plus what ran and how long inference took. */
export async function detectionWork(det: Detector, img: DecodedImage): Promise<{
  value: { width: number; height: number; format: string; boxes: Box[] };
  inferenceMs: number;
  batchSize: number;
  executionProvider: string;
  model: { name: string; version: number };
}> {
  const r = await det.detect(img);
  return {
    value: { width: img.width, height: img.height, format: img.format, boxes: r.boxes },
    inferenceMs: r.inferenceMs,
    batchSize: r.batchSize,
    executionProvider: det.executionProvider,
    model: { name: det.name, version: det.version },
  };
}
